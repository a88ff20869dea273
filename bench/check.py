"""Check benchmark: per-site latency of the compliance check against raw PostGIS SQL and a bare Shapely loop.

Uses the city-scale data (200 000 farmland patches, 3 000 red-line polygons, a subdivided development
boundary of 20 polygons with 20 000-100 000 vertices) and 2 000 random sites of 1-100 ha. Prints, in one run:
domain-level p50/p99 per engine, the raw baselines, where a check's time goes (each stage of evaluate_site
timed alone), and the same check over HTTP against uvicorn with two workers on PostGIS (load from a second
process on loopback).

    python bench/check.py [--sites 2000] [--http-seconds 20] [--clients 1 2 4 8] [--skip-http]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import shapely
from shapely.geometry import Polygon

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    city_config,
    city_data,
    fresh_database,
    load_city,
    percentiles_ms,
    print_table,
    uvicorn_server,
)
from sitecheck import check as check_module
from sitecheck.access import issue_key
from sitecheck.check import check_site, evaluate_site
from sitecheck.findings import SiteFacts, layer_findings
from sitecheck.intake import read_site_geometry
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import Settings
from sitecheck.stores import open_store

CHECKED = ("eco_redline", "farmland", "dev_boundary", "industrial_zone")


def random_sites(count: int, bounds: tuple[float, float, float, float], seed: int = 7) -> list[Polygon]:
    """Rotated rectangles of 1-100 ha, aspect 1:1 to 1:3, uniformly placed inside the bounds."""
    rng = np.random.default_rng(seed)
    areas = rng.uniform(10_000, 1_000_000, count)
    aspect = rng.uniform(1, 3, count)
    widths, heights = np.sqrt(areas / aspect), np.sqrt(areas * aspect)
    angles = rng.uniform(0, np.pi, count)
    margin = 1_500
    cx = rng.uniform(bounds[0] + margin, bounds[2] - margin, count)
    cy = rng.uniform(bounds[1] + margin, bounds[3] - margin, count)
    sites = []
    for x, y, w, h, a in zip(cx, cy, widths, heights, angles, strict=True):
        corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
        rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        sites.append(Polygon(corners @ rotation.T + [x, y]))
    return sites


def time_domain(settings: Settings, sites: list[Polygon], *, record: bool) -> list[float]:
    """Time a check per site (validated site in hand): overlay, rules, areas, slope, and the stored record if asked."""
    run = check_site if record else evaluate_site
    store = open_store(settings)
    rules = load_rules()
    facts = ProjectFacts("bench", "municipal", "industrial", "100101")
    validated = [read_site_geometry(site.wkt, crs="EPSG:4528") for site in sites]
    for site in validated[:20]:
        run(store, site, facts, rules)
    durations = []
    for site in validated:
        started = time.perf_counter()
        run(store, site, facts, rules)
        durations.append(time.perf_counter() - started)
    store.close()
    return durations


STAGES = (
    "overlay: the 4 checked layers",
    "overlay: all 6 layers (what a check reads)",
    "findings: pieces, areas, slivers, rules",
    "slope statistics",
    "site figures",
    "evaluate_site, whole",
)


def stage_times(settings: Settings, sites: list[Polygon]) -> dict[str, list[float]]:
    """Where a check's time goes: each stage of evaluate_site timed on its own, site by site (the stages are
    the check module's own steps, called one by one; the last row is the whole, for comparison)."""
    store = open_store(settings)
    rules = load_rules()
    facts = rules.check_facts(ProjectFacts("bench", "municipal", "industrial", "100101"))
    checked = [layer.key for layer in store.catalog.by_role(*check_module.CHECKED_ROLES)]
    context = [layer.key for layer in store.catalog.by_role(*check_module.CONTEXT_ROLES) if layer.geometry == "polygon"]
    validated = [read_site_geometry(site.wkt, crs="EPSG:4528") for site in sites]
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}

    def timed(stage: str, work: Any, *args: Any) -> Any:
        started = time.perf_counter()
        value = work(*args)
        times[stage].append(time.perf_counter() - started)
        return value

    for _ in range(2):  # the first round warms up
        for values in times.values():
            values.clear()
        for site in validated:
            timed(STAGES[0], store.overlaps_current, site.geometry, list(CHECKED))
            versions, pieces = timed(STAGES[1], store.overlaps_current, site.geometry, checked + context)
            facts_of_site = SiteFacts(site.geometry, site.geometry.area, site.analysis_crs)
            layers = [
                (store.catalog.get(key), versions[key].version, rules.rule_for(store.catalog.get(key)), pieces[key])
                for key in checked
            ]
            timed(STAGES[2], layer_findings, layers, facts_of_site, facts, rules.thresholds)
            timed(STAGES[3], check_module._raster_findings, store, site, rules)
            timed(STAGES[4], check_module._site_block, site, False)
            timed(STAGES[5], evaluate_site, store, site, facts, rules)
    store.close()
    return times


