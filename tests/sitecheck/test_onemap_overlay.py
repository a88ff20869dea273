"""The one-map GeoJSON on both engines: the bbox overlay (counts checked with geopandas, the cap, simplification)
and a check's map (pieces with hand-computed areas, nearby features, pinned layer versions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import shape

from layers.load import load_configured_layers, load_layer
from sitecheck.check import check_site
from sitecheck.errors import LayerNotFound, ParameterInvalid
from sitecheck.intake import read_site_geometry
from sitecheck.onemap.checkmap import CheckMapRequest, build_check_map
from sitecheck.onemap.geojson import feature_text
from sitecheck.onemap.overlay import OverlayRequest, build_overlay
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores.base import Store

V = "40510000,3524000,40514000,3528000"
WEST_LONLAT = (119.9, 31.70, 119.95, 31.74)  # farmland country west of V
SITE = shapely.box(40_512_800, 3_526_300, 40_513_200, 3_526_700)  # across FX-HX-01's south edge and x = 40 513 000


def _overlay(store: Store, **request: Any) -> dict[str, Any]:
    """Build an overlay and parse it."""
    return json.loads(build_overlay(store, OverlayRequest(**request)))


def _ids(collection: dict[str, Any], layer: str, role: str | None = None) -> list[str]:
    """The feature ids (id field) of one layer in a collection, optionally of one role."""
    return [
        f["properties"]["id"]
        for f in collection["features"]
        if f["properties"].get("layer") == layer and (role is None or f["properties"].get("role") == role)
    ]


def _check(store: Store, geometry: shapely.Polygon) -> str:
    """Run and store a check of an industrial project; return its id."""
    site = read_site_geometry(geometry.wkt, crs="EPSG:4528")
    return str(
        check_site(store, site, ProjectFacts("map", "municipal", "industrial", "100101"), load_rules())["check_id"]
    )


def test_overlay_of_v_in_the_analysis_crs(sample_store: Store) -> None:
    """V holds FX-HX-01 and FX-NT-01 only; their geometries come back exact, in metres, with the crs member."""
    collection = _overlay(sample_store, bbox=V, bbox_crs="EPSG:4528", layers="eco_redline,farmland", crs="EPSG:4528")
    assert collection["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::4528"
    assert _ids(collection, "eco_redline") == ["FX-HX-01"] and _ids(collection, "farmland") == ["FX-NT-01"]
    red_line = next(f for f in collection["features"] if f["properties"]["id"] == "FX-HX-01")
    assert red_line["id"] == "eco_redline.1" and red_line["properties"]["layer_version"] == 1
    assert red_line["properties"]["attributes"]["HXMC"] == "校验生态红线"
    assert shape(red_line["geometry"]).equals(shapely.box(40_512_000, 3_526_500, 40_514_000, 3_528_000))
    assert [s["layer"] for s in collection["layers"]] == ["eco_redline", "farmland"]
    assert collection["truncated"] is False and "notice" not in collection


def test_overlay_counts_match_geopandas_and_the_cap_is_reported(sample_store: Store) -> None:
    """A lon/lat bbox: as many farmland patches as geopandas finds; capped at 7, the lowest fids and a notice."""
    frame = pyogrio.read_dataframe(SAMPLE_CITY_DIR / "farmland.gpkg", fid_as_index=True).to_crs("OGC:CRS84")
    expected = sorted(int(fid) for fid in frame.index[frame.intersects(shapely.box(*WEST_LONLAT))])
    assert len(expected) > 20
    bbox = ",".join(str(v) for v in WEST_LONLAT)
    full = _overlay(sample_store, bbox=bbox, layers="farmland")
    assert sorted(f["properties"]["fid"] for f in full["features"]) == expected
    assert full["layers"][0] | {"matched": len(expected)} == full["layers"][0]
    capped = _overlay(sample_store, bbox=bbox, layers="farmland", limit=7)
    assert [f["properties"]["fid"] for f in capped["features"]] == expected[:7]
    summary = capped["layers"][0]
    assert (summary["matched"], summary["returned"], summary["truncated"]) == (len(expected), 7, True)
    assert capped["truncated"] is True and "zoom in" in capped["notice"]["en"] and "上限" in capped["notice"]["zh"]
    lon, lat = full["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 119.8 < lon < 120.0 and 31.6 < lat < 31.8


def test_zoom_simplifies_to_half_a_pixel(sample_store: Store) -> None:
    """At zoom 10 the development boundary loses most vertices; the tolerance is half a z10 pixel at 31.8°N."""
    full = _overlay(sample_store, bbox=V, bbox_crs="EPSG:4528", layers="dev_boundary", crs="EPSG:4528")
    coarse = _overlay(sample_store, bbox=V, bbox_crs="EPSG:4528", layers="dev_boundary", crs="EPSG:4528", zoom=10)
    assert coarse["query"]["simplify_m"] == pytest.approx(152.874 * 0.8497 / 2, rel=2e-3)
    vertices = [sum(shapely.get_num_coordinates(shape(f["geometry"])) for f in c["features"]) for c in (full, coarse)]
    assert vertices[1] < vertices[0] / 5
    assert _ids(full, "dev_boundary") == _ids(coarse, "dev_boundary")


def test_overlay_refusals(sample_store: Store) -> None:
    """Unknown layers and rasters, a cap or zoom out of range, an unknown output CRS: refused before any work."""
    with pytest.raises(LayerNotFound):
        _overlay(sample_store, bbox=V, bbox_crs="EPSG:4528", layers="farmland,nope")
    with pytest.raises(LayerNotFound):
        _overlay(sample_store, bbox=V, bbox_crs="EPSG:4528", layers="slope")
    for bad in ({"limit": 0}, {"limit": 10_001}, {"zoom": 25}, {"crs": "EPSG:3857"}, {"bbox": "1,2,3"}):
        with pytest.raises(ParameterInvalid):
            _overlay(sample_store, **({"bbox": V, "bbox_crs": "EPSG:4528"} | bad))


def test_check_map_has_site_pieces_and_nearby_features(sample_store: Store) -> None:
    """The site (16 ha), 80 000 m² in FX-HX-01, 80 000 m² outside the boundary, nearby layers clipped to the window."""
    check_id = _check(sample_store, SITE)
    collection = json.loads(build_check_map(sample_store, check_id, CheckMapRequest(buffer_m=500, crs="EPSG:4528")))
    roles = {(f["properties"]["role"], f["properties"].get("layer")): f for f in collection["features"]}
    site = roles[("site", None)]
    assert site["properties"]["area_m2"] == pytest.approx(160_000) and site["properties"]["verdict"] == "non_compliant"
    red = roles[("overlap", "eco_redline")]["properties"]
    assert red["id"] == "FX-HX-01" and red["area_m2"] == pytest.approx(80_000) and red["share"] == pytest.approx(0.5)
    assert red["status"] == "conflict" and red["sliver"] is False and red["area_mu"] == pytest.approx(120.0)
    outside = roles[("outside", "dev_boundary")]
    assert outside["properties"]["area_m2"] == pytest.approx(80_000)
    assert shape(outside["geometry"]).equals(shapely.box(40_513_000, 3_526_300, 40_513_200, 3_526_700))
    assert roles[("overlap", "dev_boundary")]["properties"]["area_m2"] == pytest.approx(80_000)
    assert roles[("outside", "industrial_zone")]["properties"]["area_m2"] == pytest.approx(160_000)
    assert _ids(collection, "parcels", "feature") == ["FX-SLIVER-01"]
    assert _ids(collection, "eco_redline", "feature") == ["FX-HX-01"] and _ids(collection, "farmland", "feature") == []
    nearby_red = next(f for f in collection["features"] if f["id"] == "eco_redline.1")
    assert shape(nearby_red["geometry"]).area == pytest.approx(1_400 * 700)  # clipped to the site's extent + 500 m
    assert collection["layer_versions"]["eco_redline"] == {"version": 1, "pinned": True}
    assert collection["layer_versions"]["parcels"] == {"version": 1, "pinned": False}


def test_check_map_refusals(sample_store: Store) -> None:
    """A buffer out of range, an unknown layer, or an unknown check are refused."""
    check_id = _check(sample_store, SITE)
    with pytest.raises(ParameterInvalid):
        build_check_map(sample_store, check_id, CheckMapRequest(buffer_m=50_000))
    with pytest.raises(LayerNotFound):
        build_check_map(sample_store, check_id, CheckMapRequest(layers="nope"))
    lonlat = json.loads(build_check_map(sample_store, check_id, CheckMapRequest(layers="farmland", buffer_m=0)))
    to_lonlat = Transformer.from_crs("EPSG:4528", "EPSG:4490", always_xy=True)
    site = next(f for f in lonlat["features"] if f["id"] == "site")
    assert shape(site["geometry"]).bounds[0] == pytest.approx(to_lonlat.transform(40_512_800, 3_526_300)[0], abs=1e-6)


def test_check_map_uses_the_versions_the_check_used(empty_store: Store, tmp_path: Path) -> None:
    """After a new red-line version without FX-HX-01, the old check's map still shows FX-HX-01 (version 1, pinned)
    while the current overlay no longer does."""
    load_configured_layers(empty_store, loaded_by="tests", analysis_crs=empty_store.crs)
    check_id = _check(empty_store, SITE)
    frame = pyogrio.read_dataframe(SAMPLE_CITY_DIR / "eco_redline.gpkg")
    source = tmp_path / "eco_redline_v2.gpkg"
    pyogrio.write_dataframe(frame[frame["HXBM"] != "FX-HX-01"], source, layer="eco_redline")
    load_layer(empty_store, "eco_redline", source, loaded_by="tests", analysis_crs=empty_store.crs)
    collection = json.loads(build_check_map(empty_store, check_id, CheckMapRequest(buffer_m=500)))
    assert collection["layer_versions"]["eco_redline"] == {"version": 1, "pinned": True}
    assert _ids(collection, "eco_redline", "overlap") == ["FX-HX-01"]
    assert _ids(collection, "eco_redline", "feature") == ["FX-HX-01"]
    current = _overlay(empty_store, bbox=V, bbox_crs="EPSG:4528", layers="eco_redline")
    assert current["layers"][0]["version"] == 2 and _ids(current, "eco_redline") == []


def test_feature_text_writes_json_even_for_nan_properties() -> None:
    """A NaN or infinite attribute (a source's missing number) becomes null: the document stays valid JSON."""
    text = feature_text("F1", {"MJ": float("nan"), "GKCS": float("inf"), "HXMC": "红线", "N": 3}, '{"type":"Point"}')
    parsed = json.loads(text)
    assert parsed["properties"] == {"MJ": None, "GKCS": None, "HXMC": "红线", "N": 3} and parsed["id"] == "F1"
