"""Splitting big polygons into pieces of few vertices, for fast indexed overlay (as PostGIS ST_Subdivide)."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

MAX_VERTICES = 256
_MAX_DEPTH = 40


def subdivide(geometry: BaseGeometry, max_vertices: int = MAX_VERTICES) -> list[Polygon]:
    """Cut a polygonal geometry into polygons of at most ``max_vertices`` vertices (halving the longer side).

    The pieces cover exactly the input: their union is the geometry, so overlap areas summed per feature
    are unchanged. A piece that cannot be split further (depth limit) is kept as it is.
    """
    pieces: list[Polygon] = []
    stack: list[tuple[BaseGeometry, int]] = [(geometry, 0)]
    while stack:
        part, depth = stack.pop()
        for polygon in _polygons(part):
            if shapely.get_num_coordinates(polygon) <= max_vertices or depth >= _MAX_DEPTH:
                pieces.append(polygon)
                continue
            minx, miny, maxx, maxy = polygon.bounds
            if maxx - minx >= maxy - miny:
                middle = (minx + maxx) / 2
                halves = (shapely.box(minx, miny, middle, maxy), shapely.box(middle, miny, maxx, maxy))
            else:
                middle = (miny + maxy) / 2
                halves = (shapely.box(minx, miny, maxx, middle), shapely.box(minx, middle, maxx, maxy))
            for half in shapely.intersection(polygon, np.array(halves, dtype=object)):
                stack.append((half, depth + 1))
    return pieces


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of a geometry (clipping can leave lines and points on the cut)."""
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, MultiPolygon):
        return [p for p in geometry.geoms if not p.is_empty]
    return [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and not p.is_empty]
