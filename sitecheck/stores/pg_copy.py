"""PostgreSQL binary COPY encoding for layer loads: whole batches turned into bytes with numpy.

A binary COPY row is a 16-bit field count, then per field a 32-bit length (-1 for NULL) and the value's bytes.
Each column is encoded as *segments* -- one buffer of bytes in row order plus each row's byte count -- and
the segments of all columns are interleaved into rows with array indexing, so no Python code runs per value;
Python touches each row once, to put its WKB after the rest. The geometry goes last, as the source's own WKB:
PostGIS gives WKB without an SRID the column's SRID.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from sitecheck.stores.base import null_mask

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_FIXED_TYPES = {"integer": ">i8", "real": ">f8", "boolean": "?"}

# A column's encoded bytes in row order, and how many of them belong to each row.
Segment = tuple[np.ndarray, np.ndarray]


def encode_rows(columns: Sequence[tuple[np.ndarray, str]], wkb: np.ndarray) -> bytes:
    """Encode binary COPY rows: the (values, kind) columns, then a geometry column of WKB bytes (no NULLs).

    ``kind`` is a stored field kind ("integer", "real", "boolean", "text" or "datetime", held as text);
    nulls are None in object arrays and NaN in float arrays.
    """
    count = len(wkb)
    if count == 0:
        return b""
    sizes = np.fromiter(map(len, wkb), dtype=np.int64, count=count)
    segments = [_fixed(np.full(count, len(columns) + 1, dtype=">i2"))]
    for values, kind in columns:
        segments.extend(_column_segments(values, kind))
    segments.append(_fixed(sizes.astype(">i4")))
    heads, head_sizes = _interleave(segments, count)
    # Each row is its head (every field before the geometry, and the geometry's length) and then its WKB,
    # joined as they are: the geometry bytes are copied once, into the result.
    blob = heads.tobytes()
    ends = np.cumsum(head_sizes).tolist()
    pieces: list[bytes] = [b""] * (2 * count)
    pieces[0::2] = [blob[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    pieces[1::2] = wkb.tolist()
    return b"".join(pieces)


def _column_segments(values: np.ndarray, kind: str) -> list[Segment]:
    """Encode one column: a fixed-size binary value or NULL, or length-prefixed UTF-8 text."""
    dtype = _FIXED_TYPES.get(kind)
    if dtype is None:
        return _text_segments(values)
    nulls = null_mask(values)
    if nulls.any():
        values = np.where(nulls, 0, values)
    records = np.empty(len(values), dtype=[("size", ">i4"), ("value", dtype)])
    width = records.itemsize
    records["size"] = np.where(nulls, -1, width - 4)
    records["value"] = values
    table = records.view(np.uint8).reshape(len(values), width)
    if not nulls.any():
        return [(table.reshape(-1), np.full(len(values), width, dtype=np.int64))]
    kept = np.ones(table.shape, dtype=bool)
    kept[nulls, 4:] = False  # a NULL is its length (-1) alone
    return [(table[kept], np.where(nulls, 4, width).astype(np.int64))]


def _text_segments(values: np.ndarray) -> list[Segment]:
    """Encode text as two segments, the lengths and the UTF-8 bytes, with one encode call for the whole column.

    The values are joined with NUL, which UTF-8 never produces otherwise and PostgreSQL text cannot hold; a
    column holding NUL or something other than str is encoded value by value, so the server judges it as before.
    """
    nulls = null_mask(values)
    texts = np.where(nulls, "", values).tolist()
    data, lengths = _joined_utf8(texts)
    if data is None or lengths is None:
        encoded = [_utf8(value) for value in texts]
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    prefix = np.where(nulls, -1, lengths).astype(">i4")
    return [_fixed(prefix), (data, lengths)]


def _joined_utf8(texts: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Encode str values in one call and split them at the NUL separators; (None, None) when that cannot work."""
    try:
        joined = np.frombuffer("\x00".join(texts).encode("utf-8"), dtype=np.uint8)
    except TypeError:
        return None, None
    cuts = np.flatnonzero(joined == 0)
    if len(cuts) != len(texts) - 1:
        return None, None
    bounds = np.concatenate(([-1], cuts, [len(joined)]))
    return np.delete(joined, cuts), np.diff(bounds) - 1


def _utf8(value: object) -> bytes:
    """Encode one text value (bytes are taken to be UTF-8 already, other values as their str)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def _fixed(values: np.ndarray) -> Segment:
    """Wrap an array of fixed-size big-endian values as a segment of its bytes."""
    width = values.dtype.itemsize
    return values.view(np.uint8), np.full(len(values), width, dtype=np.int64)


def _interleave(segments: Sequence[Segment], count: int) -> Segment:
    """Lay the segments side by side: row i is every segment's bytes of row i, in segment order (count > 0)."""
    row_sizes = np.zeros(count, dtype=np.int64)
    for _, sizes in segments:
        row_sizes += sizes
    ends = np.cumsum(row_sizes)
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    destination = ends - row_sizes  # where the next segment's bytes go in each row
    for data, sizes in segments:
        width = int(sizes[0])
        if (sizes == width).all():  # every row the same size: one 2-D assignment
            out[destination[:, np.newaxis] + np.arange(width)] = data.reshape(count, width)
        else:
            # Byte k of the segment belongs to row i and goes to destination[i] + (k - start of row i).
            starts = np.cumsum(sizes) - sizes
            index = np.repeat(destination - starts, sizes)
            index += np.arange(len(data))
            out[index] = data
        destination += sizes
    return out, row_sizes
