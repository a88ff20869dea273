"""The PostGIS overlay statement: every requested layer version intersected with a site in one statement.

The statement is plain SQL text built once per set of layer versions. It stays short (short aliases, layer
keys and field names inline as literals, one parameter) so that the driver caches its parsing and the server
keeps it prepared; a check runs it as its only read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sitecheck.stores.base import FEATURE_ID, FEATURE_KIND, FEATURE_NAME, FID

# The extra row that carries the version generation (no layer key can contain a space).
GENERATION_ROW = "generation row"


@dataclass(frozen=True)
class OverlayLayer:
    """One layer version as the overlay reads it."""

    key: str
    table: str
    subdivided_table: str | None
    reported: tuple[str, ...]


def overlay_sql(schema: str, srid: int, layers: list[OverlayLayer], generation_sql: str | None) -> str:
    """The UNION ALL statement over the layers; ``%(site)s`` is the site's WKB.

    Columns: layer, fid, feature_id, name, kind, attributes (jsonb of the reported fields), wkb. Layers with
    a subdivided copy are intersected piece by piece and re-assembled per feature. With ``generation_sql``
    (a query returning two bigints), one more row carries the generation in its fid and feature_id.
    """
    parts = []
    for index, layer in enumerate(layers):
        alias = f"t{index}"
        attributes = ", ".join(f"{literal(name)}, {alias}.{quote(name)}" for name in layer.reported)
        columns = (
            f"{literal(layer.key)}::text, {alias}.{quote(FID)}::bigint, {alias}.{quote(FEATURE_ID)}, "
            f"{alias}.{quote(FEATURE_NAME)}, {alias}.{quote(FEATURE_KIND)}, jsonb_build_object({attributes})"
        )
        table = f"{quote(schema)}.{quote(layer.table)}"
        if layer.subdivided_table:
            sub = f"{quote(schema)}.{quote(layer.subdivided_table)}"
            parts.append(
                f"SELECT {columns}, ST_AsBinary(p.g) FROM {table} {alias} JOIN "
                f"(SELECT u.{quote(FID)} AS fid, ST_Union(ST_Intersection(u.geom, s.g)) AS g "
                f"FROM {sub} u JOIN s ON ST_Intersects(u.geom, s.g) GROUP BY u.{quote(FID)}) p "
                f"ON {alias}.{quote(FID)} = p.fid"
            )
        else:
            parts.append(
                f"SELECT {columns}, ST_AsBinary(ST_Intersection({alias}.geom, s.g)) "
                f"FROM {table} {alias} JOIN s ON ST_Intersects({alias}.geom, s.g)"
            )
    if generation_sql is not None:
        parts.append(
            f"SELECT {literal(GENERATION_ROW)}::text, g.publications, g.versions::text, NULL, NULL, NULL::jsonb, "
            f"NULL::bytea FROM ({generation_sql}) g"
        )
    body = "\nUNION ALL ".join(parts) if parts else "SELECT NULL::text WHERE false"
    return f"WITH s AS (SELECT ST_GeomFromWKB(%(site)s, {int(srid)}) AS g)\n{body}"


def quote(identifier: str) -> str:
    """Quote an SQL identifier (names here come from validated layer keys, but quote them anyway)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """Quote an SQL string literal (layer keys and field names come from the configuration)."""
    return "'" + value.replace("'", "''") + "'"
