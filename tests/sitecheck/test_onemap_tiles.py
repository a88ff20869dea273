"""Vector tiles on both engines: the tile grid, MVT contents over the verification zone V, limits and ETags.

V = [40 510 000, 40 514 000] x [3 524 000, 3 528 000] (EPSG:4528) holds no red line or farmland but the fixtures
FX-HX-01 and FX-NT-01, so a tile lying inside V holds exactly those (data/sample_gpkg, layers/sample_city.py).
"""

from __future__ import annotations

import dataclasses

import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon, shape

from sitecheck.errors import LayerNotFound, ParameterInvalid, VersionNotFound
from sitecheck.onemap.model import RenderedTile, TileSpec
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tilegrid import (
    HALF_WORLD_M,
    buffered_bounds,
    pixel_size_m,
    tile_bounds,
    tile_spec,
    tiles_covering,
)
from sitecheck.onemap.tiles import clear_tile_cache, get_tile, prepare_tiles, tile_etag
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores.base import LayerVersion, Store

V = (40_510_000.0, 3_524_000.0, 40_514_000.0, 3_528_000.0)
HX_01 = (40_512_000.0, 3_526_500.0, 40_514_000.0, 3_528_000.0)
NT_01 = (40_513_200.0, 3_524_000.0, 40_514_000.0, 3_525_000.0)
TO_MERCATOR = Transformer.from_crs("EPSG:4528", "EPSG:3857", always_xy=True)
FROM_MERCATOR = Transformer.from_crs("EPSG:3857", "EPSG:4528", always_xy=True)


def _tile_at(x: float, y: float, z: int) -> tuple[int, int]:
    """The tile at zoom z holding an EPSG:4528 point."""
    mx, my = TO_MERCATOR.transform(x, y)
    ((tx, ty),) = tiles_covering((mx, my, mx, my), z)
    return tx, ty


def _transformed(polygon: Polygon, transformer: Transformer) -> Polygon:
    """A polygon's densified outline in another CRS."""
    dense = shapely.segmentize(polygon, 10.0 if transformer is TO_MERCATOR else 12.0)
    return shapely.transform(dense, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])))


def _decode(data: bytes | None) -> dict[str, list[dict]]:
    """Decode a tile (tile units, y down) into features per layer."""
    decoded = mapbox_vector_tile.decode(data or b"", default_options={"y_coord_down": True})
    return {name: layer["features"] for name, layer in decoded.items()}


def _expected_units(z: int, x: int, y: int, bounds: tuple[float, float, float, float]) -> Polygon:
    """An EPSG:4528 rectangle clipped to a buffered tile, in tile units (4096 per side, y down)."""
    spec = tile_spec(z, x, y)
    clipped = _transformed(shapely.box(*bounds), TO_MERCATOR).intersection(shapely.box(*buffered_bounds(spec)))
    minx, _, maxx, maxy = spec.bounds
    scale = 4096 / (maxx - minx)
    return shapely.transform(clipped, lambda c: np.column_stack([(c[:, 0] - minx) * scale, (maxy - c[:, 1]) * scale]))


def test_tile_grid_bounds_and_zoom_limits() -> None:
    """XYZ bounds in Web-Mercator metres, a display pixel per zoom, and z/x/y out of range refused."""
    assert tile_bounds(0, 0, 0) == pytest.approx((-HALF_WORLD_M, -HALF_WORLD_M, HALF_WORLD_M, HALF_WORLD_M))
    assert tile_bounds(1, 1, 0) == pytest.approx((0.0, 0.0, HALF_WORLD_M, HALF_WORLD_M))
    assert pixel_size_m(14) == pytest.approx(9.554628535647032)
    assert tiles_covering(tile_bounds(5, 7, 9), 6) == [(14, 18), (14, 19), (15, 18), (15, 19)]
    for z, x, y in [(-1, 0, 0), (25, 0, 0), (3, 8, 0), (3, 0, 8), (3, -1, 0)]:
        with pytest.raises(ParameterInvalid):
            tile_spec(z, x, y)


