"""The sitecheck command line, run as a user runs it: a real process with settings in the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from sitecheck.settings import SAMPLE_CITY_DIR
from tests.conftest import LOOPBACK_CLIENT

SITECHECK = [sys.executable, "-c", "from app.cli import main; main()"]


def _env(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment selecting a fresh store of one engine."""
    env = {**os.environ, "COLUMNS": "250", "SITECHECK_DATA_DIR": str(tmp_path / "var")}
    env.pop("SITECHECK_DATABASE_URL", None)
    if engine == "postgis":
        env["SITECHECK_DATABASE_URL"] = request.getfixturevalue("postgis_url")
        env["SITECHECK_DB_SCHEMA"] = f"cli_{uuid.uuid4().hex[:10]}"
    return env


def _run(args: list[str], env: dict[str, str], expect: int = 0) -> str:
    """Run the CLI and return its output, checking the exit status."""
    done = subprocess.run([*SITECHECK, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == expect, done.stdout + done.stderr
    return done.stdout


def _gbk_zip(folder: Path) -> Path:
    """A zipped Shapefile of the red-line layer with a GBK .dbf and no .cpg."""
    frame = gpd.GeoDataFrame(
        {"HXBM": ["GBK-001"], "HXMC": ["国标编码红线"], "HXLX": ["水土保持"], "MJ": [1.0], "GKCS": ["禁止开发"]},
        geometry=[box(40_500_000, 3_510_000, 40_500_500, 3_510_500)],
        crs="EPSG:4528",
    )
    frame.to_file(folder / "hx.shp", encoding="GBK")
    archive = folder / "hx.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.glob("hx.*"):
            if part.suffix not in (".zip", ".cpg"):
                zf.write(part, part.name)
    return archive


def test_layers_commands(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """load --all, list, load a GBK zip, versions, rollback and check, on each engine."""
    env = _env(engine, tmp_path, request)
    _run(["layers", "load", "--all"], env)
    listing = _run(["layers", "list"], env)
    for key in ("eco_redline", "farmland", "dev_boundary", "industrial_zone", "parcels", "districts", "transit"):
        assert key in listing
    assert "生态保护红线" in listing and engine in listing
    loaded = _run(["layers", "load", str(_gbk_zip(tmp_path)), "--layer", "eco_redline"], env)
    assert "published eco_redline v2: 1 features" in loaded
    versions = _run(["layers", "versions", "eco_redline"], env)
    assert "hx.zip" in versions and "eco_redline.gpkg" in versions
    assert "is current again" in _run(["layers", "rollback", "eco_redline", "--to", "1"], env)
    refused = _run(["layers", "rollback", "eco_redline", "--to", "7"], env, expect=2)
    assert "VERSION_NOT_FOUND" in refused
    checked = _run(
        ["check", str(SAMPLE_CITY_DIR / "fixtures" / "site_zone40.txt"), "--category", "public_service"], env
    )
    assert "审查结论" in checked and "64.0000 公顷" in checked and "生态保护红线" in checked
    result = json.loads(_run(["check", str(SAMPLE_CITY_DIR / "fixtures" / "site_zone40.txt"), "--json"], env))
    assert result["verdict"] == "non_compliant"


def test_gbk_text_survives_a_cli_load(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Chinese attribute text of a GBK .dbf comes through the CLI load intact (read back over the API)."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from sitecheck.settings import AccessSettings, Settings

    env = _env(engine, tmp_path, request)
    _run(["layers", "load", "--all"], env)
    _run(["layers", "load", str(_gbk_zip(tmp_path)), "--layer", "eco_redline"], env)
    settings = Settings(
        database_url=env.get("SITECHECK_DATABASE_URL"),
        db_schema=env.get("SITECHECK_DB_SCHEMA", "sitecheck"),
        data_dir=Path(env["SITECHECK_DATA_DIR"]),
        access=AccessSettings(auth_enabled=False),
    )
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        body = {
            "site": "POLYGON((40500100 3510100,40500200 3510100,40500200 3510200,40500100 3510200,40500100 3510100))",
            "crs": "EPSG:4528",
        }
        result = client.post("/v1/checks", json=body).json()
    eco = next(layer for layer in result["layers"] if layer["layer"] == "eco_redline")
    assert eco["features"][0]["attributes"]["HXMC"] == "国标编码红线"


def test_demo_serves_the_sample_city(tmp_path: Path) -> None:
    """sitecheck demo loads the sample city on the embedded engine and serves the API."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITECHECK_")}
    demo = subprocess.Popen(
        [*SITECHECK, "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        layers = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/layers", timeout=2) as response:
                    layers = json.load(response)
                break
            except OSError:
                time.sleep(0.2)
        assert layers is not None, "the demo did not start"
        assert layers["engine"] == "embedded"
        by_key = {layer["key"]: layer for layer in layers["layers"]}
        assert by_key["eco_redline"]["version"] == 1 and by_key["farmland"]["feature_count"] > 4000
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            assert json.load(response)["status"] == "ok"
    finally:
        demo.terminate()
        demo.wait(timeout=10)
