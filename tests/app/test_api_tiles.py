"""Vector tiles over HTTP: MVT body, ETag and immutable caching, 304, the unversioned redirect, TileJSON, refusals
as problem+json, new tile URLs once a layer is republished (fresh stores), and killed database backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mapbox_vector_tile
import psycopg
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer

from layers.load import load_layer
from sitecheck.onemap.tilegrid import tiles_covering
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store
from tests.conftest import LOOPBACK_CLIENT, make_settings

TO_MERCATOR = Transformer.from_crs("EPSG:4528", "EPSG:3857", always_xy=True)


def _tile_at(x: float, y: float, z: int) -> str:
    """'z/x/y' of the tile holding an EPSG:4528 point."""
    mx, my = TO_MERCATOR.transform(x, y)
    ((tx, ty),) = tiles_covering((mx, my, mx, my), z)
    return f"{z}/{tx}/{ty}"


RED_LINE_TILE = _tile_at(40_512_600.0, 3_526_700.0, 15)  # inside V, over FX-HX-01 only


def test_versioned_tile_is_immutable_mvt(client: TestClient) -> None:
    """A versioned tile: MVT media type, a strong ETag, a year-long immutable cache, FX-HX-01 with its fields."""
    response = client.get(f"/v1/tiles/eco_redline/1/{RED_LINE_TILE}.mvt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"].startswith('"') and len(response.headers["etag"]) == 34
    features = mapbox_vector_tile.decode(response.content)["eco_redline"]["features"]
    assert [f["properties"]["HXBM"] for f in features] == ["FX-HX-01"]
    assert features[0]["id"] == 1 and features[0]["geometry"]["type"] == "Polygon"


def test_conditional_request_gets_304(client: TestClient) -> None:
    """If-None-Match with the tile's ETag: 304, no body, the same validators."""
    path = f"/v1/tiles/farmland/1/{RED_LINE_TILE}.mvt"
    etag = client.get(path).headers["etag"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and "immutable" in again.headers["cache-control"]
    assert client.get(path, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_unversioned_alias_redirects_to_the_current_version(client: TestClient) -> None:
    """The alias answers 307 to the current version's URL and is never cached; the target is the same tile."""
    response = client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"].endswith(f"/v1/tiles/eco_redline/1/{RED_LINE_TILE}.mvt")
    assert response.headers["cache-control"] == "no-cache"
    followed = client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt")
    assert followed.content == client.get(f"/v1/tiles/eco_redline/1/{RED_LINE_TILE}.mvt").content


def test_tilejson_names_the_current_version(client: TestClient) -> None:
    """TileJSON 3.0.0: a versioned URL template, the reported fields with their types, lon/lat bounds."""
    response = client.get("/v1/tiles/eco_redline/tilejson.json")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-cache"
    tilejson = response.json()
    assert tilejson["tilejson"] == "3.0.0" and tilejson["layer_version"] == 1
    assert tilejson["tiles"] == ["http://testserver/v1/tiles/eco_redline/1/{z}/{x}/{y}.mvt"]
    layer = tilejson["vector_layers"][0]
    assert layer["id"] == "eco_redline"
    assert layer["fields"] == {"HXBM": "String", "HXMC": "String", "HXLX": "String", "MJ": "Number", "GKCS": "String"}
    west, south, east, north = tilejson["bounds"]
    assert 119.5 < west < east < 120.5 and 31.5 < south < north < 32.1
    assert tilejson["minzoom"] == 0 and tilejson["maxzoom"] == 18


@pytest.mark.parametrize(
    "path, status, code",
    [
        ("/v1/tiles/eco_redline/1/25/0/0.mvt", 422, "PARAM_INVALID"),
        ("/v1/tiles/eco_redline/1/3/8/0.mvt", 422, "PARAM_INVALID"),
        ("/v1/tiles/eco_redline/1/3/0/-1.mvt", 422, "PARAM_INVALID"),
        ("/v1/tiles/eco_redline/1/3/x/0.mvt", 422, "PARAM_INVALID"),
        ("/v1/tiles/eco_redline/3/0/9.mvt", 422, "PARAM_INVALID"),
        ("/v1/tiles/nope/1/3/0/0.mvt", 404, "LAYER_NOT_FOUND"),
        ("/v1/tiles/nope/3/0/0.mvt", 404, "LAYER_NOT_FOUND"),
        ("/v1/tiles/slope/1/3/0/0.mvt", 404, "LAYER_NOT_FOUND"),
        ("/v1/tiles/slope/tilejson.json", 404, "LAYER_NOT_FOUND"),
        ("/v1/tiles/eco_redline/9/3/0/0.mvt", 404, "VERSION_NOT_FOUND"),
    ],
)
def test_bad_tile_requests_are_problems(client: TestClient, path: str, status: int, code: str) -> None:
    """Out-of-range z/x/y, unknown layers, rasters and missing versions: problem+json 4xx, never a 500."""
    response = client.get(path, follow_redirects=False)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_republished_layer_gets_new_tile_urls(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Load, serve, load again: TileJSON and the alias move to version 2, version 1 stays served with its own
    ETag, and a rollback moves them back."""
    from app.main import create_app

    settings = make_settings(engine, tmp_path, request)
    source = SAMPLE_CITY_DIR / "eco_redline.gpkg"
    loader = open_store(settings)
    try:
        load_layer(loader, "eco_redline", source, loaded_by="tests", analysis_crs=loader.crs)
        with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
            assert client.get("/v1/tiles/eco_redline/tilejson.json").json()["tiles"][0].endswith("/1/{z}/{x}/{y}.mvt")
            first = client.get(f"/v1/tiles/eco_redline/1/{RED_LINE_TILE}.mvt")
            load_layer(loader, "eco_redline", source, loaded_by="tests", analysis_crs=loader.crs)
            tiles = client.get("/v1/tiles/eco_redline/tilejson.json").json()["tiles"]
            assert tiles == ["http://testserver/v1/tiles/eco_redline/2/{z}/{x}/{y}.mvt"]
            alias = client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt", follow_redirects=False)
            assert alias.headers["location"].endswith(f"/eco_redline/2/{RED_LINE_TILE}.mvt")
            second = client.get(f"/v1/tiles/eco_redline/2/{RED_LINE_TILE}.mvt")
            assert second.headers["etag"] != first.headers["etag"]
            old = client.get(f"/v1/tiles/eco_redline/1/{RED_LINE_TILE}.mvt")
            assert old.status_code == 200 and old.headers["etag"] == first.headers["etag"]
            assert mapbox_vector_tile.decode(second.content) == mapbox_vector_tile.decode(first.content)
            loader.rollback("eco_redline", 1, by="tests")
            alias = client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt", follow_redirects=False)
            assert alias.headers["location"].endswith(f"/eco_redline/1/{RED_LINE_TILE}.mvt")
    finally:
        loader.close()


def test_tile_reads_answer_503_when_backends_die_then_recover(
    sample_settings: dict[str, Settings], postgis_url: str
) -> None:
    """PostGIS backends killed while aliases and tiles are read (prepared statements on the driver connection):
    those requests answer 503, never 500, and the next ones succeed."""
    from app.main import create_app

    statuses: list[int] = []
    stop = threading.Event()
    with TestClient(create_app(sample_settings["postgis"]), client=LOOPBACK_CLIENT) as client:
        z, x, y = (int(part) for part in RED_LINE_TILE.split("/"))
        assert client.get(f"/v1/tiles/farmland/1/{z}/{x}/{y}.mvt").status_code == 200  # builds the tile copy

        def read_tiles() -> None:
            """Aliases (a database read each) and tiles not yet rendered, until stopped."""
            step = 0
            while not stop.is_set():
                step += 1
                statuses.append(
                    client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt", follow_redirects=False).status_code
                )
                statuses.append(client.get(f"/v1/tiles/farmland/1/{z}/{x + step}/{y}.mvt").status_code)

        worker = threading.Thread(target=read_tiles)
        worker.start()
        killed = 0
        with psycopg.connect(postgis_url, autocommit=True) as admin:
            for _ in range(15):
                killed += len(
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sitecheck' "
                        "AND datname = current_database() AND pid <> pg_backend_pid()"
                    ).fetchall()
                )
                time.sleep(0.05)
        stop.set()
        worker.join(timeout=60)
        assert killed > 0
        assert statuses and set(statuses) <= {200, 307, 503}, statuses
        alias = client.get(f"/v1/tiles/eco_redline/{RED_LINE_TILE}.mvt", follow_redirects=False)
        tile = client.get(f"/v1/tiles/farmland/1/{z}/{x - 1}/{y}.mvt")
    assert alias.status_code == 307 and tile.status_code == 200
