"""The land-use crosswalk: 用地用海 codes, GB 50137 and GB/T 21010 codes, bare-code reading, categories."""

from __future__ import annotations

import pytest

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels.crosswalk import (
    GB50137,
    GBT21010,
    YDYH,
    category_for_use,
    resolve_use,
    resolve_uses,
    use_name,
    use_prefixes,
)


def test_gb50137_codes_map_to_their_classes() -> None:
    """M1/M2/M3 are the three industrial classes, W1/W2 the warehouse classes, W all logistics warehousing."""
    assert [resolve_use(c).prefixes for c in ("M1", "M2", "M3", "W1", "W2", "W")] == [
        ("100101",),
        ("100102",),
        ("100103",),
        ("110101",),
        ("110102",),
        ("1101",),
    ]
    assert resolve_use("m2").scheme == GB50137 and resolve_use("m2").name_zh == "二类工业用地"


def test_gbt21010_industrial_and_warehouse_codes() -> None:
    """GB/T 21010 0601 工业用地 → 1001, 0604 仓储用地 → 11, 06 → both 10 and 11."""
    assert resolve_use("0601").scheme == GBT21010 and resolve_use("0601").prefixes == ("1001",)
    assert resolve_use("0604").prefixes == ("11",)
    assert resolve_use("06").prefixes == ("10", "11")


def test_bare_digits_are_ydyh_except_the_gbt21010_commercial_and_industrial_classes() -> None:
    """1001 is 用地用海 工业用地 (not GB/T 21010 railway land); 0601 is read as GB/T 21010; prefixes force a scheme."""
    assert resolve_use("1001").scheme == YDYH and resolve_use("1001").prefixes == ("1001",)
    assert resolve_use("100101").name_zh == "一类工业用地"
    assert resolve_use("YDYH:0601").scheme == YDYH and resolve_use("YDYH:0601").name_zh == "乡村道路用地"
    assert resolve_use("GB/T 21010:0601").prefixes == ("1001",)
    assert resolve_use("GB50137：M3").prefixes == ("100103",)


def test_unknown_codes_are_refused_naming_the_input() -> None:
    """An unknown code or scheme is PARAM_INVALID with the input in the details."""
    for bad in ("ZZ9", "1234567", "X:M2", "GB50137:0601", "9999"):
        with pytest.raises(ParameterInvalid) as raised:
            resolve_use(bad)
        assert raised.value.details["use"] == bad.strip()


def test_lists_split_dedupe_and_prefixes_collapse() -> None:
    """Comma lists are split; 1001 covers 100102, so only the shorter prefix is kept."""
    codes = resolve_uses(["M2,1001", "M2", "W1，0604"])
    assert [c.input for c in codes] == ["M2", "1001", "W1", "0604"]
    assert use_prefixes(codes) == ("1001", "11")


def test_names_and_categories() -> None:
    """Names come from the nearest named parent; categories follow the rules' project categories."""
    assert use_name("100102") == "二类工业用地" and use_name("100199") == "工业用地" and use_name(None) is None
    assert [category_for_use(c) for c in ("100101", "110102", "090101", "070101", "1002", None, "14")] == [
        "industrial",
        "warehouse_logistics",
        "commercial",
        "residential",
        "mining",
        "other",
        "other",
    ]
