"""Load benchmark: our loader against ogr2ogr (PG_USE_COPY) and geopandas.to_postgis, in one run.

Loads the city-scale farmland layer (200 000 patches) three ways into a fresh PostGIS database and prints
features per second including the GiST index; then loads the development boundary (20 polygons of
20 000-100 000 vertices, subdivided) with our loader. Needs Debian's gdal-bin (ogr2ogr).

    python bench/load.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
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
from sitecheck.stores.postgis import sqlalchemy_url


def main() -> None:
    """Run the benchmark and print its table."""
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin")
    city = city_data()
    farmland, boundary = city / "farmland.gpkg", city / "dev_boundary.gpkg"
    count = int(pyogrio.read_info(farmland)["features"])
    config = city_config(city, Path(tempfile.mkdtemp(prefix="sitecheck-bench-load-")))
    rows: list[tuple[str, int, float]] = []
    with fresh_database() as url:
        settings = Settings(database_url=url, db_schema="bench", layer_config=config)
        store = open_store(settings)
        try:
            started = time.perf_counter()
            version = load_layer(store, "farmland", farmland, loaded_by="bench", analysis_crs=settings.analysis_crs)
            rows.append(
                (
                    "sitecheck loader (validate, COPY, index, publish)",
                    version.feature_count,
                    time.perf_counter() - started,
                )
            )

            started = time.perf_counter()
            subprocess.run(
                [
                    "ogr2ogr",
                    "-f",
                    "PostgreSQL",
                    _ogr_pg(url),
                    str(farmland),
                    "-nln",
                    "public.ogr_farmland",
                    "-lco",
                    "GEOMETRY_NAME=geom",
                    "-lco",
                    "SPATIAL_INDEX=GIST",
                ],
                check=True,
                env={**os.environ, "PG_USE_COPY": "YES"},
                stderr=subprocess.DEVNULL,
            )
            rows.append(("ogr2ogr -f PostgreSQL, PG_USE_COPY=YES", count, time.perf_counter() - started))

            started = time.perf_counter()
            frame = gpd.read_file(farmland, engine="pyogrio")
            engine = create_engine(sqlalchemy_url(url))
            frame.to_postgis("gpd_farmland", engine, schema="public", index=False)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE INDEX ON public.gpd_farmland USING gist (geometry)")
            engine.dispose()
            rows.append(("geopandas.to_postgis + GiST index", len(frame), time.perf_counter() - started))

            started = time.perf_counter()
            version = load_layer(store, "dev_boundary", boundary, loaded_by="bench", analysis_crs=settings.analysis_crs)
            rows.append(
                (
                    "sitecheck loader, dev boundary + ST_Subdivide(256)",
                    version.feature_count,
                    time.perf_counter() - started,
                )
            )
        finally:
            store.close()
    baseline = next(n / s for method, n, s in rows if method.startswith("ogr2ogr"))
    print_table(
        "Loading city-scale layers into PostGIS (one run)",
        ("method", "features", "seconds", "features/s", "vs ogr2ogr"),
        [(m, n, s, f"{n / s:.0f}", "-" if "boundary" in m else f"{n / s / baseline:.2f}x") for m, n, s in rows],
    )


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
