"""The parcel API over HTTP: search by GET and POST, formats, links, detail, suggestions, problem+json refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping
from typer.testing import CliRunner

from app.cli import cli
from app.parcel_models import ParcelDetail, ParcelSearchResult, SuggestResult
from sitecheck.settings import Settings, get_settings
from tests.sitecheck.test_parcels_truth import to_lonlat, truth

DRAWN = json.loads(json.dumps(mapping(to_lonlat(shapely.box(40_480_000, 3_505_000, 40_495_000, 3_520_000)))))


def test_get_search_with_links_and_echoed_weights(client: TestClient) -> None:
    """GET /v1/parcels in 高新区: clean fixtures ranked, weights echoed, next link followable to the end."""
    response = client.get("/v1/parcels", params={"district": "高新区", "limit": 2, "weights": "transit:2,in_zone:1"})
    assert response.status_code == 200, response.text
    page = response.json()
    assert page == ParcelSearchResult.model_validate(page).model_dump(mode="json")  # sent as built, to the model
    assert [item["id"] for item in page["items"]] == ["FX-WH-01", "FX-CLEAN-01"]
    assert page["ranking"]["weights"]["transit"] == 2.0
    assert page["ranking"]["applied_weights"] == pytest.approx({"transit": 2 / 3.15, "status": 0.15 / 3.15,
                                                                "in_zone": 1 / 3.15})
    first = page["items"][0]
    assert first["transit"] == {"id": "FX-ST-01", "name": "校验站", "kind": "地铁站", "distance_m": 0.0}
    assert first["breakdown"][0]["criterion"] == "transit" and first["reason_zh"].startswith("得分")
    expected_total = int(((truth()["district_code"] == "990105") & truth()["clean"]).sum())
    seen = [item["id"] for item in page["items"]]
    links = {link["rel"]: link for link in page["links"]}
    while "next" in links:
        query = parse_qs(urlsplit(links["next"]["href"]).query)
        assert query["district"] == ["高新区"] and query["weights"] == ["transit:2,in_zone:1"]
        page = client.get(links["next"]["href"]).json()
        seen += [item["id"] for item in page["items"]]
        links = {link["rel"]: link for link in page["links"]}
    assert len(seen) == len(set(seen)) == page["total"] == expected_total


def test_post_search_with_a_drawn_area_and_a_post_next_link(client: TestClient) -> None:
    """POST /v1/parcels/search with a lon/lat polygon: warehouse land ≥ 50 亩; next link repeats the body."""
    body = {"area": DRAWN, "use": ["W"], "status": ["可招商"], "min_mu": 50, "limit": 3}
    response = client.post("/v1/parcels/search", json=body)
    assert response.status_code == 200, response.text
    page = response.json()
    t = truth()
    box = shapely.box(40_480_000, 3_505_000, 40_495_000, 3_520_000)
    expected = t[t["clean"] & (t["状态"] == "可招商") & t["用地性质"].str.startswith("1101")
                 & (t["area_m2"] >= 50 * 2000 / 3) & shapely.covers(box, t.geometry.values)]
    assert page["total"] == len(expected) > 3
    nxt = next(link for link in page["links"] if link["rel"] == "next")
    assert nxt["method"] == "POST" and nxt["body"]["offset"] == 3 and nxt["body"]["use"] == ["W"]
    second = client.post(nxt["href"], json=nxt["body"]).json()
    assert {i["id"] for i in second["items"]}.isdisjoint({i["id"] for i in page["items"]})


def test_geojson_and_csv(client: TestClient) -> None:
    """f=geojson is a FeatureCollection in lon/lat with links; f=csv opens in Excel (BOM, Chinese headers)."""
    response = client.get("/v1/parcels", params={"park": "校验园区", "include_nonclean": "true", "f": "geojson"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and collection["numberMatched"] == 6
    assert {f["id"] for f in collection["features"]} == {"FX-CLEAN-01", "FX-WH-01", "FX-FARM-01", "FX-DEV-01",
                                                          "FX-ECO-01", "FX-SLIVER-01"}
    assert collection["links"][0]["rel"] == "self"
    lon, lat = collection["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 119 < lon < 122 and 30 < lat < 33
    response = client.post("/v1/parcels/search?f=csv", json={"park": ["校验园区"], "include_nonclean": True})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == 6 and {r["地块编号"] for r in rows} >= {"FX-ECO-01"}
    eco = next(r for r in rows if r["地块编号"] == "FX-ECO-01")
    assert eco["合规（无冲突）"] == "否" and "生态保护红线冲突" in eco["存在问题"] and eco["面积（亩）"] == "90.0"


def test_parcel_detail_and_not_found(client: TestClient) -> None:
    """GET /v1/parcels/{id}: figures per layer with versions; an unknown id is a 404 problem."""
    response = client.get("/v1/parcels/FX-ECO-01")
    assert response.status_code == 200, response.text
    detail = response.json()
    ParcelDetail.model_validate(detail)
    eco = next(layer for layer in detail["compliance"]["layers"] if layer["layer"] == "eco_redline")
    assert (eco["status"], eco["overlap_m2"], eco["version"]) == ("conflict", 10_000.0, 1)
    assert detail["transit"]["nearest"]["id"] == "FX-ST-01" and detail["neighbours"][0]["id"] == "FX-SLIVER-01"
    missing = client.get("/v1/parcels/NO-SUCH-PARCEL")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "PARCEL_NOT_FOUND"


def test_suggest(client: TestClient) -> None:
    """POST /v1/parcels/suggest: options with their check, ranked, for 150 亩 of M2 land."""
    response = client.post("/v1/parcels/suggest", json={"area_mu": 150, "land_use_code": "M2", "limit": 3})
    assert response.status_code == 200, response.text
    result = response.json()
    SuggestResult.model_validate(result)
    assert result["use_codes"][0]["prefixes"] == ["100102"] and 1 <= len(result["options"]) <= 3
    assert all(option["check"]["verdict"] in ("compliant", "needs_review") for option in result["options"])


def test_options(client: TestClient) -> None:
    """GET /v1/parcels/options lists districts, statuses, transit kinds, layers, criteria and the crosswalk."""
    options = client.get("/v1/parcels/options").json()
    assert {"code": "990105", "name": "高新区"} in options["districts"]
    assert options["statuses"] == ["储备", "可招商", "已出让"]
    assert {k["kind"] for k in options["transit_kinds"] if k["stop"]} == {"地铁站", "高铁站", "公交枢纽", "高速出入口"}
    assert {c["code"] for c in options["land_use_crosswalk"]} >= {"M1", "M2", "W1", "0601"}
    assert options["default_weights"]["area_fit"] == 0.35


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("GET", "/v1/parcels?min_mu=-5", None),
        ("GET", "/v1/parcels?use=ZZ9", None),
        ("GET", "/v1/parcels?district=火星区", None),
        ("GET", "/v1/parcels?weights=transit:fast", None),
        ("GET", "/v1/parcels?limit=0", None),
        ("GET", "/v1/parcels?f=xml", None),
        ("GET", "/v1/parcels?max_transit_m=inf", None),
        ("GET", "/v1/parcels?min_mu=abc", None),
        ("POST", "/v1/parcels/search", {"area": {"type": "Point", "coordinates": [120.1, 31.8]}}),
        ("POST", "/v1/parcels/search", {"area": "POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))", "area_crs": "EPSG:4528"}),
        ("POST", "/v1/parcels/search", {"colour": "red"}),
        ("POST", "/v1/parcels/suggest", {"area_mu": 10, "max_group_size": 99}),
        ("POST", "/v1/parcels/suggest", {}),
    ],
)
def test_bad_input_is_a_4xx_problem_never_a_500(
    client: TestClient, method: str, url: str, payload: dict[str, object] | None
) -> None:
    """Every bad parameter or area is answered with problem+json 422 and a stable code."""
    response = client.request(method, url, json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("PARAM_INVALID", "GEOM_NOT_POLYGONAL", "GEOM_INVALID", "CRS_OUT_OF_RANGE")


def test_operation_ids_are_stable(client: TestClient) -> None:
    """The parcel routes keep their operation ids."""
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/v1/parcels"]["get"]["operationId"] == "listParcels"
    assert paths["/v1/parcels/search"]["post"]["operationId"] == "searchParcels"
    assert paths["/v1/parcels/suggest"]["post"]["operationId"] == "suggestSites"
    assert paths["/v1/parcels/{parcel_id}"]["get"]["operationId"] == "getParcel"
    assert paths["/v1/parcels/options"]["get"]["operationId"] == "getParcelSearchOptions"


@pytest.mark.parametrize("engine", ["embedded", "postgis"])
def test_cli_search_prints_a_table_and_writes_files(
    engine: str, sample_settings: dict[str, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sitecheck parcels search --min-mu --max-mu --use --district --max-transit-m --geojson --csv` on each engine."""
    settings = sample_settings[engine]
    monkeypatch.setenv("SITECHECK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SITECHECK_DB_SCHEMA", settings.db_schema)
    if settings.database_url:
        monkeypatch.setenv("SITECHECK_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("SITECHECK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        args = ["parcels", "search", "--min-mu", "150", "--max-mu", "350", "--use", "100101", "--use", "W",
                "--district", "高新区", "--max-transit-m", "2000", "--geojson", str(tmp_path / "p.geojson"),
                "--csv", str(tmp_path / "p.csv")]
        result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "FX-CLEAN-01" in result.output and "FX-WH-01" in result.output and "共 2 宗" in result.output
    collection = json.loads((tmp_path / "p.geojson").read_text(encoding="utf-8"))
    assert {f["id"] for f in collection["features"]} == {"FX-CLEAN-01", "FX-WH-01"}
    assert (tmp_path / "p.csv").read_bytes().startswith(b"\xef\xbb\xbf")
