"""Shared benchmark plumbing: city-scale data, a throwaway PostGIS database, stores, percentiles, tables."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import psycopg

from layers.load import load_configured_layers
from sitecheck.settings import SAMPLE_CITY_DIR, Settings

BENCH_DIR = Path("/tmp/sitecheck-bench")
CITY_DIR = BENCH_DIR / "city"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def city_data() -> Path:
    """Return the city-scale data directory, generating it once (written aside, then renamed into place)."""
    if (CITY_DIR / "parcels.gpkg").exists():
        return CITY_DIR
    from layers.sample_city import generate

    scratch = BENCH_DIR / f".city-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    generate(scratch, scale="city")
    print(f"generated the city-scale data in {time.perf_counter() - started:.1f} s")
    shutil.move(scratch, CITY_DIR)
    return CITY_DIR


def city_config(city: Path, workdir: Path) -> Path:
    """Write a layer configuration naming the city-scale files (same layers as the sample city)."""
    text = (SAMPLE_CITY_DIR / "layers.toml").read_text(encoding="utf-8")
    text = text.replace('source = "', f'source = "{city.as_posix()}/')
    path = workdir / "layers-city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def fresh_database(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """Create a database with PostGIS for one benchmark run and drop it afterwards."""
    name = f"sitecheck_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def load_city(settings: Settings) -> float:
    """Load every configured layer into the store the settings select; return the seconds taken."""
    from sitecheck.stores import open_store

    store = open_store(settings)
    try:
        started = time.perf_counter()
        load_configured_layers(store, loaded_by="bench", analysis_crs=settings.analysis_crs)
        return time.perf_counter() - started
    finally:
        store.close()


@contextlib.contextmanager
def uvicorn_server(url: str, schema: str, config: Path, workers: int = 2) -> Iterator[int]:
    """Run the service under uvicorn on PostGIS (rate limits lifted for load), yield its port, stop it after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "SITECHECK_DATABASE_URL": url,
        "SITECHECK_DB_SCHEMA": schema,
        "SITECHECK_LAYER_CONFIG": str(config),
        "SITECHECK_ACCESS__RATE_PER_KEY": "1000000/minute",
        "SITECHECK_ACCESS__RATE_PER_IP": "1000000/minute",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parents[1])
    try:
        for _ in range(150):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise SystemExit("the server did not start")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=20)


def connections_per_process(port: int) -> list[int]:
    """How many established client connections each server process on a loopback port holds, most first
    (read with iproute2's ``ss``; empty when it is not installed)."""
    try:
        listing = subprocess.run(
            ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    counts: dict[str, int] = {}
    for pid in re.findall(r"pid=(\d+)", listing):
        counts[pid] = counts.get(pid, 0) + 1
    return sorted(counts.values(), reverse=True)


def percentiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """Return p50 and p99 of durations, in milliseconds."""
    values = np.asarray(seconds) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print an aligned table."""
    cells = [[str(c) for c in header]] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n{title}")
    for index, row in enumerate(cells):
        print(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * width for width in widths))