def raw_postgis(url: str, schema: str, sites: list[Polygon]) -> list[float]:
    """One hand-written statement per site computing the four layers' overlap (and outside) areas."""
    layer_schema = f"{schema}_layers"
    sql = f"""
        WITH s AS (SELECT ST_GeomFromWKB(%(wkb)s, 4528) AS g)
        SELECT 'eco', sum(ST_Area(ST_Intersection(t.geom, s.g))) FROM "{layer_schema}".eco_redline_v1_sub t, s
            WHERE ST_Intersects(t.geom, s.g)
        UNION ALL SELECT 'farmland', sum(ST_Area(ST_Intersection(t.geom, s.g))) FROM "{layer_schema}".farmland_v1 t, s
            WHERE ST_Intersects(t.geom, s.g)
        UNION ALL SELECT 'dev_outside', ST_Area(ST_Difference(
                (SELECT g FROM s),
                coalesce(ST_Union(ST_Intersection(t.geom, s.g)), ST_GeomFromText('POLYGON EMPTY', 4528))))
            FROM "{layer_schema}".dev_boundary_v1_sub t, s WHERE ST_Intersects(t.geom, s.g)
        UNION ALL SELECT 'industrial', sum(ST_Area(ST_Intersection(t.geom, s.g)))
            FROM "{layer_schema}".industrial_zone_v1 t, s WHERE ST_Intersects(t.geom, s.g)
    """
    durations = []
    with psycopg.connect(url, options="-c jit=off -c max_parallel_workers_per_gather=0") as conn:
        blobs = [shapely.to_wkb(site) for site in sites]
        for blob in blobs[:20]:
            conn.execute(sql, {"wkb": blob}, prepare=True).fetchall()
        for blob in blobs:
            started = time.perf_counter()
            conn.execute(sql, {"wkb": blob}, prepare=True).fetchall()
            durations.append(time.perf_counter() - started)
    return durations


def raw_shapely(settings: Settings, sites: list[Polygon]) -> list[float]:
    """A bare STRtree loop over the embedded engine's in-memory layers computing the same areas."""
    store = open_store(settings)
    data = [store.layer_data(key) for key in CHECKED]  # type: ignore[attr-defined]
    durations = []
    for site in sites:
        started = time.perf_counter()
        for layer in data:
            hits = layer.tree.query(site, predicate="intersects")
            shapely.area(shapely.intersection(layer.geometries[hits], site)).sum()
        durations.append(time.perf_counter() - started)
    store.close()
    return durations