def test_red_line_tile_holds_exactly_fx_hx_01(sample_store: Store) -> None:
    """A z15 tile inside V: one red-line feature, FX-HX-01, with its reported fields and its clipped shape."""
    z = 15
    x, y = _tile_at(40_512_600.0, 3_526_700.0, z)
    buffered = _transformed(shapely.box(*buffered_bounds(tile_spec(z, x, y))), FROM_MERCATOR)
    assert shapely.box(*V).contains(buffered), "the test tile must lie inside V"
    features = _decode(get_tile(sample_store, "eco_redline", 1, z, x, y).data)["eco_redline"]
    assert len(features) == 1
    properties = features[0]["properties"]
    assert properties["HXBM"] == "FX-HX-01" and properties["HXMC"] == "校验生态红线"
    assert properties["HXLX"] == "水源涵养" and properties["MJ"] == pytest.approx(300.0)
    assert set(properties) == {"HXBM", "HXMC", "HXLX", "MJ", "GKCS"}
    expected = _expected_units(z, x, y, HX_01)
    drawn = shape(features[0]["geometry"])
    assert drawn.area == pytest.approx(expected.area, rel=5e-3)
    assert drawn.symmetric_difference(expected).area < 0.01 * expected.area


def test_farmland_tile_holds_exactly_fx_nt_01(sample_store: Store) -> None:
    """A z16 tile inside V over FX-NT-01: that patch only, with its attributes, as a polygon."""
    z = 16
    x, y = _tile_at(40_513_400.0, 3_524_800.0, z)
    buffered = _transformed(shapely.box(*buffered_bounds(tile_spec(z, x, y))), FROM_MERCATOR)
    assert shapely.box(*V).contains(buffered), "the test tile must lie inside V"
    features = _decode(get_tile(sample_store, "farmland", 1, z, x, y).data)["farmland"]
    assert [f["properties"]["YJJBNTTBBH"] for f in features] == ["FX-NT-01"]
    assert features[0]["properties"]["DLBM"] == "0101" and features[0]["properties"]["ZLDWMC"] == "校验村"
    assert features[0]["properties"]["YJJBNTMJ"] == pytest.approx(800_000.0)
    assert features[0]["geometry"]["type"] == "Polygon"
    expected = _expected_units(z, x, y, NT_01)
    assert shape(features[0]["geometry"]).area == pytest.approx(expected.area, rel=5e-3)


def test_tile_in_v_away_from_the_fixtures_is_empty(sample_store: Store) -> None:
    """A z16 tile in V's west part holds no red line and no farmland; a tile far from the city is empty too."""
    z = 16
    x, y = _tile_at(40_510_600.0, 3_524_600.0, z)
    for layer in ("eco_redline", "farmland"):
        assert _decode(get_tile(sample_store, layer, 1, z, x, y).data).get(layer, []) == []
    far_x, far_y = tiles_covering((0.0, 0.0, 0.0, 0.0), 14)[0]
    assert _decode(get_tile(sample_store, "farmland", 1, 14, far_x, far_y).data).get("farmland", []) == []


def test_engines_draw_the_same_features(sample_stores: dict[str, Store]) -> None:
    """A z13 tile in the farmland west of V: both engines encode the same features with the same attributes."""
    z = 13
    x, y = _tile_at(40_497_000.0, 3_515_000.0, z)
    drawn = {}
    for engine, store in sample_stores.items():
        features = _decode(get_tile(store, "farmland", 1, z, x, y).data)["farmland"]
        drawn[engine] = {f["id"]: f["properties"] for f in features}
    assert len(drawn["postgis"]) > 50
    assert drawn["postgis"] == drawn["embedded"]


def test_cap_keeps_the_largest_features_and_size_filter_drops_small_ones(sample_store: Store) -> None:
    """Capped at 5, a z12 tile keeps the 5 features with the largest Web-Mercator extent (computed here with
    geopandas from the source file); a size threshold above every feature leaves the tile empty."""
    z = 12
    x, y = _tile_at(40_497_000.0, 3_515_000.0, z)
    spec = tile_spec(z, x, y)
    frame = pyogrio.read_dataframe(SAMPLE_CITY_DIR / "farmland.gpkg", fid_as_index=True).to_crs("EPSG:3857")
    bounds = frame.geometry.bounds
    size = np.maximum(bounds.maxx - bounds.minx, bounds.maxy - bounds.miny)
    bminx, bminy, bmaxx, bmaxy = buffered_bounds(spec)
    touching = (bounds.minx <= bmaxx) & (bounds.maxx >= bminx) & (bounds.miny <= bmaxy) & (bounds.maxy >= bminy)
    candidates = sorted((-size[fid], fid) for fid in frame.index[touching & (size >= spec.min_size_m)])
    reader = feature_reader(sample_store)
    version = reader.version("farmland", 1)
    capped = reader.render_tile(version, dataclasses.replace(spec, max_features=5))
    assert capped.truncated and capped.features == 5
    assert sorted(f["id"] for f in _decode(capped.data)["farmland"]) == sorted(fid for _, fid in candidates[:5])
    whole = reader.render_tile(version, spec)
    assert not whole.truncated and whole.features == len(candidates)
    empty = reader.render_tile(version, dataclasses.replace(spec, min_size_m=1e9))
    assert empty.features == 0 and _decode(empty.data).get("farmland", []) == []


