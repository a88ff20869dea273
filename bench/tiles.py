"""Vector-tile benchmark: both engines beside a raw ST_AsMVT query for the same tiles, in one run.

Uses the city-scale sample city (200 000 farmland patches; generated once into WORKDIR/city and reused), loads it
into a fresh PostGIS database (created and dropped here) and a fresh embedded data directory, serves each engine
with uvicorn (one worker; anonymous map reads allowed, rate limits lifted) on a loopback port, and times every
tile of a block around the city centre at z10, z12, z14 and z16, all methods interleaved tile by tile after one
warm-up pass, in an order shuffled for each tile (seeded): a call runs markedly faster right after a similar one
(the same query on the same connection for the same tile took half as long at z16), so a fixed order would
favour whichever method always follows a similar one (it was the raw stored query, right after the raw on-the-fly
one):

- raw on the fly: ST_AsMVT(ST_AsMVTGeom(ST_Transform(geom, 3857))) over the version table, prepared, on its own
  connection; raw stored: the same over a copy with a stored, indexed EPSG:3857 column (the DESIGN §10 floor);
- each engine in process: sitecheck.onemap.tiles.get_tile, what GET /v1/tiles/{layer}/{version}/{z}/{x}/{y}.mvt runs,
  cold (the store's tile cache cleared before every call: the tile is rendered) and warm (answered from the cache,
  which is filled first, untimed);
- each engine over HTTP, a kept-alive httpx client: the versioned tile (its first request, from the warm-up pass,
  is rendered by the server; later ones come from the server's cache), a conditional request answered 304, the
  unversioned alias (its 307 alone), and GET /health as the HTTP floor of the same server.

Targets: each zoom's p50 within 1.5x of the raw query (cold: every tile rendered); the redirect adding at most 1 ms.

    python bench/tiles.py [--workdir /tmp/sitecheck-bench] [--admin-url postgresql://postgres@127.0.0.1/postgres]
                          [--layer farmland] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

import httpx
import mapbox_vector_tile
import psycopg
from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fresh_database
from layers.load import load_layer
from layers.sample_city import SCALES, VECTOR_KEYS, generate
from sitecheck.config import load_catalog
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tilegrid import tile_spec, tiles_covering
from sitecheck.onemap.tiles import clear_tile_cache, current_tile_version, get_tile, prepare_tiles, tile_etag
from sitecheck.settings import SAMPLE_CITY_DIR, Settings
from sitecheck.stores import open_store
from sitecheck.stores.base import Store

ROOT = Path(__file__).resolve().parents[1]
ZOOMS = {10: 0, 12: 1, 14: 2, 16: 2}  # zoom -> tiles on each side of the centre tile
ENGINES = ("postgis", "embedded")
RAW = (
    "SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom') FROM (SELECT {columns}, ST_AsMVTGeom({geom}, "
    "ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 64, true) AS geom FROM {table} WHERE {filter}) AS q"
)
MARGIN = "ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 0.015625)"
Timer = Callable[[int, int, int], float]


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/sitecheck-bench"))
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--layer", default="farmland")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes over every tile")
    args = parser.parse_args()
    city = prepare_city(args.workdir / "city")
    with (
        fresh_database(args.admin_url) as url,
        tempfile.TemporaryDirectory(dir=args.workdir) as data_dir,
        ExitStack() as stack,
    ):
        config = SAMPLE_CITY_DIR / "layers.toml"
        settings = {
            "postgis": Settings(database_url=url, db_schema="bench", layer_config=config),
            "embedded": Settings(database_url=None, data_dir=Path(data_dir), layer_config=config),
        }
        for engine in ENGINES:
            started = time.perf_counter()
            load_city(city, settings[engine])
            print(f"loaded the city into {engine} in {time.perf_counter() - started:.1f} s")
        stores = {engine: stack.enter_context(closing(open_store(settings[engine]))) for engine in ENGINES}
        for engine in ENGINES:
            started = time.perf_counter()
            prepare_tiles(stores[engine], args.layer, 1)
            # PostGIS built its stored copy when the version was published (part of the load above).
            print(f"{engine}: Web-Mercator copy of the version ready in {time.perf_counter() - started:.2f} s")
        conn = stack.enter_context(psycopg.connect(url, options="-c jit=off -c max_parallel_workers_per_gather=0"))
        timers = raw_timers(conn, args.layer)
        for engine in ENGINES:
            client = stack.enter_context(
                httpx.Client(base_url=stack.enter_context(serve(settings[engine])), timeout=120)
            )
            timers |= engine_timers(engine, stores[engine], client, args.layer)
        tiles = {z: centre_tiles(z, reach) for z, reach in ZOOMS.items()}
        sizes = {z: tile_sizes(conn, stores["postgis"], args.layer, z_tiles) for z, z_tiles in tiles.items()}
        print_tables(measure(timers, tiles, args.repeat), tiles, sizes)


def prepare_city(city: Path) -> Path:
    """Return the city-scale data directory, generating missing layers in a scratch directory first."""
    missing = [key for key in VECTOR_KEYS if not (city / f"{key}.gpkg").exists()]
    if missing:
        started = time.perf_counter()
        scratch = city.parent / f".city-{uuid.uuid4().hex[:8]}"
        generate(scratch, scale="city", layers=missing)
        city.mkdir(parents=True, exist_ok=True)
        for key in missing:
            os.replace(scratch / f"{key}.gpkg", city / f"{key}.gpkg")  # whole files only: others may read them
        shutil.rmtree(scratch)
        print(f"generated city-scale {missing} in {time.perf_counter() - started:.1f} s")
    return city


def load_city(city: Path, settings: Settings) -> None:
    """Load every vector layer of the city into one engine as version 1."""
    with closing(open_store(settings)) as store:
        for key in VECTOR_KEYS:
            load_layer(store, key, city / f"{key}.gpkg", loaded_by="bench", analysis_crs=settings.analysis_crs)


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Run uvicorn (one worker, no access log) for one engine on a free loopback port; yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITECHECK_")}
    env |= {"SITECHECK_DATA_DIR": str(settings.data_dir), "SITECHECK_DB_SCHEMA": settings.db_schema}
    # Maps read anonymously (as a public map would); the limits would refuse a benchmark's request rate.
    env |= {"SITECHECK_ACCESS__PUBLIC_READ": "true", "SITECHECK_ACCESS__RATE_PER_IP": "100000000/minute"}
    if settings.database_url:
        env["SITECHECK_DATABASE_URL"] = settings.database_url
    command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*command, "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        while not _answers(f"{base}/health"):
            if server.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit(f"the server on {base} did not start")
            time.sleep(0.1)
        # Its warm-up (the embedded engine: every layer's Web-Mercator copy) runs before it answers.
        engine = "postgis" if settings.database_url else "embedded"
        print(f"{engine} server answered /health {time.perf_counter() - started:.1f} s after it was started")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    """Whether a GET answers 200."""
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def raw_timers(conn: psycopg.Connection, layer: str) -> dict[str, Timer]:
    """Timers of the raw ST_AsMVT queries (on the fly, and over a copy with a stored EPSG:3857 column)."""
    columns = ", ".join(f'"{name}"' for name in load_catalog(SAMPLE_CITY_DIR / "layers.toml").get(layer).report)
    conn.execute(
        f'CREATE TABLE public.raw_3857 AS SELECT *, ST_Transform(geom, 3857) AS g FROM bench_layers."{layer}_v1"'
    )
    conn.execute("CREATE INDEX ON public.raw_3857 USING gist (g)")
    conn.execute("ANALYZE public.raw_3857")
    conn.commit()
    on_the_fly = RAW.format(
        columns=columns,
        geom="ST_Transform(geom, 3857)",
        table=f'bench_layers."{layer}_v1"',
        filter=f"geom && ST_Transform({MARGIN}, 4528)",
    )
    stored = RAW.format(columns=columns, geom="g", table="public.raw_3857", filter=f"g && {MARGIN}")

    def timer(query: str) -> Timer:
        """A timer of one prepared query."""
        return lambda z, x, y: _ms(lambda: conn.execute(query, _tile(layer, z, x, y), prepare=True).fetchone())

    return {"raw on the fly": timer(on_the_fly), "raw stored 3857": timer(stored)}


def engine_timers(engine: str, store: Store, client: httpx.Client, layer: str) -> dict[str, Timer]:
    """Timers of one engine: the tile in process (cold, warm), the alias's version lookup, and over HTTP the tile,
    its 304, the alias and the floor."""
    version = feature_reader(store).version(layer, 1)

    def get(path: str, status: int, headers: dict[str, str] | None = None) -> float:
        """Milliseconds of one GET, checking its status."""
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != status:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:200]}")
        return elapsed

    def cold(z: int, x: int, y: int) -> float:
        """The tile rendered: the store's tile cache is emptied first (not timed)."""
        clear_tile_cache(store)
        return _ms(lambda: get_tile(store, layer, 1, z, x, y))

    def warm(z: int, x: int, y: int) -> float:
        """The tile from the cache: it is put there first (not timed)."""
        get_tile(store, layer, 1, z, x, y)
        return _ms(lambda: get_tile(store, layer, 1, z, x, y))

    def not_modified(z: int, x: int, y: int) -> float:
        """The tile's conditional request, answered 304 without rendering."""
        etag = tile_etag(store, version, tile_spec(z, x, y))
        return get(f"/v1/tiles/{layer}/1/{z}/{x}/{y}.mvt", 304, {"If-None-Match": etag})

    return {
        engine: cold,
        f"{engine} warm": warm,
        f"{engine} resolve": lambda z, x, y: _ms(lambda: current_tile_version(store, layer, z, x, y)),
        f"{engine} HTTP": lambda z, x, y: get(f"/v1/tiles/{layer}/1/{z}/{x}/{y}.mvt", 200),
        f"{engine} HTTP 304": not_modified,
        f"{engine} HTTP 307": lambda z, x, y: get(f"/v1/tiles/{layer}/{z}/{x}/{y}.mvt", 307),
        f"{engine} HTTP floor": lambda z, x, y: get("/health", 200),
    }


