"""Parcel figures on the PostGIS engine: tables in the deployment schema, one set-based statement per layer.

Refreshes hold an advisory lock and write in one transaction; searches run in a REPEATABLE READ transaction
that first checks the stored state against the current version pointers, so an answer never mixes versions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import shapely
from geoalchemy2 import Geometry
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.exc import OperationalError

from sitecheck.errors import ParcelNotFound, StoreUnavailable
from sitecheck.parcels.engine import DetailRows, FreshCheck, RefreshWrite, Vocabulary
from sitecheck.parcels.layout import ParcelState, PartState
from sitecheck.parcels.ranking import criterion_values, score_of
from sitecheck.parcels.records import (
    DISTANCE_COLUMNS,
    INDEX_COLUMNS,
    LAYER_COLUMNS,
    DistanceRow,
    LayerRow,
    Nearest,
    ParcelBase,
    Piece,
)
from sitecheck.parcels.spec import SearchPage, SearchSpec
from sitecheck.stores.base import FEATURE_ID, FEATURE_KIND, FEATURE_NAME, FID, LayerVersion, SourceField
from sitecheck.stores.pg_tables import feature_table, subdivided_table
from sitecheck.stores.postgis import PostgisStore

_LOCK_KEY = "sitecheck.parcel_figures"
_INDEX_TYPES = {"fid": BigInteger, "parcel_id": Text, "area_m2": Double, "clean": Boolean, "in_zone": Boolean,
                "kind_m": ARRAY(Double), "inside_layers": ARRAY(Text), "overlap_layers": ARRAY(Text)}
_JSON = ("statuses", "problems", "notes", "attributes", "versions", "features", "info")
_NUMERIC = ("area_recorded_m2", "far_min", "far_max", "invest", "tax", "transit_m", "overlap_m2", "outside_m2",
            "distance_m", "gap_m")


def parcel_tables(schema: str, srid: int) -> dict[str, Table]:
    """The parcel tables of a deployment schema (state, per-layer rows, distances, neighbours, the index)."""
    meta = MetaData(schema=schema)

    def column(name: str) -> Column[Any]:
        kind: Any = _INDEX_TYPES.get(name) or (JSONB if name in _JSON else Double if name in _NUMERIC else (
            Integer if name.endswith("version") else BigInteger if name.endswith("fid") else
            Boolean if name in ("inside", "overlaps") else Text))
        return Column(name, kind)

    return {
        "state": Table("parcel_state", meta, Column("layer_key", Text, primary_key=True),
                       *(column(c) for c in ("parcels_version", "layer_version", "rules_sha")),
                       Column("computed_at", DateTime(timezone=True)), Column("seconds", Double), column("info")),
        "layer": Table("parcel_layer", meta, *(column(c) for c in LAYER_COLUMNS),
                       PrimaryKeyConstraint("layer_key", "fid")),
        "distance": Table("parcel_distance", meta, *(column(c) for c in DISTANCE_COLUMNS),
                          PrimaryKeyConstraint("layer_key", "fid", "kind")),
        "neighbour": Table("parcel_neighbour", meta, Column("fid", BigInteger), Column("neighbour_fid", BigInteger),
                           Column("gap_m", Double), PrimaryKeyConstraint("fid", "neighbour_fid")),
        "index": Table("parcel_index", meta, *(column(c) for c in INDEX_COLUMNS), column("parcels_version"),
                       Column("geom", Geometry("MULTIPOLYGON", srid=srid, spatial_index=True)),
                       PrimaryKeyConstraint("fid"), Index("parcel_index_parcel_id", "parcel_id")),
    }


class PostgisParcels:
    """Parcel storage and search of the PostGIS engine."""

    def __init__(self, store: PostgisStore) -> None:
        """Create the parcel tables in the store's schema if missing."""
        self.store = store
        self.t = parcel_tables(store.schema, store.srid)
        self._vocabulary: dict[str, Vocabulary] = {}
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
            raise StoreUnavailable("the database is unavailable; try again shortly", "数据库暂不可用，请稍后重试") from exc

    @contextmanager
    def refresh_session(self) -> Iterator[_Session]:
        """An exclusive refresh: an advisory transaction lock, then everything in one transaction."""
        with self._begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(_LOCK_KEY + self.store.schema))))
            yield _Session(self, conn)

    def pointers(self) -> dict[str, int]:
        """Current version numbers."""
        with self._begin() as conn:
            return _pointers(self.store, conn)

    def read_state(self) -> ParcelState | None:
        """The stored state."""
        with self._begin() as conn:
            return _state(self.t["state"], conn)

    def vocabulary(self, state: ParcelState) -> Vocabulary:
        """Values present in the index (cached per state)."""
        with self._lock:
            if state.token in self._vocabulary:
                return self._vocabulary[state.token]
        i = self.t["index"]
        with self._begin() as conn:
            districts = conn.execute(select(i.c.district_code, i.c.district_name).distinct()
                                     .where(i.c.district_code.is_not(None))).all()
            values = [sorted(v for (v,) in conn.execute(select(i.c[c]).distinct()) if v is not None)
                      for c in ("status", "industry", "park")]
        found = Vocabulary(sorted((a, b) for a, b in districts), *values)
        with self._lock:
            self._vocabulary = {state.token: found}
        return found

    def search(self, spec: SearchSpec, token: str, fresh: FreshCheck) -> SearchPage | None:
        """Filter, rank and page in one statement; None when the state moved on."""
        with self._begin("REPEATABLE READ") as conn:
            state = _state(self.t["state"], conn)
            if state is None or state.token != token or not fresh(state, _pointers(self.store, conn)):
                return None
            statement, n_values = _search_statement(self.t["index"], spec, state, self.store.srid)
            rows = conn.execute(statement).mappings().all()
            total = rows[0]["total"] if rows else 0
            if not rows and spec.offset:
                total = conn.execute(_search_statement(self.t["index"], spec, state, self.store.srid, count=True)[0]
                                     ).scalar_one()
        out = []
        for row in rows:
            item = {c: row[c] for c in INDEX_COLUMNS if c in row} | {"transit_used": row["transit_used"]}
            if spec.with_geometry:
                item["geometry"] = shapely.from_wkb(row["wkb"])
            out.append(item)
        return SearchPage(state, total, out, [[row[f"v{k}"] for k in range(n_values)] for row in rows],
                          [row["score"] for row in rows])

    def detail(self, parcel_id: str, token: str, fresh: FreshCheck) -> DetailRows | None:
        """One parcel's stored rows; None when the state moved on."""
        i, n = self.t["index"], self.t["neighbour"]
        with self._begin("REPEATABLE READ") as conn:
            state = _state(self.t["state"], conn)
            if state is None or state.token != token or not fresh(state, _pointers(self.store, conn)):
                return None
            row = conn.execute(select(i, func.ST_AsBinary(i.c.geom).label("wkb")).where(i.c.parcel_id == parcel_id)
                               ).mappings().first()
            if row is None:
                raise ParcelNotFound(f"no parcel {parcel_id!r} in parcels version {state.parcels_version}",
                                     f"当前地块图层中没有编号为 {parcel_id!r} 的地块")
            fid = row["fid"]
            layers = [LayerRow(**{c: r[c] for c in LAYER_COLUMNS}) for r in conn.execute(
                select(self.t["layer"]).where(self.t["layer"].c.fid == fid)).mappings()]
            distances = [DistanceRow(**{c: r[c] for c in DISTANCE_COLUMNS}) for r in conn.execute(
                select(self.t["distance"]).where(self.t["distance"].c.fid == fid)).mappings()]
            neighbours = [dict(r) for r in conn.execute(
                select(i, n.c.gap_m).join(n, n.c.neighbour_fid == i.c.fid).where(n.c.fid == fid)).mappings()]
        index = {c: row[c] for c in INDEX_COLUMNS}
        near = [{c: r[c] for c in (*INDEX_COLUMNS, "gap_m")} for r in neighbours]
        return DetailRows(state, index, layers, distances, near, shapely.from_wkb(row["wkb"]))

    def adjacent_pairs(self, state: ParcelState, fids: list[int], max_gap_m: float) -> list[tuple[int, int, float]]:
        """Neighbour pairs among the given parcels within ``max_gap_m``."""
        n = self.t["neighbour"]
        with self._begin() as conn:
            rows = conn.execute(select(n.c.fid, n.c.neighbour_fid, n.c.gap_m).where(
                (n.c.fid < n.c.neighbour_fid) & (n.c.gap_m <= max_gap_m) & n.c.fid.in_(fids)
                & n.c.neighbour_fid.in_(fids))).all()
        return [(a, b, g) for a, b, g in rows]


