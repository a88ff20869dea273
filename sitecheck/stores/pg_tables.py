"""PostgreSQL tables of the PostGIS engine, as SQLAlchemy Core metadata.

Records (layer versions, publications, the current pointer) live in the deployment schema; each layer
version's features live in their own table in ``<schema>_layers`` named ``<key>_v<version>``, so a version
is immutable once written and a failed load never touches a served table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from sitecheck.stores.base import FEATURE_ID, FEATURE_KIND, FEATURE_NAME, FID, SourceField

POSTGIS_GEOMETRY_TYPES = {"polygon": "MULTIPOLYGON", "line": "GEOMETRY", "point": "GEOMETRY", "any": "GEOMETRY"}
_COLUMN_TYPES = {"text": Text, "integer": BigInteger, "real": Float, "boolean": Boolean, "datetime": Text}


@dataclass(frozen=True)
class RecordTables:
    """The record tables of one deployment schema."""

    metadata: MetaData
    layer_version: Table
    layer_publication: Table
    layer_current: Table
    check_record: Table
    api_key: Table
    audit_event: Table


def record_tables(schema: str, srid: int) -> RecordTables:
    """Define the record tables in ``schema``."""
    metadata = MetaData(schema=schema)
    layer_version = Table(
        "layer_version",
        metadata,
        Column("layer_key", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("table_name", Text, nullable=False),
        Column("subdivided_table", Text),
        Column("source_name", Text, nullable=False),
        Column("sha256", Text, nullable=False),
        Column("feature_count", Integer, nullable=False),
        Column("source_crs", Text, nullable=False),
        Column("crs", Text, nullable=False),
        Column("bbox", ARRAY(Float)),
        Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
        Column("loaded_by", Text, nullable=False),
        Column("report", JSONB, nullable=False),
        Column("fields", JSONB, nullable=False),
        Column("geometry_kind", Text, nullable=False),
        PrimaryKeyConstraint("layer_key", "version"),
    )
    layer_publication = Table(
        "layer_publication",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("layer_key", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
        Column("published_by", Text, nullable=False),
        Column("action", Text, nullable=False),
        ForeignKeyConstraint(["layer_key", "version"], [layer_version.c.layer_key, layer_version.c.version]),
    )
    layer_current = Table(
        "layer_current",
        metadata,
        Column("layer_key", Text, primary_key=True),
        Column("version", Integer, nullable=False),
        Column("publication_id", BigInteger, nullable=False),
        ForeignKeyConstraint(["layer_key", "version"], [layer_version.c.layer_key, layer_version.c.version]),
    )
    check_record = Table(
        "check_record",
        metadata,
        Column("id", Text, primary_key=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("created_by", Text, nullable=False),
        Column("accepted", Boolean, nullable=False),
        Column("input_sha256", Text),
        Column("geometry_sha256", Text, index=True),
        Column("geometry", Geometry("GEOMETRY", srid=srid, spatial_index=True)),
        Column("parameters", JSONB, nullable=False),
        Column("layer_versions", JSONB, nullable=False),
        Column("rule_set", JSONB, nullable=False),
        Column("result", JSONB),
        Column("error", JSONB),
        Column("rerun_of", Text),
        Column("organisation", Text, index=True),
    )
    api_key = Table(
        "api_key",
        metadata,
        Column("key_id", Text, primary_key=True),
        Column("name", Text, nullable=False),
        Column("role", Text, nullable=False),
        Column("organisation", Text, nullable=False),
        Column("scopes", JSONB, nullable=False),
        Column("secret_sha256", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("created_by", Text, nullable=False),
        Column("expires_at", DateTime(timezone=True)),
        Column("revoked_at", DateTime(timezone=True)),
    )
    audit_event = Table(
        "audit_event",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("actor", Text, nullable=False),
        Column("organisation", Text),
        Column("action", Text, nullable=False, index=True),
        Column("target", Text, nullable=False),
        Column("outcome", Text, nullable=False),
        Column("address", Text),
        Column("details", JSONB, nullable=False),
    )
    return RecordTables(metadata, layer_version, layer_publication, layer_current, check_record, api_key, audit_event)


APPEND_ONLY_TABLES = ("check_record", "audit_event", "layer_publication")


def feature_table_name(layer_key: str, version: int) -> str:
    """Name of the table holding one version's features."""
    return f"{layer_key}_v{version}"


def feature_table(
    schema: str, name: str, fields: tuple[SourceField, ...], geometry_kind: str, srid: int, *, primary_key: bool = True
) -> Table:
    """Define the table of one layer version: canonical columns, the source's fields, the geometry.

    ``primary_key=False`` leaves out the key on ``_fid`` for a loader that adds it after its COPY.
    """
    columns: list[Column[Any]] = [
        Column(FID, BigInteger, primary_key=primary_key, nullable=False, autoincrement=False),
        Column(FEATURE_ID, Text, nullable=False),
        Column(FEATURE_NAME, Text),
        Column(FEATURE_KIND, Text),
        *(Column(f.name, _COLUMN_TYPES[f.kind]) for f in fields),
        Column(
            "geom",
            Geometry(POSTGIS_GEOMETRY_TYPES[geometry_kind], srid=srid, spatial_index=False),
            nullable=False,
        ),
    ]
    return Table(name, MetaData(schema=schema), *columns)


def subdivided_table(schema: str, name: str, srid: int) -> Table:
    """Define the subdivided copy of a version with big polygons: pieces of at most 256 vertices."""
    return Table(
        name,
        MetaData(schema=schema),
        Column(FID, BigInteger, nullable=False),
        Column("geom", Geometry("GEOMETRY", srid=srid, spatial_index=False), nullable=False),
    )
