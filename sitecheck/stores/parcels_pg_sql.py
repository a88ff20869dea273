"""The SQL of parcel figures on PostGIS: the tables, and the search as one statement with named parameters.

The criteria of ``sitecheck.parcels.ranking`` compile here to float8 SQL with the same IEEE operations as the
numpy back end, so both engines rank alike. Statements are cached by shape; values are bound at execution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import shapely
from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from sitecheck.parcels.layout import ParcelState, PartState
from sitecheck.parcels.ranking import bound_values, criterion_values, score_of
from sitecheck.parcels.records import DISTANCE_COLUMNS, INDEX_COLUMNS, LAYER_COLUMNS
from sitecheck.parcels.spec import SearchSpec
from sitecheck.stores.postgis import PostgisStore

SEARCH_COLUMNS = (
    "fid", "clean", "in_zone", "area_m2", "transit_m", "far_min", "far_max", "invest", "tax", "parcel_id", "status",
    "land_use", "district_code", "district_name", "park", "industry", "kind_m",
)  # fmt: skip
# Layer relations as bit masks (bit k: the k-th polygonal layer in configuration order): integer tests per row
# instead of text-array containment, which costs several times the scan itself.
MASK_COLUMNS = ("inside_mask", "overlap_mask")
# The physical order of the search table: fixed-width columns first, so that filters deform little of a row.
SEARCH_TABLE_COLUMNS = ("fid", "parcels_version", *MASK_COLUMNS, *SEARCH_COLUMNS[1:])
INFO_COLUMNS = ("fid", *(c for c in INDEX_COLUMNS if c not in SEARCH_COLUMNS))
_INDEX_TYPES = {
    "fid": BigInteger,
    "parcel_id": Text,
    "area_m2": Double,
    "clean": Boolean,
    "in_zone": Boolean,
    "inside_mask": BigInteger,
    "overlap_mask": BigInteger,
    "kind_m": ARRAY(Double),
    "inside_layers": ARRAY(Text),
    "overlap_layers": ARRAY(Text),
}
JSON_COLUMNS = ("statuses", "problems", "notes", "attributes", "versions", "features", "info")
_NUMERIC = (
    "area_recorded_m2",
    "far_min",
    "far_max",
    "invest",
    "tax",
    "transit_m",
    "overlap_m2",
    "outside_m2",
    "distance_m",
    "gap_m",
)


def _column(name: str) -> Column[Any]:
    """A parcel table column typed by its name."""
    kind: Any = _INDEX_TYPES.get(name)
    if kind is None:
        kind = JSONB if name in JSON_COLUMNS else Double if name in _NUMERIC else Text
        if name.endswith("version"):
            kind = Integer
        elif name.endswith("fid"):
            kind = BigInteger
        elif name in ("inside", "overlaps"):
            kind = Boolean
    return Column(name, kind)


def search_table(meta: MetaData, name: str) -> Table:
    """What every search filters and ranks on, kept narrow so that a scan of 20 000 parcels reads few pages."""
    return Table(
        name,
        meta,
        *(_column(c) for c in SEARCH_TABLE_COLUMNS),
        PrimaryKeyConstraint("fid"),
        Index(f"{name}_parcel_id", "parcel_id"),
    )


def shape_table(meta: MetaData, name: str, srid: int) -> Table:
    """The geometry (GiST-indexed): joined only by searches in a drawn area and by GeoJSON pages."""
    return Table(
        name,
        meta,
        _column("fid"),
        Column("geom", Geometry("MULTIPOLYGON", srid=srid, spatial_index=True)),
        PrimaryKeyConstraint("fid"),
    )


def relation_mask(keys: Sequence[str], order: Sequence[str]) -> int:
    """The bit mask of some polygonal layers given the layers' configuration order."""
    if len(order) > 62:
        raise ValueError("at most 62 polygonal layers can be related to parcels")
    return sum(1 << order.index(key) for key in keys if key in order)


def info_table(meta: MetaData, name: str) -> Table:
    """Everything else shown about a parcel, read for the rows of one page only."""
    return Table(name, meta, *(_column(c) for c in INFO_COLUMNS), PrimaryKeyConstraint("fid"))


