"""Vector tiles of the embedded engine: each feature clipped, snapped and repaired as ST_AsMVTGeom does, then
written by ``mvt_writer``.

A layer version is prepared once (``tile_source``): its Web-Mercator geometries, their vertices as arrays, and
each geometry's minimum clearance — how far its vertices may move before it could become invalid. Snapping to
the integer tile grid moves a vertex by at most √2/2 units, so a valid geometry whose clearance exceeds √2 units
at the tile's scale and that lies inside the buffered tile cannot be broken by snapping, nor can a ring of it
turn: in a tile of ``DIRECT_PATH_MIN_ROWS`` features or more its vertices, their rings oriented once, are snapped
straight from those arrays (``_snap``). Every other geometry takes the GEOS path (``tile_geometries``): clip to
the buffered tile, snap, repair only what snapping broke (dropping what collapsed), orient; its paths are then
read from its WKB. Both paths give the same tile, and the tile is what PostGIS draws.

The loops over vertices are compiled (``sitecheck.compiled``): a tile costs a few calls whatever its size, not a
Python loop per vertex or dozens of array operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numba import types

from sitecheck.compiled import BOOLS, FLOAT, INT, INTS, POINTS, READ_ONLY_BYTES, compiled
from sitecheck.onemap.model import TileSpec
from sitecheck.onemap.mvt_writer import (
    LINESTRING,
    NO_PATHS,
    POINT,
    POLYGON,
    AttributeCodes,
    TilePaths,
    code_attributes,
    join_paths,
    write_layer,
)
from sitecheck.onemap.tilegrid import buffered_bounds

SNAP_SAFE_UNITS = 1.5  # clearance beyond which snapping cannot break a geometry (> √2 tile units)
DIRECT_PATH_MIN_ROWS = 8  # below this every row takes the GEOS path: the check for the other costs more than it saves
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
    # The direct path's rings (``_snap``), oriented once as ``tile_geometries`` orients them in tile units (y down:
    # clockwise here); snapping cannot turn the ring of a geometry that snaps safely, the only ones it draws.
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
    fast = snaps_safely(source, rows, tile) if len(rows) >= DIRECT_PATH_MIN_ROWS else np.zeros(len(rows), dtype=bool)
    kinds = np.where(fast, source.kinds[rows], 0)
    paths = _snapped_paths(source, rows, fast.nonzero()[0], tile) if fast.any() else NO_PATHS
    slow = (~fast).nonzero()[0]
    if len(slow):
        prepared = tile_geometries(source.geometries[rows[slow]], tile)
        empty = shapely.is_empty(prepared)
        if not len(paths.owner) and empty.all():
            return b""
        slow_kinds = np.where(empty, 0, _KIND_OF_TYPE[shapely.get_type_id(prepared)])
        kinds[slow] = slow_kinds
        paths = join_paths(paths, _geometry_paths(prepared, slow, slow_kinds))
    elif not len(paths.owner):
        return b""
    return write_layer(name, tile.extent, fids, kinds, paths, source.attributes, rows)


def snaps_safely(source: TileSource, rows: np.ndarray, tile: TileSpec) -> np.ndarray:
    """Which rows lie inside the buffered tile with a clearance that snapping cannot break (snapped by ``_snap``)."""
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
    snapped = shapely.transform(clipped, lambda coords: to_tile_grid(coords, tile), include_z=False)
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
            found.append((paths, members[part_owner[path_part]], _run_starts(path_part)))
        else:
            found.append((parts, members[part_owner], np.ones(len(parts), dtype=bool)))
    paths, owner, opens = (np.concatenate(column) for column in zip(*found, strict=True))
    order = np.argsort(owner, kind="stable")
    return paths[order], owner[order], opens[order]


def _snapped_paths(source: TileSource, rows: np.ndarray, positions: np.ndarray, tile: TileSpec) -> TilePaths:
    """The paths of the rows at ``positions`` (the tile's features there), snapped to the grid."""
    minx, _, _, maxy = tile.bounds
    return TilePaths(
        *_snap(
            positions,
            rows[positions],
            source.path_starts,
            source.vertex_starts,
            source.opens_part,
            source.vertices,
            minx,
            maxy,
            _scale(tile),
        )
    )


@compiled(types.Tuple((INTS, BOOLS, INTS, POINTS))(INTS, INTS, INTS, INTS, BOOLS, FLOAT[:, ::1], FLOAT, FLOAT, FLOAT))
def _snap(
    positions: np.ndarray,
    geometries: np.ndarray,
    path_starts: np.ndarray,
    vertex_starts: np.ndarray,
    opens_part: np.ndarray,
    vertices: np.ndarray,
    minx: float,
    maxy: float,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The paths of source geometries (the tile's features at ``positions``) as ``TilePaths`` fields, their
    vertices snapped to the grid as ``to_tile_grid`` does."""
    n_paths = n_vertices = 0
    for geometry in geometries:
        first, end = path_starts[geometry], path_starts[geometry + 1]
        n_paths += end - first
        n_vertices += vertex_starts[end] - vertex_starts[first]
    owner = np.empty(n_paths, dtype=np.int64)
    opens = np.empty(n_paths, dtype=np.bool_)
    starts = np.empty(n_paths + 1, dtype=np.int64)
    xy = np.empty((n_vertices, 2), dtype=np.int64)
    path = vertex = 0
    for i in range(len(positions)):
        position, geometry = positions[i], geometries[i]
        for source_path in range(path_starts[geometry], path_starts[geometry + 1]):
            owner[path], opens[path], starts[path] = position, opens_part[source_path], vertex
            for source_vertex in range(vertex_starts[source_path], vertex_starts[source_path + 1]):
                xy[vertex, 0] = np.int64(np.rint((vertices[source_vertex, 0] - minx) * scale))
                xy[vertex, 1] = np.int64(np.rint((vertices[source_vertex, 1] - maxy) * -scale))
                vertex += 1
            path += 1
    starts[n_paths] = vertex
    return owner, opens, starts, xy


def _geometry_paths(geometries: np.ndarray, owners: np.ndarray, kinds: np.ndarray) -> TilePaths:
    """The paths of geometries already in tile units (of MVT type ``kinds``, 0: not drawn), for the features at
    ``owners``: read from their WKB (one GEOS call for all)."""
    drawn = kinds > 0
    wkb = shapely.to_wkb(geometries[drawn], output_dimension=2, byte_order=1).tolist()
    starts = np.zeros(len(wkb) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, wkb), dtype=np.int64, count=len(wkb)), out=starts[1:])
    return TilePaths(*_wkb_paths(np.frombuffer(b"".join(wkb), dtype=np.uint8), starts, owners[drawn]))


@compiled(INT(READ_ONLY_BYTES, INT))
def _uint32(wkb: np.ndarray, at: int) -> int:
    """A little-endian unsigned 32-bit integer of a WKB."""
    return int(wkb[at]) | int(wkb[at + 1]) << 8 | int(wkb[at + 2]) << 16 | int(wkb[at + 3]) << 24


@compiled(types.UniTuple(INT, 3)(READ_ONLY_BYTES, INT, INT, INT, INT, INTS, BOOLS, INTS, POINTS))
def _wkb_part(
    wkb: np.ndarray,
    at: int,
    owner_of: int,
    path: int,
    vertex: int,
    owner: np.ndarray,
    opens: np.ndarray,
    starts: np.ndarray,
    xy: np.ndarray,
) -> tuple[int, int, int]:
    """Read one point, line or polygon of a little-endian 2D WKB from ``at`` (its byte order and type) into the
    path arrays from ``path`` and ``vertex``; return the positions after it."""
    kind = _uint32(wkb, at + 1)
    at += 5
    rings = 1
    if kind == 3:
        rings = _uint32(wkb, at)
        at += 4
    for ring in range(rings):
        count = 1
        if kind != 1:
            count = _uint32(wkb, at)
            at += 4
        coords = wkb[at : at + 16 * count].view(np.float64)
        if kind == 1 and np.isnan(coords[0]):  # an empty point (a part of a MultiPoint): nothing to draw
            at += 16
            continue
        owner[path], opens[path], starts[path] = owner_of, ring == 0, vertex
        for k in range(count):
            # on the grid, but for the points where a repair cut edges: the nearest grid point then
            xy[vertex, 0] = np.int64(np.rint(coords[2 * k]))
            xy[vertex, 1] = np.int64(np.rint(coords[2 * k + 1]))
            vertex += 1
        at += 16 * count
        path += 1
    return at, path, vertex


@compiled(types.Tuple((INTS, BOOLS, INTS, POINTS))(READ_ONLY_BYTES, INTS, INTS))
def _wkb_paths(wkb: np.ndarray, geometry_starts: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, ...]:
    """The paths (``TilePaths`` fields) of points, lines, polygons and their multi-part kinds, as little-endian 2D
    WKB (geometry i from ``geometry_starts[i]``), of the features at ``owners``."""
    most = len(wkb) // 4 + 1  # bounds: a path takes 4 bytes or more, a vertex 16
    owner = np.empty(most, dtype=np.int64)
    opens = np.empty(most, dtype=np.bool_)
    starts = np.empty(most + 1, dtype=np.int64)
    xy = np.empty((len(wkb) // 16 + 1, 2), dtype=np.int64)
    path = vertex = 0
    for geometry in range(len(owners)):
        at = geometry_starts[geometry]
        kind = _uint32(wkb, at + 1)
        if kind >= 4:  # MultiPoint, MultiLineString, MultiPolygon: their parts follow, each a WKB
            parts = _uint32(wkb, at + 5)
            at += 9
        else:
            parts = 1
        for _ in range(parts):
            at, path, vertex = _wkb_part(wkb, at, owners[geometry], path, vertex, owner, opens, starts, xy)
    starts[path] = vertex
    return owner[:path], opens[:path], starts[: path + 1], xy[:vertex]


def _run_starts(ids: np.ndarray) -> np.ndarray:
    """True where a run of equal, consecutive ids begins."""
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = ids[1:] != ids[:-1]
    return starts
