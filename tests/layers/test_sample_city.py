"""The committed sample city (data/sample_gpkg): layer contents, fixture figures and reproducibility."""

from __future__ import annotations

import json
import tomllib
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from pyproj import Geod, Transformer
from rasterio.features import geometry_mask

from layers.sample_city import LAYER_KEYS, VECTOR_KEYS, generate

DATA = Path(__file__).resolve().parents[2] / "data" / "sample_gpkg"
EXTENT = (40_475_000.0, 3_500_000.0, 40_515_000.0, 3_540_000.0)
V = shapely.box(40_510_000.0, 3_524_000.0, 40_514_000.0, 3_528_000.0)
V_DEV = shapely.box(40_510_000.0, 3_524_000.0, 40_513_000.0, 3_528_000.0)
ID_FIELD = {"eco_redline": "HXBM", "farmland": "YJJBNTTBBH", "dev_boundary": "BSM", "industrial_zone": "区块编号",
            "parcels": "地块编号", "districts": "XZQDM", "transit": "BH"}
COUNTS = {"eco_redline": (35, 50), "farmland": (4_500, 5_500), "dev_boundary": (3, 6), "industrial_zone": (15, 25),
          "parcels": (550, 650), "districts": (4, 6), "transit": (25, 40)}
MU_M2 = 2000 / 3
TOL_M2 = 1e-6

# 地块编号: (area, ∩ farmland, ∩ red line, outside the development boundary, ∩ industrial zones), all m²
PARCEL_FIXTURES = {
    "FX-CLEAN-01": (120_000.0, 0.0, 0.0, 0.0, 120_000.0),
    "FX-FARM-01": (40_000.0, 20_000.0, 0.0, 40_000.0, 0.0),
    "FX-DEV-01": (60_000.0, 0.0, 0.0, 20_000.0, 0.0),
    "FX-ECO-01": (60_000.0, 0.0, 10_000.0, 0.0, 0.0),
    "FX-SLIVER-01": (40_000.8, 0.0, 0.8, 0.0, 0.0),
    "FX-WH-01": (200_000.0, 0.0, 0.0, 0.0, 200_000.0),
}
# FX-SITE-02 (site_wgs84.geojson) after the round trip lon/lat (7 decimals) -> EPSG:4528, and on the GRS80 ellipsoid
WGS84_SITE_PLANAR_M2 = 59_996.928
WGS84_SITE_ELLIPSOIDAL_M2 = 59_996.773


@cache
def _layer(key: str) -> gpd.GeoDataFrame:
    """A committed vector layer, read with pyogrio."""
    return pyogrio.read_dataframe(DATA / f"{key}.gpkg", layer=key)


@cache
def _union(key: str) -> shapely.Geometry:
    """The union of a committed polygon layer."""
    return shapely.union_all(_layer(key).geometry.values)


def _feature(key: str, feature_id: str) -> shapely.Geometry:
    """The geometry of one feature, by its id field."""
    frame = _layer(key)
    rows = frame[frame[ID_FIELD[key]] == feature_id]
    assert len(rows) == 1, f"{feature_id} in {key}"
    return rows.geometry.values[0]


def _overlap_m2(geom: shapely.Geometry, key: str) -> float:
    """Area of geom inside the union of a layer."""
    return float(shapely.area(shapely.intersection(geom, _union(key))))


def _random(key: str) -> gpd.GeoDataFrame:
    """The generated (non-fixture) features of a layer."""
    frame = _layer(key)
    return frame[~frame[ID_FIELD[key]].str.startswith("FX-")]


def _parse_ministry_txt(raw: bytes) -> tuple[dict[str, str], list[str], list[tuple[float, float]]]:
    """Parse a one-parcel 部标 TXT: header, parcel line fields, ring as (easting, northing)."""
    text = raw.decode("gbk")
    assert text.count("\r\n") == text.count("\n")
    header, body = text.split("[地块坐标]")
    meta = dict(line.split("=", 1) for line in header.split("\r\n") if "=" in line)
    lines = body.strip().split("\r\n")
    ring = [(float(east), float(north)) for _, _, north, east in (line.split(",") for line in lines[1:])]
    return meta, lines[0].split(","), ring


def test_every_layer_is_one_named_layer_in_epsg_4528() -> None:
    """Each GeoPackage holds one layer named after its key, in EPSG:4528, with the stated feature count."""
    for key in VECTOR_KEYS:
        path = DATA / f"{key}.gpkg"
        assert [name for name, _ in pyogrio.list_layers(path)] == [key]
        info = pyogrio.read_info(path, layer=key)
        assert info["crs"] == "EPSG:4528"
        assert info["geometry_type"] == ("Unknown" if key == "transit" else "MultiPolygon")
        lo, hi = COUNTS[key]
        assert lo <= info["features"] <= hi, key


