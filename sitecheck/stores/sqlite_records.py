"""The embedded engine's records (layer versions, publications, current pointers) in a SQLite file."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sitecheck.access import ApiKey
from sitecheck.jsontext import dumps_text
from sitecheck.stores.base import AuditEvent, CheckRecord, LayerVersion
from sitecheck.timeutil import utc_now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS layer_version (
    layer_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    path TEXT NOT NULL,
    source_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    feature_count INTEGER NOT NULL,
    source_crs TEXT NOT NULL,
    crs TEXT NOT NULL,
    bbox TEXT,
    loaded_at TEXT NOT NULL,
    loaded_by TEXT NOT NULL,
    report TEXT NOT NULL,
    fields TEXT NOT NULL,
    geometry_kind TEXT NOT NULL,
    PRIMARY KEY (layer_key, version)
);
CREATE TABLE IF NOT EXISTS layer_publication (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    layer_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    action TEXT NOT NULL,
    FOREIGN KEY (layer_key, version) REFERENCES layer_version (layer_key, version)
);
CREATE TABLE IF NOT EXISTS check_record (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    input_sha256 TEXT,
    geometry_sha256 TEXT,
    geometry_wkb BLOB,
    parameters TEXT NOT NULL,
    layer_versions TEXT NOT NULL,
    rule_set TEXT NOT NULL,
    result TEXT,
    error TEXT,
    rerun_of TEXT,
    organisation TEXT
);
CREATE TABLE IF NOT EXISTS api_key (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    organisation TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS audit_event (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    organisation TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    address TEXT,
    details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS check_record_geometry_sha256 ON check_record (geometry_sha256);
CREATE TRIGGER IF NOT EXISTS check_record_no_update BEFORE UPDATE ON check_record
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS check_record_no_delete BEFORE DELETE ON check_record
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TABLE IF NOT EXISTS layer_current (
    layer_key TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    publication_id INTEGER NOT NULL,
    FOREIGN KEY (layer_key, version) REFERENCES layer_version (layer_key, version)
);
"""

_GENERATION_QUERY = "SELECT (SELECT coalesce(max(id), 0) FROM layer_publication), (SELECT count(*) FROM layer_version)"
_VERSION_QUERY = """
SELECT v.*, (SELECT max(p.published_at) FROM layer_publication p
             WHERE p.layer_key = v.layer_key AND p.version = v.version) AS published_at,
       (c.version IS NOT NULL) AS is_current
FROM layer_version v LEFT JOIN layer_current c ON c.layer_key = v.layer_key AND c.version = v.version
"""


