"""Writing a layer version's tables in PostGIS: binary COPY, indexes, the subdivided copy, written-data checks.

Everything here runs inside the caller's transaction (``PostgisStore.write_version``), which then records and
publishes the version, so a failure anywhere leaves no trace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import Connection, func, select, text

from sitecheck.errors import LayerEmpty, LayerValidationFailed
from sitecheck.stores.base import (
    FEATURE_ID,
    FEATURE_KIND,
    FEATURE_NAME,
    FID,
    FeatureBatch,
    SourceField,
    VersionDraft,
    WriteObserver,
    iter_nonempty,
)
from sitecheck.stores.pg_copy import HEADER, TRAILER, encode_rows
from sitecheck.stores.pg_overlay import quote
from sitecheck.stores.pg_tables import RecordTables, feature_table, feature_table_name, subdivided_table

SUBDIVIDE_MAX_VERTICES = 256


@dataclass(frozen=True)
class WrittenTables:
    """What a load wrote: the version number, its tables, the feature count and extent."""

    version: int
    table_name: str
    subdivided_table: str | None
    count: int
    bbox: tuple[float, float, float, float]


def write_version_tables(
    conn: Connection,
    tables: RecordTables,
    layer_schema: str,
    srid: int,
    draft: VersionDraft,
    batches: Iterable[FeatureBatch],
    *,
    subdivide: bool,
    observer: WriteObserver | None,
) -> WrittenTables:
    """Create, fill, index (and subdivide) the next version's table, and check what was written."""
    lv = tables.layer_version
    conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(draft.layer_key))))
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    conn.execute(text("SET LOCAL statement_timeout = 0"))  # a city-scale load outlasts a request's limit
    version = (
        1
        + conn.execute(
            select(func.coalesce(func.max(lv.c.version), 0)).where(lv.c.layer_key == draft.layer_key)
        ).scalar_one()
    )
    name = feature_table_name(draft.layer_key, version)
    # The primary key is added after the COPY: one sorted build instead of a b-tree insert per row.
    table = feature_table(layer_schema, name, draft.fields, draft.geometry, srid, primary_key=False)
    table.create(conn)
    count, bbox = _copy_features(conn, layer_schema, name, draft.fields, batches, observer)
    if count == 0:
        raise LayerEmpty(f"layer '{draft.layer_key}': no features left after validation", "校验后没有可入库的要素")
    qualified = f"{quote(layer_schema)}.{quote(name)}"
    conn.execute(text(f"ALTER TABLE {qualified} ADD PRIMARY KEY ({quote(FID)})"))
    conn.execute(text(f"CREATE INDEX ON {qualified} USING gist (geom)"))
    conn.execute(text(f"CREATE INDEX ON {qualified} ({quote(FEATURE_ID)})"))
    sub_name = None
    if subdivide:
        sub_name = f"{name}_sub"
        _write_subdivided(conn, layer_schema, srid, qualified, sub_name)
    conn.execute(text(f"ANALYZE {qualified}"))
    _validate_written(conn, qualified, draft.layer_key, count, bbox)
    return WrittenTables(version, name, sub_name, count, bbox)


def _copy_features(
    conn: Connection,
    layer_schema: str,
    table_name: str,
    fields: tuple[SourceField, ...],
    batches: Iterable[FeatureBatch],
    observer: WriteObserver | None,
) -> tuple[int, tuple[float, float, float, float]]:
    """Stream batches into the new table with binary COPY (geometry as the source's WKB); return count and extent."""
    columns = [FID, FEATURE_ID, FEATURE_NAME, FEATURE_KIND, *(f.name for f in fields), "geom"]
    # FREEZE (allowed because the table was created in this transaction, which nobody else can see yet) writes
    # the rows frozen and all-visible: the index builds, ANALYZE and the first readers set no hint bits and
    # the table never needs a freezing vacuum.
    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN (FORMAT BINARY, FREEZE)").format(
        sql.Identifier(layer_schema),
        sql.Identifier(table_name),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )
    count = 0
    bounds = [math.inf, math.inf, -math.inf, -math.inf]
    raw = conn.connection.driver_connection
    assert raw is not None, "a live connection has a driver connection"
    with raw.cursor() as cursor, cursor.copy(statement, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(HEADER)
        for batch in iter_nonempty(batches):
            typed = [
                (batch.fids, "integer"),
                (batch.feature_ids, "text"),
                (batch.names, "text"),
                (batch.kinds, "text"),
                *((values, field.kind) for field, values in zip(fields, batch.values, strict=True)),
            ]
            copy.write(encode_rows(typed, batch.wkb))
            count += len(batch)
            minx, miny, maxx, maxy = batch.bounds
            bounds = [min(bounds[0], minx), min(bounds[1], miny), max(bounds[2], maxx), max(bounds[3], maxy)]
            if observer is not None:
                observer(count)
        copy.write(TRAILER)
    return count, (bounds[0], bounds[1], bounds[2], bounds[3])


def _write_subdivided(conn: Connection, layer_schema: str, srid: int, qualified: str, sub_name: str) -> None:
    """Write the subdivided copy used for indexed overlay of big polygons."""
    sub = subdivided_table(layer_schema, sub_name, srid)
    sub.create(conn)
    sub_qualified = f"{quote(layer_schema)}.{quote(sub_name)}"
    conn.execute(
        text(
            f"INSERT INTO {sub_qualified} ({quote(FID)}, geom) "
            f"SELECT {quote(FID)}, ST_Subdivide(geom, {SUBDIVIDE_MAX_VERTICES}) FROM {qualified}"
        )
    )
    conn.execute(text(f"CREATE INDEX ON {sub_qualified} USING gist (geom)"))
    conn.execute(text(f"CREATE INDEX ON {sub_qualified} ({quote(FID)})"))
    conn.execute(text(f"ANALYZE {sub_qualified}"))


def _validate_written(conn: Connection, qualified: str, layer_key: str, count: int, bbox: tuple[float, ...]) -> None:
    """Check the written table's count and extent against what was sent."""
    row = conn.execute(
        text(
            "SELECT n, ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, ST_YMax(e) AS y1 "
            f"FROM (SELECT count(*) AS n, ST_Extent(geom) AS e FROM {qualified}) AS written"
        )
    ).one()
    written = (row.x0, row.y0, row.x1, row.y1)
    if row.n != count or not np.allclose(written, bbox, atol=0.01, rtol=0):
        raise LayerValidationFailed(
            f"layer '{layer_key}': wrote {row.n} features with extent {written}, expected {count} and {bbox}",
            f"图层“{layer_key}”写入校验失败：要素数或范围不一致",
        )