def test_etag_names_engine_version_and_tile(sample_stores: dict[str, Store]) -> None:
    """ETags differ per engine and per tile, are stable, and a matching If-None-Match skips the rendering."""
    store = sample_stores["embedded"]
    version = feature_reader(store).version("farmland", 1)
    a, b = tile_spec(14, 13658, 6661), tile_spec(14, 13659, 6661)
    assert tile_etag(store, version, a) == tile_etag(store, version, a) != tile_etag(store, version, b)
    other = feature_reader(sample_stores["postgis"]).version("farmland", 1)
    assert tile_etag(sample_stores["postgis"], other, a) != tile_etag(store, version, a)
    answer = get_tile(store, "farmland", 1, 14, 13658, 6661)
    assert answer.data is not None
    again = get_tile(store, "farmland", 1, 14, 13658, 6661, if_none_match=f'W/{answer.etag}, "other"')
    assert again.data is None and again.etag == answer.etag


def test_rendered_tiles_are_kept_until_cleared(sample_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A versioned tile is rendered once, then answered from the store's cache with the same bytes and ETag; once
    the cache is cleared it is rendered again, identically. Another tile is rendered on its own."""
    reader = feature_reader(sample_store)
    render = reader.render_tile
    rendered: list[tuple[int, int, int]] = []

    def counting_render(version: LayerVersion, tile: TileSpec) -> RenderedTile:
        """Render, and count it."""
        rendered.append((tile.z, tile.x, tile.y))
        return render(version, tile)

    monkeypatch.setattr(reader, "render_tile", counting_render)
    clear_tile_cache(sample_store)
    x, y = _tile_at(40_513_400.0, 3_524_800.0, 16)
    first = get_tile(sample_store, "farmland", 1, 16, x, y)
    again = get_tile(sample_store, "farmland", 1, 16, x, y)
    assert rendered == [(16, x, y)]
    assert again.data == first.data and again.etag == first.etag and first.data
    get_tile(sample_store, "farmland", 1, 16, x + 1, y)
    assert rendered == [(16, x, y), (16, x + 1, y)]
    clear_tile_cache(sample_store)
    assert get_tile(sample_store, "farmland", 1, 16, x, y).data == first.data
    assert rendered == [(16, x, y), (16, x + 1, y), (16, x, y)]


def test_unknown_layer_version_and_raster_are_refused(sample_store: Store) -> None:
    """Unknown layers and rasters are LayerNotFound; a version that does not exist is VersionNotFound."""
    with pytest.raises(LayerNotFound):
        get_tile(sample_store, "nope", 1, 14, 0, 0)
    with pytest.raises(LayerNotFound):
        get_tile(sample_store, "slope", 1, 14, 0, 0)
    with pytest.raises(VersionNotFound):
        get_tile(sample_store, "farmland", 99, 14, 0, 0)


def test_prepare_tiles_is_idempotent(sample_store: Store) -> None:
    """Building a version's Web-Mercator copy ahead of time twice changes nothing; unknown versions are refused."""
    x, y = _tile_at(40_513_400.0, 3_524_800.0, 16)
    before = get_tile(sample_store, "farmland", 1, 16, x, y).data
    prepare_tiles(sample_store, "farmland", 1)
    prepare_tiles(sample_store, "farmland", 1)
    assert get_tile(sample_store, "farmland", 1, 16, x, y).data == before
    with pytest.raises(VersionNotFound):
        prepare_tiles(sample_store, "farmland", 7)
