"""Site suggestions (规划选址建议): single parcels and adjacent groups, checked with the project's facts."""

from __future__ import annotations

from typing import Any

import pytest
import shapely

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels import SuggestRequest, get_parcel, suggest_sites
from sitecheck.rules import load_rules
from sitecheck.stores.base import Store
from tests.sitecheck.test_parcels_truth import MU_M2, to_lonlat, truth

RULES = load_rules()


def _suggest(store: Store, **request: Any) -> dict[str, Any]:
    """Ask for suggestions."""
    return suggest_sites(store, RULES, SuggestRequest(**request))


def test_options_fit_the_required_area_and_are_clean_and_distinct(sample_store: Store) -> None:
    """150 亩 industrial: each option holds 150–195 亩 of clean, available 1001 land; groups are adjacent."""
    result = _suggest(sample_store, area_mu=150, limit=8)
    t = truth()
    assert result["required_area_m2"] == pytest.approx(100_000.0) and result["options"]
    used: set[str] = set()
    for option in result["options"]:
        rows = t.loc[option["parcel_ids"]]
        assert (
            rows["clean"].all() and (rows["状态"] == "可招商").all() and rows["用地性质"].str.startswith("1001").all()
        )
        assert 150 * MU_M2 <= rows["area_m2"].sum() <= 195 * MU_M2 + 1e-6
        assert used.isdisjoint(option["parcel_ids"])
        used.update(option["parcel_ids"])
        if option["kind"] == "group":
            assert 2 <= len(option["parcel_ids"]) <= 3 and option["max_gap_m"] <= 50.0
            assert (rows["area_m2"] < 150 * MU_M2).all()
            assert rows["area_m2"].sum() - rows["area_m2"].min() < 150 * MU_M2
        assert option["check"]["verdict"] in ("compliant", "needs_review")
        assert option["score"] == pytest.approx(sum(b["contribution"] for b in option["breakdown"]), abs=1e-12)
    scores = [option["score"] for option in result["options"]]
    assert scores == sorted(scores, reverse=True)
    assert any(option["kind"] == "group" for option in result["options"])


def test_a_point_on_the_clean_fixture_makes_it_the_first_choice(sample_store: Store) -> None:
    """180 亩 near a lon/lat point inside FX-CLEAN-01: that parcel, compliant, 0 m from the point, comes first."""
    point = to_lonlat(shapely.Point(40_510_400, 3_524_350))
    result = _suggest(sample_store, area_mu=180, point=[point.x, point.y], max_point_distance_m=5000)
    first = result["options"][0]
    assert first["parcel_ids"] == ["FX-CLEAN-01"] and first["kind"] == "parcel"
    assert first["point_distance_m"] == pytest.approx(0.0, abs=1e-6)
    assert first["check"]["verdict"] == "compliant"
    assert {b["criterion"] for b in first["breakdown"]} >= {"proximity", "unity", "area_fit"}
    assert "距指定位置 0 米" in first["reason_zh"]
    assert all(o["point_distance_m"] <= 5000 for o in result["options"])


def test_warehouse_land_by_gb50137_code(sample_store: Store) -> None:
    """W1 asks for 一类物流仓储 land; the facts carry 110101, so the zone rule sees a compatible use."""
    result = _suggest(sample_store, area_mu=120, category="warehouse_logistics", land_use_code="W1")
    assert result["project"]["land_use_code"] == "110101"
    for option in result["options"]:
        assert all(p["land_use"] == "110101" for p in option["parcels"])
    detail = get_parcel(sample_store, RULES, result["options"][0]["parcel_ids"][0])
    assert detail["compliance"]["clean"]


def test_a_category_without_parcels_says_so(sample_store: Store) -> None:
    """Linear infrastructure has no parcel land use: no options and a note in both languages."""
    result = _suggest(sample_store, area_mu=50, category="linear_infrastructure")
    assert result["options"] == [] and "用地性质" in result["note_zh"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({}, "area_mu"),
        ({"area_mu": 10, "area_m2": 10}, "area_mu"),
        ({"area_mu": 0}, "area_mu"),
        ({"area_mu": 10, "max_group_size": 9}, "max_group_size"),
        ({"area_mu": 10, "limit": 0}, "limit"),
        ({"area_mu": 10, "point": [1.0]}, "point"),
        ({"area_mu": 10, "category": "spaceport"}, "category"),
    ],
)
def test_bad_requests_are_refused(sample_store: Store, request_: dict[str, Any], field: str) -> None:
    """Missing or doubled areas, out-of-range sizes, bad points and unknown categories name their field."""
    with pytest.raises(ParameterInvalid) as raised:
        _suggest(sample_store, **request_)
    assert raised.value.location == {"field": field}


def test_both_engines_suggest_the_same(sample_stores: dict[str, Store]) -> None:
    """Options, scores, checks and geometry agree between the engines."""
    a, b = (_suggest(sample_stores[e], area_mu=150, limit=8) for e in ("embedded", "postgis"))
    assert {k: v for k, v in a.items() if k != "engine"} == {k: v for k, v in b.items() if k != "engine"}
