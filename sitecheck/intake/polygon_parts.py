"""Shared by the file readers: a vertex/part budget counted while reading, and the parts collected into one site."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shapely.geometry import MultiPolygon, Polygon

from sitecheck.errors import GeometryTooManyVertices, UploadTooLarge
from sitecheck.settings import IntakeLimits


class ReadBudget:
    """Counts vertices and polygon parts while a reader works, refusing as soon as a limit is passed."""

    def __init__(self, limits: IntakeLimits) -> None:
        self.max_vertices = limits.max_vertices
        self.max_parts = limits.max_parts
        self.vertices = 0
        self.parts = 0

    def add_vertices(self, count: int, location: dict[str, Any] | None = None) -> None:
        """Count ``count`` more vertices; raise GeometryTooManyVertices once the total passes the limit."""
        self.vertices += count
        if self.vertices > self.max_vertices:
            raise GeometryTooManyVertices(
                f"The upload has more than {self.max_vertices} vertices.",
                f"上传的图形顶点数超过上限 {self.max_vertices}。",
                location=location,
                details={"max_vertices": self.max_vertices},
            )

    def remaining_vertices(self) -> int:
        """Return how many vertices may still be added before the limit is passed."""
        return self.max_vertices - self.vertices

    def add_part(self, location: dict[str, Any] | None = None) -> None:
        """Count one more polygon part (or feature); raise UploadTooLarge once the total passes the limit."""
        self.parts += 1
        if self.parts > self.max_parts:
            raise UploadTooLarge(
                f"The upload has more than {self.max_parts} polygon parts or features.",
                f"上传的图形部件（要素）数超过上限 {self.max_parts}。",
                location=location,
                details={"max_parts": self.max_parts},
            )


def collect_polygons(parts: Sequence[Polygon]) -> Polygon | MultiPolygon:
    """Return the parts as one geometry, as read: one Polygon, or a MultiPolygon of all of them.

    Parts are not dissolved here: the pipeline validates each part, then dissolves and reports overlaps in
    the analysis CRS (square metres), where the numbers mean something to a planner.
    """
    return parts[0] if len(parts) == 1 else MultiPolygon(list(parts))
