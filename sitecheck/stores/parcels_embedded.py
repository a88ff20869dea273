"""Parcel figures on the embedded engine: rows in ``<data_dir>/parcels.sqlite``, searched in memory with numpy.

A refresh measures with vectorised Shapely STRtree queries and writes in one SQLite transaction (BEGIN
IMMEDIATE serialises refreshes across processes). Searches run on an in-memory copy of the index, reloaded
whenever the stored state changes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from sitecheck.errors import ParcelNotFound
from sitecheck.parcels.engine import DetailRows, FreshCheck, RefreshWrite, Vocabulary
from sitecheck.parcels.layout import ParcelState, PartState
from sitecheck.parcels.memory import MemoryIndex
from sitecheck.parcels.records import (
    DISTANCE_COLUMNS,
    LAYER_COLUMNS,
    DistanceRow,
    LayerRow,
    Nearest,
    ParcelBase,
    Piece,
)
from sitecheck.parcels.spec import SearchPage, SearchSpec
from sitecheck.stores.base import LayerVersion
from sitecheck.stores.embedded import EmbeddedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS parcel_state (layer_key TEXT PRIMARY KEY, parcels_version INTEGER NOT NULL,
    layer_version INTEGER NOT NULL, rules_sha TEXT, computed_at TEXT NOT NULL, seconds REAL NOT NULL, info TEXT);
CREATE TABLE IF NOT EXISTS parcel_layer (fid INTEGER, parcels_version INTEGER, layer_key TEXT, layer_version INTEGER,
    rules_sha TEXT, overlap_m2 REAL, outside_m2 REAL, inside INTEGER, overlaps INTEGER, status TEXT, rule_id TEXT,
    exception TEXT, reason_zh TEXT, reason_en TEXT, features TEXT, PRIMARY KEY (layer_key, fid));
CREATE TABLE IF NOT EXISTS parcel_distance (fid INTEGER, parcels_version INTEGER, layer_key TEXT,
    layer_version INTEGER, kind TEXT, feature_fid INTEGER, feature_id TEXT, feature_name TEXT, distance_m REAL,
    PRIMARY KEY (layer_key, fid, kind));
CREATE TABLE IF NOT EXISTS parcel_neighbour (fid INTEGER, neighbour_fid INTEGER, gap_m REAL,
    PRIMARY KEY (fid, neighbour_fid));
CREATE TABLE IF NOT EXISTS parcel_index (fid INTEGER PRIMARY KEY, parcel_id TEXT NOT NULL, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS parcel_index_id ON parcel_index (parcel_id);
"""


