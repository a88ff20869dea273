"""A parcel-figure refresh on PostGIS: one set-based statement per layer, rows written back with COPY."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, MetaData, Table, and_, case, delete, func, literal, select, text, true

from sitecheck.parcels.engine import RefreshWrite
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.records import DISTANCE_COLUMNS, LAYER_COLUMNS, DistanceRow, LayerRow, Nearest, ParcelBase, Piece
from sitecheck.stores.base import FEATURE_ID, FEATURE_KIND, FEATURE_NAME, FID, LayerVersion, SourceField
from sitecheck.stores.parcels_pg_sql import (
    INFO_COLUMNS,
    JSON_COLUMNS,
    SEARCH_COLUMNS,
    SEARCH_TABLE_COLUMNS,
    info_table,
    qualified,
    quote,
    read_state,
    relation_mask,
    search_table,
    shape_table,
)
from sitecheck.stores.pg_tables import feature_table, subdivided_table
from sitecheck.stores.postgis import PostgisStore


class PostgisRefresh:
    """A refresh on the PostGIS engine: set-based reads and COPY writes inside the locked transaction."""

    def __init__(self, store: PostgisStore, tables: dict[str, Table], conn: Connection) -> None:
        """Work inside the caller's locked transaction."""
        self.store, self.conn, self.t = store, conn, tables

    def state(self) -> ParcelState | None:
        """The stored state."""
        return read_state(self.t["state"], self.conn)

    def _table(self, version: LayerVersion) -> tuple[Table, Table | None]:
        """The feature table (and subdivided copy) of a layer version."""
        lv = self.store.tables.layer_version
        row = self.conn.execute(
            select(lv.c.table_name, lv.c.subdivided_table, lv.c.fields, lv.c.geometry_kind).where(
                (lv.c.layer_key == version.layer_key) & (lv.c.version == version.version)
            )
        ).one()
        fields = tuple(SourceField(f["name"], f["kind"]) for f in row.fields)
        schema, srid = self.store.layer_schema, self.store.srid
        table = feature_table(schema, row.table_name, fields, row.geometry_kind, srid)
        return table, subdivided_table(schema, row.subdivided_table, srid) if row.subdivided_table else None

    def parcel_base(self, version: LayerVersion) -> ParcelBase:
        """Every parcel in fid order with its attributes and geometry."""
        table, _ = self._table(version)
        names = [f.name for f in version.fields]
        rows = self.conn.execute(
            select(
                table.c[FID],
                table.c[FEATURE_ID],
                table.c[FEATURE_NAME],
                table.c[FEATURE_KIND],
                *(table.c[n] for n in names),
                func.ST_AsBinary(table.c.geom),
            ).order_by(table.c[FID])
        ).all()
        return ParcelBase(
            version.version,
            np.asarray([r[0] for r in rows], dtype=np.int64),
            [r[1] for r in rows],
            [r[2] for r in rows],
            [r[3] for r in rows],
            [dict(zip(names, r[4:-1], strict=True)) for r in rows],
            shapely.from_wkb([r[-1] for r in rows]),
        )

    def overlay(self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase) -> list[Piece]:
        """One statement: every (parcel, feature) overlap, covered or intersected (through the subdivided copy)."""
        p = self._table(parcels)[0].alias("p")
        table, sub = self._table(layer)
        f = table.alias("f")
        if sub is not None:
            s = sub.alias("s")
            local = (
                select(p.c[FID].label("parcel_fid"), s.c[FID].label("fid"), func.ST_Union(s.c.geom).label("g"))
                .select_from(p.join(s, func.ST_Intersects(p.c.geom, s.c.geom)))
                .group_by(p.c[FID], s.c[FID])
                .subquery("l")
            )
            shape, joined = local.c.g, local.join(p, p.c[FID] == local.c.parcel_fid).join(f, f.c[FID] == local.c.fid)
        else:
            shape, joined = f.c.geom, p.join(f, func.ST_Intersects(p.c.geom, f.c.geom))
        report = [n for n in self.store.catalog.get(layer.layer_key).report if n in f.c]
        # Materialised so that the coverage test runs once per pair, not again inside the CASE.
        pairs = (
            select(
                p.c[FID].label("parcel_fid"),
                f.c[FID].label("fid"),
                f.c[FEATURE_ID].label("id"),
                f.c[FEATURE_NAME].label("name"),
                f.c[FEATURE_KIND].label("kind"),
                func.jsonb_build_object(*[a for n in report for a in (literal(n), f.c[n])]).label("attributes"),
                func.ST_CoveredBy(p.c.geom, shape).label("covered"),
                p.c.geom.label("pg"),
                shape.label("sg"),
            )
            .select_from(joined)
            .cte("pairs")
            .prefix_with("MATERIALIZED")
        )
        statement = select(
            pairs.c.parcel_fid,
            pairs.c.fid,
            pairs.c.id,
            pairs.c.name,
            pairs.c.kind,
            pairs.c.attributes,
            pairs.c.covered,
            case((pairs.c.covered, None), else_=func.ST_AsBinary(func.ST_Intersection(pairs.c.sg, pairs.c.pg))),
        )
        return [
            Piece(a, b, c, d, e, g or {}, h, bytes(w) if w is not None else None)
            for a, b, c, d, e, g, h, w in self.conn.execute(statement)
        ]

    def nearest(
        self, parcels: LayerVersion, layer: LayerVersion, base: ParcelBase
    ) -> tuple[list[Nearest], list[dict[str, Any]]]:
        """One statement: the two nearest features of each kind per parcel (KNN), and the layer's kinds."""
        p = self._table(parcels)[0].alias("p")
        table = self._table(layer)[0]
        kind = func.coalesce(table.c[FEATURE_KIND], "")
        points = func.bool_and(func.ST_GeometryType(table.c.geom).in_(["ST_Point", "ST_MultiPoint"]))
        kinds = [
            {"kind": k, "points": bool(pt)}
            for k, pt in self.conn.execute(select(kind, points).group_by(kind).order_by(kind))
        ]
        k = select(kind.label("kind")).distinct().subquery("k")
        t = table.alias("t")
        near = (
            select(t.c[FID], t.c[FEATURE_ID], t.c[FEATURE_NAME], t.c.geom)
            .where(func.coalesce(t.c[FEATURE_KIND], "") == k.c.kind)
            .order_by(t.c.geom.op("<->")(p.c.geom))
            .limit(2)
            .lateral("n")
        )
        statement = select(
            p.c[FID], k.c.kind, near.c[FID], near.c[FEATURE_ID], near.c[FEATURE_NAME], func.ST_AsBinary(near.c.geom)
        ).select_from(p.join(k, true()).join(near, true()))
        return [Nearest(a, b, c, d, e, bytes(w)) for a, b, c, d, e, w in self.conn.execute(statement)], kinds

    def neighbour_candidates(self, parcels: LayerVersion, base: ParcelBase, radius_m: float) -> np.ndarray:
        """One statement: parcel pairs (a < b) within the radius."""
        table = self._table(parcels)[0]
        a, b = table.alias("a"), table.alias("b")
        rows = self.conn.execute(
            select(a.c[FID], b.c[FID]).select_from(
                a.join(b, and_(a.c[FID] < b.c[FID], func.ST_DWithin(a.c.geom, b.c.geom, radius_m)))
            )
        ).all()
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
        self._copy(
            t["layer"],
            LAYER_COLUMNS,
            [[getattr(r, c) for c in LAYER_COLUMNS] for rows in change.layer_rows.values() for r in rows],
        )
        self._copy(
            t["distance"],
            DISTANCE_COLUMNS,
            [[getattr(r, c) for c in DISTANCE_COLUMNS] for rows in change.distance_rows.values() for r in rows],
        )
        if change.neighbours is not None:
            conn.execute(delete(t["neighbour"]))
            self._copy(t["neighbour"], ("fid", "neighbour_fid", "gap_m"), [list(r) for r in change.neighbours])
        # The index is rebuilt aside and swapped in (never deleted row by row), so that searches scan a
        # compact, freshly analysed table; readers of the old one finish before the swap commits.
        suffix = uuid.uuid4().hex[:8]
        meta = MetaData(schema=self.store.schema)
        ewkb = shapely.to_wkb(shapely.set_srid(change.geometries, self.store.srid), hex=True, include_srid=True)
        order = change.relation_keys
        search_rows = []
        for r in change.index:
            values = {c: getattr(r, c) for c in SEARCH_COLUMNS} | {
                "parcels_version": change.parcels_version,
                "inside_mask": relation_mask(r.inside_layers, order),
                "overlap_mask": relation_mask(r.overlap_layers, order),
            }
            search_rows.append([values[c] for c in SEARCH_TABLE_COLUMNS])
        shape_rows = [[r.fid, g] for r, g in zip(change.index, ewkb.tolist(), strict=True)]
        info_rows = [[getattr(r, c) for c in INFO_COLUMNS] for r in change.index]
        for fresh, current, columns, rows in (
            (search_table(meta, f"parcel_index_{suffix}"), t["index"], SEARCH_TABLE_COLUMNS, search_rows),
            (shape_table(meta, f"parcel_shape_{suffix}", self.store.srid), t["shape"], ("fid", "geom"), shape_rows),
            (info_table(meta, f"parcel_info_{suffix}"), t["info"], INFO_COLUMNS, info_rows),
        ):  # fmt: skip
            fresh.create(conn)
            self._copy(fresh, columns, rows, freeze=True)
            conn.execute(text(f"ANALYZE {qualified(fresh)}"))
            conn.execute(text(f"DROP TABLE {qualified(current)}"))
            conn.execute(text(f"ALTER TABLE {qualified(fresh)} RENAME TO {quote(current.name)}"))
        state = t["state"]
        conn.execute(delete(state) if change.reset else delete(state).where(state.c.layer_key.in_(change.dropped)))
        conn.execute(delete(state).where(state.c.layer_key.in_([p.layer_key for p in change.parts])))
        if change.parts:
            conn.execute(state.insert(), [dict(p.__dict__) for p in change.parts])

    def _copy(self, table: Table, columns: tuple[str, ...], rows: list[list[Any]], *, freeze: bool = False) -> None:
        """COPY rows into a table (JSON columns wrapped as jsonb); ``freeze`` for a table made in this transaction.

        Frozen rows are written with their hint bits set and their pages marked all-visible, so the first
        searches after a refresh do not pay for setting them (and dirtying every page they read).
        """
        if not rows:
            return
        raw = self.conn.connection.driver_connection
        assert raw is not None, "a live connection has a driver connection"
        statement = sql.SQL("COPY {}.{} ({}) FROM STDIN{}").format(
            sql.Identifier(table.schema or ""),
            sql.Identifier(table.name),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(" WITH (FREEZE)" if freeze else ""),
        )
        json_at = [i for i, c in enumerate(columns) if c in JSON_COLUMNS]
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                for i in json_at:
                    row[i] = Jsonb(row[i])
                copy.write_row(row)
