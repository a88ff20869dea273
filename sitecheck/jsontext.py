"""JSON text for records and answers: one fast serialiser and parser (orjson) used by the stores and the API.

A check's answer is ~15 KB of nested data written twice per request (the stored record and the HTTP body);
orjson does that in a tenth of the standard library's time. Chinese stays readable (UTF-8, not escapes),
times become RFC 3339 text, and anything else unusual (a Path in an error's details) its ``str``. PostgreSQL's
JSON values (a check's piece attributes, a search's rows) are parsed with orjson too. That is exact for
everything the store holds: layer columns are bigint, double, boolean or text, and records are written by orjson
(orjson would read an integer beyond 64 bits as a float, and none can be there). Text orjson refuses goes to
the standard library, which then says what is wrong with it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# Keys that are not text (an int-keyed mapping) become text, as the standard library does.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(value: Any) -> bytes:
    """Serialise to UTF-8 JSON bytes."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text (what the database driver hands over: bytes, a memoryview or text)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(bytes(data) if isinstance(data, memoryview) else data)


def dumps_text(value: Any) -> str:
    """Serialise to JSON text."""
    return orjson.dumps(value, default=str, option=_OPTIONS).decode()
