"""Binary COPY encoding: the bytes PostgreSQL reads back as the values we sent."""

from __future__ import annotations

import struct

import numpy as np
import psycopg
import shapely

from sitecheck.stores.pg_copy import HEADER, TRAILER, encode_rows


def test_binary_copy_round_trip(postgis_url: str) -> None:
    """Integers, reals, booleans, text (Chinese), NULLs and WKB survive a COPY; the column gives the SRID."""
    polygon = shapely.box(40_510_000, 3_524_000, 40_510_100, 3_524_100)
    columns = [
        (np.array([1, 2, 3]), "integer"),
        (np.array([1.5, np.nan, -2.0]), "real"),
        (np.array([True, None, False], dtype=object), "boolean"),
        (np.array([1.0, np.nan, 3.0]), "integer"),  # integers with nulls arrive as floats
        (np.array(["生态红线", None, ""], dtype=object), "text"),
        (np.array([b"bytes", "x", 7], dtype=object), "text"),  # not all str: encoded value by value
    ]
    wkb = shapely.to_wkb(np.array([polygon, polygon.buffer(1), polygon]))
    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE copy_probe (a int8, b float8, c bool, d int8, e text, f text, g geometry(Polygon, 4528))"
        )
        with conn.cursor() as cursor, cursor.copy("COPY copy_probe FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(HEADER + encode_rows(columns, wkb) + TRAILER)
        rows = conn.execute("SELECT a, b, c, d, e, f, ST_Area(g), ST_SRID(g) FROM copy_probe ORDER BY a").fetchall()
    assert rows[0] == (1, 1.5, True, 1, "生态红线", "bytes", 10_000.0, 4528)
    assert rows[1][:6] == (2, None, None, None, None, "x") and rows[1][6] > 10_000 and rows[1][7] == 4528
    assert rows[2] == (3, -2.0, False, 3, "", "7", 10_000.0, 4528)


def test_rows_match_row_by_row_encoding() -> None:
    """Batches of mixed NULLs, empty and multi-byte text encode exactly as a plain row-by-row encoder would."""
    rng = np.random.default_rng(7)
    words = np.array(["", "a", "农田", "基本农田保护区", None, "x" * 300], dtype=object)
    for size in (1, 2, 17, 500):
        integers = rng.integers(-(2**40), 2**40, size)
        reals = np.where(rng.random(size) < 0.3, np.nan, rng.normal(size=size))
        texts = words[rng.integers(0, len(words), size)]
        flags = np.where(rng.random(size) < 0.3, None, rng.random(size) < 0.5).astype(object)
        wkb = np.array([bytes(rng.integers(0, 256, rng.integers(21, 200)).astype(np.uint8)) for _ in range(size)])
        columns = [(integers, "integer"), (reals, "real"), (texts, "text"), (flags, "boolean"), (texts, "datetime")]
        expected = b"".join(
            _reference_row([integers[i], reals[i], texts[i], flags[i], texts[i]], wkb[i]) for i in range(size)
        )
        assert encode_rows(columns, wkb) == expected


def _reference_row(values: list[object], geometry: bytes) -> bytes:
    """Encode one row the obvious way: field count, then each field's length and bytes (-1 for NULL)."""
    fields = []
    for value in values:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            fields.append(struct.pack(">i", -1))
        elif isinstance(value, bool | np.bool_):
            fields.append(struct.pack(">i?", 1, bool(value)))
        elif isinstance(value, np.integer):
            fields.append(struct.pack(">iq", 8, int(value)))
        elif isinstance(value, float):
            fields.append(struct.pack(">id", 8, value))
        else:
            data = str(value).encode("utf-8")
            fields.append(struct.pack(">i", len(data)) + data)
    fields.append(struct.pack(">i", len(geometry)) + geometry)
    return struct.pack(">h", len(fields)) + b"".join(fields)
