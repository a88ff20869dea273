"""Vector-tile benchmark: both engines over HTTP beside a raw ST_AsMVT query for the same tiles, in one run.

Uses the city-scale sample city (200 000 farmland patches; generated once into WORKDIR/city and reused), loads it
into a fresh PostGIS database (created and dropped here) and a fresh embedded data directory, serves each engine
with uvicorn on a loopback port, and times every tile of a block around the city centre at z10, z12, z14 and z16:

- raw on the fly: ST_AsMVT(ST_AsMVTGeom(ST_Transform(geom, 3857))) over the version table, prepared statement;
- raw stored: the same over a copy with a stored, indexed EPSG:3857 column (the DESIGN §10 floor);
- each engine: GET /v1/tiles/{layer}/{version}/{z}/{x}/{y}.mvt on a kept-alive connection;
- the redirect: GET /v1/tiles/{layer}/{z}/{x}/{y}.mvt (307 to the versioned URL), by itself.

Every method sees the same tiles in the same interleaved order after one warm-up pass (which also builds the
engines' Web-Mercator copies; that one-off cost is printed). Target: each zoom's p50 within 1.5x of the raw query,
the redirect adding at most 1 ms.

    python bench/tiles.py [--workdir /tmp/sitecheck-bench] [--admin-url postgresql://postgres@127.0.0.1/postgres]
                          [--layer farmland] [--repeat 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from pyproj import Transformer

from layers.load import load_layer
from layers.sample_city import SCALES, VECTOR_KEYS, generate
from sitecheck.onemap.tilegrid import tiles_covering
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store

ROOT = Path(__file__).resolve().parents[1]
ZOOMS = {10: 1, 12: 1, 14: 2, 16: 2}  # zoom -> tiles on each side of the centre tile
RAW_ON_THE_FLY = (
    "SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom') FROM ("
    " SELECT {columns}, ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true)"
    " AS geom FROM {table} WHERE geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625), {srid})"
    ") AS q"
)
RAW_STORED = (
    "SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom') FROM ("
    " SELECT {columns}, ST_AsMVTGeom(geom3857, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom"
    " FROM {table} WHERE geom3857 && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625)"
    ") AS q"
)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitecheck-bench"))
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--layer", default="farmland")
    parser.add_argument("--repeat", type=int, default=8, help="timed passes over every tile")
    args = parser.parse_args()
    city = prepare_city(args.workdir / "city")
    with fresh_database(args.admin_url) as url, tempfile.TemporaryDirectory(dir=args.workdir) as data_dir:
        settings = {
            "postgis": Settings(database_url=url, db_schema="bench", layer_config=SAMPLE_CITY_DIR / "layers.toml"),
            "embedded": Settings(
                database_url=None, data_dir=Path(data_dir), layer_config=SAMPLE_CITY_DIR / "layers.toml"
            ),
        }
        for engine, each in settings.items():
            started = time.perf_counter()
            load_city(city, each)
            print(f"loaded the city into {engine} in {time.perf_counter() - started:.1f} s")
        raw_table = make_raw_table(url, args.layer)
        with serve(settings["postgis"]) as postgis_base, serve(settings["embedded"]) as embedded_base:
            run(url, raw_table, args.layer, {"postgis": postgis_base, "embedded": embedded_base}, args.repeat)


def prepare_city(city: Path) -> Path:
    """Return the city-scale data directory, generating missing layers into a scratch directory first."""
    missing = [key for key in VECTOR_KEYS if not (city / f"{key}.gpkg").exists()]
    if missing:
        started = time.perf_counter()
        scratch = city.parent / f".city-{uuid.uuid4().hex[:8]}"
        generate(scratch, scale="city", layers=missing)
        city.mkdir(parents=True, exist_ok=True)
        for key in missing:
            os.replace(scratch / f"{key}.gpkg", city / f"{key}.gpkg")  # atomic: a reader never sees half a file
        shutil.rmtree(scratch)
        print(f"generated city-scale {missing} in {time.perf_counter() - started:.1f} s")
    return city


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create a database with PostGIS for this run and drop it afterwards."""
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


def load_city(city: Path, settings: Settings) -> None:
    """Load every vector layer of the city into one engine as version 1."""
    store = open_store(settings)
    try:
        for key in VECTOR_KEYS:
            load_layer(store, key, city / f"{key}.gpkg", loaded_by="bench", analysis_crs=settings.analysis_crs)
    finally:
        store.close()


