"""Access control over HTTP: every route x every role, another organisation's checks, refusals audited.

The matrix runs against the real app with access control on: a request a role may not make answers 403
(401 without a key), one it may make gets past authorisation (whatever the route then says about the
made-up parameters).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.permissions import ROUTE_TABLE
from sitecheck.access import ROLE_PERMISSIONS, issue_key
from sitecheck.settings import AccessSettings, Settings
from sitecheck.stores import open_store
from tests.conftest import LOOPBACK_CLIENT

SITE = "POLYGON((40510100 3524100,40510500 3524100,40510500 3524400,40510100 3524400,40510100 3524100))"


@pytest.fixture(scope="module")
def secured(sample_settings: dict[str, Settings]) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app on the embedded sample city with access control on, and a key per role (two planner orgs)."""
    base = sample_settings["embedded"]
    settings = base.model_copy(update={"access": AccessSettings(auth_enabled=True)})
    store = open_store(settings)
    tokens = {
        role: issue_key(store, name=role, role=role, organisation="示例市规划局", by="tests")[0]
        for role in ("planner", "investment", "admin")
    }
    tokens["system"] = issue_key(
        store, name="审批系统", role="system", organisation="政务中心", scopes=("checks:create",), by="tests"
    )[0]
    tokens["other_planner"] = issue_key(store, name="邻县", role="planner", organisation="邻县规划局", by="tests")[0]
    store.close()
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        yield client, tokens


def _url(path: str) -> str:
    """Fill a route template with made-up values."""
    return re.sub(r"\{[^}]+\}", "x1", path)


def _allowed(role: str, permission: str | None) -> bool:
    """Whether a role may use a route needing this permission."""
    if permission is None:
        return True
    if role == "system":
        return permission == "checks:create"
    return permission in ROLE_PERMISSIONS[role]


def test_every_route_is_in_the_permission_table(secured: tuple[TestClient, dict[str, str]]) -> None:
    """Deny by default is only safe if the table names every route the app serves."""
    client, tokens = secured
    schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {tokens['admin']}"}).json()
    listed = {(method, path) for method, path, _, _ in ROUTE_TABLE}
    served = {(method.upper(), path) for path, operations in schema["paths"].items() for method in operations}
    assert served - listed == set()
    assert {("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json")} <= listed


@pytest.mark.parametrize("role", ["anonymous", "planner", "investment", "admin", "system"])
def test_authorization_matrix(secured: tuple[TestClient, dict[str, str]], role: str) -> None:
    """Each role reaches exactly the routes its permissions allow; without a key only public routes."""
    client, tokens = secured
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
    for method, path, permission, _ in ROUTE_TABLE:
        if method == "POST" and path.endswith("/versions"):
            continue  # a multipart load; covered by test_admin_can_load_and_roll_back_over_http
        response = client.request(method, _url(path), headers=headers, json={} if method == "POST" else None)
        if role == "anonymous":
            expected = (200, 404, 422, 400, 307) if permission is None else (401,)
        elif _allowed(role, permission):
            expected = (200, 201, 400, 404, 415, 422, 307)
        else:
            expected = (403,)
        assert response.status_code in expected, f"{role} {method} {path}: {response.status_code} {response.text[:200]}"
        if response.status_code in (401, 403):
            assert response.headers["content-type"].startswith("application/problem+json")


