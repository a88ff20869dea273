"""JSON text for records and answers: one fast serialiser (orjson) used by the stores and the API.

A check's answer is ~15 KB of nested data written twice per request (the stored record and the HTTP body);
orjson does that in a tenth of the standard library's time. Chinese stays readable (UTF-8, not escapes),
times become RFC 3339 text, and anything else unusual (a Path in an error's details) its ``str``.
"""

from __future__ import annotations

from typing import Any

import orjson

# Keys that are not text (an int-keyed mapping) become text, as the standard library does.
_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps_bytes(value: Any) -> bytes:
    """Serialise to UTF-8 JSON bytes."""
    return orjson.dumps(value, default=str, option=_OPTIONS)


def dumps_text(value: Any) -> str:
    """Serialise to JSON text."""
    return orjson.dumps(value, default=str, option=_OPTIONS).decode()