def centre_tiles(z: int, reach: int) -> list[tuple[int, int, int]]:
    """The (2*reach+1)^2 tiles around the tile holding the city centre, at zoom z."""
    x0, y0, x1, y1 = SCALES["city"].extent
    cx, cy = Transformer.from_crs("EPSG:4528", "EPSG:3857", always_xy=True).transform((x0 + x1) / 2, (y0 + y1) / 2)
    ((x, y),) = tiles_covering((cx, cy, cx, cy), z)
    return [(z, x + dx, y + dy) for dx in range(-reach, reach + 1) for dy in range(-reach, reach + 1)]


def measure(
    timers: dict[str, Timer], tiles: dict[int, list[tuple[int, int, int]]], repeat: int
) -> dict[tuple[str, int], list[float]]:
    """One warm-up pass per method (kept as ``<method> first``: each tile's first request), then ``repeat``
    passes with the methods interleaved tile by tile, in a seeded order shuffled for each tile."""
    samples: dict[tuple[str, int], list[float]] = {}
    order = random.Random(5)
    for name, timer in timers.items():
        started = time.perf_counter()
        for z, z_tiles in tiles.items():
            for tile in z_tiles:
                samples.setdefault((f"{name} first", z), []).append(timer(*tile))
        print(f"warm-up {name}: {time.perf_counter() - started:.2f} s")
    for _ in range(repeat):
        for z, z_tiles in tiles.items():
            for tile in z_tiles:
                for name, timer in order.sample(list(timers.items()), len(timers)):
                    samples.setdefault((name, z), []).append(timer(*tile))
    return samples