def parcel_tables(schema: str, srid: int) -> dict[str, Table]:
    """The parcel tables of a deployment schema (state, per-layer rows, distances, neighbours, the index)."""
    meta = MetaData(schema=schema)
    state = Table(
        "parcel_state",
        meta,
        Column("layer_key", Text, primary_key=True),
        *(_column(c) for c in ("parcels_version", "layer_version", "rules_sha")),
        Column("computed_at", DateTime(timezone=True)),
        Column("seconds", Double),
        _column("info"),
    )
    return {
        "state": state,
        "layer": Table("parcel_layer", meta, *map(_column, LAYER_COLUMNS), PrimaryKeyConstraint("layer_key", "fid")),
        "distance": Table(
            "parcel_distance", meta, *map(_column, DISTANCE_COLUMNS), PrimaryKeyConstraint("layer_key", "fid", "kind")
        ),
        "neighbour": Table(
            "parcel_neighbour",
            meta,
            *map(_column, ("fid", "neighbour_fid", "gap_m")),
            PrimaryKeyConstraint("fid", "neighbour_fid"),
        ),
        "index": search_table(meta, "parcel_index"),
        "shape": shape_table(meta, "parcel_shape", srid),
        "info": info_table(meta, "parcel_info"),
    }


def quote(identifier: str) -> str:
    """A quoted SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: Table) -> str:
    """A table's quoted schema-qualified name."""
    return f"{quote(table.schema or 'public')}.{quote(table.name)}"


def read_pointers(store: PostgisStore, conn: Connection) -> dict[str, int]:
    """Current version numbers, read in the caller's transaction."""
    lc = store.tables.layer_current
    return {key: version for key, version in conn.execute(select(lc.c.layer_key, lc.c.version))}


def read_state(table: Table, conn: Connection) -> ParcelState | None:
    """The stored state, read in the caller's transaction."""
    return state_of(conn.execute(select(table)).mappings().all())


def state_of(rows: Sequence[Any]) -> ParcelState | None:
    """A ParcelState from state rows (None when there are none)."""
    if not rows:
        return None
    parts = {r["layer_key"]: PartState(**{k: r[k] for k in PartState.__dataclass_fields__}) for r in rows}
    return ParcelState(rows[0]["parcels_version"], parts)


class SqlOps:
    """Criteria as SQL expressions (float8 arithmetic, the same operations as the numpy back end)."""

    def const(self, value: float) -> Any:
        """A fixed float8 constant."""
        return literal(value, Double())

    def param(self, name: str, value: float) -> Any:
        """A named float8 parameter, bound at execution (statements are cached by shape)."""
        return bindparam(name, type_=Double())

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


def search_shape(spec: SearchSpec) -> tuple[Any, ...]:
    """What decides a search statement's text (values are bound separately)."""
    return (
        spec.include_nonclean,
        bool(spec.districts),
        tuple((r.column, r.op) for r in spec.ranges),
        bool(spec.use_prefixes),
        bool(spec.statuses),
        bool(spec.industries),
        bool(spec.parks),
        spec.kind_columns,
        spec.max_transit_m is not None,
        bool(spec.inside),
        bool(spec.outside),
        spec.area_relation if spec.area is not None else None,
        tuple(k for k, _ in spec.ranking.applied),
        spec.limit is not None,
        spec.with_geometry,
    )


def search_values(spec: SearchSpec, state: ParcelState) -> dict[str, Any]:
    """The values of a search's named parameters."""
    return {
        "parcels_version": state.parcels_version,
        "districts": list(spec.districts),
        "use_patterns": [
            p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for p in spec.use_prefixes
        ],
        "statuses": list(spec.statuses),
        "industries": list(spec.industries),
        "parks": list(spec.parks),
        "max_transit_m": spec.max_transit_m,
        "inside": relation_mask(spec.inside, spec.relation_keys),
        "outside": relation_mask(spec.outside, spec.relation_keys),
        "area": shapely.to_wkb(spec.area) if spec.area is not None else None,
        "limit": spec.limit,
        "offset": spec.offset,
        **{f"r{k}": r.value for k, r in enumerate(spec.ranges)},
        **bound_values(spec.ranking),
    }