def test_fields_are_exactly_those_of_layers_toml() -> None:
    """Every layer's fields are its `report` list of layers.toml, in order, and cover its `fields` mapping."""
    config = tomllib.loads((DATA / "layers.toml").read_text(encoding="utf-8"))
    by_key = {entry["key"]: entry for entry in config["layers"]}
    assert set(by_key) == set(LAYER_KEYS)
    for key in VECTOR_KEYS:
        columns = [c for c in _layer(key).columns if c != "geometry"]
        assert columns == by_key[key]["report"], key
        assert set(by_key[key]["fields"].values()) <= set(columns), key


def test_geometries_are_valid_and_polygonal_layers_multipolygons() -> None:
    """All geometries are valid; polygon layers are MultiPolygons; transit mixes Points and LineStrings."""
    for key in VECTOR_KEYS:
        geoms = _layer(key).geometry.values
        assert shapely.is_valid(geoms).all(), key
        assert not shapely.is_empty(geoms).any(), key
        expected = {"Point", "LineString"} if key == "transit" else {"MultiPolygon"}
        assert set(_layer(key).geom_type) == expected, key
        assert (shapely.get_x(shapely.centroid(geoms)) > 40_000_000).all(), "eastings carry the zone prefix"


def test_ids_are_unique() -> None:
    """Every layer's id field is unique."""
    for key, field in ID_FIELD.items():
        assert _layer(key)[field].is_unique, key


def test_farmland_patches_do_not_overlap_each_other() -> None:
    """Farmland patches are pairwise disjoint in area (STRtree over all pairs)."""
    geoms = _layer("farmland").geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]]))
    assert overlap.max(initial=0.0) < TOL_M2


def test_farmland_has_village_holes_and_plausible_attributes() -> None:
    """Some patches have holes, land classes match their codes, and YJJBNTMJ is the planar area."""
    farmland = _layer("farmland")
    first_parts = shapely.get_geometry(farmland.geometry.values, 0)
    assert (shapely.get_num_interior_rings(first_parts) > 0).sum() >= 100
    assert set(zip(farmland["DLBM"], farmland["DLMC"], strict=True)) == {("0101", "水田"), ("0102", "水浇地"),
                                                                          ("0103", "旱地")}
    np.testing.assert_allclose(farmland["YJJBNTMJ"], shapely.area(farmland.geometry.values), atol=0.005)


def test_red_line_and_farmland_do_not_overlap() -> None:
    """No farmland patch overlaps any red-line polygon."""
    farmland, eco = _layer("farmland").geometry.values, _layer("eco_redline").geometry.values
    fi, ei = shapely.STRtree(eco).query(farmland, predicate="intersects")
    overlap = shapely.area(shapely.intersection(farmland[fi], eco[ei]))
    assert overlap.max(initial=0.0) < TOL_M2


def test_red_line_polygons_are_irregular_and_outside_the_development_boundary() -> None:
    """Generated red-line polygons have hundreds of vertices and stay out of the development boundary."""
    eco = _random("eco_redline")
    assert np.median(shapely.get_num_coordinates(eco.geometry.values)) >= 200
    assert _overlap_m2(shapely.union_all(eco.geometry.values), "dev_boundary") < 1e-3
    np.testing.assert_allclose(_layer("eco_redline")["MJ"], shapely.area(_layer("eco_redline").geometry.values) / 1e4,
                               atol=5e-5)


def test_development_boundary_has_all_zone_kinds_and_holes() -> None:
    """The development boundary has 集中建设区 polygons with holes, plus elastic and special-use zones."""
    dev = _layer("dev_boundary")
    assert set(dev["GHFQDM"]) == {"01", "02", "03"}
    assert dict(zip(dev["GHFQDM"], dev["GHFQMC"], strict=True)) == {"01": "集中建设区", "02": "弹性发展区",
                                                                     "03": "特别用途区"}
    core = dev[dev["GHFQDM"] == "01"].geometry.values
    assert (shapely.get_num_interior_rings(shapely.get_geometry(core, 0)) >= 1).all()
    assert shapely.area(core).min() > 20e6


