"""The one-map GeoJSON over HTTP: the bbox overlay and a check's map, their media type, refusals as problem+json,
and the OpenAPI description of the one-map, tile and OGC routes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

V = "40510000,3524000,40514000,3528000"
SITE_WKT = "POLYGON((40512800 3526300,40513200 3526300,40513200 3526700,40512800 3526700,40512800 3526300))"


def test_overlay_is_geojson_tagged_by_layer(client: TestClient) -> None:
    """GET /v1/onemap over V: application/geo+json, FX-HX-01 and FX-NT-01 tagged with layer and version, CRS84."""
    response = client.get("/v1/onemap", params={"bbox": V, "bbox-crs": "EPSG:4528", "layers": "eco_redline,farmland"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    tags = sorted((f["properties"]["layer"], f["properties"]["id"]) for f in collection["features"])
    assert tags == [("eco_redline", "FX-HX-01"), ("farmland", "FX-NT-01")]
    assert "crs" not in collection
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 120.0 < lon < 120.2 and 31.8 < lat < 31.9


def test_overlay_defaults_to_every_loaded_vector_layer(client: TestClient) -> None:
    """Without layers=, every vector layer with a version answers (the slope raster does not)."""
    collection = client.get("/v1/onemap", params={"bbox": V, "bbox-crs": "EPSG:4528"}).json()
    assert [s["layer"] for s in collection["layers"]] == [
        "eco_redline",
        "farmland",
        "dev_boundary",
        "industrial_zone",
        "parcels",
        "districts",
        "transit",
    ]
    assert {f["properties"]["id"] for f in collection["features"] if f["properties"]["layer"] == "parcels"} >= {
        "FX-CLEAN-01",
        "FX-ECO-01",
    }


@pytest.mark.parametrize(
    "params, status, code",
    [
        ({"bbox": "1,2,3"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.2,31.8,120.1,31.9"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.1,31.8,120.2,31.9", "bbox-crs": "EPSG:4528"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.1,31.8,120.2,31.9", "bbox-crs": "EPSG:9999"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.1,31.8,120.2,31.9", "limit": "0"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.1,31.8,120.2,31.9", "zoom": "30"}, 422, "PARAM_INVALID"),
        ({"bbox": "120.1,31.8,120.2,31.9", "layers": "nope"}, 404, "LAYER_NOT_FOUND"),
        ({}, 422, "PARAM_INVALID"),
    ],
)
def test_overlay_refusals_are_problems(client: TestClient, params: dict[str, str], status: int, code: str) -> None:
    """Bad bboxes, CRSs, caps and layers: problem+json with the stable code."""
    response = client.get("/v1/onemap", params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_check_map_over_http(client: TestClient) -> None:
    """POST a check, GET its map: site, the FX-HX-01 overlap (80 000 m²), the part outside the boundary."""
    body = {"site": SITE_WKT, "crs": "EPSG:4528", "project": {"category": "industrial", "land_use_code": "100101"}}
    check_id = client.post("/v1/checks", json=body).json()["check_id"]
    response = client.get(f"/v1/checks/{check_id}/map", params={"buffer_m": 200})
    assert response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["check_id"] == check_id and collection["buffer_m"] == 200
    pieces = {(f["properties"]["role"], f["properties"].get("layer")): f["properties"] for f in collection["features"]}
    assert pieces[("site", None)]["area_ha"] == 16.0
    assert pieces[("overlap", "eco_redline")]["area_m2"] == pytest.approx(80_000)
    assert pieces[("outside", "dev_boundary")]["area_m2"] == pytest.approx(80_000)


def test_check_map_of_unknown_or_refused_check(client: TestClient) -> None:
    """An unknown check is CHECK_NOT_FOUND (404); a refused check has no site to map (422)."""
    missing = client.get("/v1/checks/chk_nope/map")
    assert missing.status_code == 404 and missing.json()["code"] == "CHECK_NOT_FOUND"
    refused = client.post("/v1/checks", json={"site": "POLYGON((0 0,1 1,1 0,0 1,0 0))", "crs": "EPSG:4528"})
    assert refused.status_code == 422
    answer = client.get(f"/v1/checks/{refused.json()['details']['check_id']}/map")
    assert answer.status_code == 422 and answer.json()["code"] == "PARAM_INVALID"
    assert client.get("/v1/checks/chk_nope/map", params={"buffer_m": "-1"}).status_code == 422


def test_openapi_names_the_routes_and_media_types(client: TestClient) -> None:
    """Stable operation ids; GeoJSON and MVT bodies are described with their media types."""
    spec = client.get("/openapi.json").json()
    operations = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    for name in ("getOverlay", "getCheckMap", "getTile", "redirectTile", "getTileJson", "getFeatures", "getFeature"):
        assert name in operations, name
    assert "application/geo+json" in operations["getOverlay"]["responses"]["200"]["content"]
    assert "application/vnd.mapbox-vector-tile" in operations["getTile"]["responses"]["200"]["content"]
    assert "application/geo+json" in operations["getFeatures"]["responses"]["200"]["content"]