class EmbeddedParcels:
    """Parcel storage and search of the embedded engine."""

    def __init__(self, store: EmbeddedStore) -> None:
        """Open (or create) the parcel file beside the store's records."""
        self.store = store
        self.path: Path = store.data_dir / "parcels.sqlite"
        self._local = threading.local()
        self._snapshot: _Snapshot | None = None
        self._last: ParcelState | None = None
        self._snapshot_lock = threading.Lock()
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (WAL, autocommit unless a transaction is opened)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def refresh_session(self) -> Iterator[_Session]:
        """An exclusive write transaction on the parcel file."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield _Session(self, conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def pointers(self) -> dict[str, int]:
        """Current version numbers from the store's records."""
        return self.store.records.current_pointers()

    def read_state(self) -> ParcelState | None:
        """The stored state."""
        self._last = _read_state(self._conn())
        return self._last

    def last_state(self) -> ParcelState | None:
        """The state this process saw last."""
        return self._last

    def vocabulary(self, state: ParcelState) -> Vocabulary:
        """Values present in the index (of the newest state in memory; searches check the state again)."""
        snap = self._snapshot if self._snapshot is not None and self._snapshot.token == state.token else None
        snap = snap or self._current()
        return (snap.index if snap is not None else MemoryIndex.of_rows(state, [])).vocabulary

    def search(self, spec: SearchSpec, token: str, fresh: FreshCheck) -> SearchPage | None:
        """Filter, rank and page in memory; None when the state moved on."""
        snap = self._current()
        if snap is None or snap.token != token or not fresh(snap.state, self.pointers()):
            return None
        return snap.search(spec)

    def detail(self, parcel_id: str, token: str, fresh: FreshCheck) -> DetailRows | None:
        """One parcel's stored rows, read in one transaction with the state they belong to."""
        with self._reading() as conn:
            state = _read_state(conn)
            if state is None or state.token != token or not fresh(state, self.pointers()):
                return None
            snap = self._snapshot_of(conn, state)
            at = snap.by_id.get(parcel_id)
            if at is None:
                raise ParcelNotFound(
                    f"no parcel {parcel_id!r} in parcels version {state.parcels_version}",
                    f"当前地块图层中没有编号为 {parcel_id!r} 的地块",
                )
            fid = int(snap.rows[at]["fid"])
            layers = [_layer_row(r) for r in conn.execute("SELECT * FROM parcel_layer WHERE fid = ?", (fid,))]
            distances = [_distance_row(r) for r in conn.execute("SELECT * FROM parcel_distance WHERE fid = ?", (fid,))]
            neighbours = [
                dict(snap.rows[snap.by_fid[r["neighbour_fid"]]], gap_m=r["gap_m"])
                for r in conn.execute("SELECT * FROM parcel_neighbour WHERE fid = ?", (fid,))
            ]
        return DetailRows(state, snap.rows[at], layers, distances, neighbours, snap.geometries[at])

    def adjacent_pairs(self, state: ParcelState, fids: list[int], max_gap_m: float) -> list[tuple[int, int, float]]:
        """Neighbour pairs among the given parcels within ``max_gap_m``."""
        wanted = set(fids)
        rows = self._conn().execute(
            "SELECT fid, neighbour_fid, gap_m FROM parcel_neighbour WHERE fid < neighbour_fid AND gap_m <= ?",
            (max_gap_m,),
        )
        return [(r[0], r[1], r[2]) for r in rows if r[0] in wanted and r[1] in wanted]

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same committed state (WAL snapshot)."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _current(self) -> _Snapshot | None:
        """The in-memory index of the stored state (None before the first computation)."""
        with self._reading() as conn:
            state = self._last = _read_state(conn)
            return None if state is None else self._snapshot_of(conn, state)

    def _snapshot_of(self, conn: sqlite3.Connection, state: ParcelState) -> _Snapshot:
        """The in-memory index of a state, loaded once (``conn`` reads inside the state's transaction)."""
        with self._snapshot_lock:
            if self._snapshot is None or self._snapshot.token != state.token:
                rows = [json.loads(r["row"]) for r in conn.execute("SELECT row FROM parcel_index ORDER BY fid")]
                data = self.store.layer_data(self._parcels_key(), state.parcels_version)
                position = {int(f): i for i, f in enumerate(data.fids.tolist())}
                geometries = data.geometries[[position[r["fid"]] for r in rows]] if rows else np.empty(0, object)
                self._snapshot = _Snapshot(state, rows, geometries)
            return self._snapshot

    def _parcels_key(self) -> str:
        """Key of the parcels layer."""
        return self.store.catalog.by_role("parcels")[0].key


class _Snapshot:
    """The stored index of one state in memory: the narrow index searches rank on, whole rows and geometries."""

    def __init__(self, state: ParcelState, rows: list[dict[str, Any]], geometries: np.ndarray) -> None:
        self.token, self.state, self.rows, self.geometries = state.token, state, rows, geometries
        self.index = MemoryIndex.of_rows(state, rows)
        self.by_id = {r["parcel_id"]: i for i, r in enumerate(rows)}
        self.by_fid = {r["fid"]: i for i, r in enumerate(rows)}
        self.tree = shapely.STRtree(geometries)

    def search(self, spec: SearchSpec) -> SearchPage:
        """Filter, rank and page on the narrow index; the page's rows come from the whole rows."""
        in_area = None if spec.area is None else self._in_area(spec.area, spec.area_relation)
        ranked = self.index.rank(spec, in_area)
        rows = []
        for at, transit in zip(ranked.positions, ranked.transit_used, strict=True):
            row = dict(self.rows[at], transit_used=transit)
            if spec.with_geometry:
                row["geometry"] = self.geometries[at]
            rows.append(row)
        return SearchPage(self.state, ranked.total, rows, ranked.values, ranked.scores)

    def _in_area(self, area: Any, relation: str) -> np.ndarray:
        """Rows covered by (within) or sharing interior with (overlaps) a drawn area."""
        mask = np.zeros(len(self.rows), dtype=bool)
        if relation == "within":
            mask[self.tree.query(area, predicate="covers")] = True
        else:
            hits = self.tree.query(area, predicate="intersects")
            mask[hits[shapely.relate_pattern(self.geometries[hits], area, "T********")]] = True
        return mask