class _Session:
    """A refresh on the PostGIS engine (inside the locked transaction)."""

    def __init__(self, owner: PostgisParcels, conn: Connection) -> None:
        self.owner, self.store, self.conn, self.t = owner, owner.store, conn, owner.t

    def state(self) -> ParcelState | None:
        """The stored state."""
        return _state(self.t["state"], self.conn)

    def _table(self, version: LayerVersion) -> tuple[Table, Table | None]:
        """The feature table (and subdivided copy) of a layer version."""
        lv = self.store.tables.layer_version
        row = self.conn.execute(select(lv.c.table_name, lv.c.subdivided_table, lv.c.fields, lv.c.geometry_kind).where(
            (lv.c.layer_key == version.layer_key) & (lv.c.version == version.version))).one()
        fields = tuple(SourceField(f["name"], f["kind"]) for f in row.fields)
        schema, srid = self.store.layer_schema, self.store.srid
        table = feature_table(schema, row.table_name, fields, row.geometry_kind, srid)
        return table, subdivided_table(schema, row.subdivided_table, srid) if row.subdivided_table else None

    def parcel_base(self, version: LayerVersion) -> ParcelBase:
        """Every parcel in fid order with its attributes and geometry."""
        table, _ = self._table(version)
        names = [f.name for f in version.fields]
        rows = self.conn.execute(select(table.c[FID], table.c[FEATURE_ID], table.c[FEATURE_NAME], table.c[FEATURE_KIND],
                                        *(table.c[n] for n in names), func.ST_AsBinary(table.c.geom))
                                 .order_by(table.c[FID])).all()
        return ParcelBase(version.version, np.asarray([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows],
                          [r[2] for r in rows], [r[3] for r in rows], [dict(zip(names, r[4:-1], strict=True))
                                                                       for r in rows],
                          shapely.from_wkb([r[-1] for r in rows]))

    def overlay(self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase) -> list[Piece]:
        """One statement: every (parcel, feature) overlap, covered or intersected (through the subdivided copy)."""
        p = self._table(parcels)[0].alias("p")
        table, sub = self._table(layer)
        f = table.alias("f")
        if sub is not None:
            s = sub.alias("s")
            local = (select(p.c[FID].label("parcel_fid"), s.c[FID].label("fid"), func.ST_Union(s.c.geom).label("g"))
                     .select_from(p.join(s, func.ST_Intersects(p.c.geom, s.c.geom)))
                     .group_by(p.c[FID], s.c[FID]).subquery("l"))
            shape, joined = local.c.g, local.join(p, p.c[FID] == local.c.parcel_fid).join(f, f.c[FID] == local.c.fid)
        else:
            shape, joined = f.c.geom, p.join(f, func.ST_Intersects(p.c.geom, f.c.geom))
        covered = select(func.ST_CoveredBy(p.c.geom, shape).label("covered")).lateral("c")
        report = [n for n in self.store.catalog.get(layer.layer_key).report if n in f.c]
        statement = select(
            p.c[FID], f.c[FID], f.c[FEATURE_ID], f.c[FEATURE_NAME], f.c[FEATURE_KIND],
            func.jsonb_build_object(*[a for n in report for a in (literal(n), f.c[n])]), covered.c.covered,
            case((covered.c.covered, None), else_=func.ST_AsBinary(func.ST_Intersection(shape, p.c.geom))),
        ).select_from(joined.join(covered, true()))
        return [Piece(a, b, c, d, e, g or {}, h, bytes(w) if w is not None else None)
                for a, b, c, d, e, g, h, w in self.conn.execute(statement)]

    def nearest(
        self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase
    ) -> tuple[list[Nearest], list[dict[str, Any]]]:
        """One statement: the two nearest features of each kind per parcel (KNN), and the layer's kinds."""
        p = self._table(parcels)[0].alias("p")
        table = self._table(layer)[0]
        kind = func.coalesce(table.c[FEATURE_KIND], "")
        points = func.bool_and(func.ST_GeometryType(table.c.geom).in_(["ST_Point", "ST_MultiPoint"]))
        kinds = [{"kind": k, "points": bool(pt)} for k, pt in
                 self.conn.execute(select(kind, points).group_by(kind).order_by(kind))]
        k = select(kind.label("kind")).distinct().subquery("k")
        t = table.alias("t")
        near = (select(t.c[FID], t.c[FEATURE_ID], t.c[FEATURE_NAME], t.c.geom)
                .where(func.coalesce(t.c[FEATURE_KIND], "") == k.c.kind)
                .order_by(t.c.geom.op("<->")(p.c.geom)).limit(2).lateral("n"))
        statement = select(p.c[FID], k.c.kind, near.c[FID], near.c[FEATURE_ID], near.c[FEATURE_NAME],
                           func.ST_AsBinary(near.c.geom)).select_from(p.join(k, true()).join(near, true()))
        return [Nearest(a, b, c, d, e, bytes(w)) for a, b, c, d, e, w in self.conn.execute(statement)], kinds

    def neighbour_candidates(self, parcels: LayerVersion, base: ParcelBase, radius_m: float) -> np.ndarray:
        """One statement: parcel pairs (a < b) within the radius."""
        table = self._table(parcels)[0]
        a, b = table.alias("a"), table.alias("b")
        rows = self.conn.execute(select(a.c[FID], b.c[FID]).select_from(a.join(b, and_(
            a.c[FID] < b.c[FID], func.ST_DWithin(a.c.geom, b.c.geom, radius_m))))).all()
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), 2)

    def read_layer_rows(self, parcels_version: int, keys: list[str]) -> list[LayerRow]:
        """Stored rows of some layers."""
        t = self.t["layer"]
        rows = self.conn.execute(select(t).where(t.c.layer_key.in_(keys)).order_by(t.c.layer_key, t.c.fid)).mappings()
        return [LayerRow(**{c: r[c] for c in LAYER_COLUMNS}) for r in rows]

    def read_distance_rows(self, parcels_version: int, keys: list[str]) -> list[DistanceRow]:
        """Stored distance rows of some layers."""
        t = self.t["distance"]
        rows = self.conn.execute(select(t).where(t.c.layer_key.in_(keys))).mappings()
        return [DistanceRow(**{c: r[c] for c in DISTANCE_COLUMNS}) for r in rows]

    def write(self, change: RefreshWrite) -> None:
        """Replace parts, index and states with DELETE and binary-safe COPY, inside the locked transaction."""
        conn, t = self.conn, self.t
        replaced = [*change.layer_rows, *change.distance_rows, *change.dropped]
        for name in ("layer", "distance"):
            conn.execute(delete(t[name]) if change.reset else delete(t[name]).where(t[name].c.layer_key.in_(replaced)))
        self._copy(t["layer"], LAYER_COLUMNS, [[getattr(r, c) for c in LAYER_COLUMNS]
                                              for rows in change.layer_rows.values() for r in rows])
        self._copy(t["distance"], DISTANCE_COLUMNS, [[getattr(r, c) for c in DISTANCE_COLUMNS]
                                                    for rows in change.distance_rows.values() for r in rows])
        if change.neighbours is not None:
            conn.execute(delete(t["neighbour"]))
            self._copy(t["neighbour"], ("fid", "neighbour_fid", "gap_m"), [list(r) for r in change.neighbours])
        conn.execute(delete(t["index"]))
        ewkb = shapely.to_wkb(shapely.set_srid(change.geometries, self.store.srid), hex=True, include_srid=True)
        self._copy(t["index"], (*INDEX_COLUMNS, "parcels_version", "geom"), [
            [*(getattr(r, c) for c in INDEX_COLUMNS), change.parcels_version, g]
            for r, g in zip(change.index, ewkb.tolist(), strict=True)])
        state = t["state"]
        conn.execute(delete(state) if change.reset else delete(state).where(state.c.layer_key.in_(change.dropped)))
        conn.execute(delete(state).where(state.c.layer_key.in_([p.layer_key for p in change.parts])))
        if change.parts:
            conn.execute(state.insert(), [dict(p.__dict__) for p in change.parts])

    def _copy(self, table: Table, columns: tuple[str, ...], rows: list[list[Any]]) -> None:
        """COPY rows into a table (JSON columns wrapped as jsonb)."""
        if not rows:
            return
        raw = self.conn.connection.driver_connection
        assert raw is not None, "a live connection has a driver connection"
        statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
            sql.Identifier(table.schema or ""), sql.Identifier(table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns))
        json_at = [i for i, c in enumerate(columns) if c in _JSON]
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                for i in json_at:
                    row[i] = Jsonb(row[i])
                copy.write_row(row)


