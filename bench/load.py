"""Load benchmark: our loader against ogr2ogr (PG_USE_COPY) and geopandas.to_postgis, in one run.

Loads the city-scale farmland layer (200 000 patches) three ways into a fresh PostGIS database and prints
features per second including the GiST index; then loads the development boundary (20 polygons of
20 000-100 000 vertices, subdivided) with our loader. Needs Debian's gdal-bin (ogr2ogr).

    python bench/load.py               # one run of each
    python bench/load.py --rounds 3    # each method three times, alternating; medians (steadier on a busy machine)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import geopandas as gpd
import psycopg
import pyogrio
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import city_config, city_data, fresh_database, print_table
from layers.load import load_layer
from sitecheck.settings import Settings
from sitecheck.stores import open_store
from sitecheck.stores.base import Store
from sitecheck.stores.postgis import sqlalchemy_url

OURS = "sitecheck loader (validate, COPY, index, publish)"
OGR2OGR = "ogr2ogr -f PostgreSQL, PG_USE_COPY=YES"
TO_POSTGIS = "geopandas.to_postgis + GiST index"
BOUNDARY = "sitecheck loader, dev boundary + ST_Subdivide(256)"


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description="Loading city-scale layers: sitecheck vs ogr2ogr vs to_postgis")
    parser.add_argument("--rounds", type=int, default=1, help="run each method this many times, alternating")
    rounds = parser.parse_args().rounds
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin")
    city = city_data()
    farmland, boundary = city / "farmland.gpkg", city / "dev_boundary.gpkg"
    farmland_count = int(pyogrio.read_info(farmland)["features"])
    config = city_config(city, Path(tempfile.mkdtemp(prefix="sitecheck-bench-load-")))
    seconds: dict[str, list[float]] = {OURS: [], OGR2OGR: [], TO_POSTGIS: [], BOUNDARY: []}
    counts: dict[str, int] = {}
    with fresh_database() as url:
        settings = Settings(database_url=url, db_schema="bench", layer_config=config)
        store = open_store(settings)
        try:
            for round_number in range(rounds):
                runs: list[tuple[str, Callable[[], int]]] = [
                    (OURS, partial(_load, store, settings, "farmland", farmland)),
                    (OGR2OGR, partial(_ogr2ogr, url, farmland, f"public.ogr_farmland_{round_number}", farmland_count)),
                    (TO_POSTGIS, partial(_to_postgis, url, farmland, f"gpd_farmland_{round_number}")),
                    (BOUNDARY, partial(_load, store, settings, "dev_boundary", boundary)),
                ]
                for method, run in runs:
                    started = time.perf_counter()
                    counts[method] = run()
                    seconds[method].append(time.perf_counter() - started)
        finally:
            store.close()
    median = {method: statistics.median(times) for method, times in seconds.items()}
    baseline = counts[OGR2OGR] / median[OGR2OGR]
    rows = [
        (
            method,
            counts[method],
            median[method],
            f"{counts[method] / median[method]:.0f}",
            "-" if method == BOUNDARY else f"{counts[method] / median[method] / baseline:.2f}x",
        )
        for method in seconds
    ]
    title = "Loading city-scale layers into PostGIS (one run)"
    if rounds > 1:
        title = f"Loading city-scale layers into PostGIS (medians of {rounds} alternating rounds)"
    print_table(title, ("method", "features", "seconds", "features/s", "vs ogr2ogr"), rows)
    if rounds > 1:
        for method, times in seconds.items():
            print(f"  {method}: " + ", ".join(f"{t:.2f}" for t in times) + " s")


def _load(store: Store, settings: Settings, layer_key: str, path: Path) -> int:
    """Load a layer with our loader as a new version; return the features written."""
    version = load_layer(store, layer_key, path, loaded_by="bench", analysis_crs=settings.analysis_crs)
    return version.feature_count


def _ogr2ogr(url: str, path: Path, table: str, count: int) -> int:
    """Load a file of ``count`` features with ogr2ogr (COPY, GiST index); return the count."""
    options = ["-nln", table, "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST"]
    subprocess.run(
        ["ogr2ogr", "-f", "PostgreSQL", _ogr_pg(url), str(path), *options],
        check=True,
        env={**os.environ, "PG_USE_COPY": "YES"},
        stderr=subprocess.DEVNULL,
    )
    return count


def _to_postgis(url: str, path: Path, table: str) -> int:
    """Load a file with geopandas.to_postgis and index it; return the features written."""
    frame = gpd.read_file(path, engine="pyogrio")
    engine = create_engine(sqlalchemy_url(url))
    frame.to_postgis(table, engine, schema="public", index=False)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE INDEX ON public.{table} USING gist (geometry)")
    engine.dispose()
    return len(frame)


def _ogr_pg(url: str) -> str:
    """Turn a postgresql:// URL into GDAL's PG: connection string."""
    parsed = make_url(url)
    parts = [f"host={parsed.host or '127.0.0.1'}", f"port={parsed.port or 5432}", f"dbname={parsed.database}"]
    if parsed.username:
        parts.append(f"user={parsed.username}")
    if parsed.password:
        parts.append(f"password={parsed.password}")
    return "PG:" + " ".join(parts)


if __name__ == "__main__":
    main()
