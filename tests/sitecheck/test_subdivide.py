"""Subdividing big polygons keeps their area and shape exactly and bounds the vertices per piece."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from sitecheck.subdivide import subdivide


def _wiggly_ring(vertices: int, radius: float = 5_000.0) -> Polygon:
    """A star-like polygon with many vertices and a hole."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radii = radius * (1 + 0.1 * np.sin(angles * 37))
    outer = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    hole = [(-500, -500), (500, -500), (500, 500), (-500, 500)]
    return Polygon(outer, [hole])


def test_pieces_cover_the_polygon_exactly() -> None:
    """The pieces' areas sum to the polygon's, their union equals it, and none has more than 256 vertices."""
    polygon = _wiggly_ring(20_000)
    pieces = subdivide(polygon)
    assert len(pieces) > 20
    assert max(shapely.get_num_coordinates(p) for p in pieces) <= 256
    assert sum(p.area for p in pieces) == pytest.approx(polygon.area, rel=1e-9)
    assert shapely.union_all(pieces).symmetric_difference(polygon).area < 1e-6 * polygon.area
    assert all(p.is_valid for p in pieces)


def test_small_polygon_is_kept_whole() -> None:
    """A polygon under the vertex limit comes back as the only piece."""
    square = shapely.box(0, 0, 10, 10)
    assert subdivide(square) == [square]

