"""Vector tiles of the embedded engine: each feature clipped, snapped and repaired as ST_AsMVTGeom does, then
written by ``mvt_writer`` (numpy).

A layer version is prepared once (``tile_source``): its Web-Mercator geometries, their vertices as arrays, and
each geometry's minimum clearance — how far its vertices may move before it could become invalid. Snapping to
the integer tile grid moves a vertex by at most √2/2 units, so a valid geometry whose clearance exceeds √2 units
at the tile's scale and that lies inside the buffered tile cannot be broken by snapping, nor can a ring of it
turn: in a tile of ``NUMPY_PATH_MIN_ROWS`` features or more its vertices, their rings oriented once, are snapped
in numpy. Every other geometry takes the GEOS path (``tile_geometries``): clip to the buffered tile, snap, repair
only what snapping broke (dropping what collapsed), orient. Both paths give the same tile, and the tile is what
PostGIS draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from sitecheck.onemap.model import TileSpec
from sitecheck.onemap.mvt_writer import (
    LINESTRING,
    POINT,
    POLYGON,
    AttributeCodes,
    Paths,
    code_attributes,
    point_commands,
    run_starts,
    write_layer,
)
from sitecheck.onemap.tilegrid import buffered_bounds

SNAP_SAFE_UNITS = 1.5  # clearance beyond which snapping cannot break a geometry (> √2 tile units)
NUMPY_PATH_MIN_ROWS = 32  # below this every row takes the GEOS path: one path's fixed cost, not two
# The MVT geometry type of each Shapely type id (Point, LineString, LinearRing, Polygon, MultiPoint,
# MultiLineString, MultiPolygon, GeometryCollection): rings and collections are not written.
_KIND_OF_TYPE = np.array([POINT, LINESTRING, 0, POLYGON, POINT, LINESTRING, POLYGON, 0], dtype=np.int64)


@dataclass(frozen=True)
class TileSource:
    """A layer version prepared for tiles. Per geometry (EPSG:3857): its MVT type (0: empty or not drawable),
    bounds, minimum clearance in metres (0: always take the GEOS path) and first path; per path (rings of
    polygons, parts of lines) its first vertex and whether it opens a polygon (or is a line); the vertices (rings
    oriented for tiles); and the reported fields, coded."""

    geometries: np.ndarray
    kinds: np.ndarray
    bounds: np.ndarray
    clearance_m: np.ndarray
    path_starts: np.ndarray
    vertex_starts: np.ndarray
    opens_part: np.ndarray
    vertices: np.ndarray
    attributes: AttributeCodes


def tile_source(geometries: np.ndarray, names: Sequence[str], columns: Mapping[str, Sequence[Any]]) -> TileSource:
    """Prepare a layer version's Web-Mercator geometries and reported fields (``names`` of ``columns``)."""
    kinds = _kinds(geometries)
    # The numpy path's rings, oriented once as ``tile_geometries`` orients them in tile units (y down: clockwise
    # here); snapping cannot turn the ring of a geometry that snaps safely, the only ones it draws.
    paths, path_geometry, opens_part = _paths_of(shapely.orient_polygons(geometries, exterior_cw=True), kinds)
    vertices, vertex_path = shapely.get_coordinates(paths, return_index=True)
    clearance = np.zeros(len(geometries))
    checked = np.flatnonzero(((kinds == LINESTRING) | (kinds == POLYGON)) & shapely.is_valid(geometries))
    clearance[checked] = shapely.minimum_clearance(geometries[checked])
    return TileSource(
        geometries=geometries,
        kinds=kinds,
        bounds=shapely.bounds(geometries),
        clearance_m=clearance,
        path_starts=np.searchsorted(path_geometry, np.arange(len(geometries) + 1)),
        vertex_starts=np.searchsorted(vertex_path, np.arange(len(paths) + 1)),
        opens_part=opens_part,
        vertices=vertices,
        attributes=code_attributes(names, columns, len(geometries)),
    )


def encode_layer(name: str, source: TileSource, rows: np.ndarray, fids: np.ndarray, tile: TileSpec) -> bytes:
    """Encode one layer of a tile from a version's rows (in drawing order) and their feature ids; an empty tile
    when no geometry reaches it."""
    fast = snaps_safely(source, rows, tile) if len(rows) >= NUMPY_PATH_MIN_ROWS else np.zeros(len(rows), dtype=bool)
    kinds = np.where(fast, source.kinds[rows], 0)
    paths = [_snapped_paths(source, rows, fast.nonzero()[0], tile)] if fast.any() else []
    points = []
    slow = (~fast).nonzero()[0]
    if len(slow):
        prepared = tile_geometries(source.geometries[rows[slow]], tile)
        empty = shapely.is_empty(prepared)
        if not paths and empty.all():
            return b""
        slow_kinds = np.where(empty, 0, _KIND_OF_TYPE[shapely.get_type_id(prepared)])
        kinds[slow] = slow_kinds
        for kind in (LINESTRING, POLYGON):
            members = (slow_kinds == kind).nonzero()[0]
            if len(members):
                paths.append(_geometry_paths(prepared[members], slow[members], closed=kind == POLYGON))
        members = (slow_kinds == POINT).nonzero()[0]
        if len(members):
            parts, owner = shapely.get_parts(prepared[members], return_index=True)
            points.append(point_commands(_grid(shapely.get_coordinates(parts)), slow[members][owner]))
    elif not paths:
        return b""
    fids = np.asarray(fids, dtype=np.int64)
    return write_layer(name, tile.extent, fids, kinds, paths, points, source.attributes, rows)