def test_parcels_are_disjoint_sized_and_mostly_inside_the_development_boundary() -> None:
    """Parcels do not overlap, measure 20–300 亩, record their area, and ≥ 80 % of their area is inside the boundary."""
    parcels = _layer("parcels")
    geoms = parcels.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    assert shapely.area(shapely.intersection(geoms[left[pairs]], geoms[right[pairs]])).max(initial=0.0) < TOL_M2
    area = shapely.area(geoms)
    assert (area >= 20 * MU_M2 - 1e-6).all() and (area <= 300 * MU_M2 + 1e-6).all()
    np.testing.assert_allclose(parcels["用地面积"], np.round(area, 2), atol=1e-9)
    assert _overlap_m2(shapely.union_all(geoms), "dev_boundary") / area.sum() >= 0.8
    assert _overlap_m2(shapely.union_all(_random("parcels").geometry.values), "industrial_zone") / area.sum() >= 0.8
    assert set(parcels["用地性质"]) == {"100101", "100102", "100103", "110101", "110102", "090101"}
    assert set(parcels["状态"]) == {"可招商", "储备", "已出让"}
    assert (parcels["容积率下限"] < parcels["容积率上限"]).all()


def test_industrial_zones_are_mostly_inside_the_development_boundary() -> None:
    """Industrial zones do not overlap and at least 80 % of their area lies in the development boundary."""
    zones = _random("industrial_zone").geometry.values
    assert shapely.area(shapely.union_all(zones)) == pytest.approx(shapely.area(zones).sum(), abs=1e-3)
    assert _overlap_m2(shapely.union_all(zones), "dev_boundary") / shapely.area(zones).sum() >= 0.8


def test_districts_tile_the_extent_and_v_lies_in_the_high_tech_district() -> None:
    """The districts cover the 40 km × 40 km extent without gaps or overlaps; V is inside 990105 高新区."""
    districts = _layer("districts")
    geoms = districts.geometry.values
    extent_m2 = (EXTENT[2] - EXTENT[0]) * (EXTENT[3] - EXTENT[1])
    assert shapely.area(geoms).sum() == pytest.approx(extent_m2, abs=1e-3)
    assert shapely.area(shapely.union_all(geoms)) == pytest.approx(extent_m2, abs=1e-3)
    assert shapely.union_all(geoms).bounds == EXTENT
    assert districts["XZQDM"].str.fullmatch(r"\d{6}").all()
    holder = districts[shapely.contains(geoms, V)]
    assert list(holder["XZQDM"]) == ["990105"] and list(holder["XZQMC"]) == ["高新区"]


def test_no_generated_feature_touches_the_verification_zone() -> None:
    """Inside V only fixtures exist; the development boundary covers exactly V's part west of x = 40 513 000."""
    for key in ("eco_redline", "farmland", "industrial_zone", "parcels"):
        assert not shapely.intersects(_random(key).geometry.values, V).any(), key
    transit = _random("transit").geometry.values
    assert shapely.distance(transit, V).min() > 1_500.0
    dev_in_v = shapely.intersection(_union("dev_boundary"), V)
    assert shapely.area(shapely.symmetric_difference(dev_in_v, V_DEV)) < TOL_M2


def test_fixture_zone_red_line_farmland_and_station() -> None:
    """FX-IZ-01, FX-HX-01, FX-NT-01 are the stated rectangles and FX-ST-01 the stated point."""
    expected = {
        ("industrial_zone", "FX-IZ-01"): (40_510_000.0, 3_524_000.0, 40_512_500.0, 3_526_000.0),
        ("eco_redline", "FX-HX-01"): (40_512_000.0, 3_526_500.0, 40_514_000.0, 3_528_000.0),
        ("farmland", "FX-NT-01"): (40_513_200.0, 3_524_000.0, 40_514_000.0, 3_525_000.0),
    }
    for (key, fid), bounds in expected.items():
        geom = _feature(key, fid)
        assert shapely.area(shapely.symmetric_difference(geom, shapely.box(*bounds))) < TOL_M2, fid
    zone = _layer("industrial_zone").set_index("区块编号").loc["FX-IZ-01"]
    assert (zone["区块名称"], zone["主导产业"]) == ("校验产业区块", "智能制造")
    assert _layer("eco_redline").set_index("HXBM").loc["FX-HX-01", "HXMC"] == "校验生态红线"
    assert _layer("farmland").set_index("YJJBNTTBBH").loc["FX-NT-01", "DLBM"] == "0101"
    station = _layer("transit").set_index("BH").loc["FX-ST-01"]
    assert (station["MC"], station["LX"]) == ("校验站", "地铁站")
    assert station.geometry.equals(shapely.Point(40_511_000.0, 3_525_000.0))


