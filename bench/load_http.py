"""Mixed HTTP load: checks, parcel searches, tiles and one-map GeoJSON against uvicorn with two workers.

Loads the city-scale data into a fresh PostGIS database, starts `uvicorn --workers 2`, creates a system key,
and drives the mix for --seconds from a second process on loopback with --clients concurrent connections.
Prints throughput, p50/p99 per endpoint, the error count, and how the clients' connections fell between the
two workers (it varies from run to run and moves the figures a lot).

    python bench/load_http.py [--seconds 60] [--clients 50]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.check import random_sites
from bench.common import (
    city_config,
    city_data,
    connections_per_process,
    fresh_database,
    load_city,
    percentiles_ms,
    print_table,
    uvicorn_server,
)
from sitecheck.access import PERMISSIONS, issue_key
from sitecheck.settings import Settings
from sitecheck.stores import open_store


def requests_mix(bounds: tuple[float, float, float, float], count: int) -> list[dict[str, object]]:
    """Half checks, the rest searches, tiles and one-map views over the city, deterministic."""
    rng = np.random.default_rng(11)
    sites = random_sites(count, bounds)
    out: list[dict[str, object]] = []
    for i, site in enumerate(sites):
        body = {"site": site.wkt, "crs": "EPSG:4528", "project": {"category": "industrial", "land_use_code": "100101"}}
        out.append({"method": "POST", "path": "/v1/checks", "body": body, "name": "check"})
        kind = i % 3
        if kind == 0:
            low = int(rng.integers(20, 150))
            out.append({"path": f"/v1/parcels?min_mu={low}&max_mu={low + 100}&limit=20", "name": "search"})
        elif kind == 1:
            x, y = int(rng.integers(13_380, 13_420)), int(rng.integers(6_700, 6_740))
            out.append({"path": f"/v1/tiles/farmland/14/{x}/{y}.mvt", "name": "tile (alias, redirect)"})
        else:
            lon, lat = rng.uniform(119.2, 120.4), rng.uniform(31.4, 32.4)
            bbox = f"{lon:.4f},{lat:.4f},{lon + 0.02:.4f},{lat + 0.02:.4f}"
            out.append({"path": f"/v1/onemap?bbox={bbox}&layers=eco_redline,farmland&limit=500", "name": "onemap"})
    return out


def main() -> None:
    """Run the load and print its table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    city = city_data()
    workdir = Path(tempfile.mkdtemp(prefix="sitecheck-bench-http-"))
    config = city_config(city, workdir)
    with fresh_database() as url:
        settings = Settings(database_url=url, db_schema="bench", layer_config=config)
        print(f"loaded the city into PostGIS in {load_city(settings):.1f} s")
        store = open_store(settings)
        token = issue_key(store, name="load", role="system", organisation="bench", scopes=PERMISSIONS, by="bench")[0]
        bounds = store.current_versions()["dev_boundary"].bbox
        store.close()
        assert bounds is not None
        requests_file = workdir / "requests.jsonl"
        with requests_file.open("w", encoding="utf-8") as handle:
            for request in requests_mix(bounds, 2000):
                request["headers"] = {"Authorization": f"Bearer {token}"}
                handle.write(json.dumps(request) + "\n")
        with uvicorn_server(url, "bench", config) as port:
            with subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("http_client.py")),
                    "--url",
                    f"http://127.0.0.1:{port}",
                    "--requests",
                    str(requests_file),
                    "--concurrency",
                    str(args.clients),
                    "--seconds",
                    str(args.seconds),
                ],
                stdout=subprocess.PIPE,
                text=True,
            ) as client:
                # The clients keep their connections: how they fell between the workers holds for the whole run.
                time.sleep(min(5.0, args.seconds / 2))
                split = connections_per_process(port)
                output, _ = client.communicate()
            if client.returncode != 0:
                raise SystemExit(f"the load generator failed ({client.returncode})")
    report = json.loads(output)
    wall = report["wall_seconds"]
    rows = []
    errors = 0
    for name, samples in sorted(report["results"].items()):
        statuses = [status for status, _ in samples]
        bad = sum(1 for status in statuses if status >= 500 or status == 0)
        errors += bad
        p50, p99 = percentiles_ms([elapsed for _, elapsed in samples])
        rows.append((name, len(samples), f"{len(samples) / wall:.1f}", p50, p99, bad))
    print_table(
        f"Mixed load for {wall:.0f} s, {args.clients} clients, uvicorn 2 workers, PostGIS (ms)",
        ("endpoint", "requests", "per s", "p50", "p99", "errors"),
        rows,
    )
    print(f"total errors: {errors}")
    # uvicorn's workers accept from one socket, whoever is first; a lopsided split leaves one worker queueing
    # most of the work while the other has time to spare (docs/performance.md).
    print(f"client connections per worker: {', '.join(map(str, split)) or 'unknown (no ss)'}")


if __name__ == "__main__":
    main()
