"""OGC API – Features (Part 1 core + GeoJSON) under /ogc: documents, paging, bbox and attribute filters checked
against geopandas, refusals with 400/404, and GDAL's OAPIF driver reading a live server started here."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from sitecheck.settings import SAMPLE_CITY_DIR, Settings

ROOT = Path(__file__).resolve().parents[2]
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
WEST = (119.9, 31.70, 119.95, 31.74)  # farmland country west of the verification zone


def _layer(key: str) -> gpd.GeoDataFrame:
    """A sample layer read independently from its source file, indexed by fid, in CRS84."""
    return pyogrio.read_dataframe(SAMPLE_CITY_DIR / f"{key}.gpkg", fid_as_index=True).to_crs("OGC:CRS84")


def test_landing_page_and_conformance(client: TestClient) -> None:
    """The landing page links the API definition, conformance and data; core and GeoJSON are declared."""
    links = {link["rel"]: link for link in client.get("/ogc").json()["links"]}
    assert links["service-desc"]["href"] == "http://testserver/openapi.json"
    assert links["conformance"]["href"] == "http://testserver/ogc/conformance"
    assert links["data"]["href"] == "http://testserver/ogc/collections"
    conforms = client.get("/ogc/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms


def test_collections_are_the_loaded_vector_layers(client: TestClient) -> None:
    """One collection per vector layer; the extent is the layer's, in CRS84; items link as GeoJSON."""
    collections = client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in collections] == [
        "eco_redline",
        "farmland",
        "dev_boundary",
        "industrial_zone",
        "parcels",
        "districts",
        "transit",
    ]
    farmland = client.get("/ogc/collections/farmland").json()
    assert farmland["title"] == "永久基本农田" and farmland["crs"] == [CRS84_URI]
    west, south, east, north = farmland["extent"]["spatial"]["bbox"][0]
    lo_x, lo_y, hi_x, hi_y = _layer("farmland").total_bounds
    assert west <= lo_x < west + 1e-3 and south <= lo_y < south + 1e-3  # the stored extent, densified into CRS84
    assert east - 1e-3 < hi_x <= east and north - 1e-3 < hi_y <= north
    items = next(link for link in farmland["links"] if link["rel"] == "items")
    assert items["type"] == "application/geo+json" and items["href"].endswith("/ogc/collections/farmland/items")


def test_items_paging_with_counts_and_links(client: TestClient) -> None:
    """limit/offset pages in fid order with numberMatched, numberReturned, next and prev links."""
    total = len(_layer("farmland"))
    first = client.get("/ogc/collections/farmland/items", params={"limit": 10})
    assert first.headers["content-type"] == "application/geo+json"
    page = first.json()
    assert (page["numberMatched"], page["numberReturned"]) == (total, 10)
    assert [f["id"] for f in page["features"]] == list(range(1, 11))
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert "prev" not in links and "offset=10" in links["next"]
    second = client.get(links["next"].replace("http://testserver", "")).json()
    assert [f["id"] for f in second["features"]] == list(range(11, 21))
    assert "offset=0" in {link["rel"]: link["href"] for link in second["links"]}["prev"]
    last = client.get("/ogc/collections/farmland/items", params={"limit": 10, "offset": total - 3}).json()
    assert last["numberReturned"] == 3 and "next" not in {link["rel"] for link in last["links"]}


def test_bbox_and_attribute_filters_match_geopandas(client: TestClient) -> None:
    """numberMatched equals the count geopandas finds in the bbox, with and without an attribute filter."""
    frame = _layer("farmland")
    inside = frame[frame.intersects(shapely.box(*WEST))]
    bbox = ",".join(map(str, WEST))
    page = client.get("/ogc/collections/farmland/items", params={"bbox": bbox, "limit": 1000}).json()
    assert page["numberMatched"] == len(inside) > 20
    assert sorted(f["id"] for f in page["features"]) == sorted(inside.index.tolist())
    paddy = client.get("/ogc/collections/farmland/items", params={"bbox": bbox, "DLBM": "0101", "limit": 1}).json()
    assert paddy["numberMatched"] == int((inside["DLBM"] == "0101").sum()) > 0
    everywhere = client.get("/ogc/collections/farmland/items", params={"DLBM": "0101", "limit": 1}).json()
    assert everywhere["numberMatched"] == int((frame["DLBM"] == "0101").sum())
    metres = client.get(
        "/ogc/collections/eco_redline/items",
        params={"bbox": "40510000,3524000,40514000,3528000", "bbox-crs": "EPSG:4528"},
    ).json()
    assert [f["properties"]["HXBM"] for f in metres["features"]] == ["FX-HX-01"]