def test_fixture_parcels_have_the_documented_areas_and_overlaps() -> None:
    """Each FX parcel's area and its overlaps with farmland, red line, dev boundary and zones are as documented."""
    parcels = _layer("parcels").set_index("地块编号")
    for fid, (area, farm, eco, outside_dev, in_zone) in PARCEL_FIXTURES.items():
        geom = _feature("parcels", fid)
        assert shapely.area(geom) == pytest.approx(area, abs=TOL_M2), fid
        assert parcels.loc[fid, "用地面积"] == pytest.approx(area, abs=0.005), fid
        assert _overlap_m2(geom, "farmland") == pytest.approx(farm, abs=TOL_M2), fid
        assert _overlap_m2(geom, "eco_redline") == pytest.approx(eco, abs=TOL_M2), fid
        assert shapely.area(geom) - _overlap_m2(geom, "dev_boundary") == pytest.approx(outside_dev, abs=TOL_M2), fid
        assert _overlap_m2(geom, "industrial_zone") == pytest.approx(in_zone, abs=TOL_M2), fid
        assert parcels.loc[fid, "状态"] == "可招商"
    assert parcels.loc["FX-WH-01", "用地性质"] == "110101"
    assert parcels.loc["FX-CLEAN-01", "用地面积"] / MU_M2 == pytest.approx(180.0)
    sliver = shapely.intersection(_feature("parcels", "FX-SLIVER-01"), _union("eco_redline"))
    assert 2 * sliver.area / sliver.length == pytest.approx(0.004, rel=1e-3)


def test_site_txt_fixture_parses_to_the_stated_rectangle() -> None:
    """site_zone40.txt (GBK, CRLF) declares zone 40 and holds the 800 m square, clockwise, 64 公顷."""
    raw = (DATA / "fixtures" / "site_zone40.txt").read_bytes()
    meta, parcel, ring = _parse_ministry_txt(raw)
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    assert meta["坐标系"] == "2000国家大地坐标系" and meta["投影类型"] == "高斯克吕格"
    assert (meta["几度分带"], meta["带号"], meta["计量单位"]) == ("3", "40", "米")
    assert parcel[0] == "5" and parcel[1] == "64.0000" and parcel[2] == "FX-SITE-01" and parcel[-1] == "@"
    assert ring[0] == ring[-1] and len(ring) == 5
    site = shapely.Polygon(ring)
    assert not site.exterior.is_ccw
    assert site.equals(shapely.box(40_511_500.0, 3_526_000.0, 40_512_300.0, 3_526_800.0))
    assert site.area == pytest.approx(640_000.0) and site.area / MU_M2 == pytest.approx(960.0)
    assert _overlap_m2(site, "eco_redline") == pytest.approx(90_000.0, abs=TOL_M2)
    assert _overlap_m2(site, "dev_boundary") == pytest.approx(640_000.0, abs=TOL_M2)
    assert _overlap_m2(site, "farmland") == 0.0