def make_raw_table(url: str, layer: str) -> str:
    """Copy the layer's version table with a stored, indexed EPSG:3857 column for the raw stored baseline."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE public.raw_{layer} AS SELECT *, ST_Transform(geom, 3857) AS geom3857 "
            f'FROM bench_layers."{layer}_v1"'
        )
        conn.execute(f"CREATE INDEX ON public.raw_{layer} USING gist (geom3857)")
        conn.execute(f"ANALYZE public.raw_{layer}")
    return f"public.raw_{layer}"


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run uvicorn (one worker, no access log) for one engine on a free loopback port; yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "SITECHECK_DATA_DIR": str(settings.data_dir), "SITECHECK_DB_SCHEMA": settings.db_schema}
    env.pop("SITECHECK_DATABASE_URL", None)
    if settings.database_url:
        env["SITECHECK_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def centre_tiles(z: int, reach: int) -> list[tuple[int, int, int]]:
    """The (2*reach+1)^2 tiles around the tile holding the city centre, at zoom z."""
    x0, y0, x1, y1 = SCALES["city"].extent
    to_mercator = Transformer.from_crs("EPSG:4528", "EPSG:3857", always_xy=True)
    cx, cy = to_mercator.transform((x0 + x1) / 2, (y0 + y1) / 2)
    ((x, y),) = tiles_covering((cx, cy, cx, cy), z)
    return [(z, x + dx, y + dy) for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)]


def run(url: str, raw_table: str, layer: str, bases: dict[str, str], repeat: int) -> None:
    """Time every method on every tile; print the table."""
    columns = ", ".join(f'"{name}"' for name in _report_fields(layer))
    raw_queries = {
        "raw on the fly": RAW_ON_THE_FLY.format(columns=columns, table=f'bench_layers."{layer}_v1"', srid=4528),
        "raw stored 3857": RAW_STORED.format(columns=columns, table=raw_table),
    }
    with psycopg.connect(url, options="-c jit=off -c max_parallel_workers_per_gather=0") as conn:
        clients = {engine: httpx.Client(base_url=base, timeout=60) for engine, base in bases.items()}
        timers: dict[str, Callable[[int, int, int], float]] = {
            name: _raw_timer(conn, query, layer) for name, query in raw_queries.items()
        }
        for engine, client in clients.items():
            timers[engine] = _http_timer(client, lambda z, x, y: f"/v1/tiles/{layer}/1/{z}/{x}/{y}.mvt", 200)
            timers[f"{engine} redirect"] = _http_timer(
                client, lambda z, x, y: f"/v1/tiles/{layer}/{z}/{x}/{y}.mvt", 307
            )
        tiles = {z: centre_tiles(z, reach) for z, reach in ZOOMS.items()}
        for engine, timer in timers.items():
            started = time.perf_counter()
            for z_tiles in tiles.values():
                for tile in z_tiles:
                    timer(*tile)
            print(
                f"warm-up pass ({sum(map(len, tiles.values()))} tiles) {engine}: {time.perf_counter() - started:.2f} s"
            )
        samples: dict[tuple[str, int], list[float]] = {}
        features = {z: _features(clients["postgis"], layer, z_tiles) for z, z_tiles in tiles.items()}
        for _ in range(repeat):
            for z, z_tiles in tiles.items():
                for tile in z_tiles:
                    for name, timer in timers.items():
                        samples.setdefault((name, z), []).append(timer(*tile))
        for client in clients.values():
            client.close()
    print_table(samples, tiles, features, list(timers))


def _report_fields(layer: str) -> list[str]:
    """The layer's reported fields (the tile attributes), from the sample configuration."""
    from sitecheck.config import load_catalog

    return list(load_catalog(SAMPLE_CITY_DIR / "layers.toml").get(layer).report)


def _raw_timer(conn: psycopg.Connection, query: str, layer: str) -> Callable[[int, int, int], float]:
    """A timer of one raw ST_AsMVT query (prepared) for a tile; returns milliseconds."""

    def timed(z: int, x: int, y: int) -> float:
        started = time.perf_counter()
        conn.execute(query, {"layer": layer, "z": z, "x": x, "y": y}, prepare=True).fetchone()
        return (time.perf_counter() - started) * 1000

    return timed


def _http_timer(client: httpx.Client, path: Callable[[int, int, int], str], status: int) -> Callable[..., float]:
    """A timer of one GET (no redirect following) that checks the status; returns milliseconds."""

    def timed(z: int, x: int, y: int) -> float:
        started = time.perf_counter()
        response = client.get(path(z, x, y))
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != status:
            raise SystemExit(f"GET {path(z, x, y)}: {response.status_code} {response.text[:200]}")
        return elapsed

    return timed


def _features(client: httpx.Client, layer: str, tiles: list[tuple[int, int, int]]) -> float:
    """Mean features per tile (decoded from the PostGIS engine's tiles)."""
    import mapbox_vector_tile

    counts = []
    for z, x, y in tiles:
        decoded = mapbox_vector_tile.decode(client.get(f"/v1/tiles/{layer}/1/{z}/{x}/{y}.mvt").content)
        counts.append(len(decoded.get(layer, {}).get("features", [])))
    return statistics.mean(counts)


def _pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of a sample, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def print_table(
    samples: dict[tuple[str, int], list[float]],
    tiles: dict[int, list[tuple[int, int, int]]],
    features: dict[int, float],
    names: list[str],
) -> None:
    """Print p50/p99 (ms) per method and zoom, and each engine's p50 over the raw stored p50."""
    print(f"\n{'zoom':>4} {'tiles':>5} {'feat/tile':>9}  " + "  ".join(f"{n:>22}" for n in names))
    print(f"{'':>21}" + "  ".join(f"{'p50 / p99 ms':>22}" for _ in names))
    for z, z_tiles in tiles.items():
        cells = [f"{_pct(samples[(n, z)], 0.5):>9.2f} / {_pct(samples[(n, z)], 0.99):>8.2f}" for n in names]
        print(f"{z:>4} {len(z_tiles):>5} {features[z]:>9.0f}  " + "  ".join(f"{c:>22}" for c in cells))
    print("\np50 ratio to the raw query (target <= 1.5x); redirect p50 (target <= 1 ms)")
    for z in tiles:
        floor = min(_pct(samples[(n, z)], 0.5) for n in ("raw on the fly", "raw stored 3857"))
        ratios = "  ".join(f"{e} {_pct(samples[(e, z)], 0.5) / floor:.2f}x" for e in ("postgis", "embedded"))
        redirects = "  ".join(
            f"{e} redirect {_pct(samples[(f'{e} redirect', z)], 0.5):.2f} ms" for e in ("postgis", "embedded")
        )
        print(f"z{z:<3} {ratios}   {redirects}")


if __name__ == "__main__":
    main()