def test_one_item_has_the_layer_attributes(client: TestClient) -> None:
    """Item 1 of the red line is FX-HX-01 with its reported fields and its geometry in CRS84."""
    response = client.get("/ogc/collections/eco_redline/items/1")
    assert response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    item = response.json()
    source = _layer("eco_redline").loc[1]
    assert item["id"] == 1 and item["properties"] == {k: source[k] for k in ("HXBM", "HXMC", "HXLX", "MJ", "GKCS")}
    assert shapely.normalize(shapely.geometry.shape(item["geometry"])).equals_exact(
        shapely.normalize(source.geometry), 1e-6
    )
    assert {link["rel"] for link in item["links"]} == {"self", "collection"}


@pytest.mark.parametrize(
    "path, params, status, code",
    [
        ("/ogc/collections/farmland/items", {"limit": "0"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/farmland/items", {"offset": "-1"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/farmland/items", {"bbox": "1,2,3"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/farmland/items", {"colour": "red"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/farmland/items", {"YJJBNTMJ": "big"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/farmland/items", {"f": "xml"}, 400, "PARAM_INVALID"),
        ("/ogc/collections/nope/items", {}, 404, "LAYER_NOT_FOUND"),
        ("/ogc/collections/slope", {}, 404, "LAYER_NOT_FOUND"),
        ("/ogc/collections/farmland/items/999999", {}, 404, "NOT_FOUND"),
        ("/ogc/collections/farmland/items/abc", {}, 404, "NOT_FOUND"),
    ],
)
def test_refusals(client: TestClient, path: str, params: dict[str, str], status: int, code: str) -> None:
    """Invalid parameters are 400 (as OGC API – Features requires), unknown things 404, as problem+json."""
    response = client.get(path, params=params)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status


@pytest.fixture(params=("embedded", "postgis"))
def live_server(request: pytest.FixtureRequest, sample_settings: dict[str, Settings]) -> Iterator[str]:
    """uvicorn serving the sample city on a free loopback port, in its own process; yields the OGC API root."""
    settings = sample_settings[str(request.param)]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITECHECK_")}
    env |= {"SITECHECK_DATA_DIR": str(settings.data_dir), "SITECHECK_DB_SCHEMA": settings.db_schema}
    # Access control on, in public read-only mode: GDAL reads the layers without a key, as a public map would.
    env |= {"SITECHECK_ACCESS__AUTH_ENABLED": "true", "SITECHECK_ACCESS__PUBLIC_READ": "true"}
    if settings.database_url:
        env["SITECHECK_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                pytest.fail(f"uvicorn exited with {server.returncode}", pytrace=False)
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not answer /health", pytrace=False)
        yield f"{base}/ogc"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_gdal_reads_the_collections_from_a_live_server(live_server: str) -> None:
    """GDAL's OAPIF driver (through pyogrio) lists the collections and reads the red line and a bbox of farmland:
    the same fids, attributes and geometries as the source files."""
    dataset = f"OAPIF:{live_server}"
    assert [name for name, _ in pyogrio.list_layers(dataset)][:2] == ["eco_redline", "farmland"]
    read = pyogrio.read_dataframe(dataset, layer="eco_redline", fid_as_index=True)
    source = _layer("eco_redline")
    assert read.crs.to_epsg() == 4326 and len(read) == len(source)
    assert sorted(read.index) == sorted(source.index)
    read = read.loc[source.index]
    for column in ("HXBM", "HXMC", "HXLX", "GKCS"):
        assert read[column].tolist() == source[column].tolist(), column
    assert np.allclose(read["MJ"].to_numpy(), source["MJ"].to_numpy())
    # rings come back counter-clockwise (RFC 7946) and rounded to 1e-7 degrees
    assert shapely.equals_exact(
        shapely.normalize(read.geometry.values), shapely.normalize(source.geometry.values), 1e-6
    ).all()
    farmland = pyogrio.read_dataframe(dataset, layer="farmland", fid_as_index=True, bbox=WEST)
    expected = _layer("farmland")
    expected = expected[expected.intersects(shapely.box(*WEST))]
    assert sorted(farmland.index) == sorted(expected.index)
    assert farmland.loc[expected.index, "YJJBNTTBBH"].tolist() == expected["YJJBNTTBBH"].tolist()
