"""The PostGIS engine: layer versions in per-version tables, records in the deployment schema.

All SQL of the engine lives here (and in the modules it imports from ``sitecheck.stores``). Driver errors
become domain errors at this boundary.
"""

from __future__ import annotations

import functools
import select as select_module
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Connection,
    Select,
    create_engine,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from sitecheck.access import ApiKey
from sitecheck.config import LayerCatalog
from sitecheck.errors import (
    CheckNotFound,
    StoreUnavailable,
    VersionNotFound,
)
from sitecheck.jsontext import dumps_text, loads
from sitecheck.projection import epsg_code
from sitecheck.settings import Settings
from sitecheck.stores.base import (
    FEATURE_ID,
    FEATURE_KIND,
    FEATURE_NAME,
    FID,
    AuditEvent,
    CheckRecord,
    FeatureBatch,
    LayerVersion,
    OverlapPiece,
    VersionDraft,
    WriteObserver,
)
from sitecheck.stores.pg_load import write_version_tables
from sitecheck.stores.pg_overlay import GENERATION_ROW, OverlayLayer, overlay_sql
from sitecheck.stores.pg_overlay import quote as _quote
from sitecheck.stores.pg_tables import (
    APPEND_ONLY_TABLES,
    record_tables,
)

# Service sessions never use JIT or parallel plans: both cost more than they save on interactive overlay
# queries (JIT compiles for hundreds of ms; each parallel worker pays PROJ set-up) -- DESIGN §10.
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"
_CHECK_COLUMNS = (
    "organisation",
    "id",
    "created_at",
    "created_by",
    "accepted",
    "input_sha256",
    "geometry_sha256",
    "parameters",
    "layer_versions",
    "rule_set",
    "result",
    "error",
    "rerun_of",
)

_JSON_COLUMNS = frozenset({"parameters", "layer_versions", "rule_set", "result", "error"})


def _insert_check_sql(schema: str, srid: int) -> bytes:
    """The INSERT of a check record: the columns in _CHECK_COLUMNS order, then the geometry's WKB."""
    placeholders = ", ".join("%s::jsonb" if c in _JSON_COLUMNS else "%s" for c in _CHECK_COLUMNS)
    columns = ", ".join(_quote(c) for c in (*_CHECK_COLUMNS, "geometry"))
    table = f"{_quote(schema)}.{_quote('check_record')}"
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}, ST_GeomFromWKB(%s, {int(srid)}))".encode()


