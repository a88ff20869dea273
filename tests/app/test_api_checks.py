"""The check API over HTTP: JSON and file uploads, problem+json refusals, stored records, re-runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.check_models import CheckRecordOut, CheckResult
from sitecheck.settings import SAMPLE_CITY_DIR

FIXTURES = SAMPLE_CITY_DIR / "fixtures"
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def _wkt_box(x0: float, y0: float, x1: float, y1: float) -> str:
    """WKT of a rectangle in EPSG:4528 (full coordinates)."""
    return f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def test_json_check_returns_verdict_and_is_stored(client: TestClient) -> None:
    """A WKT site across the red line: conflict, 60 000 m²; GET returns the stored record."""
    body = {
        "site": _wkt_box(40_511_900, 3_526_300, 40_512_300, 3_526_700),
        "crs": "EPSG:4528",
        "project": {"name": "测试项目", "category": "industrial", "land_use_code": "100101"},
    }
    response = client.post("/v1/checks", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["verdict"] == "non_compliant"
    eco = next(layer for layer in result["layers"] if layer["layer"] == "eco_redline")
    assert eco["status"] == "conflict" and eco["overlap"]["area_m2"] == pytest.approx(60_000, abs=1e-6)
    assert response.headers["content-type"] == "application/json"
    CheckResult.model_validate(result)  # the answer is sent as built: it must still match the documented schema
    stored = client.get(f"/v1/checks/{result['check_id']}").json()
    CheckRecordOut.model_validate(stored)
    assert stored["accepted"] is True and stored["result"] == result
    assert stored["layer_versions"]["eco_redline"]["version"] == 1
    rerun = client.post(f"/v1/checks/{result['check_id']}/rerun").json()
    assert rerun["rerun_of"] == result["check_id"] and rerun["layers"] == result["layers"]


def test_txt_fixture_upload(client: TestClient) -> None:
    """The GBK/CRLF 部标 TXT fixture: 64 公顷, 90 000 m² in the red line, inside the boundary."""
    with (FIXTURES / "site_zone40.txt").open("rb") as handle:
        response = client.post(
            "/v1/checks", files={"file": ("site_zone40.txt", handle, "text/plain")}, data={"category": "public_service"}
        )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["site"]["area_ha"] == 64.0 and result["site"]["area_mu"] == 960.0
    assert result["site"]["source_format"] == "txt"
    layers = {layer["layer"]: layer for layer in result["layers"]}
    assert layers["eco_redline"]["overlap"]["area_m2"] == pytest.approx(90_000, abs=1e-6)
    assert layers["dev_boundary"]["status"] == "pass"


def test_wgs84_geojson_fixture(client: TestClient) -> None:
    """The lon/lat GeoJSON fixture lands where it should: about 60 000 m², clean, inside the boundary."""
    with (FIXTURES / "site_wgs84.geojson").open("rb") as handle:
        response = client.post("/v1/checks", files={"file": ("site.geojson", handle, "application/geo+json")})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["site"]["area_m2"] == pytest.approx(60_000, rel=2e-4)
    assert result["site"]["source_crs"] in ("EPSG:4490", "EPSG:4326")


def test_hangzhou_sample_is_outside_the_sample_city_but_measured(client: TestClient) -> None:
    """A real 部标 file from Hangzhou: 5.7089 公顷 planar (the file's figure, truncated: 57 089.50 m²), 57 088.9 m²
    ellipsoidal, touching no sample layer."""
    with (SAMPLES / "hangzhou_pengbu_BR14.txt").open("rb") as handle:
        response = client.post("/v1/checks", files={"file": ("BR14.txt", handle, "text/plain")})
    assert response.status_code == 200, response.text
    site = response.json()["site"]
    assert site["area_m2"] / 10_000 == pytest.approx(5.7089, abs=1e-4)
    assert site["meta"]["parcels"][0]["area_ha_declared"] == 5.7089
    assert site["ellipsoidal_area_m2"] == pytest.approx(57_088.9, abs=0.5)


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"site": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "crs": "EPSG:4528"}, 422, "GEOM_INVALID"),
        (
            {"site": "POLYGON((40511900 3526300, 40512300 3526300, 40512300 3526700, 40511900 3526300))"},
            422,
            "CRS_UNKNOWN",
        ),
        ({"site": {"type": "Point", "coordinates": [120.1, 31.8]}}, 422, "GEOM_NOT_POLYGONAL"),
        ({"site": "LINESTRING(0 0, 1 1)", "crs": "EPSG:4528"}, 422, "GEOM_NOT_POLYGONAL"),
        ({"site": _wkt_box(0, 0, 10, 10), "crs": "EPSG:4528"}, 422, "CRS_OUT_OF_RANGE"),
        (
            {
                "site": _wkt_box(40_511_900, 3_526_300, 40_512_300, 3_526_700),
                "crs": "EPSG:4528",
                "project": {"level": "galactic"},
            },
            422,
            "PARAM_INVALID",
        ),
        ({"nothing": 1}, 422, "PARAM_INVALID"),
    ],
)
def test_bad_json_input_gets_its_code(client: TestClient, body: dict[str, object], status: int, code: str) -> None:
    """Each bad-input class gets its documented status and stable code as problem+json, never a 500."""
    response = client.post("/v1/checks", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["detail"] and problem["detail_zh"]


def test_invalid_geometry_reports_location(client: TestClient) -> None:
    """A bow-tie site is refused with the GEOS reason and the crossing point."""
    body = {
        "site": "POLYGON((40511000 3524000, 40511100 3524100, 40511100 3524000, 40511000 3524100, 40511000 3524000))",
        "crs": "EPSG:4528",
    }
    problem = client.post("/v1/checks", json=body).json()
    assert problem["code"] == "GEOM_INVALID"
    assert problem["location"]["x"] == pytest.approx(40_511_050) and problem["location"]["y"] == pytest.approx(
        3_524_050
    )


def test_repair_flag_repairs_and_reports_areas(client: TestClient) -> None:
    """With repair=true the bow-tie is repaired (structure method) and the areas before and after are reported."""
    body = {
        "site": "POLYGON((40511000 3524000, 40511100 3524100, 40511100 3524000, 40511000 3524100, 40511000 3524000))",
        "crs": "EPSG:4528",
        "repair": True,
    }
    response = client.post("/v1/checks", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["site"]["repair"]["method"] == "structure"
    assert result["site"]["area_m2"] == pytest.approx(5_000, abs=1e-6)
    assert any(w["code"] == "GEOM_REPAIRED" for w in result["warnings"])


def test_refused_upload_is_stored_too(client: TestClient) -> None:
    """A refused check is in the audit trail with its error; the problem names the record's id."""
    problem = client.post("/v1/checks", json={"site": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "crs": "EPSG:4528"}).json()
    assert problem["code"] == "GEOM_INVALID"
    record = client.get(f"/v1/checks/{problem['details']['check_id']}").json()
    assert record["accepted"] is False and record["result"] is None
    assert record["error"]["code"] == "GEOM_INVALID" and len(record["input_sha256"]) == 64
    assert client.post(f"/v1/checks/{record['id']}/rerun").json()["code"] == "PARAM_INVALID"


def test_upload_too_large_is_413(client: TestClient) -> None:
    """A body over the upload limit is refused before reading it all."""
    response = client.post("/v1/checks", files={"file": ("big.txt", b"x" * (21 * 1024 * 1024), "text/plain")})
    assert response.status_code == 413 and response.json()["code"] == "UPLOAD_TOO_LARGE"


def test_deep_json_is_refused(client: TestClient) -> None:
    """A deeply nested JSON body gets JSON_TOO_DEEP, not a recursion crash."""
    deep = '{"site": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post("/v1/checks", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["code"] == "JSON_TOO_DEEP"


def test_unknown_check_is_404(client: TestClient) -> None:
    """An unknown check id answers 404 CHECK_NOT_FOUND."""
    response = client.get("/v1/checks/chk_doesnotexist")
    assert response.status_code == 404 and response.json()["code"] == "CHECK_NOT_FOUND"
