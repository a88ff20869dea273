"""Load benchmark: our loader against ogr2ogr (PG_USE_COPY) and geopandas.to_postgis, in one run.

Generates the city-scale farmland layer (200 000 patches) and the development boundary (20 polygons of
20 000-100 000 vertices), loads them into a fresh PostGIS database, prints features per second including
the GiST index, and drops the database. Needs PostgreSQL with PostGIS and Debian's gdal-bin (ogr2ogr).

    python bench/load.py [--workdir /tmp/sitecheck-bench] [--admin-url postgresql://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import geopandas as gpd
import psycopg

from layers.load import load_layer
from layers.sample_city import generate
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitecheck-bench"))
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    if shutil.which("ogr2ogr") is None:
        raise SystemExit("ogr2ogr not found: apt-get install gdal-bin")
    city = args.workdir / "city"
    if not (city / "farmland.gpkg").exists() or not (city / "dev_boundary.gpkg").exists():
        started = time.perf_counter()
        generate(city, scale="city", layers=["farmland", "dev_boundary"])
        print(f"generated city-scale farmland and development boundary in {time.perf_counter() - started:.1f} s")
    name = f"sitecheck_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
        rows = run(url, city)
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print_table(rows)


def run(url: str, city: Path) -> list[tuple[str, int, float]]:
    """Load the farmland three ways and the development boundary with ours; return (method, count, seconds)."""
    farmland = city / "farmland.gpkg"
    count = _count(farmland)
    rows: list[tuple[str, int, float]] = []

    settings = Settings(database_url=url, db_schema="bench", layer_config=SAMPLE_CITY_DIR / "layers.toml")
    store = open_store(settings)
    try:
        started = time.perf_counter()
        version = load_layer(store, "farmland", farmland, loaded_by="bench", analysis_crs=settings.analysis_crs)
        rows.append(
            ("sitecheck loader (validate, COPY, index, publish)", version.feature_count, time.perf_counter() - started)
        )

        started = time.perf_counter()
        env = {**os.environ, "PG_USE_COPY": "YES"}
        pg = _ogr_pg(url)
        subprocess.run(
            [
                "ogr2ogr",
                "-f",
                "PostgreSQL",
                pg,
                str(farmland),
                "-nln",
                "public.ogr_farmland",
                "-overwrite",
                "-lco",
                "GEOMETRY_NAME=geom",
                "-lco",
                "SPATIAL_INDEX=GIST",
            ],
            check=True,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        rows.append(("ogr2ogr -f PostgreSQL, PG_USE_COPY=YES", count, time.perf_counter() - started))

        started = time.perf_counter()
        frame = gpd.read_file(farmland, engine="pyogrio")
        frame.to_postgis("gpd_farmland", store.db, schema="public", if_exists="replace", index=False)  # type: ignore[attr-defined]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE INDEX ON public.gpd_farmland USING gist (geometry)")
        rows.append(("geopandas.to_postgis + GiST index", len(frame), time.perf_counter() - started))

        boundary = city / "dev_boundary.gpkg"
        started = time.perf_counter()
        version = load_layer(store, "dev_boundary", boundary, loaded_by="bench", analysis_crs=settings.analysis_crs)
        rows.append(
            ("sitecheck loader, dev boundary + ST_Subdivide(256)", version.feature_count, time.perf_counter() - started)
        )
    finally:
        store.close()
    return rows


def _count(path: Path) -> int:
    """Count a GeoPackage layer's features."""
    import pyogrio

    return int(pyogrio.read_info(path)["features"])


def _ogr_pg(url: str) -> str:
    """Turn a postgresql:// URL into GDAL's PG: connection string."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    parts = [f"host={parsed.host or '127.0.0.1'}", f"port={parsed.port or 5432}", f"dbname={parsed.database}"]
    if parsed.username:
        parts.append(f"user={parsed.username}")
    if parsed.password:
        parts.append(f"password={parsed.password}")
    return "PG:" + " ".join(parts)


def print_table(rows: list[tuple[str, int, float]]) -> None:
    """Print features per second per method and the ratio to ogr2ogr."""
    baseline = next(count / seconds for method, count, seconds in rows if method.startswith("ogr2ogr"))
    print(f"\n{'method':<52} {'features':>9} {'seconds':>8} {'features/s':>11} {'vs ogr2ogr':>10}")
    for method, count, seconds in rows:
        rate = count / seconds
        ratio = f"{rate / baseline:.2f}x" if "dev boundary" not in method else "-"
        print(f"{method:<52} {count:>9} {seconds:>8.2f} {rate:>11.0f} {ratio:>10}")


if __name__ == "__main__":
    main()