def test_other_organisations_checks_answer_404(secured: tuple[TestClient, dict[str, str]]) -> None:
    """A planner reads its own organisation's check; another organisation's planner gets 404; admin reads it."""
    client, tokens = secured
    own = {"Authorization": f"Bearer {tokens['planner']}"}
    other = {"Authorization": f"Bearer {tokens['other_planner']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = client.post("/v1/checks", json={"site": SITE, "crs": "EPSG:4528"}, headers=own)
    assert created.status_code == 200, created.text
    check_id = created.json()["check_id"]
    assert client.get(f"/v1/checks/{check_id}", headers=own).json()["organisation"] == "示例市规划局"
    for suffix in ("", "/map", "/site.txt", "/map.png"):
        response = client.get(f"/v1/checks/{check_id}{suffix}", headers=other)
        assert response.status_code == 404 and response.json()["code"] == "CHECK_NOT_FOUND", suffix
    assert client.post(f"/v1/checks/{check_id}/rerun", headers=other).status_code == 404
    assert client.get(f"/v1/checks/{check_id}", headers=admin).status_code == 200
    stored = client.get(f"/v1/checks/{check_id}", headers=admin).json()
    assert stored["created_by"].startswith("key:")


def test_refused_requests_are_audited(secured: tuple[TestClient, dict[str, str]]) -> None:
    """A bad key and a forbidden route leave audit rows an admin can read."""
    client, tokens = secured
    assert client.get("/v1/layers", headers={"Authorization": "Bearer sck_nope_nope"}).status_code == 401
    assert client.get("/v1/admin/keys", headers={"Authorization": f"Bearer {tokens['planner']}"}).status_code == 403
    events = client.get(
        "/v1/admin/audit?action=request.refused", headers={"Authorization": f"Bearer {tokens['admin']}"}
    )
    outcomes = {(event["target"], event["outcome"]) for event in events.json()}
    assert ("GET /v1/layers", "AUTH_REQUIRED") in outcomes
    assert ("GET /v1/admin/keys", "FORBIDDEN") in outcomes


def test_keys_over_the_admin_api(secured: tuple[TestClient, dict[str, str]]) -> None:
    """An admin creates a key (token shown once), it works, it is listed without secret, and revocation stops it."""
    client, tokens = secured
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    created = client.post(
        "/v1/admin/keys", json={"name": "招商局", "role": "investment", "organisation": "示例市投促局"}, headers=admin
    )
    assert created.status_code == 201
    token, key_id = created.json()["token"], created.json()["key"]["key_id"]
    assert client.get("/v1/parcels?limit=1", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listing = client.get("/v1/admin/keys", headers=admin).text
    assert key_id in listing and token not in listing
    assert client.delete(f"/v1/admin/keys/{key_id}", headers=admin).status_code == 200
    refused = client.get("/v1/parcels?limit=1", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_admin_can_load_and_roll_back_over_http(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """An admin loads a new red-line version by upload and rolls it back; both are in the audit trail."""
    from layers.load import load_configured_layers
    from sitecheck.settings import SAMPLE_CITY_DIR
    from tests.conftest import make_settings

    settings = make_settings(engine, tmp_path, request, access=AccessSettings(auth_enabled=True))
    store = open_store(settings)
    load_configured_layers(store, loaded_by="tests", analysis_crs=store.crs)
    token = issue_key(store, name="admin", role="admin", organisation="局", by="tests")[0]
    planner = issue_key(store, name="p", role="planner", organisation="局", by="tests")[0]
    store.close()
    admin = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        source = (SAMPLE_CITY_DIR / "eco_redline.gpkg").read_bytes()
        files = {"file": ("eco_redline.gpkg", source, "application/geopackage+sqlite3")}
        denied = client.post(
            "/v1/layers/eco_redline/versions", files=files, headers={"Authorization": f"Bearer {planner}"}
        )
        assert denied.status_code == 403
        loaded = client.post("/v1/layers/eco_redline/versions", files=files, headers=admin)
        assert loaded.status_code == 201, loaded.text
        assert loaded.json()["version"] == 2 and loaded.json()["source_name"] == "eco_redline.gpkg"
        rolled = client.post("/v1/layers/eco_redline/rollback", json={"version": 1}, headers=admin)
        assert rolled.status_code == 200 and rolled.json()["is_current"]
        actions = [(e["action"], e["outcome"]) for e in client.get("/v1/admin/audit", headers=admin).json()]
        assert ("layer.load", "done") in actions and ("layer.rollback", "done") in actions


def test_rate_limit_answers_429_with_retry_after(sample_settings: dict[str, Settings]) -> None:
    """Past the per-key limit the service answers 429 with Retry-After (and recovers after the window)."""
    settings = sample_settings["embedded"].model_copy(
        update={"access": AccessSettings(auth_enabled=True, rate_per_key="5/minute")}
    )
    store = open_store(settings)
    token = issue_key(store, name="burst", role="planner", organisation="局", by="tests")[0]
    store.close()
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        statuses = [client.get("/v1/layers", headers={"Authorization": f"Bearer {token}"}) for _ in range(7)]
    assert [r.status_code for r in statuses[:5]] == [200] * 5
    assert statuses[5].status_code == 429 and statuses[5].json()["code"] == "RATE_LIMITED"
    assert 1 <= int(statuses[5].headers["Retry-After"]) <= 60


def test_auth_off_refuses_callers_from_elsewhere(sample_settings: dict[str, Settings]) -> None:
    """With access control off (the demo), a caller that is not on this machine is refused."""
    with TestClient(create_app(sample_settings["embedded"]), client=("10.1.2.3", 5000)) as client:
        response = client.get("/v1/layers")
    assert response.status_code == 403 and "本机" in response.json()["detail_zh"]


def test_docs_can_be_switched_off(sample_settings: dict[str, Settings]) -> None:
    """With docs disabled there is no OpenAPI document or docs page at all."""
    settings = sample_settings["embedded"].model_copy(
        update={"access": AccessSettings(auth_enabled=False, docs_enabled=False)}
    )
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404
        assert client.get("/v1/layers").status_code == 200


def test_public_read_mode_serves_layers_only(sample_settings: dict[str, Settings]) -> None:
    """In public read-only mode, callers without a key read the layer catalogue but cannot check or search."""
    settings = sample_settings["embedded"].model_copy(
        update={"access": AccessSettings(auth_enabled=True, public_read=True)}
    )
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        assert client.get("/v1/layers").status_code == 200
        assert client.get("/ogc/collections").status_code == 200
        assert client.post("/v1/checks", json={"site": SITE, "crs": "EPSG:4528"}).status_code == 403
        assert client.get("/v1/parcels").status_code == 403