def over_http(
    url: str, schema: str, config: Path, sites: list[Polygon], seconds: float, clients: int
) -> tuple[list[float], float]:
    """Run uvicorn with two workers on PostGIS and drive checks from a second process with ``clients`` threads;
    return latencies and the rate."""
    store = open_store(Settings(database_url=url, db_schema=schema, layer_config=config))
    token = issue_key(store, name="bench", role="system", organisation="bench", scopes=("checks:create",), by="bench")[
        0
    ]
    store.close()
    with uvicorn_server(url, schema, config) as port:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
            for site in sites:
                body = {
                    "site": site.wkt,
                    "crs": "EPSG:4528",
                    "project": {"category": "industrial", "land_use_code": "100101"},
                }
                line = {
                    "method": "POST",
                    "path": "/v1/checks",
                    "body": body,
                    "name": "check",
                    "headers": {"Authorization": f"Bearer {token}"},
                }
                handle.write(json.dumps(line) + "\n")
        client = subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("http_client.py")),
                "--url",
                f"http://127.0.0.1:{port}",
                "--requests",
                handle.name,
                "--concurrency",
                str(clients),
                "--seconds",
                str(seconds),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(client.stdout)
        samples = report["results"]["check"]
        errors = sum(1 for status, _ in samples if status != 200)
        if errors:
            print(f"HTTP errors: {errors} of {len(samples)}")
        return [elapsed for _, elapsed in samples], len(samples) / report["wall_seconds"]


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=2000)
    parser.add_argument("--http-seconds", type=float, default=20.0)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[1, 2, 4, 8], help="concurrent HTTP clients, one run each"
    )
    args = parser.parse_args()
    city = city_data()
    workdir = Path(tempfile.mkdtemp(prefix="sitecheck-bench-check-"))
    config = city_config(city, workdir)
    with fresh_database() as url:
        schema = "bench"
        postgis = Settings(database_url=url, db_schema=schema, layer_config=config)
        embedded = Settings(database_url=None, data_dir=workdir / "var", layer_config=config)
        print(f"loaded the city into PostGIS in {load_city(postgis):.1f} s, embedded in {load_city(embedded):.1f} s")
        store = open_store(postgis)
        bounds = store.current_versions()["dev_boundary"].bbox
        store.close()
        assert bounds is not None
        sites = random_sites(args.sites, bounds)
        table = []
        for engine, settings, raw_name, raw in (
            ("PostGIS", postgis, "raw PostGIS: one SQL statement per site", lambda: raw_postgis(url, schema, sites)),
            ("embedded", embedded, "raw Shapely STRtree loop", lambda: raw_shapely(embedded, sites)),
        ):
            raw_p50, raw_p99 = percentiles_ms(raw())
            table.append((raw_name, raw_p50, raw_p99, "", ""))
            for label, record in (("evaluate_site (no record)", False), ("check_site (stored record)", True)):
                p50, p99 = percentiles_ms(time_domain(settings, sites, record=record))
                table.append(
                    (f"sitecheck {label}, {engine}", p50, p99, f"{p50 / raw_p50:.2f}x", f"{p99 / raw_p99:.2f}x")
                )
        print_table(
            f"Per-check latency, {len(sites)} sites of 1-100 ha (ms)",
            ("what", "p50", "p99", "p50 vs raw", "p99 vs raw"),
            table,
        )
        stages = {
            engine: stage_times(settings, sites[:500])
            for engine, settings in (("PostGIS", postgis), ("embedded", embedded))
        }
        print_table(
            "Where a check's time goes, first 500 sites, p50 ms per stage (each stage timed alone)",
            ("stage", *stages),
            [(stage, *(percentiles_ms(stages[engine][stage])[0] for engine in stages)) for stage in STAGES],
        )
        if not args.skip_http:
            rows = []
            for clients in args.clients:
                latencies, rate = over_http(url, schema, config, sites, args.http_seconds, clients)
                p50, p99 = percentiles_ms(latencies)
                rows.append((f"POST /v1/checks, {clients} clients", len(latencies), p50, p99, f"{rate:.0f}"))
            print_table(
                "Over HTTP: uvicorn, 2 workers, PostGIS; client threads in a second process, each sending its next "
                "check when the last is answered (latency beyond 2 clients is mostly queueing: about clients / rate)",
                ("what", "requests", "p50 ms", "p99 ms", "checks/s"),
                rows,
            )


if __name__ == "__main__":
    main()
