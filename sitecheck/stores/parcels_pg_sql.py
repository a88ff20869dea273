"""The SQL of parcel figures on PostGIS: the tables, and the statements a search runs.

A search ranks on an in-memory copy of the narrow index (``sitecheck.parcels.memory``, the same code as the
embedded engine, so both engines rank alike); the database answers what only it holds for a search: the stored
state, the parcels a drawn area selects (GiST) and what a page shows, read by fid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
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
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from sitecheck.parcels.explain import SHOWN_COLUMNS
from sitecheck.parcels.layout import ParcelState, PartState
from sitecheck.parcels.records import DISTANCE_COLUMNS, INDEX_COLUMNS, LAYER_COLUMNS
from sitecheck.stores.pg_overlay import quote
from sitecheck.stores.postgis import PostgisStore

# What searches filter and rank on: the search table holds these and the relation masks, and nothing else, so
# that the in-memory index a search ranks on is read from few pages (once per state).
SEARCH_COLUMNS = (
    "fid", "clean", "in_zone", "area_m2", "transit_m", "far_min", "far_max", "invest", "tax", "parcel_id", "status",
    "land_use", "district_code", "district_name", "park", "industry", "kind_m",
)  # fmt: skip
# Layer relations as bit masks (bit k: the k-th polygonal layer in configuration order).
MASK_COLUMNS = ("inside_mask", "overlap_mask")
# The physical order of the search table: fixed-width columns first.
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
# What a page reads from the info table: what a result shows and the in-memory index does not hold.
_PAGE_PLAIN = tuple(c for c in SHOWN_COLUMNS if c in INFO_COLUMNS and c != "fid" and c not in JSON_COLUMNS)
_PAGE_JSON = tuple(c for c in SHOWN_COLUMNS if c in INFO_COLUMNS and c in JSON_COLUMNS)
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


def relation_flags(masks: Sequence[int], order: Sequence[str]) -> dict[str, np.ndarray]:
    """Per polygonal layer, which rows' bit masks (as written by ``relation_mask``) hold the layer's bit."""
    bits = np.asarray(masks, dtype=np.int64)
    return {key: (bits >> k) & 1 == 1 for k, key in enumerate(order)}


def narrow_statement(t: dict[str, Table]) -> Any:
    """The search table of one parcels version: ``SEARCH_COLUMNS`` then ``MASK_COLUMNS``, in fid order."""
    i = t["index"]
    return (
        select(*(i.c[c] for c in (*SEARCH_COLUMNS, *MASK_COLUMNS)))
        .where(i.c.parcels_version == bindparam("parcels_version"))
        .order_by(i.c.fid)
    )


def area_statement(t: dict[str, Table], relation: str, srid: int) -> Any:
    """The fids of the parcels a drawn area selects: covered by it (within) or sharing interior (overlaps)."""
    e = t["shape"]
    area = func.ST_GeomFromWKB(bindparam("area", type_=LargeBinary()), srid)
    if relation == "within":
        # The area first: PostGIS prepares the repeated argument of ST_Covers (ST_CoveredBy(geom, area) is the
        # same test, several times slower).
        return select(e.c.fid).where(func.ST_Covers(area, e.c.geom))
    # ST_Relate has no index support: the bounding-box test lets the GiST index pick the candidates.
    return select(e.c.fid).where(e.c.geom.op("&&")(area), func.ST_Relate(e.c.geom, area, "T********"))


def page_statement(t: dict[str, Table], *, with_geometry: bool) -> Any:
    """What a page shows of some parcels (by fid, in no order) beyond the search columns held in memory.

    Rows are read by ``page_row``.
    """
    e, info = t["shape"], t["info"]
    # The JSON columns come as one array per row: one document to parse instead of three.
    shown: list[Any] = [
        info.c.fid,
        *(info.c[c] for c in _PAGE_PLAIN),
        func.json_build_array(*(info.c[c] for c in _PAGE_JSON)),
    ]
    joined: Any = info
    if with_geometry:
        shown.append(func.ST_AsBinary(e.c.geom))
        joined = info.join(e, e.c.fid == info.c.fid)
    return select(*shown).select_from(joined).where(info.c.fid == any_(bindparam("fids", type_=ARRAY(BigInteger))))


def page_row(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``page_statement``: ``fid``, the shown columns of the info table and ``wkb`` if it read geometry."""
    n = len(_PAGE_PLAIN) + 1
    out = dict(zip(("fid", *_PAGE_PLAIN), row, strict=False))
    out.update(zip(_PAGE_JSON, row[n], strict=True))
    if len(row) > n + 1:
        out["wkb"] = row[n + 1]
    return out