def test_site_geojson_fixture_round_trips_to_the_documented_areas() -> None:
    """site_wgs84.geojson is an RFC 7946 lon/lat polygon whose planar and ellipsoidal areas are as documented."""
    collection = json.loads((DATA / "fixtures" / "site_wgs84.geojson").read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection" and "crs" not in collection
    ring = collection["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert all(round(v, 7) == v for point in ring for v in point)
    lonlat = shapely.Polygon(ring)
    assert lonlat.exterior.is_ccw
    to_plane = Transformer.from_crs("EPSG:4490", "EPSG:4528", always_xy=True)
    planar = shapely.Polygon([to_plane.transform(lon, lat) for lon, lat in ring])
    assert planar.area == pytest.approx(WGS84_SITE_PLANAR_M2, abs=1e-3)
    assert planar.symmetric_difference(shapely.box(40_510_100.0, 3_525_100.0, 40_510_400.0, 3_525_300.0)).area < 10.0
    area, _ = Geod(ellps="GRS80").geometry_area_perimeter(lonlat)
    assert abs(area) == pytest.approx(WGS84_SITE_ELLIPSOIDAL_M2, abs=1e-3)
    assert _overlap_m2(planar, "eco_redline") == 0.0
    assert _overlap_m2(planar, "dev_boundary") == pytest.approx(planar.area, abs=TOL_M2)


def test_slope_raster_grid_and_fixture_values() -> None:
    """slope.tif is the stated 30 m float32 grid; V is 3° except the cell-aligned 30° block."""
    with rasterio.open(DATA / "slope.tif") as src:
        slope = src.read(1)
        assert src.crs.to_epsg() == 4528
        assert tuple(src.transform)[:6] == (30.0, 0.0, 40_474_990.0, 0.0, -30.0, 3_540_000.0)
        assert (src.width, src.height, src.dtypes[0], src.nodata) == (1334, 1334, "float32", -9999.0)
        assert src.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "3"
    cols = (np.array([40_510_000.0, 40_510_900.0]) - 40_474_990.0) / 30.0
    rows = (3_540_000.0 - np.array([3_528_000.0, 3_527_100.0])) / 30.0
    assert np.array_equal(cols, np.round(cols)) and np.array_equal(rows, np.round(rows))
    xs = 40_474_990.0 + 30.0 * (np.arange(1334) + 0.5)
    ys = 3_540_000.0 - 30.0 * (np.arange(1334) + 0.5)
    cx, cy = np.meshgrid(xs, ys)
    in_v = shapely.contains_xy(V, cx, cy)
    in_block = shapely.contains_xy(shapely.box(40_510_000.0, 3_527_100.0, 40_510_900.0, 3_528_000.0), cx, cy)
    assert in_block.sum() == 900 and (slope[in_block] == 30.0).all()
    assert (slope[in_v & ~in_block] == 3.0).all()
    site = shapely.contains_xy(shapely.box(40_510_450.0, 3_527_100.0, 40_511_350.0, 3_528_000.0), cx, cy)
    assert (slope[site] > 25.0).mean() == 0.5
    assert slope[site].mean() == pytest.approx(16.5) and slope[site].max() == 30.0
    assert (slope >= 0.0).all() and slope.max() < 90.0


def test_slope_is_steeper_on_the_red_line_hills() -> None:
    """Terrain is plausible: hill red lines are on average far steeper than farmland."""
    with rasterio.open(DATA / "slope.tif") as src:
        slope, transform, shape = src.read(1), src.transform, (src.height, src.width)
    hills = _random("eco_redline")
    hills = hills[hills["HXLX"].isin(["水土保持", "水土流失防治"])].geometry.values
    on_hills = geometry_mask(hills, shape, transform, invert=True)
    on_farmland = geometry_mask(_random("farmland").geometry.values, shape, transform, invert=True)
    assert slope[on_hills].mean() > 3 * slope[on_farmland].mean()
    assert slope[on_farmland].mean() < 6.0


def test_generation_is_deterministic(tmp_path: Path) -> None:
    """Regenerating with the default seed reproduces every committed layer, the slope grid and the fixtures."""
    summary = generate(tmp_path)
    assert set(summary["layers"]) == set(LAYER_KEYS)
    for key in VECTOR_KEYS:
        fresh = pyogrio.read_dataframe(tmp_path / f"{key}.gpkg", layer=key)
        pd.testing.assert_frame_equal(fresh.drop(columns="geometry"), _layer(key).drop(columns="geometry"))
        assert (shapely.to_wkb(fresh.geometry.values) == shapely.to_wkb(_layer(key).geometry.values)).all(), key
    with rasterio.open(tmp_path / "slope.tif") as fresh, rasterio.open(DATA / "slope.tif") as committed:
        assert fresh.profile == committed.profile
        assert np.array_equal(fresh.read(1), committed.read(1))
    for name in ("site_zone40.txt", "site_wgs84.geojson"):
        assert (tmp_path / "fixtures" / name).read_bytes() == (DATA / "fixtures" / name).read_bytes()


def test_generating_one_layer_gives_the_same_layer(tmp_path: Path) -> None:
    """generate(layers=...) writes only those layers, identical to the full run (each layer has its own stream)."""
    summary = generate(tmp_path, layers=["parcels"])
    assert list(summary["layers"]) == ["parcels"]
    assert sorted(p.name for p in tmp_path.glob("*.gpkg")) == ["parcels.gpkg"]
    fresh = pyogrio.read_dataframe(tmp_path / "parcels.gpkg")
    pd.testing.assert_frame_equal(fresh.drop(columns="geometry"), _layer("parcels").drop(columns="geometry"))


def test_generate_refuses_unknown_scale_and_layers(tmp_path: Path) -> None:
    """Unknown scales and layer keys are refused with a message naming them."""
    with pytest.raises(ValueError, match="'town'"):
        generate(tmp_path, scale="town")
    with pytest.raises(ValueError, match="roads"):
        generate(tmp_path, layers=["roads"])