def _pointers(store: PostgisStore, conn: Connection) -> dict[str, int]:
    """Current version numbers, read in the caller's transaction."""
    lc = store.tables.layer_current
    return {key: version for key, version in conn.execute(select(lc.c.layer_key, lc.c.version))}


def _state(table: Table, conn: Connection) -> ParcelState | None:
    """The stored state, read in the caller's transaction."""
    rows = conn.execute(select(table)).mappings().all()
    if not rows:
        return None
    parts = {r["layer_key"]: PartState(**{k: r[k] for k in PartState.__dataclass_fields__}) for r in rows}
    return ParcelState(rows[0]["parcels_version"], parts)


class SqlOps:
    """Criteria as SQL expressions (float8 arithmetic, the same operations as the numpy back end)."""

    def const(self, value: float) -> Any:
        """A float8 parameter."""
        return literal(value, Double())

    def abs(self, x: Any) -> Any:
        """abs(x)."""
        return func.abs(x)

    def clip01(self, x: Any) -> Any:
        """GREATEST(LEAST(x, 1), 0)."""
        return func.greatest(func.least(x, self.const(1.0)), self.const(0.0))

    def at_least(self, x: Any, floor: float) -> Any:
        """GREATEST(x, floor)."""
        return func.greatest(x, self.const(floor))

    def present(self, columns: list[Any], then: Any, otherwise: float) -> Any:
        """``then`` when no column is NULL, else ``otherwise``."""
        return case((and_(*[c.is_not(None) for c in columns]), then), else_=self.const(otherwise))

    def lookup(self, x: Any, mapping: Mapping[str, float], default: float) -> Any:
        """CASE over text values."""
        return case(*[(x == key, self.const(v)) for key, v in mapping.items()], else_=self.const(default))

    def flag(self, x: Any) -> Any:
        """1.0 when true, else 0.0."""
        return case((x, self.const(1.0)), else_=self.const(0.0))