def snaps_safely(source: TileSource, rows: np.ndarray, tile: TileSpec) -> np.ndarray:
    """Which rows lie inside the buffered tile with a clearance that snapping cannot break (the numpy path)."""
    bminx, bminy, bmaxx, bmaxy = buffered_bounds(tile)
    bounds = source.bounds[rows]
    inside = (bounds[:, 0] >= bminx) & (bounds[:, 1] >= bminy) & (bounds[:, 2] <= bmaxx) & (bounds[:, 3] <= bmaxy)
    return inside & (source.clearance_m[rows] * _scale(tile) > SNAP_SAFE_UNITS)


def tile_geometries(geometries: np.ndarray, tile: TileSpec) -> np.ndarray:
    """Clip Web-Mercator geometries to the buffered tile and return them in integer tile units (y down)."""
    if len(geometries) == 0:
        return geometries
    bminx, bminy, bmaxx, bmaxy = buffered_bounds(tile)
    bounds = shapely.bounds(geometries)
    outside = (bounds[:, 0] < bminx) | (bounds[:, 1] < bminy) | (bounds[:, 2] > bmaxx) | (bounds[:, 3] > bmaxy)
    clipped = geometries.copy()
    if outside.any():
        clipped[outside] = shapely.clip_by_rect(geometries[outside], bminx, bminy, bmaxx, bmaxy)
    snapped = shapely.transform(clipped, lambda coords: to_tile_grid(coords, tile))
    # Snapping can fold a polygon onto itself or collapse it: repair only those (as ST_AsMVTGeom does).
    broken = ~shapely.is_valid(snapped)
    if broken.any():
        snapped[broken] = shapely.make_valid(snapped[broken], method="structure", keep_collapsed=False)
    # MVT exterior rings have a positive surveyor's area in tile units (y down): counter-clockwise numerically.
    return np.asarray(shapely.orient_polygons(snapped, exterior_cw=False), dtype=object)


def to_tile_grid(coords: np.ndarray, tile: TileSpec) -> np.ndarray:
    """Web-Mercator metres to integer tile units (as floats), y down."""
    minx, _, _, maxy = tile.bounds
    scale = _scale(tile)
    return np.rint((coords - (minx, maxy)) * (scale, -scale))


def _scale(tile: TileSpec) -> float:
    """Tile units per Web-Mercator metre."""
    minx, _, maxx, _ = tile.bounds
    return tile.extent / (maxx - minx)


def _kinds(geometries: np.ndarray) -> np.ndarray:
    """The MVT geometry type of each geometry (0: empty, or not drawable)."""
    return np.where(shapely.is_empty(geometries), 0, _KIND_OF_TYPE[shapely.get_type_id(geometries)])


def _paths_of(geometries: np.ndarray, kinds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paths of the lines and polygons among geometries, in geometry order: the paths, the geometry of each,
    and whether each opens a polygon (or is a line)."""
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for kind in (LINESTRING, POLYGON):
        members = np.flatnonzero(kinds == kind)
        parts, part_owner = shapely.get_parts(geometries[members], return_index=True)
        if kind == POLYGON:
            paths, path_part = shapely.get_rings(parts, return_index=True)
            found.append((paths, members[part_owner[path_part]], run_starts(path_part)))
        else:
            found.append((parts, members[part_owner], np.ones(len(parts), dtype=bool)))
    paths, owner, opens = (np.concatenate(column) for column in zip(*found, strict=True))
    order = np.argsort(owner, kind="stable")
    return paths[order], owner[order], opens[order]


def _snapped_paths(source: TileSource, rows: np.ndarray, positions: np.ndarray, tile: TileSpec) -> Paths:
    """The paths of the rows at ``positions`` (the tile's features there), snapped to the grid."""
    geometry = rows[positions]
    n_paths = source.path_starts[geometry + 1] - source.path_starts[geometry]
    paths = _ranges(source.path_starts[geometry], n_paths)
    n_vertices = source.vertex_starts[paths + 1] - source.vertex_starts[paths]
    xy = _grid(to_tile_grid(source.vertices[_ranges(source.vertex_starts[paths], n_vertices)], tile))
    vertex_path = np.repeat(np.arange(len(paths)), n_vertices)
    closed = np.repeat(source.kinds[geometry] == POLYGON, n_paths)
    return Paths(xy, vertex_path, positions.repeat(n_paths), source.opens_part[paths], closed)


def _geometry_paths(geometries: np.ndarray, owners: np.ndarray, *, closed: bool) -> Paths:
    """The paths of lines or polygons already in tile units, for the features at ``owners``."""
    parts, part_owner = shapely.get_parts(geometries, return_index=True)
    if closed and shapely.get_num_interior_rings(parts).any():
        paths, path_part = shapely.get_rings(parts, return_index=True)
        opens_part = run_starts(path_part)
    else:  # lines, or polygons without holes (their exterior rings: cheaper than get_rings)
        paths = shapely.get_exterior_ring(parts) if closed else parts
        path_part, opens_part = np.arange(len(parts)), np.ones(len(parts), dtype=bool)
    coords, vertex_path = shapely.get_coordinates(paths, return_index=True)
    feature = owners[part_owner[path_part]]
    return Paths(_grid(coords), vertex_path, feature, opens_part, np.full(len(paths), closed))


def _grid(coords: np.ndarray) -> np.ndarray:
    """Coordinates already on the integer grid, as integers."""
    return np.rint(coords).astype(np.int64)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + counts[i]``."""
    total = int(counts.sum())
    return np.arange(total) + np.repeat(starts - (counts.cumsum() - counts), counts)
