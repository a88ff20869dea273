"""Parcel search benchmark (按图索地) on the city-scale data (20 000 parcels), both engines, in one run.

Loads the city into a fresh PostGIS database and a fresh embedded data directory (parcel compliance is computed
as the layers load), then prints: p50/p99 of 200 varied searches per engine at the domain level
(``search_parcels``), beside a raw SQL baseline (an attribute filter with ordering on the parcels table,
prepared) and a GeoPandas baseline (the same filter on a GeoDataFrame in memory), the four run in turn query by
query so that they share whatever load the machine carries; whether the engines gave identical answers; the time
to recompute parcel compliance after a new red-line version, per engine, and of the first search after it (which
reads the new search index into memory).

    python bench/search.py [--searches 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import city_config, city_data, fresh_database, percentiles_ms, print_table
from layers.load import load_configured_layers, load_layer
from sitecheck.parcels import ParcelQuery, refresh_parcels, search_parcels
from sitecheck.rules import load_rules
from sitecheck.settings import Settings
from sitecheck.stores import open_store
from sitecheck.stores.base import Store

RULES = load_rules()
MU_M2 = 2000 / 3
RAW_SQL = (
    'SELECT "地块编号", "用地面积", "状态" FROM sitecheck_layers.parcels_v1 '
    'WHERE "用地面积" BETWEEN %s AND %s AND "用地性质" LIKE %s AND "状态" = ANY(%s) '
    'ORDER BY "用地面积" DESC, "地块编号" LIMIT 20'
)
USES: tuple[list[str], ...] = (["M1"], ["M2"], ["100101", "W"], ["0601"], ["W"], [], ["1001"])


def _queries(city: Path, n: int, seed: int) -> list[ParcelQuery]:
    """n varied searches an investment officer might make (district, size, use, transit, drawn area, pages)."""
    rng = np.random.default_rng(seed)
    districts = pyogrio.read_dataframe(city / "districts.gpkg", columns=["XZQMC", "XZQDM"])
    names = [*districts["XZQMC"], *districts["XZQDM"]]
    x0, y0, x1, y1 = pyogrio.read_info(city / "parcels.gpkg")["total_bounds"]
    to_lonlat = Transformer.from_crs("EPSG:4528", "EPSG:4490", always_xy=True)
    out = []
    for k in range(n):
        kind = k % 7
        low = float(rng.uniform(20, 200))
        high = low + float(rng.uniform(30, 150))
        use = USES[int(rng.integers(len(USES)))]
        if kind == 0:
            out.append(
                ParcelQuery(
                    district=[str(rng.choice(names))],
                    use=use,
                    min_mu=low,
                    max_mu=high,
                    max_transit_m=float(rng.choice([2000, 3000, 5000])),
                )
            )
        elif kind == 1:
            cx, cy, r = rng.uniform(x0, x1), rng.uniform(y0, y1), rng.uniform(3000, 10000)
            box = shapely.box(cx - r, cy - r, cx + r, cy + r)
            lonlat = shapely.transform(box, lambda c: np.column_stack(to_lonlat.transform(c[:, 0], c[:, 1])))
            area = {"type": "Polygon", "coordinates": [[list(p) for p in mapping(lonlat)["coordinates"][0]]]}
            out.append(ParcelQuery(area=area, status=["可招商"], use=["W"], min_mu=50))
        elif kind == 2:
            out.append(ParcelQuery(include_nonclean=True, offset=int(rng.integers(0, 200)), use=use))
        elif kind == 3:
            out.append(
                ParcelQuery(
                    far=float(rng.choice([1.5, 2.0, 2.5])),
                    weights={"far_fit": 0.4, "transit": 0.4},
                    min_tax=float(rng.uniform(10, 40)),
                    min_mu=low,
                    max_mu=high,
                )
            )
        elif kind == 4:
            out.append(ParcelQuery(transit_kind=["地铁站"], max_transit_m=3000, status=["可招商", "储备"]))
        elif kind == 5:
            out.append(
                ParcelQuery(
                    inside=["industrial_zone"],
                    outside=["farmland"],
                    district=[str(rng.choice(names))],
                    target_mu=float(rng.uniform(50, 250)),
                )
            )
        else:
            out.append(ParcelQuery(limit=int(rng.choice([20, 50, 100]))))
    return out


def _time(
    series: dict[str, list[Callable[[], Any]]], warmup: int = 20
) -> dict[str, tuple[tuple[float, float], list[Any]]]:
    """Run the k-th call of every series in turn, so that all see the same load on a shared machine.

    After a warm-up of each series, return each series' p50/p99 in ms and its answers.
    """
    for calls in series.values():
        for call in calls[:warmup]:
            call()
    seconds: dict[str, list[float]] = {name: [] for name in series}
    answers: dict[str, list[Any]] = {name: [] for name in series}
    for k in range(min(len(calls) for calls in series.values())):
        for name, calls in series.items():
            started = time.perf_counter()
            answers[name].append(calls[k]())
            seconds[name].append(time.perf_counter() - started)
    return {name: (percentiles_ms(seconds[name]), answers[name]) for name in series}


def _fetch(conn: psycopg.Connection[Any], query: ParcelQuery) -> list[Any]:
    """The raw SQL floor: an attribute filter with ordering over the parcels table (prepared statement, psycopg)."""
    return conn.execute(RAW_SQL, _bounds(query), prepare=True).fetchall()


def _bounds(query: ParcelQuery) -> tuple[float, float, str, list[str]]:
    """The attribute filter shared by both baselines."""
    low = (query.min_mu or 0) * MU_M2
    high = (query.max_mu or 1e6) * MU_M2
    like = "1001%" if query.use and query.use[0] in ("M1", "M2", "0601", "1001", "100101") else "1%"
    return low, high, like, list(query.status or ["可招商", "储备", "已出让"])


def _filter_frame(frame: pd.DataFrame, query: ParcelQuery) -> pd.DataFrame:
    """The GeoPandas baseline: the same filter and ordering on a GeoDataFrame in memory."""
    low, high, like, statuses = _bounds(query)
    mask = frame["用地面积"].between(low, high) & frame["用地性质"].str.startswith(like[:-1])
    mask &= frame["状态"].isin(statuses)
    return frame[mask].sort_values(["用地面积", "地块编号"], ascending=[False, True]).head(20)


def _recompute(store: Store, city: Path, workdir: Path) -> tuple[float, int, float]:
    """Seconds to recompute parcel compliance for a new red-line version, parcels, ms of the first search after.

    The first search after a recompute reads the new figures' search index into memory (both engines).
    """
    frame = pyogrio.read_dataframe(city / "eco_redline.gpkg")
    parcels = pyogrio.read_dataframe(city / "parcels.gpkg")
    picked = parcels.iloc[:: max(1, len(parcels) // 25)].geometry.values[:25]
    extra = frame.iloc[[0] * len(picked)].copy()
    extra["HXBM"] = [f"BENCH-{k:03d}" for k in range(len(picked))]
    extra.geometry = [shapely.MultiPolygon([shapely.box(*g.buffer(30).bounds)]) for g in picked]
    path = workdir / f"eco_redline_v2_{store.engine}.gpkg"
    if not path.exists():
        pyogrio.write_dataframe(pd.concat([frame, extra], ignore_index=True), path, layer="eco_redline")
    load_layer(store, "eco_redline", path, loaded_by="bench", analysis_crs=store.crs)  # computes as it publishes
    store.rollback("eco_redline", 1, by="bench")  # behind the hook's back: the next refresh is the red-line part
    refresh_parcels(store, RULES)
    store.rollback("eco_redline", 2, by="bench")
    started = time.perf_counter()
    report = refresh_parcels(store, RULES)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    search_parcels(store, RULES, ParcelQuery())
    return seconds, report["parcels"], (time.perf_counter() - started) * 1000


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    city = city_data()
    workdir = Path(tempfile.mkdtemp(prefix="sitecheck-bench-search-"))
    try:
        _run(city, workdir, args.searches, args.seed)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(city: Path, workdir: Path, searches: int, seed: int) -> None:
    """Load both engines, time the searches (interleaved with the baselines) and the recompute, print the tables."""
    config = city_config(city, workdir)
    queries = _queries(city, searches, seed)
    frame = pyogrio.read_dataframe(city / "parcels.gpkg")
    setup: list[tuple[Any, ...]] = []
    with fresh_database() as url, contextlib.ExitStack() as stack:
        settings = {
            "postgis": Settings(database_url=url, db_schema="sitecheck", layer_config=config),
            "embedded": Settings(database_url=None, data_dir=workdir / "var", layer_config=config),
        }
        stores: dict[str, Store] = {}
        loading: dict[str, tuple[float, float]] = {}
        for engine, each in settings.items():
            store = stores[engine] = open_store(each)
            stack.callback(store.close)
            started = time.perf_counter()
            load_configured_layers(store, loaded_by="bench", analysis_crs=store.crs)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            refresh_parcels(store, RULES, force=True)
            loading[engine] = (loaded, time.perf_counter() - started)
        conn = stack.enter_context(psycopg.connect(url, autocommit=True))
        conn.execute("SET jit = off")
        timed = _time(
            {
                **{
                    f"search_parcels, {engine} engine": [partial(search_parcels, store, RULES, q) for q in queries]
                    for engine, store in stores.items()
                },
                "raw SQL: attribute filter + ORDER BY on parcels_v1 (prepared)": [
                    partial(_fetch, conn, q) for q in queries
                ],
                "GeoPandas: the same filter + sort_values in memory": [
                    partial(_filter_frame, frame, q) for q in queries
                ],
            }
        )
        for engine, store in stores.items():
            recompute, parcels, first = _recompute(store, city, workdir)
            setup.append((engine, parcels, *loading[engine], recompute, first))
    answers = {engine: timed[f"search_parcels, {engine} engine"][1] for engine in settings}
    same = sum(
        [i["id"] for i in a["items"]] == [i["id"] for i in b["items"]]
        and a["total"] == b["total"]
        and all(abs(x["score"] - y["score"]) <= 1e-9 for x, y in zip(a["items"], b["items"], strict=True))
        for a, b in zip(answers["embedded"], answers["postgis"], strict=True)
    )
    rows = [(name, *percentiles) for name, (percentiles, _) in timed.items()]
    print_table(f"{len(queries)} varied parcel searches over the city (20 000 parcels), ms", ("", "p50", "p99"), rows)
    print(f"engines identical (ids, order, scores to 1e-9): {same}/{len(queries)} searches")
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print_table(
        "parcel compliance, seconds",
        (
            "engine",
            "parcels",
            "load all layers (incl. compliance)",
            "full recompute",
            "recompute after new red line",
            "first search after it (ms)",
        ),
        setup,
    )


if __name__ == "__main__":
    main()
