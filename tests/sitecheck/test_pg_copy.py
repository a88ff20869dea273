"""Binary COPY encoding: the bytes PostgreSQL reads back as the values we sent."""

from __future__ import annotations

import psycopg
import shapely

from sitecheck.stores.pg_copy import HEADER, TRAILER, encode_column, encode_ewkb_column, encode_rows


def test_binary_copy_round_trip(postgis_url: str) -> None:
    """Integers, reals, booleans, text (Chinese), NULLs and EWKB geometry survive a COPY."""
    polygon = shapely.box(40_510_000, 3_524_000, 40_510_100, 3_524_100)
    columns = [
        encode_column([1, 2], "integer"),
        encode_column([1.5, None], "real"),
        encode_column([True, None], "boolean"),
        encode_column(["生态红线", None], "text"),
        encode_ewkb_column([shapely.to_wkb(polygon), shapely.to_wkb(polygon.buffer(1))], 4528),
    ]
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE copy_probe (a int8, b float8, c bool, d text, g geometry(Polygon, 4528))")
        with conn.cursor() as cursor, cursor.copy("COPY copy_probe FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(HEADER + encode_rows(columns) + TRAILER)
        rows = conn.execute("SELECT a, b, c, d, ST_Area(g), ST_SRID(g) FROM copy_probe ORDER BY a").fetchall()
    assert rows[0] == (1, 1.5, True, "生态红线", 10_000.0, 4528)
    assert rows[1][:4] == (2, None, None, None) and rows[1][4] > 10_000