def tile_sizes(
    conn: psycopg.Connection, store: Store, layer: str, tiles: list[tuple[int, int, int]]
) -> tuple[float, ...]:
    """Mean features and kB per tile: the engine's tiles (size filter and cap applied) and the raw query's."""
    ours, raw, ours_kb = [], [], []
    query = RAW.format(columns="1 AS one", geom="g", table="public.raw_3857", filter=f"g && {MARGIN}")
    for z, x, y in tiles:
        data = get_tile(store, layer, 1, z, x, y).data or b""
        ours.append(len(mapbox_vector_tile.decode(data).get(layer, {}).get("features", [])))
        ours_kb.append(len(data) / 1000)
        blob = conn.execute(query, _tile(layer, z, x, y)).fetchone()
        raw.append(
            len(
                mapbox_vector_tile.decode(bytes(blob[0]) if blob and blob[0] else b"")
                .get(layer, {})
                .get("features", [])
            )
        )
    return statistics.mean(ours), statistics.mean(raw), statistics.mean(ours_kb)


def print_tables(
    samples: dict[tuple[str, int], list[float]], tiles: dict[int, list], sizes: dict[int, tuple[float, ...]]
) -> None:
    """Print p50/p99 per method and zoom, ratios to the raw queries, and the redirect's cost."""

    def p(name: str, z: int | None, q: float) -> float:
        """The q-quantile of a method's samples at a zoom (all zooms when z is None)."""
        values = samples[(name, z)] if z is not None else [v for (n, _), vs in samples.items() if n == name for v in vs]
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    def cell(name: str, z: int) -> str:
        """'p50 / p99' of a method at a zoom."""
        return f"{p(name, z, 0.5):7.2f} /{p(name, z, 0.99):7.2f}"

    def ratios(name: str, z: int) -> str:
        """A method's p50 over the raw queries' p50 (stored, on the fly)."""
        stored, on_the_fly = p("raw stored 3857", z, 0.5), p("raw on the fly", z, 0.5)
        return f"{p(name, z, 0.5) / stored:.2f}x, {p(name, z, 0.5) / on_the_fly:.2f}x"

    methods = ["raw on the fly", "raw stored 3857", *(f"{e}{w}" for e in ENGINES for w in ("", " warm"))]
    print("\nin process, ms per tile (p50 / p99); postgis, embedded: cold (rendered), warm (from the tile cache)")
    print(
        f"{'z':>2} {'tiles':>5} {'n':>4} {'features':>13} {'kB':>6}"
        + "".join(f"{m:>18}" for m in methods)
        + "   cold / raw (stored, on the fly): postgis | embedded   warm / raw stored"
    )
    for z, z_tiles in tiles.items():
        ours, raw, kb = sizes[z]
        warm = " | ".join(f"{p(f'{e} warm', z, 0.5) / p('raw stored 3857', z, 0.5):.3f}x" for e in ENGINES)
        print(
            f"{z:>2} {len(z_tiles):>5} {len(samples[('postgis', z)]):>4} {ours:>6.0f}/{raw:<6.0f} {kb:>6.0f}"
            + "".join(f"{cell(m, z):>18}" for m in methods)
            + f"   {' | '.join(ratios(e, z) for e in ENGINES)}   {warm}"
        )
    print("target: cold p50 <= 1.5x the raw stored query\n")
    names = [f"{e} {h}" for e in ENGINES for h in ("HTTP floor", "HTTP first", "HTTP", "HTTP 304", "HTTP 307")]
    print("over HTTP (uvicorn, 1 worker; kept-alive httpx client), ms (p50 / p99); 'HTTP first' is each tile's first")
    print("request (rendered by the server), 'HTTP' the later ones (from the server's tile cache)")
    print(f"{'z':>2}" + "".join(f"{n:>22}" for n in names))
    for z in tiles:
        print(f"{z:>2}" + "".join(f"{cell(n, z):>22}" for n in names))
    print("\nunversioned alias, all zooms (target: adds <= 1 ms)")
    for e in ENGINES:
        redirect = p(f"{e} HTTP 307", None, 0.5)
        print(
            f"  {e:<9} version lookup in process p50 {p(f'{e} resolve', None, 0.5):.3f} ms, p99 "
            f"{p(f'{e} resolve', None, 0.99):.3f} ms; the 307 round trip p50 {redirect:.2f} ms: "
            f"{redirect - p(f'{e} HTTP floor', None, 0.5):+.2f} ms over /health, "
            f"{redirect - p(f'{e} HTTP 304', None, 0.5):+.2f} ms over the versioned tile's 304"
        )


def _tile(layer: str, z: int, x: int, y: int) -> dict[str, object]:
    """Query parameters of one tile."""
    return {"layer": layer, "z": z, "x": x, "y": y}


def _ms(call: Callable[[], object]) -> float:
    """Milliseconds a call takes."""
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


if __name__ == "__main__":
    main()
