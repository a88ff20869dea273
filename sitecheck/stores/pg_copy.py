"""PostgreSQL binary COPY encoding for layer loads: whole batches turned into bytes column by column.

psycopg's per-row ``write_row`` costs ~12 µs a row in Python; encoding each column with precompiled structs
and joining once costs a fraction of that, which is what lets a load keep up with ogr2ogr.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any, Literal

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_INT8 = struct.Struct(">iq")
_FLOAT8 = struct.Struct(">id")
_LENGTH = struct.Struct(">i")
_TRUE, _FALSE = b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"


def encode_column(values: Sequence[Any], kind: str) -> list[bytes]:
    """Encode one column's values as binary COPY fields (length-prefixed), None as NULL."""
    if kind == "integer":
        pack = _INT8.pack
        return [_NULL if v is None else pack(8, int(v)) for v in values]
    if kind == "real":
        pack = _FLOAT8.pack
        return [_NULL if v is None else pack(8, float(v)) for v in values]
    if kind == "boolean":
        return [_NULL if v is None else (_TRUE if v else _FALSE) for v in values]
    length = _LENGTH.pack
    out = []
    for value in values:
        if value is None:
            out.append(_NULL)
            continue
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        out.append(length(len(data)) + data)
    return out


def encode_ewkb_column(wkb: Iterable[bytes], srid: int) -> list[bytes]:
    """Encode ISO WKB as length-prefixed EWKB with an SRID, rewriting each 5-byte header (no re-encoding)."""
    headers: dict[bytes, bytes] = {}
    length = _LENGTH.pack
    out = []
    for blob in wkb:
        head = blob[:5]
        new_head = headers.get(head)
        if new_head is None:
            order: Literal["little", "big"] = "little" if head[0] == 1 else "big"
            geometry_type = int.from_bytes(head[1:5], order) | 0x20000000
            new_head = head[:1] + geometry_type.to_bytes(4, order) + srid.to_bytes(4, order)
            headers[head] = new_head
        out.append(length(len(blob) + 4) + new_head + blob[5:])
    return out


def encode_rows(columns: Sequence[list[bytes]]) -> bytes:
    """Join encoded columns into binary COPY rows."""
    count = struct.pack(">h", len(columns))
    return b"".join(count + b"".join(fields) for fields in zip(*columns, strict=True))