def sqlalchemy_url(database_url: str) -> str:
    """Return the URL with the psycopg 3 driver named, whatever form the deployment wrote it in."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


class PostgisStore:
    """Layer versions and records in PostgreSQL/PostGIS."""

    engine = "postgis"

    def __init__(self, settings: Settings, catalog: LayerCatalog) -> None:
        """Connect, make sure PostGIS and the schema exist."""
        if not settings.database_url:
            raise ValueError("PostgisStore needs settings.database_url")
        self.catalog = catalog
        self.schema = settings.db_schema
        self.layer_schema = f"{settings.db_schema}_layers"
        self.crs = settings.analysis_crs
        self.srid = epsg_code(settings.analysis_crs)
        self.tables = record_tables(self.schema, self.srid)
        self.db: Engine = create_engine(
            sqlalchemy_url(settings.database_url),
            pool_size=8,
            max_overflow=4,
            pool_timeout=settings.pool_timeout_s,
            json_deserializer=loads,
            connect_args={
                "options": f"{SESSION_OPTIONS} -c statement_timeout={settings.statement_timeout_ms}",
                "application_name": "sitecheck",
            },
        )
        discard_closed_connections(self.db)
        # Built once: a check's record is written with the same statement every time (see save_check).
        self._insert_check = _insert_check_sql(self.schema, self.srid)
        # Reads run without BEGIN/COMMIT round trips; writes use _begin().
        self.read_db: Engine = self.db.execution_options(isolation_level="AUTOCOMMIT")
        self._versions_lock = threading.Lock()
        self._versions_cache: tuple[tuple[Any, ...], list[LayerVersion]] | None = None
        with self._begin() as conn:
            self._create_schema(conn)

    # --- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """Yield a connection inside a transaction; driver faults become StoreUnavailable."""
        with unavailable_on_fault(), self.db.begin() as conn:
            yield conn

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        """Yield an autocommit connection (reads, single-statement writes); driver faults become StoreUnavailable."""
        with unavailable_on_fault(), self.read_db.connect() as conn:
            yield conn

    def _create_schema(self, conn: Connection) -> None:
        """Create PostGIS (if missing), the schemas and the record tables."""
        # Several workers start at once: serialise the DDL (concurrent CREATE OR REPLACE FUNCTION fails).
        conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"sitecheck-schema:{self.schema}"))))
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except DBAPIError as exc:
            raise StoreUnavailable(
                "PostGIS is not installed in this database (CREATE EXTENSION postgis failed)",
                "数据库未安装 PostGIS 扩展",
            ) from exc
        for schema in (self.schema, self.layer_schema):
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}"))
        self.tables.metadata.create_all(conn)
        self._compress_results_with_lz4(conn)
        # The audit trail is append-only for every database role, the service's own included: a trigger
        # refuses UPDATE, DELETE and TRUNCATE on it (docs/access.md).
        schema = _quote(self.schema)
        conn.execute(
            text(
                f"CREATE OR REPLACE FUNCTION {schema}.refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit records are append-only (%)', TG_TABLE_NAME; END $$"
            )
        )
        for table in APPEND_ONLY_TABLES:
            target = f"{schema}.{_quote(table)}"
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {target} "
                    f"FOR EACH ROW EXECUTE FUNCTION {schema}.refuse_audit_change()"
                )
            )
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON {target} "
                    f"FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_audit_change()"
                )
            )

    def _compress_results_with_lz4(self, conn: Connection) -> None:
        """Store a check's answer compressed with lz4 rather than pglz: the ~15 KB answer is written on every
        check, and pglz costs about twice as long. PostgreSQL built without lz4 keeps pglz."""
        table = f"{_quote(self.schema)}.{_quote('check_record')}"
        current = conn.execute(
            text("SELECT attcompression FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attname = :c"),
            {"t": table, "c": "result"},
        ).scalar_one()
        if current == "l":
            return
        try:
            with conn.begin_nested():
                conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN result SET COMPRESSION lz4"))
        except DBAPIError:
            pass

    def close(self) -> None:
        """Dispose of the connection pool."""
        self.db.dispose()

    # --- versions ------------------------------------------------------------------------------------

    def _version_rows(self, conn: Connection, layer_key: str | None = None) -> list[LayerVersion]:
        """Read versions with their current flag and last publication time."""
        lv, lp, lc = self.tables.layer_version, self.tables.layer_publication, self.tables.layer_current
        last_pub = (
            select(lp.c.layer_key, lp.c.version, func.max(lp.c.published_at).label("published_at"))
            .group_by(lp.c.layer_key, lp.c.version)
            .subquery()
        )
        query = (
            select(lv, last_pub.c.published_at, (lc.c.version.is_not(None)).label("is_current"))
            .join(
                last_pub, (last_pub.c.layer_key == lv.c.layer_key) & (last_pub.c.version == lv.c.version), isouter=True
            )
            .join(lc, (lc.c.layer_key == lv.c.layer_key) & (lc.c.version == lv.c.version), isouter=True)
            .order_by(lv.c.layer_key, lv.c.version.desc())
        )
        if layer_key is not None:
            query = query.where(lv.c.layer_key == layer_key)
        return [LayerVersion.from_record(dict(row._mapping)) for row in conn.execute(query)]

    def _generation_query(self) -> Select[Any]:
        """Two numbers that change whenever a version is loaded or published (cheap to read)."""
        lv, lp = self.tables.layer_version, self.tables.layer_publication
        return select(
            select(func.coalesce(func.max(lp.c.id), 0)).scalar_subquery().label("publications"),
            select(func.count()).select_from(lv).scalar_subquery().label("versions"),
        )

    def _all_versions(self) -> list[LayerVersion]:
        """Every version of every layer; re-read only after a load or publication (one cheap query tells)."""
        with self._autocommit() as conn:
            generation = tuple(conn.execute(self._generation_query()).one())
            with self._versions_lock:
                cached = self._versions_cache
            if cached is not None and cached[0] == generation:
                return cached[1]
            versions = self._version_rows(conn)
        with self._versions_lock:
            self._versions_cache = (generation, versions)
        return versions

    def current_versions(self) -> dict[str, LayerVersion]:
        """Return the version in force for every layer that has one."""
        return {v.layer_key: v for v in self._all_versions() if v.is_current}

    def list_versions(self, layer_key: str) -> list[LayerVersion]:
        """Return every version of a layer, newest first."""
        self.catalog.get(layer_key)
        return [v for v in self._all_versions() if v.layer_key == layer_key]

    def versions_as_of(self, when: datetime) -> dict[str, LayerVersion]:
        """Return, per layer, the version whose publication was the last one at or before ``when``."""
        lp = self.tables.layer_publication
        ranked = (
            select(
                lp.c.layer_key,
                lp.c.version,
                func.row_number()
                .over(partition_by=lp.c.layer_key, order_by=(lp.c.published_at.desc(), lp.c.id.desc()))
                .label("rank"),
            )
            .where(lp.c.published_at <= when)
            .subquery()
        )
        with self._begin() as conn:
            wanted = {(r.layer_key, r.version) for r in conn.execute(select(ranked).where(ranked.c.rank == 1))}
            return {v.layer_key: v for v in self._version_rows(conn) if (v.layer_key, v.version) in wanted}

    def rollback(self, layer_key: str, version: int, *, by: str) -> LayerVersion:
        """Make an earlier version current again, recorded as a new publication."""
        self.catalog.get(layer_key)
        with self._begin() as conn:
            conn.execute(select(func.pg_advisory_xact_lock(func.hashtext(layer_key))))
            lv = self.tables.layer_version
            exists = conn.execute(
                select(lv.c.version).where((lv.c.layer_key == layer_key) & (lv.c.version == version))
            ).first()
            if exists is None:
                raise VersionNotFound(
                    f"layer '{layer_key}' has no version {version}", f"图层“{layer_key}”没有版本 {version}"
                )
            self._publish(conn, layer_key, version, by=by, action="rollback")
            return next(v for v in self._version_rows(conn, layer_key) if v.version == version)

    def _publish(self, conn: Connection, layer_key: str, version: int, *, by: str, action: str) -> None:
        """Record a publication and switch the current pointer, inside the caller's transaction."""
        lp, lc = self.tables.layer_publication, self.tables.layer_current
        publication_id = conn.execute(
            insert(lp).values(layer_key=layer_key, version=version, published_by=by, action=action).returning(lp.c.id)
        ).scalar_one()
        upsert = pg_insert(lc).values(layer_key=layer_key, version=version, publication_id=publication_id)
        conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[lc.c.layer_key], set_={"version": version, "publication_id": publication_id}
            )
        )

    # --- check records -------------------------------------------------------------------------------

    def save_check(self, record: CheckRecord) -> None:
        """Store a check record."""
        values = []
        for column in _CHECK_COLUMNS:
            value = getattr(record, column)
            values.append(dumps_text(value) if column in _JSON_COLUMNS and value is not None else value)
        # One prepared INSERT straight to the driver that commits on its own (autocommit): no BEGIN/COMMIT
        # round trips, still durable at return.
        with self._autocommit() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None, "a live connection has a driver connection"
            driver.execute(self._insert_check, [*values, record.geometry_wkb], prepare=True)

    def get_check(self, check_id: str) -> CheckRecord:
        """Return a stored check or raise CheckNotFound."""
        table = self.tables.check_record
        with self._autocommit() as conn:
            row = conn.execute(
                select(*[table.c[c] for c in _CHECK_COLUMNS], func.ST_AsBinary(table.c.geometry).label("wkb")).where(
                    table.c.id == check_id
                )
            ).first()
        if row is None:
            raise CheckNotFound(f"no check with id {check_id!r}", f"没有编号为 {check_id!r} 的审查记录")
        values = {c: getattr(row, c) for c in _CHECK_COLUMNS}
        return CheckRecord(**values, geometry_wkb=bytes(row.wkb) if row.wkb is not None else None)

    # --- keys and audit ------------------------------------------------------------------------------

    def save_key(self, key: ApiKey) -> None:
        """Store a new API key record."""
        values = dict(key.__dict__) | {"scopes": list(key.scopes)}
        with self._begin() as conn:
            conn.execute(insert(self.tables.api_key).values(**values))

    def get_key(self, key_id: str) -> ApiKey | None:
        """Return a key record by its public id, or None."""
        table = self.tables.api_key
        with self._autocommit() as conn:
            row = conn.execute(select(table).where(table.c.key_id == key_id)).first()
        return _key_from_row(row._mapping) if row else None

    def list_keys(self) -> list[ApiKey]:
        """Return every key record, newest first."""
        table = self.tables.api_key
        with self._autocommit() as conn:
            rows = conn.execute(select(table).order_by(table.c.created_at.desc())).all()
        return [_key_from_row(row._mapping) for row in rows]

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark a key revoked (the first revocation time stays)."""
        table = self.tables.api_key
        with self._begin() as conn:
            conn.execute(
                update(table).where((table.c.key_id == key_id) & table.c.revoked_at.is_(None)).values(revoked_at=at)
            )
        return self.get_key(key_id)

    def record_event(self, event: AuditEvent) -> None:
        """Append an audit event."""
        values = {k: v for k, v in event.__dict__.items() if k != "id"}
        with self._begin() as conn:
            conn.execute(insert(self.tables.audit_event).values(**values))

    def list_events(self, *, limit: int = 100, offset: int = 0, action: str | None = None) -> list[AuditEvent]:
        """Return audit events, newest first."""
        table = self.tables.audit_event
        query = select(table).order_by(table.c.id.desc()).limit(limit).offset(offset)
        if action is not None:
            query = query.where(table.c.action == action)
        with self._autocommit() as conn:
            return [AuditEvent(**row._mapping) for row in conn.execute(query)]

    # --- overlay -------------------------------------------------------------------------------------

    def overlaps(self, site: BaseGeometry, versions: dict[str, LayerVersion]) -> dict[str, list[OverlapPiece]]:
        """Return, per layer version, the features intersecting the site and their intersections (fid order).

        One statement for all layers; layers with big polygons are intersected through their subdivided copy
        and the pieces re-assembled per feature.
        """
        return self._overlay(site, versions, with_generation=False)[0]

    def overlaps_current(
        self, site: BaseGeometry, layer_keys: Iterable[str]
    ) -> tuple[dict[str, LayerVersion], dict[str, list[OverlapPiece]]]:
        """Current versions and the named layers' overlaps in one round trip.

        The overlay statement uses the cached current versions and also reads the version generation; both
        come from the statement's single snapshot, so when the generation matches the cache the versions were
        current at that moment. Otherwise a publication happened since: re-read the versions and overlay again.
        """
        keys = tuple(layer_keys)
        for _ in range(5):
            with self._versions_lock:
                cached = self._versions_cache
            if cached is None:
                self._all_versions()
                continue
            generation, every = cached
            current = {v.layer_key: v for v in every if v.is_current}
            chosen = {key: current[key] for key in keys if key in current}
            pieces, seen = self._overlay(site, chosen, with_generation=True)
            if seen == generation:
                return current, pieces
            self._all_versions()
        raise StoreUnavailable(
            "layers are being republished too quickly to read one consistent set; try again",
            "图层正在频繁发布，暂时无法读取一致的版本，请稍后重试",
        )

    def _overlay(
        self, site: BaseGeometry, versions: dict[str, LayerVersion], *, with_generation: bool
    ) -> tuple[dict[str, list[OverlapPiece]], tuple[int, int] | None]:
        """Run the overlay statement; return the pieces per layer and, if asked, the version generation.

        The statement goes straight to the driver (prepared, binary results: WKB arrives as raw bytes).
        """
        query = self._overlay_query(tuple(sorted((k, v.version) for k, v in versions.items())), with_generation)
        found: dict[str, list[OverlapPiece]] = {k: [] for k in versions}
        generation = None
        with self._autocommit() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None, "a live connection has a driver connection"
            with driver.cursor(binary=True) as cursor:
                rows = cursor.execute(query, {"site": shapely.to_wkb(site)}, prepare=True).fetchall()
        for layer, fid, feature_id, name, kind, attributes, wkb in rows:
            if layer == GENERATION_ROW:
                generation = (int(fid), int(feature_id))
                continue
            found[layer].append(OverlapPiece(fid, feature_id, name, kind, attributes or {}, shapely.from_wkb(wkb)))
        for pieces in found.values():
            pieces.sort(key=lambda piece: piece.fid)
        return found, generation

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one store per process; keys are few
    def _overlay_query(self, versions: tuple[tuple[str, int], ...], with_generation: bool) -> bytes:
        """The overlay statement's text for a set of layer versions (built once per set)."""
        lv = self.tables.layer_version
        layers = []
        with self._autocommit() as conn:
            for key, number in versions:
                row = conn.execute(
                    select(lv.c.table_name, lv.c.subdivided_table, lv.c.fields).where(
                        (lv.c.layer_key == key) & (lv.c.version == number)
                    )
                ).one()
                present = {FID, FEATURE_ID, FEATURE_NAME, FEATURE_KIND} | {f["name"] for f in row.fields}
                reported = tuple(name for name in self.catalog.get(key).report if name in present)
                layers.append(OverlayLayer(key, row.table_name, row.subdivided_table, reported))
        generation = None
        if with_generation:  # the same query _all_versions runs, as text inside the overlay statement
            compiled = self._generation_query().compile(dialect=self.db.dialect, compile_kwargs={"literal_binds": True})
            generation = str(compiled)
        return overlay_sql(self.layer_schema, self.srid, layers, generation).encode()

    # --- loading -------------------------------------------------------------------------------------

    def write_version(
        self,
        draft: VersionDraft,
        batches: Iterable[FeatureBatch],
        *,
        report: dict[str, Any],
        observer: WriteObserver | None = None,
    ) -> LayerVersion:
        """Write, index, subdivide, validate and publish a new version in one transaction."""
        layer = self.catalog.get(draft.layer_key)
        lv = self.tables.layer_version
        with self._begin() as conn:
            written = write_version_tables(
                conn,
                self.tables,
                self.layer_schema,
                self.srid,
                draft,
                batches,
                subdivide=layer.subdivide,
                observer=observer,
            )
            report["seconds"] = round(time.perf_counter() - draft.started, 3)
            conn.execute(
                insert(lv).values(
                    layer_key=draft.layer_key,
                    version=written.version,
                    table_name=written.table_name,
                    subdivided_table=written.subdivided_table,
                    source_name=draft.source_name,
                    sha256=draft.sha256,
                    feature_count=written.count,
                    source_crs=draft.source_crs,
                    crs=draft.crs,
                    bbox=list(written.bbox),
                    loaded_by=draft.loaded_by,
                    report=report,
                    fields=[{"name": f.name, "kind": f.kind} for f in draft.fields],
                    geometry_kind=draft.geometry,
                )
            )
            self._publish(conn, draft.layer_key, written.version, by=draft.loaded_by, action="load")
            return next(v for v in self._version_rows(conn, draft.layer_key) if v.version == written.version)


