"""Parcel figures on the PostGIS engine: tables in the deployment schema, one set-based statement per layer.

Refreshes hold an advisory lock and write in one transaction. Searches rank on an in-memory copy of the narrow
index of the current state (read once per state) and read the page in a REPEATABLE READ transaction that locks
the index, then checks the stored state against the current version pointers and against the copy's state, so
an answer never mixes versions.
The SQL lives in ``parcels_pg_sql`` (tables, search statements) and ``parcels_pg_refresh`` (the refresh).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import shapely
from sqlalchemy import Connection, Dialect, func, select, text

from sitecheck.errors import ParcelNotFound
from sitecheck.parcels.engine import DetailRows, FreshCheck, Vocabulary
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.memory import MemoryIndex
from sitecheck.parcels.records import DISTANCE_COLUMNS, INDEX_COLUMNS, LAYER_COLUMNS, DistanceRow, LayerRow
from sitecheck.parcels.spec import AREA_RELATIONS, SearchPage, SearchSpec
from sitecheck.stores.parcels_pg_refresh import PostgisRefresh
from sitecheck.stores.parcels_pg_sql import (
    INFO_COLUMNS,
    MASK_COLUMNS,
    SEARCH_COLUMNS,
    area_statement,
    narrow_statement,
    page_row,
    page_statement,
    parcel_tables,
    qualified,
    read_pointers,
    read_state,
    relation_flags,
    state_of,
)
from sitecheck.stores.postgis import PostgisStore, unavailable_on_fault

_LOCK_KEY = "sitecheck.parcel_figures"


@dataclass(frozen=True)
class _Compiled:
    """A statement compiled once for psycopg: its SQL and the values fixed when it was built."""

    sql: str
    params: dict[str, Any]

    @classmethod
    def of(cls, statement: Any, dialect: Dialect) -> _Compiled:
        """Compile a SQLAlchemy statement (named parameters stay to be bound at execution)."""
        compiled = statement.compile(dialect=dialect)
        return cls(str(compiled), dict(compiled.params))


_Read = tuple[_Compiled, dict[str, Any]]  # a statement and the values to bind


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "the PostGIS store runs on psycopg 3"
    return raw


class PostgisParcels:
    """Parcel storage and search of the PostGIS engine."""

    def __init__(self, store: PostgisStore) -> None:
        """Create the parcel tables in the store's schema if missing."""
        self.store = store
        self.t = parcel_tables(store.schema, store.srid)
        self._vocabulary: dict[str, Vocabulary] = {}
        self._last: ParcelState | None = None
        self._memory: tuple[tuple[str, tuple[str, ...]], MemoryIndex] | None = None
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        # Built and compiled once: a search only binds values.
        dialect = store.db.dialect
        tables = ", ".join(qualified(self.t[key]) for key in ("index", "shape", "info"))
        self._lock_tables = _Compiled.of(text(f"LOCK TABLE {tables} IN ACCESS SHARE MODE"), dialect)
        self._begin_snapshot = _Compiled.of(text("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"), dialect)
        self._commit = _Compiled.of(text("COMMIT"), dialect)
        lc = store.tables.layer_current
        pointers = select(func.jsonb_object_agg(lc.c.layer_key, lc.c.version)).scalar_subquery()
        self._state_and_pointers = _Compiled.of(select(self.t["state"], pointers.label("pointers")), dialect)
        self._narrow = _Compiled.of(narrow_statement(self.t), dialect)
        self._area = {
            relation: _Compiled.of(area_statement(self.t, relation, store.srid), dialect) for relation in AREA_RELATIONS
        }
        self._page = {
            geometry: _Compiled.of(page_statement(self.t, with_geometry=geometry), dialect)
            for geometry in (False, True)
        }
        with self._begin() as conn:
            next(iter(self.t.values())).metadata.create_all(conn)

    @contextmanager
    def _begin(self, isolation: str | None = None) -> Iterator[Connection]:
        """A connection in a transaction; a lost database becomes StoreUnavailable."""
        with unavailable_on_fault(), self.store.db.connect() as conn:
            if isolation:
                conn = conn.execution_options(isolation_level=isolation)
            with conn.begin():
                yield conn

    @contextmanager
    def refresh_session(self) -> Iterator[PostgisRefresh]:
        """An exclusive refresh: an advisory transaction lock, then everything in one transaction."""
        with self._begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(_LOCK_KEY + self.store.schema))))
            yield PostgisRefresh(self.store, self.t, conn)

    def pointers(self) -> dict[str, int]:
        """Current version numbers."""
        with self._begin() as conn:
            return read_pointers(self.store, conn)

    def read_state(self) -> ParcelState | None:
        """The stored state."""
        with self._begin() as conn:
            self._last = read_state(self.t["state"], conn)
        return self._last

    def last_state(self) -> ParcelState | None:
        """The state this process saw last."""
        return self._last

    def vocabulary(self, state: ParcelState) -> Vocabulary:
        """Values present in the index (cached per state)."""
        with self._lock:
            if state.token in self._vocabulary:
                return self._vocabulary[state.token]
        i = self.t["index"]
        with self._begin() as conn:
            districts = conn.execute(
                select(i.c.district_code, i.c.district_name).distinct().where(i.c.district_code.is_not(None))
            ).all()
            values = [
                sorted(v for (v,) in conn.execute(select(i.c[c]).distinct()) if v is not None)
                for c in ("status", "industry", "park")
            ]
        found = Vocabulary(sorted((a, b) for a, b in districts), *values)
        with self._lock:
            self._vocabulary = {state.token: found}
        return found

    def search(self, spec: SearchSpec, token: str, fresh: FreshCheck) -> SearchPage | None:
        """Rank on the in-memory index, read the page by fid in a checked transaction; None when the state moved on.

        The index in memory belongs to the state ``token``; the transaction that reads the page reads the state
        too (same snapshot) and the page is only used when that is still the state, so a search never mixes
        figures of different layer versions.
        """
        index = self._index(spec, token, fresh)
        if index is None:
            return None
        page = self._page[spec.with_geometry]
        # Without a drawn area the page is known before the transaction, and read with the state in one round trip.
        ranked = index.rank(spec) if spec.area is None else None
        with self._snapshot() as conn:
            if ranked is not None:
                fids = index.fids[ranked.positions].tolist()
                last: list[_Read] = [(page, {"fids": fids}), (self._commit, {})]
                state, pointers, (found, _) = self._checked_state(conn, *last, begin=True)
                if state is None or state.token != index.token or not fresh(state, pointers):
                    return None
            else:
                assert spec.area is not None
                area = (self._area[spec.area_relation], {"area": shapely.to_wkb(spec.area)})
                state, pointers, (selected,) = self._checked_state(conn, area, begin=True)
                if state is None or state.token != index.token or not fresh(state, pointers):
                    return None
                ranked = index.rank(spec, index.rows_of([fid for (fid,) in selected]))
                fids = index.fids[ranked.positions].tolist()
                found, _ = self._run(conn, (page, {"fids": fids}), (self._commit, {}))
        by_fid = {row["fid"]: row for row in map(page_row, found)}
        out = []
        for held, transit in zip(index.values_at(ranked.positions), ranked.transit_used, strict=True):
            item = held | by_fid[held["fid"]]
            item["transit_used"] = transit
            if spec.with_geometry:
                item["geometry"] = shapely.from_wkb(item.pop("wkb"))
            out.append(item)
        return SearchPage(state, ranked.total, out, ranked.values, ranked.scores)

    def _index(self, spec: SearchSpec, token: str, fresh: FreshCheck) -> MemoryIndex | None:
        """The in-memory index of state ``token``, read in a checked transaction when not held; None when stale.

        It changes only when the figures are recomputed (a new state), so it is read once per state and process.
        """
        key = (token, spec.relation_keys)
        with self._lock:
            held = self._memory
        if held is not None and held[0] == key:
            return held[1]
        with self._loading:
            with self._lock:
                held = self._memory
            if held is not None and held[0] == key:
                return held[1]
            with self._begin("REPEATABLE READ") as conn:
                state, pointers, _ = self._checked_state(conn)
                if state is None or state.token != token or not fresh(state, pointers):
                    return None
                (rows,) = self._run(conn, (self._narrow, {"parcels_version": state.parcels_version}))
            names = (*SEARCH_COLUMNS, *MASK_COLUMNS)
            columns = dict(zip(names, zip(*rows, strict=True) if rows else [()] * len(names), strict=True))
            inside = relation_flags(columns["inside_mask"], spec.relation_keys)
            overlaps = relation_flags(columns["overlap_mask"], spec.relation_keys)
            index = MemoryIndex(state, columns, inside, overlaps)
            with self._lock:
                self._memory = (key, index)
            return index

    def _checked_state(
        self, conn: Connection, *reads: _Read, begin: bool = False
    ) -> tuple[ParcelState | None, dict[str, int], list[list[tuple[Any, ...]]]]:
        """Lock the index against a swap, read the state and the version pointers, then ``reads`` (same snapshot).

        A refresh swaps in a rebuilt index table; the lock, taken before the transaction's snapshot, makes a
        reader either finish before the swap or start after it commits — never see the new table empty. The
        reads go in the same round trip (``begin``: opening the transaction of a ``_snapshot`` connection too);
        the caller uses them only when the state is the one it expects.
        """
        opening: list[_Read] = [(self._begin_snapshot, {})] if begin else []
        rows = self._run(conn, *opening, (self._lock_tables, {}), (self._state_and_pointers, {}), *reads)
        return (*self._state_of(rows[len(opening) + 1]), rows[len(opening) + 2 :])

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """An autocommit connection for a read-only transaction that the caller's pipelines open and commit.

        ``_checked_state(..., begin=True)`` opens it (REPEATABLE READ, READ ONLY) and the caller's last pipeline
        ends with ``self._commit``, so the transaction costs no round trip of its own; one left open (the state
        moved on, or a failure) is rolled back before the connection goes back to the pool.
        """
        with self._begin("AUTOCOMMIT") as conn:
            try:
                yield conn
            finally:
                with contextlib.suppress(psycopg.Error):
                    _driver(conn).rollback()  # nothing to do (no round trip) once the COMMIT has run

    def _state_of(self, state_rows: list[tuple[Any, ...]]) -> tuple[ParcelState | None, dict[str, int]]:
        """The state and the version pointers from the rows of the state statement (remembered as the last)."""
        names = [*self.t["state"].c.keys(), "pointers"]
        rows = [dict(zip(names, row, strict=True)) for row in state_rows]
        state = state_of(rows)
        self._last = state
        return state, (rows[0]["pointers"] or {}) if rows else {}

    def _run(self, conn: Connection, *reads: _Read) -> list[list[tuple[Any, ...]]]:
        """Run statements on the connection in one round trip (psycopg pipeline); their rows."""
        raw = _driver(conn)
        with unavailable_on_fault():
            with raw.pipeline():
                cursors = [raw.execute(read.sql, read.params | values) for read, values in reads]
            return [cursor.fetchall() if cursor.description is not None else [] for cursor in cursors]

    def detail(self, parcel_id: str, token: str, fresh: FreshCheck) -> DetailRows | None:
        """One parcel's stored rows; None when the state moved on."""
        i, e, n, info = self.t["index"], self.t["shape"], self.t["neighbour"], self.t["info"]
        both = i.join(info, info.c.fid == i.c.fid).join(e, e.c.fid == i.c.fid)
        columns = [*(i.c[c] for c in SEARCH_COLUMNS), *(info.c[c] for c in INFO_COLUMNS if c != "fid")]
        with self._begin("REPEATABLE READ") as conn:
            state, pointers, _ = self._checked_state(conn)
            if state is None or state.token != token or not fresh(state, pointers):
                return None
            row = (
                conn.execute(
                    select(*columns, func.ST_AsBinary(e.c.geom).label("wkb"))
                    .select_from(both)
                    .where(i.c.parcel_id == parcel_id)
                )
                .mappings()
                .first()
            )
            if row is None:
                raise ParcelNotFound(
                    f"no parcel {parcel_id!r} in parcels version {state.parcels_version}",
                    f"当前地块图层中没有编号为 {parcel_id!r} 的地块",
                )
            fid = row["fid"]
            layers = [
                LayerRow(**{c: r[c] for c in LAYER_COLUMNS})
                for r in conn.execute(select(self.t["layer"]).where(self.t["layer"].c.fid == fid)).mappings()
            ]
            distances = [
                DistanceRow(**{c: r[c] for c in DISTANCE_COLUMNS})
                for r in conn.execute(select(self.t["distance"]).where(self.t["distance"].c.fid == fid)).mappings()
            ]
            neighbours = [
                dict(r)
                for r in conn.execute(
                    select(*columns, n.c.gap_m)
                    .select_from(both.join(n, n.c.neighbour_fid == i.c.fid))
                    .where(n.c.fid == fid)
                ).mappings()
            ]
        index = {c: row[c] for c in INDEX_COLUMNS}
        near = [{c: r[c] for c in (*INDEX_COLUMNS, "gap_m")} for r in neighbours]
        return DetailRows(state, index, layers, distances, near, shapely.from_wkb(row["wkb"]))

    def adjacent_pairs(self, state: ParcelState, fids: list[int], max_gap_m: float) -> list[tuple[int, int, float]]:
        """Neighbour pairs among the given parcels within ``max_gap_m``."""
        n = self.t["neighbour"]
        with self._begin() as conn:
            rows = conn.execute(
                select(n.c.fid, n.c.neighbour_fid, n.c.gap_m).where(
                    (n.c.fid < n.c.neighbour_fid)
                    & (n.c.gap_m <= max_gap_m)
                    & n.c.fid.in_(fids)
                    & n.c.neighbour_fid.in_(fids)
                )
            ).all()
        return [(a, b, g) for a, b, g in rows]