def search_statement(t: dict[str, Table], spec: SearchSpec, srid: int, *, count: bool = False) -> Any:
    """The search as one statement with named parameters: filters, criteria, score, stable order, page or count."""
    i, e, info = t["index"], t["shape"], t["info"]
    where: list[Any] = [i.c.parcels_version == bindparam("parcels_version")]
    if not spec.include_nonclean:
        where.append(i.c.clean)
    if spec.districts:
        districts: Any = bindparam("districts", expanding=True)
        where.append(or_(i.c.district_code.in_(districts), i.c.district_name.in_(districts)))
    for k, bound in enumerate(spec.ranges):
        limit: Any = bindparam(f"r{k}", type_=Double())
        where.append(i.c[bound.column] >= limit if bound.op == ">=" else i.c[bound.column] <= limit)
    if spec.use_prefixes:
        where.append(i.c.land_use.like(any_(bindparam("use_patterns", type_=ARRAY(Text)))))
    for column, wanted, name in (
        ("status", spec.statuses, "statuses"),
        ("industry", spec.industries, "industries"),
        ("park", spec.parks, "parks"),
    ):
        if wanted:
            where.append(i.c[column].in_(bindparam(name, expanding=True)))
    transit: Any = i.c.transit_m
    if spec.kind_columns is not None:
        kinds = [i.c.kind_m[k + 1] for k in spec.kind_columns]
        transit = func.least(*kinds) if len(kinds) > 1 else kinds[0] if kinds else literal(None, Double())
    if spec.max_transit_m is not None:
        where.append(transit <= bindparam("max_transit_m", type_=Double()))
    if spec.inside:
        inside: Any = bindparam("inside", type_=BigInteger())
        where.append(i.c.inside_mask.op("&")(inside) == inside)
    if spec.outside:
        where.append(i.c.overlap_mask.op("&")(bindparam("outside", type_=BigInteger())) == 0)
    if spec.area is not None:
        area = func.ST_GeomFromWKB(bindparam("area", type_=LargeBinary()), srid)
        where.append(
            func.ST_CoveredBy(e.c.geom, area)
            if spec.area_relation == "within"
            else func.ST_Relate(e.c.geom, area, "T********")
        )
    source = i.join(e, e.c.fid == i.c.fid) if spec.area is not None else i
    if count:
        return select(func.count()).select_from(source).where(*where)
    ops = SqlOps()
    columns = {
        "area_m2": i.c.area_m2,
        "far_min": i.c.far_min,
        "far_max": i.c.far_max,
        "transit_m": transit,
        "status": i.c.status,
        "in_zone": i.c.in_zone,
    }
    values = criterion_values(spec.ranking, columns, ops)
    # Stage 1 ranks narrow rows (ids, criterion values, score, total); stage 2 fetches what a page shows.
    ranked = (
        select(i.c.fid, i.c.parcel_id, transit.label("transit_used"), *(v.label(f"v{k}") for k, v in enumerate(values)))
        .select_from(source)
        .where(*where)
    )
    inner = ranked.subquery("m")
    score = score_of(spec.ranking, [inner.c[f"v{k}"] for k in range(len(values))], ops)
    score = ops.const(0.0) if score is None else score
    top: Any = (
        select(inner, score.label("score"))
        .order_by(score.desc(), inner.c.parcel_id.collate("C"))
        .offset(bindparam("offset"))
    )
    if spec.limit is not None:
        top = top.limit(bindparam("limit"))
    page = top.subquery("top")
    shown: list[Any] = [
        *(i.c[c] for c in SEARCH_COLUMNS if c not in ("fid", "parcel_id")),
        *(info.c[c] for c in INFO_COLUMNS if c not in ("fid", "attributes", "versions")),
    ]
    joined = page.join(i, i.c.fid == page.c.fid).join(info, info.c.fid == page.c.fid)
    if spec.with_geometry:
        shown.append(func.ST_AsBinary(e.c.geom).label("wkb"))
        joined = joined.join(e, e.c.fid == page.c.fid)
    return select(page, *shown).select_from(joined).order_by(page.c.score.desc(), page.c.parcel_id.collate("C"))
