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

from sitecheck.stores.base import CheckRecord, LayerVersion

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
    rerun_of TEXT
);
CREATE INDEX IF NOT EXISTS check_record_geometry_sha256 ON check_record (geometry_sha256);
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


def utc_now() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


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
                "INSERT INTO check_record VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
        )

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _json(value: Any) -> str:
    """Serialise record data as JSON text (Chinese kept readable)."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _version_from_row(row: sqlite3.Row) -> LayerVersion:
    """Build a LayerVersion from a version row, decoding SQLite's text columns."""
    values = dict(row)
    for name in ("bbox", "report", "fields"):
        values[name] = json.loads(values[name]) if values[name] else None
    values["loaded_at"] = datetime.fromisoformat(values["loaded_at"])
    values["published_at"] = datetime.fromisoformat(values["published_at"]) if values["published_at"] else None
    return LayerVersion.from_record(values)
