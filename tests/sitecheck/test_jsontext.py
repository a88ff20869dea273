"""The JSON parser the stores use: the standard library's values, from whatever the driver hands over."""

from __future__ import annotations

import json

import pytest

from sitecheck.jsontext import dumps_bytes, loads

VALUE = {
    "名称": "生态保护红线 校验",
    "area_m2": 57088.9123,
    "tiny": 5e-324,
    "fid": 9_223_372_036_854_775_807,
    "negative": -(2**63),
    "flags": [True, False, None],
    "nested": {"a": [1, 2.5, "三"]},
}


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: b.decode("utf-8")])
def test_loads_reads_what_the_standard_library_reads(wrap: object) -> None:
    """Bytes, a memoryview (psycopg's binary jsonb) or text: the same values as json.loads, types included."""
    data = dumps_bytes(VALUE)
    parsed = loads(wrap(data))  # type: ignore[operator]
    assert parsed == json.loads(data) == VALUE
    assert isinstance(parsed["fid"], int) and isinstance(parsed["area_m2"], float)


def test_loads_refuses_bad_text_with_the_standard_librarys_message() -> None:
    """Text orjson refuses is handed to json.loads, whose error says what and where."""
    with pytest.raises(json.JSONDecodeError, match="line 1 column"):
        loads(memoryview(b'{"a": }'))