class _Session:
    """A refresh on the embedded engine."""

    def __init__(self, owner: EmbeddedParcels, conn: sqlite3.Connection) -> None:
        self.owner, self.store, self.conn = owner, owner.store, conn

    def state(self) -> ParcelState | None:
        """The stored state."""
        return _read_state(self.conn)

    def parcel_base(self, version: LayerVersion) -> ParcelBase:
        """Every parcel in fid order, from the version in memory."""
        data = self.store.layer_data(version.layer_key, version.version)
        order = np.argsort(data.fids, kind="stable")
        return ParcelBase(
            version=version.version,
            fids=data.fids[order],
            ids=[str(v) for v in data.feature_ids[order]],
            names=list(data.names[order]),
            uses=[None if v is None else str(v) for v in data.kinds[order]],
            attributes=[{name: values[i] for name, values in data.columns.items()} for i in order.tolist()],
            geometries=data.geometries[order],
        )

    def overlay(self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase) -> list[Piece]:
        """Overlaps by STRtree: covered pairs flagged (prepared features), the rest intersected."""
        data = self.store.layer_data(layer.layer_key, layer.version)
        report = self.store.catalog.get(layer.layer_key).report
        p, f = data.tree.query(base.geometries, predicate="intersects")
        shapely.prepare(data.geometries)
        covered = shapely.covers(data.geometries[f], base.geometries[p])
        cut = shapely.to_wkb(shapely.intersection(data.geometries[f[~covered]], base.geometries[p[~covered]]))
        parts = iter(cut.tolist())
        return [
            Piece(
                int(base.fids[i]),
                int(data.fids[j]),
                str(data.feature_ids[j]),
                data.names[j],
                data.kinds[j],
                data.attributes(int(j), report),
                bool(c),
                None if c else next(parts),
            )
            for i, j, c in zip(p.tolist(), f.tolist(), covered.tolist(), strict=True)
        ]

    def nearest(
        self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase
    ) -> tuple[list[Nearest], list[dict[str, Any]]]:
        """Nearest features of each kind (all exact ties) by STRtree."""
        data = self.store.layer_data(layer.layer_key, layer.version)
        labels = np.asarray(["" if k is None else str(k) for k in data.kinds], dtype=object)
        found: list[Nearest] = []
        kinds = []
        for kind in sorted(set(labels.tolist())):
            members = np.flatnonzero(labels == kind)
            geoms = data.geometries[members]
            kinds.append({"kind": kind, "points": bool(np.isin(shapely.get_type_id(geoms), (0, 4)).all())})
            p, f = shapely.STRtree(geoms).query_nearest(base.geometries, all_matches=True)
            wkb = shapely.to_wkb(geoms[f])
            found += [
                Nearest(
                    int(base.fids[i]),
                    kind,
                    int(data.fids[members[j]]),
                    str(data.feature_ids[members[j]]),
                    data.names[members[j]],
                    w,
                )
                for i, j, w in zip(p.tolist(), f.tolist(), wkb.tolist(), strict=True)
            ]
        return found, kinds

    def neighbour_candidates(self, parcels: LayerVersion, base: ParcelBase, radius_m: float) -> np.ndarray:
        """Parcel pairs (a < b) within the radius, by STRtree."""
        left, right = shapely.STRtree(base.geometries).query(base.geometries, predicate="dwithin", distance=radius_m)
        keep = left < right
        return np.stack([base.fids[left[keep]], base.fids[right[keep]]], axis=1)

    def read_layer_rows(self, parcels_version: int, keys: list[str]) -> list[LayerRow]:
        """Stored rows of some layers."""
        marks = ",".join("?" * len(keys))
        query = f"SELECT * FROM parcel_layer WHERE layer_key IN ({marks}) ORDER BY layer_key, fid"
        return [_layer_row(r) for r in self.conn.execute(query, keys)] if keys else []

    def read_distance_rows(self, parcels_version: int, keys: list[str]) -> list[DistanceRow]:
        """Stored distance rows of some layers."""
        marks = ",".join("?" * len(keys))
        query = f"SELECT * FROM parcel_distance WHERE layer_key IN ({marks}) ORDER BY layer_key, fid, kind"
        return [_distance_row(r) for r in self.conn.execute(query, keys)] if keys else []

    def write(self, change: RefreshWrite) -> None:
        """Replace parts, index and states inside the session's transaction."""
        conn = self.conn
        replaced = [*change.layer_rows, *change.distance_rows, *change.dropped]
        for table in ("parcel_layer", "parcel_distance"):
            if change.reset:
                conn.execute(f"DELETE FROM {table}")
            conn.executemany(f"DELETE FROM {table} WHERE layer_key = ?", [(k,) for k in replaced])
        for rows in change.layer_rows.values():
            conn.executemany(
                f"INSERT INTO parcel_layer VALUES ({','.join('?' * len(LAYER_COLUMNS))})",
                [_layer_values(r) for r in rows],
            )
        for drows in change.distance_rows.values():
            conn.executemany(
                f"INSERT INTO parcel_distance VALUES ({','.join('?' * len(DISTANCE_COLUMNS))})",
                [tuple(getattr(r, c) for c in DISTANCE_COLUMNS) for r in drows],
            )
        if change.neighbours is not None:
            conn.execute("DELETE FROM parcel_neighbour")
            conn.executemany("INSERT INTO parcel_neighbour VALUES (?,?,?)", change.neighbours)
        conn.execute("DELETE FROM parcel_index")
        conn.executemany(
            "INSERT INTO parcel_index VALUES (?,?,?)",
            [(r.fid, r.parcel_id, json.dumps(r.to_dict(), ensure_ascii=False)) for r in change.index],
        )
        if change.reset:
            conn.execute("DELETE FROM parcel_state")
        conn.executemany("DELETE FROM parcel_state WHERE layer_key = ?", [(k,) for k in change.dropped])
        conn.executemany(
            "INSERT OR REPLACE INTO parcel_state VALUES (?,?,?,?,?,?,?)",
            [
                (
                    p.layer_key,
                    p.parcels_version,
                    p.layer_version,
                    p.rules_sha,
                    p.computed_at.isoformat(),
                    p.seconds,
                    json.dumps(p.info, ensure_ascii=False),
                )
                for p in change.parts
            ],
        )


