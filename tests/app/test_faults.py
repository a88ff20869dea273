"""Surviving faults: killed backends, a PostgreSQL restart, an exhausted pool, layers republished under load."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import uvicorn
from fastapi.testclient import TestClient

from app.main import create_app
from layers.load import load_configured_layers, load_layer
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store
from tests.conftest import LOOPBACK_CLIENT, make_settings

SITE = {
    "site": "POLYGON((40511900 3526300,40512300 3526300,40512300 3526700,40511900 3526700,40511900 3526300))",
    "crs": "EPSG:4528",
    "project": {"category": "public_service"},
}


def _terminate_service_backends(url: str) -> int:
    """Kill every backend the service holds (pg_terminate_backend), as an operator or a crash would."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'sitecheck' AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_killed_backends_answer_503_then_recover(sample_settings: dict[str, Settings], postgis_url: str) -> None:
    """Backends killed while checks run: those requests get 503 with Retry-After, never 500; then all succeed."""
    settings = sample_settings["postgis"]
    statuses: list[tuple[int, str | None]] = []
    stop = threading.Event()
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:

        def run_checks() -> None:
            while not stop.is_set():
                response = client.post("/v1/checks", json=SITE)
                statuses.append((response.status_code, response.headers.get("retry-after")))

        worker = threading.Thread(target=run_checks)
        worker.start()
        killed = 0
        for _ in range(15):
            killed += _terminate_service_backends(postgis_url)
            time.sleep(0.05)
        stop.set()
        worker.join(timeout=60)
        assert killed > 0
        assert statuses and all(code in (200, 503) for code, _ in statuses), statuses
        assert all(retry is not None for code, retry in statuses if code == 503)
        after = [client.post("/v1/checks", json=SITE).status_code for _ in range(3)]
    assert after == [200, 200, 200]


def test_exhausted_pool_answers_503_within_the_pool_timeout(sample_settings: dict[str, Settings]) -> None:
    """With every pooled connection held, a request waits the pool timeout and answers 503, then recovers."""
    settings = sample_settings["postgis"].model_copy(update={"pool_timeout_s": 1.0})
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        store = client.app.state.store  # type: ignore[attr-defined]
        held = [store.db.connect() for _ in range(12)]  # pool_size 8 + max_overflow 4
        try:
            started = time.perf_counter()
            response = client.get("/v1/layers")
            waited = time.perf_counter() - started
        finally:
            for conn in held:
                conn.close()
        assert response.status_code == 503 and response.json()["code"] == "STORE_UNAVAILABLE"
        assert response.headers["retry-after"] and 0.9 <= waited < 10
        assert client.get("/v1/layers").status_code == 200


def _serve(settings: Settings) -> Iterator[int]:
    """Run the app under uvicorn in a thread on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    yield port
    server.should_exit = True
    thread.join(timeout=15)


def test_republishing_under_load_never_mixes_versions(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """50 clients run checks while the red line is republished 10 times: no errors, one version per layer each."""
    settings = make_settings(engine, tmp_path, request)
    loader = open_store(settings)
    load_configured_layers(loader, loaded_by="tests", analysis_crs=loader.crs)
    results: list[tuple[int, dict[str, object]]] = []
    lock = threading.Lock()
    stop = threading.Event()
    server = _serve(settings)
    port = next(server)

    def client_loop() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while not stop.is_set():
            conn.request("POST", "/v1/checks", body=json.dumps(SITE), headers={"content-type": "application/json"})
            response = conn.getresponse()
            body = json.loads(response.read())
            with lock:
                results.append((response.status, body))

    clients = [threading.Thread(target=client_loop) for _ in range(50)]
    for thread in clients:
        thread.start()
    try:
        for _ in range(10):
            load_layer(
                loader, "eco_redline", SAMPLE_CITY_DIR / "eco_redline.gpkg", loaded_by="tests", analysis_crs=loader.crs
            )
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=120)
        next(server, None)
    try:
        assert [status for status, _ in results if status != 200] == []
        seen_versions = set()
        for _, body in results:
            versions = body["layer_versions"]
            finding = next(f for f in body["layers"] if f["layer"] == "eco_redline")
            assert finding["version"] == versions["eco_redline"]["version"]
            seen_versions.add(finding["version"])
            stored = loader.get_check(str(body["check_id"]))
            assert stored.layer_versions == versions
        assert len(results) > 50 and len(seen_versions) >= 2
        assert loader.current_versions()["eco_redline"].version == 11
    finally:
        loader.close()


def test_postgresql_restart_recovers_within_10_s(sample_settings: dict[str, Settings]) -> None:
    """PostgreSQL restarted under the service: requests answer 503 meanwhile and succeed again within 10 s."""
    settings = sample_settings["postgis"]
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        assert client.get("/v1/layers").status_code == 200
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart", "--mode", "fast"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        restarted = time.perf_counter()
        statuses = []
        while time.perf_counter() - restarted < 10:
            response = client.get("/v1/layers")
            statuses.append(response.status_code)
            if response.status_code == 200:
                break
            time.sleep(0.2)
    assert statuses[-1] == 200, statuses
    assert set(statuses) <= {200, 503}


@pytest.mark.parametrize("engine_name", ["postgis", "embedded"])
def test_requests_beyond_the_work_slots_wait_in_turn_then_answer_503(
    sample_settings: dict[str, Settings], engine_name: str
) -> None:
    """With every work slot taken, an API request waits its turn up to the limit and then answers 503
    SERVER_BUSY with Retry-After; /health is never held up, and a freed slot serves the next request."""
    settings = sample_settings[engine_name].model_copy(
        update={
            "access": sample_settings[engine_name].access.model_copy(
                update={"max_concurrency": 1, "heavy_wait_seconds": 0.5}
            )
        }
    )
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        guard = client.app.state.guard  # type: ignore[attr-defined]
        assert client.portal is not None
        client.portal.call(guard.work.acquire)
        try:
            assert client.get("/health").status_code == 200
            started = time.perf_counter()
            busy = client.get("/v1/layers")
            waited = time.perf_counter() - started
        finally:
            client.portal.call(guard.work.release)
        assert busy.status_code == 503 and busy.json()["code"] == "SERVER_BUSY"
        assert busy.headers["retry-after"] and 0.45 <= waited < 5
        assert client.get("/v1/layers").status_code == 200
