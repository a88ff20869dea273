"""Parcel figures on the PostGIS engine: tables in the deployment schema, one set-based statement per layer.

Refreshes hold an advisory lock and write in one transaction; searches run in a REPEATABLE READ transaction
that locks the index, then checks the stored state against the current version pointers, so an answer never
mixes versions.
The SQL lives in ``parcels_pg_sql`` (tables, search) and ``parcels_pg_refresh`` (the refresh).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import shapely
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import OperationalError

from sitecheck.errors import ParcelNotFound, StoreUnavailable
from sitecheck.parcels.engine import DetailRows, FreshCheck, Vocabulary
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.records import DISTANCE_COLUMNS, INDEX_COLUMNS, LAYER_COLUMNS, DistanceRow, LayerRow
from sitecheck.parcels.spec import SearchPage, SearchSpec
from sitecheck.stores.parcels_pg_refresh import PostgisRefresh
from sitecheck.stores.parcels_pg_sql import (
    INFO_COLUMNS,
    SEARCH_COLUMNS,
    parcel_tables,
    qualified,
    read_pointers,
    read_state,
    search_shape,
    search_statement,
    search_values,
    state_of,
)
from sitecheck.stores.postgis import PostgisStore

_LOCK_KEY = "sitecheck.parcel_figures"


class PostgisParcels:
    """Parcel storage and search of the PostGIS engine."""

    def __init__(self, store: PostgisStore) -> None:
        """Create the parcel tables in the store's schema if missing."""
        self.store = store
        self.t = parcel_tables(store.schema, store.srid)
        self._vocabulary: dict[str, Vocabulary] = {}
        self._last: ParcelState | None = None
        self._statements: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()
        with self._begin() as conn:
            next(iter(self.t.values())).metadata.create_all(conn)

    @contextmanager
    def _begin(self, isolation: str | None = None) -> Iterator[Connection]:
        """A connection in a transaction; a lost database becomes StoreUnavailable."""
        try:
            with self.store.db.connect() as conn:
                if isolation:
                    conn = conn.execution_options(isolation_level=isolation)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailable(
                "the database is unavailable; try again shortly", "数据库暂不可用，请稍后重试"
            ) from exc

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
        """Filter, rank and page (one statement; a count only when the page is full); None when the state moved on."""
        with self._begin("REPEATABLE READ") as conn:
            state, pointers = self._checked_state(conn)
            if state is None or state.token != token or not fresh(state, pointers):
                return None
            params = search_values(spec, state)
            rows = conn.execute(self._statement(spec), params).mappings().all()
            # A short page tells the total by itself; counting in the ranking statement (a window over every
            # match) costs more than a separate count of a full page's matches.
            total = spec.offset + len(rows)
            if spec.limit is not None and (len(rows) == spec.limit or (not rows and spec.offset)):
                count = search_statement(self.t, spec, self.store.srid, count=True)
                total = conn.execute(count, params).scalar_one()
        out = []
        for row in rows:
            item = {c: row[c] for c in INDEX_COLUMNS if c in row} | {"transit_used": row["transit_used"]}
            if spec.with_geometry:
                item["geometry"] = shapely.from_wkb(row["wkb"])
            out.append(item)
        n_values = len(spec.ranking.applied)
        values = [[row[f"v{k}"] for k in range(n_values)] for row in rows]
        return SearchPage(state, total, out, values, [row["score"] for row in rows])

    def _checked_state(self, conn: Connection) -> tuple[ParcelState | None, dict[str, int]]:
        """Lock the index against a swap, then read the state and the version pointers (same snapshot).

        A refresh swaps in a rebuilt index table; the lock, taken before the transaction's snapshot, makes a
        reader either finish before the swap or start after it commits — never see the new table empty.
        """
        tables = ", ".join(qualified(self.t[key]) for key in ("index", "shape", "info"))
        conn.execute(text(f"LOCK TABLE {tables} IN ACCESS SHARE MODE"))
        lc, table = self.store.tables.layer_current, self.t["state"]
        pointers = select(func.jsonb_object_agg(lc.c.layer_key, lc.c.version)).scalar_subquery()
        rows = conn.execute(select(table, pointers.label("pointers"))).mappings().all()
        state = state_of(rows)
        self._last = state
        return state, (rows[0]["pointers"] or {}) if rows else {}

    def _statement(self, spec: SearchSpec) -> Any:
        """The search statement of this spec's shape (built once per shape)."""
        shape = search_shape(spec)
        with self._lock:
            found = self._statements.get(shape)
        if found is None:
            found = search_statement(self.t, spec, self.store.srid)
            with self._lock:
                if len(self._statements) > 256:
                    self._statements.clear()
                self._statements[shape] = found
        return found

    def detail(self, parcel_id: str, token: str, fresh: FreshCheck) -> DetailRows | None:
        """One parcel's stored rows; None when the state moved on."""
        i, e, n, info = self.t["index"], self.t["shape"], self.t["neighbour"], self.t["info"]
        both = i.join(info, info.c.fid == i.c.fid).join(e, e.c.fid == i.c.fid)
        columns = [*(i.c[c] for c in SEARCH_COLUMNS), *(info.c[c] for c in INFO_COLUMNS if c != "fid")]
        with self._begin("REPEATABLE READ") as conn:
            state, pointers = self._checked_state(conn)
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