def _read_state(conn: sqlite3.Connection) -> ParcelState | None:
    """The state rows as a ParcelState (None when empty)."""
    rows = conn.execute("SELECT * FROM parcel_state").fetchall()
    if not rows:
        return None
    parts = {
        r["layer_key"]: PartState(
            r["layer_key"],
            r["parcels_version"],
            r["layer_version"],
            r["rules_sha"],
            datetime.fromisoformat(r["computed_at"]),
            r["seconds"],
            json.loads(r["info"] or "{}"),
        )
        for r in rows
    }
    return ParcelState(rows[0]["parcels_version"], parts)


def _layer_values(row: LayerRow) -> tuple[Any, ...]:
    """A layer row as SQLite values (flags as 0/1, features as JSON)."""
    values = {c: getattr(row, c) for c in LAYER_COLUMNS}
    values |= {
        "inside": int(row.inside),
        "overlaps": int(row.overlaps),
        "features": json.dumps(row.features, ensure_ascii=False),
    }
    return tuple(values[c] for c in LAYER_COLUMNS)


def _layer_row(r: sqlite3.Row) -> LayerRow:
    """A stored layer row."""
    values = {c: r[c] for c in LAYER_COLUMNS}
    values |= {"inside": bool(r["inside"]), "overlaps": bool(r["overlaps"]), "features": json.loads(r["features"])}
    return LayerRow(**values)


def _distance_row(r: sqlite3.Row) -> DistanceRow:
    """A stored distance row."""
    return DistanceRow(**{c: r[c] for c in DISTANCE_COLUMNS})