def _iso(when: datetime) -> str:
    """Format a time as sortable ISO text in UTC with microseconds."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class SqliteRecords:
    """Version records of the embedded engine; one connection per thread, WAL mode."""

    def __init__(self, path: Path) -> None:
        """Open (and create) the records file."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._cache_lock = threading.Lock()
        self._versions_cache: tuple[tuple[Any, ...], list[tuple[LayerVersion, str]]] | None = None
        self._connection().executescript(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        """Return this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction (BEGIN IMMEDIATE), committed on success, rolled back on error."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        """Return this thread's connection for reads (autocommit)."""
        return self._connection()

    def versions(self, layer_key: str | None = None) -> list[tuple[LayerVersion, str]]:
        """Return (version, file path) pairs, newest first per layer.

        Checks read versions on every request: the parsed list is cached and re-read only when a load or a
        publication has happened since (one cheap query tells).
        """
        generation = tuple(self.read().execute(_GENERATION_QUERY).fetchone())
        with self._cache_lock:
            cached = self._versions_cache
        if cached is None or cached[0] != generation:
            rows = self.read().execute(f"{_VERSION_QUERY} ORDER BY v.layer_key, v.version DESC")
            cached = (generation, [(_version_from_row(row), row["path"]) for row in rows])
            with self._cache_lock:
                self._versions_cache = cached
        return [pair for pair in cached[1] if layer_key is None or pair[0].layer_key == layer_key]

    def next_version(self, conn: sqlite3.Connection, layer_key: str) -> int:
        """Return the next version number of a layer (inside the caller's transaction)."""
        row = conn.execute("SELECT coalesce(max(version), 0) FROM layer_version WHERE layer_key = ?", (layer_key,))
        return int(row.fetchone()[0]) + 1

    def insert_version(self, conn: sqlite3.Connection, version: LayerVersion, path: str, geometry_kind: str) -> None:
        """Record a written version (inside the caller's transaction)."""
        conn.execute(
            "INSERT INTO layer_version VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                version.layer_key,
                version.version,
                path,
                version.source_name,
                version.sha256,
                version.feature_count,
                version.source_crs,
                version.crs,
                json.dumps(version.bbox),
                _iso(version.loaded_at),
                version.loaded_by,
                json.dumps(version.report, ensure_ascii=False),
                json.dumps([{"name": f.name, "kind": f.kind} for f in version.fields], ensure_ascii=False),
                geometry_kind,
            ),
        )

    def publish(self, conn: sqlite3.Connection, layer_key: str, version: int, *, by: str, action: str) -> None:
        """Record a publication and switch the current pointer (inside the caller's transaction)."""
        cursor = conn.execute(
            "INSERT INTO layer_publication (layer_key, version, published_at, published_by, action) VALUES (?,?,?,?,?)",
            (layer_key, version, _iso(utc_now()), by, action),
        )
        conn.execute(
            "INSERT INTO layer_current VALUES (?,?,?) ON CONFLICT(layer_key) "
            "DO UPDATE SET version = excluded.version, publication_id = excluded.publication_id",
            (layer_key, version, cursor.lastrowid),
        )

    def versions_as_of(self, when: datetime) -> dict[str, int]:
        """Return, per layer, the version of the last publication at or before ``when``."""
        rows = self.read().execute(
            "SELECT layer_key, version FROM ("
            " SELECT layer_key, version, row_number() OVER ("
            "  PARTITION BY layer_key ORDER BY published_at DESC, id DESC) AS rank"
            " FROM layer_publication WHERE published_at <= ?) WHERE rank = 1",
            (_iso(when),),
        )
        return {row["layer_key"]: row["version"] for row in rows}

    def current_pointers(self) -> dict[str, int]:
        """Return the current version number of each layer (cheap: read on every request)."""
        rows = self.read().execute("SELECT layer_key, version FROM layer_current")
        return {row["layer_key"]: row["version"] for row in rows}

    def insert_check(self, record: CheckRecord) -> None:
        """Store a check record."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO check_record VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    _iso(record.created_at),
                    record.created_by,
                    int(record.accepted),
                    record.input_sha256,
                    record.geometry_sha256,
                    record.geometry_wkb,
                    _json(record.parameters),
                    _json(record.layer_versions),
                    _json(record.rule_set),
                    None if record.result is None else _json(record.result),
                    None if record.error is None else _json(record.error),
                    record.rerun_of,
                    record.organisation,
                ),
            )

    def check(self, check_id: str) -> CheckRecord | None:
        """Return a stored check, or None."""
        row = self.read().execute("SELECT * FROM check_record WHERE id = ?", (check_id,)).fetchone()
        if row is None:
            return None
        return CheckRecord(
            id=row["id"],
            created_at=datetime.fromisoformat(row["created_at"]),
            created_by=row["created_by"],
            accepted=bool(row["accepted"]),
            input_sha256=row["input_sha256"],
            geometry_sha256=row["geometry_sha256"],
            geometry_wkb=row["geometry_wkb"],
            parameters=json.loads(row["parameters"]),
            layer_versions=json.loads(row["layer_versions"]),
            rule_set=json.loads(row["rule_set"]),
            result=json.loads(row["result"]) if row["result"] else None,
            error=json.loads(row["error"]) if row["error"] else None,
            rerun_of=row["rerun_of"],
            organisation=row["organisation"],
        )

    def insert_key(self, key: ApiKey) -> None:
        """Store a key record."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO api_key VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    key.key_id,
                    key.name,
                    key.role,
                    key.organisation,
                    _json(list(key.scopes)),
                    key.secret_sha256,
                    _iso(key.created_at),
                    key.created_by,
                    _iso_or_none(key.expires_at),
                    _iso_or_none(key.revoked_at),
                ),
            )

    def keys(self, key_id: str | None = None) -> list[ApiKey]:
        """Return key records (one, or all newest first)."""
        where, args = ("WHERE key_id = ?", (key_id,)) if key_id else ("", ())
        rows = self.read().execute(f"SELECT * FROM api_key {where} ORDER BY created_at DESC", args)
        return [
            ApiKey(
                key_id=row["key_id"],
                name=row["name"],
                role=row["role"],
                organisation=row["organisation"],
                scopes=tuple(json.loads(row["scopes"])),
                secret_sha256=row["secret_sha256"],
                created_at=datetime.fromisoformat(row["created_at"]),
                created_by=row["created_by"],
                expires_at=_time_or_none(row["expires_at"]),
                revoked_at=_time_or_none(row["revoked_at"]),
            )
            for row in rows
        ]

    def revoke_key(self, key_id: str, at: datetime) -> None:
        """Mark a key revoked (the first revocation time stays)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE api_key SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL", (_iso(at), key_id)
            )

    def insert_event(self, event: AuditEvent) -> None:
        """Append an audit event."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audit_event (at, actor, organisation, action, target, outcome, address, details) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (
                    _iso(event.at),
                    event.actor,
                    event.organisation,
                    event.action,
                    event.target,
                    event.outcome,
                    event.address,
                    _json(event.details),
                ),
            )

    def events(self, *, limit: int, offset: int, action: str | None) -> list[AuditEvent]:
        """Return audit events, newest first."""
        where, args = ("WHERE action = ?", [action]) if action else ("", [])
        rows = self.read().execute(
            f"SELECT * FROM audit_event {where} ORDER BY id DESC LIMIT ? OFFSET ?", (*args, limit, offset)
        )
        return [
            AuditEvent(
                id=row["id"],
                at=datetime.fromisoformat(row["at"]),
                actor=row["actor"],
                organisation=row["organisation"],
                action=row["action"],
                target=row["target"],
                outcome=row["outcome"],
                address=row["address"],
                details=json.loads(row["details"]),
            )
            for row in rows
        ]

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _iso_or_none(when: datetime | None) -> str | None:
    """Format an optional time."""
    return None if when is None else _iso(when)


def _time_or_none(text: str | None) -> datetime | None:
    """Parse an optional time."""
    return None if text is None else datetime.fromisoformat(text)


def _json(value: Any) -> str:
    """Serialise record data as JSON text (Chinese kept readable)."""
    return dumps_text(value)


def _version_from_row(row: sqlite3.Row) -> LayerVersion:
    """Build a LayerVersion from a version row, decoding SQLite's text columns."""
    values = dict(row)
    for name in ("bbox", "report", "fields"):
        values[name] = json.loads(values[name]) if values[name] else None
    values["loaded_at"] = datetime.fromisoformat(values["loaded_at"])
    values["published_at"] = datetime.fromisoformat(values["published_at"]) if values["published_at"] else None
    return LayerVersion.from_record(values)
