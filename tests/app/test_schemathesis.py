"""Schemathesis over the whole OpenAPI document against a live server, with a key of each role.

Bounded (a few examples per operation) so it fits the CI budget: zero server errors and zero responses that
contradict the documented schema.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.main import create_app
from sitecheck.access import issue_key
from sitecheck.settings import AccessSettings, Settings
from sitecheck.stores import open_store

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def live_server(sample_settings: dict[str, Settings]) -> Iterator[tuple[str, dict[str, str]]]:
    """A uvicorn server on the embedded sample city with access control on, and a token per role."""
    settings = sample_settings["embedded"].model_copy(
        update={"access": AccessSettings(auth_enabled=True, rate_per_key="100000/minute", rate_per_ip="100000/minute")}
    )
    store = open_store(settings)
    tokens = {
        role: issue_key(
            store,
            name=role,
            role=role,
            organisation="示例市规划局",
            by="tests",
            scopes=("checks:create", "checks:read", "docs:read") if role == "system" else (),
        )[0]
        for role in ("planner", "investment", "admin", "system")
    }
    store.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(timeout=10)


# The admin run goes last: it may revoke keys (DELETE /v1/admin/keys/{key_id}) with ids it finds.
@pytest.mark.parametrize("role", ["system", "planner", "investment", "admin"])
def test_no_server_errors_and_no_schema_violations(live_server: tuple[str, dict[str, str]], role: str) -> None:
    """Generated requests of every operation never get a 5xx nor a response outside the documented schema."""
    base, tokens = live_server
    assert SCHEMATHESIS.exists(), f"schemathesis is not installed at {SCHEMATHESIS}"
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base}/openapi.json",
            "--header",
            f"Authorization: Bearer {tokens[role]}",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            os.environ.get("SITECHECK_SCHEMATHESIS_EXAMPLES", "8"),
            "--phases",
            "examples,fuzzing",
            "--generation-deterministic",
            "--request-timeout",
            "60",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
