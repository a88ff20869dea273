"""Feature reads and vector tiles of the PostGIS engine (SQLAlchemy Core + GeoAlchemy2).

Tiles come from ST_AsMVT over a per-version Web-Mercator copy (``<key>_v<N>_mvt_<fields hash>``: the fid, the
reported fields, the geometry in EPSG:3857 and its extent in metres, GiST-indexed). Versions never change, so
the copy is built once, on the first tile of a version, under an advisory lock (DESIGN §10: a stored
Web-Mercator geometry is the faster tile path).

The per-request paths (a tile, the current version of a layer) are one statement each: built with SQLAlchemy
Core once per version, compiled once, and run as a server-side prepared statement on a psycopg connection of the
reader's own (``_ReadConnections``: made by the store's engine, then detached from its pool and kept in
autocommit), which saves SQLAlchemy's execution machinery, the pool's checkout and reset and BEGIN/COMMIT, each
about as long as a small tile's query.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import shapely
from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    event,
    func,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import QueuePool

from sitecheck.errors import StoreUnavailable, VersionNotFound
from sitecheck.onemap.model import FeaturePage, FeatureQuery, LayerFeature, RenderedTile, TileSpec, page_total
from sitecheck.onemap.tilegrid import HALF_WORLD_M
from sitecheck.stores.base import FEATURE_ID, FEATURE_KIND, FEATURE_NAME, FID, LayerVersion, SourceField
from sitecheck.stores.pg_overlay import quote
from sitecheck.stores.pg_tables import feature_table, subdivided_table
from sitecheck.stores.postgis import PostgisStore, idle_connection_alive, unavailable_on_fault

MERCATOR_SRID = 3857
SIZE_COLUMN = "_size_m"


@dataclass(frozen=True)
class _VersionTables:
    """What the reader knows about one stored version: its record, feature table and tile table."""

    version: LayerVersion
    features: Table
    pieces: Table | None  # the subdivided copy of layers with big polygons
    reported: tuple[str, ...]
    tiles: Table


class PostgisFeatures:
    """The PostGIS engine's FeatureReader."""

    tile_copy_stored = True

    def __init__(self, store: PostgisStore) -> None:
        """Wrap a store (weakly: the reader lives in a cache keyed by the store); versions never change, so their
        metadata and statements are cached."""
        self.store: PostgisStore = weakref.proxy(store)
        # Reads are single statements over immutable tables: the store's autocommit engine saves BEGIN/COMMIT.
        self._reads = store.read_db
        self._connections = _ReadConnections(store.db)
        self._versions: dict[tuple[str, int], _VersionTables] = {}
        self._tile_tables_ready: set[str] = set()
        self._tile_statements: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        current = store.tables.layer_current
        self._current_statement = self._prepare(
            select(current.c.version).where(current.c.layer_key == bindparam("key", "", type_=Text)), "key"
        )

    def current_version_number(self, layer_key: str) -> int | None:
        """Return the current version number: one indexed row of layer_current, read on every call so that a
        publication by any process is seen at once."""
        row = self._run(self._current_statement, {"key": layer_key})
        return None if row is None else int(row[0])

    def version(self, layer_key: str, number: int) -> LayerVersion:
        """Return one version of a layer or raise VersionNotFound."""
        return self._tables(layer_key, number).version

    def query_features(self, version: LayerVersion, query: FeatureQuery) -> FeaturePage:
        """Return the features matching a query, in fid order, with the total matched when asked."""
        tables = self._tables(version.layer_key, version.version)
        table = tables.features
        conditions: list[Any] = []
        if query.area is not None:
            area = func.ST_GeomFromWKB(bindparam("area", shapely.to_wkb(query.area)), self.store.srid)
            # Big polygons are tested through their indexed pieces of at most 256 vertices (DESIGN §10).
            tested = tables.pieces if tables.pieces is not None else table
            if query.distance_m is not None:
                near: Any = func.ST_DWithin(tested.c.geom, area, cast(query.distance_m, Float))
            else:
                near = func.ST_Intersects(tested.c.geom, area)
            conditions.append(near if tables.pieces is None else table.c[FID].in_(select(tested.c[FID]).where(near)))
        for index, (name, value) in enumerate(query.equals.items()):
            conditions.append(table.c[name] == bindparam(f"eq{index}", value, type_=table.c[name].type))
        geometry: Any = table.c.geom
        if query.clip is not None:
            envelope = func.ST_MakeEnvelope(*(cast(v, Float) for v in query.clip), cast(self.store.srid, Integer))
            geometry = func.ST_ClipByBox2D(geometry, envelope)
        if query.simplify_m:
            geometry = func.ST_SimplifyPreserveTopology(geometry, cast(query.simplify_m, Float))
        statement = (
            select(
                table.c[FID],
                table.c[FEATURE_ID],
                table.c[FEATURE_NAME],
                table.c[FEATURE_KIND],
                *(table.c[name] for name in tables.reported),
                func.ST_AsBinary(geometry).label("wkb"),
            )
            .where(*conditions)
            .order_by(table.c[FID])
            .offset(query.offset)
        )
        if query.limit is not None:
            statement = statement.limit(query.limit)
        with self._read() as conn:
            rows = conn.execute(statement).all()
            matched = None
            if query.count:
                matched = page_total(query, len(rows))
                if matched is None:  # a full page, or one past the end: count
                    matched = conn.execute(select(func.count()).select_from(table).where(*conditions)).scalar_one()
        return FeaturePage(features=[self._feature(row, tables.reported) for row in rows], matched=matched)

    def get_feature(self, version: LayerVersion, fid: int) -> LayerFeature | None:
        """Return one feature by fid, or None."""
        tables = self._tables(version.layer_key, version.version)
        table = tables.features
        statement = select(
            table.c[FID],
            table.c[FEATURE_ID],
            table.c[FEATURE_NAME],
            table.c[FEATURE_KIND],
            *(table.c[name] for name in tables.reported),
            func.ST_AsBinary(table.c.geom).label("wkb"),
        ).where(table.c[FID] == cast(fid, BigInteger))
        with self._read() as conn:
            row = conn.execute(statement).first()
        return None if row is None else self._feature(row, tables.reported)

    def render_tile(self, version: LayerVersion, tile: TileSpec) -> RenderedTile:
        """Encode one tile with ST_AsMVT over the version's Web-Mercator copy: largest features first."""
        tables = self._tables(version.layer_key, version.version)
        self._ensure_tile_table(tables)
        statement = self._tile_statement(tables, tile)
        parameters = {"z": tile.z, "x": tile.x, "y": tile.y, "min_size": tile.min_size_m, "cap": tile.max_features}
        row = self._run(statement, parameters)
        data, rows = row if row is not None else (None, 0)
        return RenderedTile(data=bytes(data or b""), features=rows, truncated=rows >= tile.max_features)

    def prepare_tiles(self, version: LayerVersion) -> None:
        """Build the version's Web-Mercator copy now (otherwise its first tile does); idempotent."""
        self._ensure_tile_table(self._tables(version.layer_key, version.version))

    # --- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """Yield an autocommit connection; driver faults become StoreUnavailable."""
        with unavailable_on_fault(), self._reads.connect() as conn:
            yield conn

    def _run(self, statement: str, parameters: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run a prepared single-row statement on one of the reader's autocommit connections; return its row.
        Driver faults become StoreUnavailable; a lost connection is discarded."""
        conn = self._connections.take()
        try:
            with unavailable_on_fault():
                return conn.execute(statement, parameters, prepare=True).fetchone()
        finally:
            self._connections.give_back(conn)

    def _prepare(self, statement: Select[Any], *parameters: str) -> str:
        """Compile a statement once for the psycopg driver: only ``parameters`` stay bound (their values here are
        placeholders); constants are written in, as ``_const`` marks them, so that each call sends no more."""
        compiled = statement.compile(dialect=self._reads.dialect, compile_kwargs={"render_postcompile": True})
        if set(compiled.params) != set(parameters):
            raise ValueError(f"bound {sorted(compiled.params)}, expected {sorted(parameters)}")
        return str(compiled)

    def _tables(self, layer_key: str, number: int) -> _VersionTables:
        """Return (and cache) a version's record and tables, or raise VersionNotFound."""
        cached = self._versions.get((layer_key, number))
        if cached is not None:
            return cached
        layer = self.store.catalog.get(layer_key)
        lv = self.store.tables.layer_version
        with self._read() as conn:
            row = conn.execute(
                select(lv.c.table_name, lv.c.subdivided_table, lv.c.fields, lv.c.geometry_kind).where(
                    (lv.c.layer_key == layer_key) & (lv.c.version == number)
                )
            ).first()
        if row is None:
            raise VersionNotFound(f"layer '{layer_key}' has no version {number}", f"图层“{layer_key}”没有版本 {number}")
        record = next(v for v in self.store.list_versions(layer_key) if v.version == number)
        fields = tuple(SourceField(f["name"], f["kind"]) for f in row.fields)
        table = feature_table(self.store.layer_schema, row.table_name, fields, row.geometry_kind, self.store.srid)
        reported = tuple(name for name in layer.report if name in table.c)
        digest = hashlib.sha1("\x1f".join(reported).encode("utf-8")).hexdigest()[:8]
        tiles = Table(
            f"{row.table_name}_mvt_{digest}",
            MetaData(schema=self.store.layer_schema),
            Column(FID, BigInteger),
            *(Column(name, table.c[name].type) for name in reported),
            Column(SIZE_COLUMN, Float),
            Column("geom", Geometry("GEOMETRY", srid=MERCATOR_SRID, spatial_index=False)),
        )
        pieces = None
        if row.subdivided_table:
            pieces = subdivided_table(self.store.layer_schema, row.subdivided_table, self.store.srid)
        tables = _VersionTables(version=record, features=table, pieces=pieces, reported=reported, tiles=tiles)
        self._versions[(layer_key, number)] = tables
        return tables

    def _ensure_tile_table(self, tables: _VersionTables) -> None:
        """Build the version's Web-Mercator copy once (idempotent; concurrent builders wait on a lock)."""
        name = tables.tiles.name
        if name in self._tile_tables_ready:
            return
        with self._lock, self._write() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(bindparam("lock", f"mvt:{name}", Text)))))
            qualified = f"{quote(self.store.layer_schema)}.{quote(name)}"
            exists = conn.execute(select(func.to_regclass(bindparam("name", qualified, Text)))).scalar()
            if exists is None:
                source = f"{quote(self.store.layer_schema)}.{quote(tables.features.name)}"
                columns = ", ".join(quote(c) for c in (FID, *tables.reported))
                conn.execute(
                    text(
                        f"CREATE TABLE {qualified} AS SELECT {columns}, g AS geom, "
                        "CASE WHEN ST_Dimension(g) = 0 THEN 'Infinity'::float8 "
                        "ELSE greatest(ST_XMax(g) - ST_XMin(g), ST_YMax(g) - ST_YMin(g)) END "
                        f"AS {quote(SIZE_COLUMN)} "
                        f"FROM (SELECT *, ST_Transform(geom, {MERCATOR_SRID}) AS g FROM {source}) AS src ORDER BY g"
                    )
                )
                conn.execute(text(f"CREATE INDEX ON {qualified} USING gist (geom)"))
                conn.execute(text(f"ANALYZE {qualified}"))
        self._tile_tables_ready.add(name)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction; driver faults (a read-only replica too) become StoreUnavailable."""
        try:
            with self.store.db.begin() as conn:
                yield conn
        except DBAPIError as exc:
            raise StoreUnavailable(
                f"the vector-tile copy could not be written: {exc.orig}", "矢量瓦片数据副本无法写入，请稍后重试"
            ) from exc

    def _tile_statement(self, tables: _VersionTables, tile: TileSpec) -> str:
        """Build (once per version) the ST_AsMVT statement; z, x, y, min_size and cap are bound parameters."""
        key = (tables.version.layer_key, tables.version.version)
        cached = self._tile_statements.get(key)
        if cached is not None:
            return cached
        t = tables.tiles
        z, x, y = (cast(bindparam(name, 0, type_=Integer), Integer) for name in ("z", "x", "y"))
        world = func.ST_MakeEnvelope(
            *(_const(v, Float) for v in (-HALF_WORLD_M, -HALF_WORLD_M, HALF_WORLD_M, HALF_WORLD_M)),
            _const(MERCATOR_SRID, Integer),
        )
        extent = _const(tile.extent, Integer)
        # The envelopes are scalar subqueries (InitPlans, evaluated once per execution), so that no estimate
        # depends on the tile: after its first five executions on a connection the server keeps one generic plan
        # instead of planning every tile, which costs about as much as running a z16 tile.
        margin = _const(tile.buffer / tile.extent, Float)
        envelope = select(func.ST_TileEnvelope(z, x, y)).scalar_subquery()
        search = select(func.ST_TileEnvelope(z, x, y, world, margin)).scalar_subquery()
        rows = (
            select(
                t.c[FID],
                *(t.c[name] for name in tables.reported),
                func.ST_AsMVTGeom(t.c.geom, envelope, extent, _const(tile.buffer, Integer), true()).label("geom"),
            )
            .where(t.c.geom.op("&&")(search))
            .where(t.c[SIZE_COLUMN] >= cast(bindparam("min_size", 0.0, type_=Float), Float))
            .order_by(t.c[SIZE_COLUMN].desc(), t.c[FID])
            .limit(bindparam("cap", 0, type_=Integer))
            .subquery("tile")
        )
        statement = select(
            func.ST_AsMVT(
                rows.table_valued(),
                _const(tables.version.layer_key, Text),
                extent,
                _const("geom", Text),
                _const(FID, Text),
            ),
            func.count(),
        ).select_from(rows)
        prepared = self._prepare(statement, "z", "x", "y", "min_size", "cap")
        self._tile_statements[key] = prepared
        return prepared

    def _feature(self, row: Any, reported: tuple[str, ...]) -> LayerFeature:
        """Build a feature from a result row (canonical columns, reported fields, WKB)."""
        mapping = row._mapping
        return LayerFeature(
            fid=int(mapping[FID]),
            feature_id=str(mapping[FEATURE_ID]),
            name=mapping[FEATURE_NAME],
            kind=mapping[FEATURE_KIND],
            attributes={name: mapping[name] for name in reported},
            geometry=shapely.from_wkb(bytes(mapping["wkb"])),
        )


class _ReadConnections:
    """Autocommit psycopg connections for the per-request reads (a tile, a layer's current version).

    Each is made by the store's engine (its URL, session options and statement timeout), then detached from the
    engine's pool and switched to autocommit once: a read then costs no pool checkout and reset and no autocommit
    switch each way (together about as long as a z16 tile's query when the process's caches are cold), and each
    connection keeps its prepared statements. Idle ones are kept up to the size of the engine's pool, checked as
    the engine checks its own at checkout, and closed when the engine is disposed (``Store.close()``).
    """

    def __init__(self, engine: Engine) -> None:
        """Make connections with this engine (none yet)."""
        self._engine = engine
        self._idle: list[psycopg.Connection] = []
        self._keep = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
        event.listen(engine, "engine_disposed", self._close_idle)

    def take(self) -> psycopg.Connection:
        """Return an idle connection whose server is still there, or a new one."""
        while True:
            try:
                conn = self._idle.pop()  # atomic: no lock
            except IndexError:
                return self._connect()
            if idle_connection_alive(conn):
                return conn
            conn.close()

    def give_back(self, conn: psycopg.Connection) -> None:
        """Keep a connection for the next read, or close it (lost, not idle, or enough kept)."""
        idle = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if idle and len(self._idle) < self._keep:
            self._idle.append(conn)
        else:
            conn.close()

    def _connect(self) -> psycopg.Connection:
        """A new autocommit connection from the engine, detached from its pool."""
        with unavailable_on_fault():
            pooled = self._engine.raw_connection()
        conn = pooled.driver_connection
        assert isinstance(conn, psycopg.Connection)
        pooled.detach()
        conn.autocommit = True
        return conn

    def _close_idle(self, _engine: Engine) -> None:
        """Close the idle connections (the engine is being disposed)."""
        while True:
            try:
                conn = self._idle.pop()
            except IndexError:
                return
            conn.close()


def _const(value: Any, type_: Any) -> Any:
    """A constant of a prepared statement, written into its text (rendered by SQLAlchemy, strings quoted)."""
    return cast(literal(value, type_, literal_execute=True), type_)