def _search_statement(
    i: Table, spec: SearchSpec, state: ParcelState, srid: int, *, count: bool = False
) -> tuple[Any, int]:
    """The search as one statement: filters, criteria, score, stable order, page and total."""
    where: list[Any] = [i.c.parcels_version == state.parcels_version]
    if not spec.include_nonclean:
        where.append(i.c.clean)
    if spec.districts:
        where.append(or_(i.c.district_code.in_(spec.districts), i.c.district_name.in_(spec.districts)))
    for bound in spec.ranges:
        column, value = i.c[bound.column], literal(bound.value, Double())
        where.append(column >= value if bound.op == ">=" else column <= value)
    if spec.use_prefixes:
        where.append(or_(*[i.c.land_use.startswith(p, autoescape=True) for p in spec.use_prefixes]))
    for column, values in (("status", spec.statuses), ("industry", spec.industries), ("park", spec.parks)):
        if values:
            where.append(i.c[column].in_(values))
    transit: Any = i.c.transit_m
    if spec.kind_columns is not None:
        kinds = [i.c.kind_m[k + 1] for k in spec.kind_columns]
        transit = func.least(*kinds) if len(kinds) > 1 else kinds[0] if kinds else literal(None, Double())
    if spec.max_transit_m is not None:
        where.append(transit <= literal(spec.max_transit_m, Double()))
    if spec.inside:
        where.append(i.c.inside_layers.contains(array(spec.inside)))
    if spec.outside:
        where.append(~i.c.overlap_layers.overlap(array(spec.outside)))
    if spec.area is not None:
        area = func.ST_GeomFromWKB(literal(shapely.to_wkb(spec.area)), srid)
        where.append(func.ST_CoveredBy(i.c.geom, area) if spec.area_relation == "within"
                     else func.ST_Relate(i.c.geom, area, "T********"))
    if count:
        return select(func.count()).select_from(i).where(*where), 0
    ops = SqlOps()
    columns = {"area_m2": i.c.area_m2, "far_min": i.c.far_min, "far_max": i.c.far_max, "transit_m": transit,
               "status": i.c.status, "in_zone": i.c.in_zone}
    values = criterion_values(spec.ranking, columns, ops)
    shown = [i.c[c] for c in INDEX_COLUMNS if c not in ("attributes", "versions")]
    if spec.with_geometry:
        shown.append(func.ST_AsBinary(i.c.geom).label("wkb"))
    inner = select(*shown, transit.label("transit_used"), *(v.label(f"v{k}") for k, v in enumerate(values))
                   ).where(*where).subquery("m")
    score = score_of(spec.ranking, [inner.c[f"v{k}"] for k in range(len(values))], ops)
    score = ops.const(0.0) if score is None else score
    statement: Any = select(inner, score.label("score"), func.count().over().label("total")).order_by(
        score.desc(), inner.c.parcel_id.collate("C")).offset(spec.offset)
    if spec.limit is not None:
        statement = statement.limit(spec.limit)
    return statement, len(values)
