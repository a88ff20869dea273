"""The embedded engine's tile encoder: byte for byte what mapbox-vector-tile writes, and the direct snapping path
drawing exactly what the GEOS path draws."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon

from sitecheck.onemap import mvt_embedded, mvt_writer
from sitecheck.onemap.model import TileSpec
from sitecheck.onemap.mvt_embedded import TileSource, encode_layer, tile_geometries, tile_source
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tile_index import tile_rows
from sitecheck.onemap.tilegrid import buffered_bounds, tile_spec, tiles_covering
from sitecheck.stores.base import Store
from sitecheck.stores.features_embedded import EmbeddedFeatures

MAPBOX_OPTIONS = {"y_coord_down": True, "check_winding_order": False, "quantize_bounds": None, "extents": 4096}
Z0 = tile_spec(0, 0, 0)
METRES_PER_UNIT = (Z0.bounds[2] - Z0.bounds[0]) / 4096

# Geometries drawn in z0 tile units (y down), each case a rule of the encoder.
SHAPES = [
    Point(10, 20),
    MultiPoint([(1, 1), (1, 1), (5, 7)]),  # a repeated point is kept
    LineString([(0, 0), (0, 0), (10, 10), (10, 10), (3, 4)]),  # repeated points dropped
    LineString([(5, 5), (5.2, 5.1)]),  # collapses when snapped: not drawn
    MultiLineString([[(0, 0), (5, 5)], [(7, 7), (7.1, 7.1)], [(9, 9), (1, 2)]]),  # its middle part collapses
    Polygon([(0, 0), (100, 0), (100, 100), (0, 100)], [[(10, 10), (20, 10), (20, 20), (10, 20)]]),
    Polygon([(0, 0), (0, 100), (100, 100), (100, 0)], [[(10, 10), (10, 20), (20, 20), (20, 10)]]),  # clockwise
    MultiPolygon([Polygon([(0, 0), (10, 0), (10, 10)]), Polygon([(200, 200), (300, 200), (300, 300), (200, 300)])]),
    Polygon([(0, 0), (0.2, 0), (0.2, 0.2)]),  # collapses when snapped: not drawn
    Polygon([(-500, -500), (5000, -500), (5000, 5000), (-500, 5000)]),  # clipped to the buffered tile
    Polygon([(0, 0), (3, 0), (3, 0.4), (0, 0.4)]),  # too thin for the direct path: snapping flattens it
    Polygon([(0, 0), (10, 10), (10, 0), (0, 9)]),  # repaired: its parts meet at a point off the grid
    Polygon(),
]
# Values of every kind a writer treats apart: 1, 1.0 and True; -0.0 and 0.0; null; a type MVT cannot carry.
COLUMNS: dict[str, list[Any]] = {
    "a": [1, 1.0, True, 1, None, 0, -3, 2**40, 0.0, -0.0, 1.0, 7, 2],
    "b": ["x", "", "é", None, "x", "1", "y", None, "x", "", "z", "x", "é"],
    "c": [True, False, 1, 0, 1.5, None, datetime.date(2020, 1, 1), 7, 1.5, 0, None, -0.0, 1],
}


def _in_metres(shape: Any) -> Any:
    """A shape drawn in z0 tile units, in Web-Mercator metres."""
    minx, _, _, maxy = Z0.bounds
    return shapely.transform(
        shape, lambda c: np.column_stack([minx + c[:, 0] * METRES_PER_UNIT, maxy - c[:, 1] * METRES_PER_UNIT])
    )


def _mapbox_tile(
    name: str,
    source: TileSource,
    rows: np.ndarray,
    fids: Sequence[int],
    columns: Mapping[str, Sequence[Any]],
    tile: TileSpec,
) -> bytes:
    """The tile as the mapbox-vector-tile encoder writes it from the same prepared geometries."""
    prepared = tile_geometries(source.geometries[rows], tile)
    features = [
        {
            "geometry": geometry,
            "id": int(fid),
            "properties": {k: columns[k][row] for k in source.attributes.names if columns[k][row] is not None},
        }
        for geometry, fid, row in zip(prepared, fids, rows, strict=True)
        if not geometry.is_empty
    ]
    if not features:
        return b""
    encoded: bytes = mapbox_vector_tile.encode({"name": name, "features": features}, default_options=MAPBOX_OPTIONS)
    return encoded


@pytest.fixture(params=["geos", "snapped"])
def encoder_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way the encoder works: every row through GEOS (small tiles), or the geometries that snap safely
    snapped from the version's vertices (tiles of many rows), forced here whatever the tile's size."""
    monkeypatch.setattr(mvt_embedded, "DIRECT_PATH_MIN_ROWS", 10**9 if request.param == "geos" else 0)
    return str(request.param)


