"""API keys, roles and the append-only audit trail, on both engines."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

import psycopg
import pytest

from sitecheck import errors
from sitecheck.access import KeyCache, authenticate, issue_key, revoke_key, verify
from sitecheck.stores.base import Store
from sitecheck.timeutil import utc_now


def test_key_round_trip_and_revocation(empty_store: Store) -> None:
    """A key authenticates as its role and organisation until revoked; the secret is stored hashed."""
    token, record = issue_key(empty_store, name="规划科", role="planner", organisation="示例市规划局", by="admin")
    assert token.startswith(f"sck_{record.key_id}_") and token not in record.secret_sha256
    principal = authenticate(empty_store, token)
    assert (principal.role, principal.organisation) == ("planner", "示例市规划局")
    assert "checks:create" in principal.permissions and "layers:write" not in principal.permissions
    with pytest.raises(errors.AuthRequired, match="not valid"):
        authenticate(empty_store, token[:-2] + "xx")
    with pytest.raises(errors.AuthRequired, match="malformed"):
        authenticate(empty_store, "Bearer nonsense")
    revoke_key(empty_store, record.key_id, by="admin")
    with pytest.raises(errors.AuthRequired, match="revoked"):
        authenticate(empty_store, token)
    actions = [event.action for event in empty_store.list_events()]
    assert actions[:2] == ["key.revoke", "key.create"]


def test_expired_and_scoped_keys(empty_store: Store) -> None:
    """An expired key is refused; a system key may do exactly its scopes."""
    token, record = issue_key(
        empty_store,
        name="审批系统",
        role="system",
        organisation="政务中心",
        scopes=("checks:create",),
        expires_at=utc_now() + timedelta(days=1),
        by="admin",
    )
    assert authenticate(empty_store, token).permissions == frozenset({"checks:create"})
    with pytest.raises(errors.AuthRequired, match="expired"):
        verify(token, empty_store.get_key(record.key_id), utc_now() + timedelta(days=2))
    with pytest.raises(errors.ParameterInvalid, match="scope"):
        issue_key(empty_store, name="x", role="system", organisation="o", by="admin")
    with pytest.raises(errors.ParameterInvalid, match="role"):
        issue_key(empty_store, name="x", role="root", organisation="o", by="admin")


def test_audit_rows_cannot_be_changed(empty_store: Store) -> None:
    """UPDATE and DELETE on audit events and check records are refused by the database itself."""
    from sitecheck.check import record_refusal

    issue_key(empty_store, name="k", role="admin", organisation="o", by="admin")
    record_refusal(empty_store, errors.GeometryEmpty("empty"), input_sha256=None, parameters={}, created_by="t")
    if empty_store.engine == "postgis":
        schema = empty_store.schema  # type: ignore[attr-defined]
        url = empty_store.db.url.render_as_string(hide_password=False).replace("+psycopg", "")  # type: ignore[attr-defined]
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in (
                f"UPDATE \"{schema}\".audit_event SET actor = 'x'",
                f'DELETE FROM "{schema}".audit_event',
                f'DELETE FROM "{schema}".check_record',
                f'TRUNCATE "{schema}".audit_event',
            ):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    conn.execute(statement)
            compression = conn.execute(  # answers are stored lz4-compressed (docs/checks.md)
                "SELECT attcompression FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'result'",
                (f'"{schema}".check_record',),
            ).fetchone()
            assert compression == ("l",)
    else:
        conn = sqlite3.connect(empty_store.records.path)  # type: ignore[attr-defined]
        for statement in ("UPDATE audit_event SET actor = 'x'", "DELETE FROM audit_event", "DELETE FROM check_record"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        conn.close()
    assert len(empty_store.list_events()) == 1


def test_key_cache_trusts_a_key_only_for_its_window(empty_store: Store) -> None:
    """Through the cache a key is read once; a revocation made elsewhere is honoured once the window passes,
    one made here (forget) at once; unknown keys are never cached."""
    token, record = issue_key(empty_store, name="审批系统", role="planner", organisation="示例市规划局", by="admin")
    cache = KeyCache(seconds=0.3)
    assert authenticate(empty_store, token, cache).role == "planner"
    assert cache.holds(token) and not cache.holds("sck_nokey_secret") and not cache.holds("junk")
    revoke_key(empty_store, record.key_id, by="admin")  # as another worker would
    assert authenticate(empty_store, token, cache).role == "planner"  # still inside the window
    time.sleep(0.35)
    with pytest.raises(errors.AuthRequired, match="revoked"):
        authenticate(empty_store, token, cache)
    other, other_record = issue_key(empty_store, name="规划科", role="planner", organisation="示例市规划局", by="admin")
    authenticate(empty_store, other, cache)
    revoke_key(empty_store, other_record.key_id, by="admin")
    cache.forget(other_record.key_id)
    with pytest.raises(errors.AuthRequired, match="revoked"):
        authenticate(empty_store, other, cache)
    with pytest.raises(errors.AuthRequired, match="not valid"):
        authenticate(empty_store, "sck_nokey_secret", cache)
    assert not cache.holds("sck_nokey_secret")
