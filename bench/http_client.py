"""A small HTTP load generator for the benchmarks: keep-alive connections on threads, latencies as JSON.

    python bench/http_client.py --url http://127.0.0.1:8765 --requests requests.jsonl --concurrency 8

Each line of the requests file is {"method": "POST", "path": "/v1/checks", "body": {...}, "name": "check"}.
Prints {"name": [[status, seconds], ...], ...} and the wall time on stdout.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import threading
import time
from collections import defaultdict
from urllib.parse import urlsplit


def main() -> None:
    """Send every request once (or loop for --seconds), spread over threads; print the latencies."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=0.0, help="loop over the requests for this long")
    args = parser.parse_args()
    with open(args.requests, encoding="utf-8") as handle:
        requests = [json.loads(line) for line in handle if line.strip()]
    target = urlsplit(args.url)
    results: dict[str, list[tuple[int, float]]] = defaultdict(list)
    lock = threading.Lock()
    counter = itertools.count()
    deadline = time.perf_counter() + args.seconds if args.seconds else None

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        while True:
            index = next(counter)
            if deadline is None and index >= len(requests):
                break
            if deadline is not None and time.perf_counter() > deadline:
                break
            request = requests[index % len(requests)]
            body = json.dumps(request["body"]).encode() if "body" in request else None
            headers = dict(request.get("headers", {}))
            if body:
                headers["content-type"] = "application/json"
            started = time.perf_counter()
            try:
                conn.request(request.get("method", "GET"), request["path"], body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            elapsed = time.perf_counter() - started
            with lock:
                results[request.get("name", request["path"])].append((status, elapsed))
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"wall_seconds": time.perf_counter() - started, "results": results}))


if __name__ == "__main__":
    main()