def discard_closed_connections(engine: Engine) -> None:
    """Check pooled connections at checkout without a round trip: a backend that was terminated or a server
    that restarted has sent its goodbye and closed the socket, so the socket polls readable while a healthy
    idle connection's does not. Such a connection is discarded and the pool hands out (or opens) another.

    This replaces a ping per checkout (pool_pre_ping), which cost a round trip on every request.
    """

    @event.listens_for(engine, "checkout")
    def _check_alive(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if not idle_connection_alive(dbapi_connection):
            raise DisconnectionError("the connection is closed, or the server closed or wrote to it while idle")


def idle_connection_alive(conn: psycopg.Connection) -> bool:
    """True when an idle connection is open and its server has not hung up, found without a round trip: a
    terminated backend or a restarted server sends its goodbye and closes the socket, so the socket polls
    readable, while a healthy idle connection's does not."""
    if conn.closed or conn.broken:
        return False
    poller = select_module.poll()
    poller.register(conn.pgconn.socket, select_module.POLLIN | select_module.POLLHUP)
    return not poller.poll(0)


@contextmanager
def unavailable_on_fault() -> Iterator[None]:
    """Turn the driver's connection faults into the domain's StoreUnavailable."""
    try:
        yield
    except (OperationalError, PoolTimeout, psycopg.OperationalError) as exc:
        # Connection lost, server restarting, statement timeout, or no pooled connection free in time (the
        # driver's own class covers statements sent to the driver directly, like the overlay).
        raise StoreUnavailable("the database is unavailable; try again shortly", "数据库暂不可用，请稍后重试") from exc


def _key_from_row(row: Any) -> ApiKey:
    """Build an ApiKey from its row."""
    return ApiKey(**(dict(row) | {"scopes": tuple(row["scopes"])}))