def test_encoder_writes_the_bytes_of_mapbox_vector_tile(encoder_path: str) -> None:
    """Every geometry rule and value kind, in many selections and orders of features: the same bytes."""
    geometries = np.array([_in_metres(shape) for shape in SHAPES], dtype=object)
    source = tile_source(geometries, ["c", "a", "b"], COLUMNS)
    fids = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -1])  # a negative fid is written without an id
    rng = np.random.default_rng(7)
    selections = [np.arange(len(SHAPES)), np.arange(len(SHAPES))[::-1], np.array([], dtype=np.int64)]
    selections += [rng.permutation(len(SHAPES))[: rng.integers(1, len(SHAPES))] for _ in range(200)]
    for rows in selections:
        for tile in (Z0, tile_spec(1, 0, 0)):
            expected = _mapbox_tile("layer", source, rows, fids[rows].tolist(), COLUMNS, tile)
            assert encode_layer("layer", source, rows, fids[rows], tile) == expected


def test_encoder_matches_on_random_shapes(encoder_path: str) -> None:
    """Random points, lines and polygons (holes from differences, repeats, edges crossing the tile)."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        shapes = []
        for _ in range(int(rng.integers(1, 25))):
            coords = rng.integers(-200, 4300, size=(int(rng.integers(3, 12)), 2)).astype(float)
            kind = int(rng.integers(0, 5))
            if kind == 0:
                shapes.append(MultiPoint(coords))
            elif kind == 1:
                shapes.append(LineString(np.repeat(coords, rng.integers(1, 3, size=len(coords)), axis=0)))
            elif kind == 2:
                shapes.append(MultiLineString([coords[:2], coords[1:]]))
            elif kind == 3:
                shapes.append(shapely.convex_hull(MultiPoint(coords)).buffer(float(rng.integers(0, 40))))
            else:
                blobs = shapely.union_all([Point(p).buffer(float(rng.integers(1, 300))) for p in coords[:3]])
                shapes.append(blobs.difference(Point(coords[0]).buffer(5.0)))
        geometries = np.array([_in_metres(shape) for shape in shapes], dtype=object)
        columns = {"v": [[None, 1, 2.5, "s", True][int(i)] for i in rng.integers(0, 5, size=len(shapes))]}
        source = tile_source(geometries, ["v"], columns)
        rows = np.arange(len(shapes))
        z = int(rng.integers(0, 3))
        tile = tile_spec(z, int(rng.integers(0, 2**z)), int(rng.integers(0, 2**z)))
        expected = _mapbox_tile("random", source, rows, rows.tolist(), columns, tile)
        assert encode_layer("random", source, rows, rows, tile) == expected


def test_moves_longer_than_a_tiles_are_written_whole() -> None:
    """Moves longer than any within a buffered tile (no tile's clipped points make them), ids and a point
    feature: the same bytes."""
    shapes = [
        LineString([(0, 0), (20000, 5), (20000, 5), (-3, 9000)]),
        Polygon([(-9000, 0), (9000, 0), (0, 9000)]),
        MultiPoint([(300000, 2), (-300000, 2)]),
    ]
    paths = mvt_writer.TilePaths(
        owner=np.array([0, 1, 2, 2]),
        opens=np.array([True, True, True, True]),
        vertex_starts=np.array([0, 4, 8, 9, 10]),
        xy=np.array(
            [
                *[(0, 0), (20000, 5), (20000, 5), (-3, 9000)],  # the line
                *[(-9000, 0), (9000, 0), (0, 9000), (-9000, 0)],  # the ring
                *[(300000, 2), (-300000, 2)],  # the points
            ]
        ),
    )
    columns: dict[str, list[Any]] = {"v": [1, "a", 2**40]}
    attributes = mvt_writer.code_attributes(["v"], columns, 3)
    kinds = np.array([mvt_writer.LINESTRING, mvt_writer.POLYGON, mvt_writer.POINT])
    fids = np.array([4, 5, 2**50])
    encoded = mvt_writer.write_layer("far", 4096, fids, kinds, paths, attributes, np.arange(3))
    features = [
        {"geometry": shape, "id": int(fid), "properties": {"v": value}}
        for fid, shape, value in zip(fids, shapes, columns["v"], strict=True)
    ]
    assert encoded == mapbox_vector_tile.encode({"name": "far", "features": features}, default_options=MAPBOX_OPTIONS)


@pytest.mark.parametrize("z", [10, 12, 14])
def test_direct_snapping_draws_what_geos_draws(
    sample_stores: dict[str, Store], monkeypatch: pytest.MonkeyPatch, z: int
) -> None:
    """Sample farmland tiles: the same bytes whether features are snapped directly or all go through GEOS (and
    a good share of them takes the direct path: 90% at z10, half at z14, where more cross the tile's edge)."""
    monkeypatch.setattr(mvt_embedded, "DIRECT_PATH_MIN_ROWS", 0)
    reader = feature_reader(sample_stores["embedded"])
    assert isinstance(reader, EmbeddedFeatures)
    index = reader.mercator_index(reader.version("farmland", 1))
    source = index.source
    centre = shapely.centroid(shapely.box(*source.bounds[:, :2].min(axis=0), *source.bounds[:, 2:].max(axis=0)))
    ((cx, cy),) = tiles_covering((centre.x, centre.y, centre.x, centre.y), z)
    fast, drawn = 0, 0
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            tile = tile_spec(z, cx + dx, cy + dy)
            rows = tile_rows(index.grid, buffered_bounds(tile), 0.0, 10**9)
            fids = index.grid.fids[rows]
            direct = encode_layer("farmland", source, rows, fids, tile)
            with monkeypatch.context() as patch:
                patch.setattr(mvt_embedded, "SNAP_SAFE_UNITS", math.inf)
                assert encode_layer("farmland", source, rows, fids, tile) == direct
            fast += int(mvt_embedded.snaps_safely(source, rows, tile).sum())
            drawn += len(rows)
    assert fast > drawn / 3


def test_an_empty_point_of_a_multipoint_is_left_out() -> None:
    """A MultiPoint with an empty part (which the mapbox-vector-tile encoder cannot write) draws its other
    points; a feature of nothing but empty points is not drawn."""
    shapes = [shapely.from_wkt("MULTIPOINT (EMPTY, (10 20), (30 40))"), shapely.from_wkt("MULTIPOINT (EMPTY)")]
    geometries = np.array([_in_metres(shape) for shape in shapes], dtype=object)
    source = tile_source(geometries, ["v"], {"v": [1, 2]})
    encoded = encode_layer("points", source, np.arange(2), np.arange(2), Z0)
    features = mapbox_vector_tile.decode(encoded, default_options={"y_coord_down": True})["points"]["features"]
    assert [(f["id"], f["geometry"]) for f in features] == [
        (0, {"type": "MultiPoint", "coordinates": [[10, 20], [30, 40]]})
    ]
