"""Precomputed parcel compliance: the check's rules per layer, recorded versions, districts, transit, neighbours."""

from __future__ import annotations

from typing import Any

import pytest

from sitecheck.check import check_site
from sitecheck.errors import ParcelNotFound
from sitecheck.intake import read_site_geometry
from sitecheck.parcels import get_parcel, refresh_parcels
from sitecheck.parcels.compliance import parcel_facts
from sitecheck.parcels.engine import parcel_engine
from sitecheck.rules import load_rules
from sitecheck.stores.base import Store
from tests.sitecheck.test_parcels_truth import truth

RULES = load_rules()
FIXTURES = ("FX-CLEAN-01", "FX-WH-01", "FX-FARM-01", "FX-DEV-01", "FX-ECO-01", "FX-SLIVER-01")


def _layers(detail: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A detail's rule-layer findings by layer key."""
    return {layer["layer"]: layer for layer in detail["compliance"]["layers"]}


def test_fixture_parcels_have_the_documented_statuses_and_areas(sample_store: Store) -> None:
    """Red line 10 000 m² on FX-ECO-01, 0.8 m² sliver on FX-SLIVER-01, farmland and outside areas as documented."""
    eco = _layers(get_parcel(sample_store, RULES, "FX-ECO-01"))
    assert eco["eco_redline"]["status"] == "conflict" and eco["eco_redline"]["overlap_m2"] == 10_000.0
    assert eco["eco_redline"]["features"] == [
        {"id": "FX-HX-01", "name": "校验生态红线", "kind": "水源涵养", "overlap_m2": 10_000.0, "sliver": False}
    ]
    assert eco["eco_redline"]["rule"]["id"] == "eco_redline.no_occupation"
    assert "2022" in eco["eco_redline"]["rule"]["policy"][0]
    sliver = _layers(get_parcel(sample_store, RULES, "FX-SLIVER-01"))
    assert sliver["eco_redline"]["status"] == "review" and sliver["eco_redline"]["overlap_m2"] == 0.8
    assert sliver["eco_redline"]["features"][0]["sliver"] is True
    farm = _layers(get_parcel(sample_store, RULES, "FX-FARM-01"))
    assert (farm["farmland"]["status"], farm["farmland"]["overlap_m2"]) == ("conflict", 20_000.0)
    assert (farm["dev_boundary"]["status"], farm["dev_boundary"]["outside_m2"]) == ("conflict", 40_000.0)
    dev = _layers(get_parcel(sample_store, RULES, "FX-DEV-01"))
    assert (dev["dev_boundary"]["status"], dev["dev_boundary"]["outside_m2"]) == ("conflict", 20_000.0)
    clean = get_parcel(sample_store, RULES, "FX-CLEAN-01")
    assert {k: v["status"] for k, v in _layers(clean).items()} == dict.fromkeys(
        ("eco_redline", "farmland", "dev_boundary", "industrial_zone"), "pass"
    )
    assert clean["compliance"]["clean"] is True and clean["compliance"]["verdict"] == "compliant"
    assert (clean["area_m2"], clean["area_ha"], clean["area_mu"]) == (120_000.0, 12.0, 180.0)


def test_precomputed_statuses_are_those_of_a_check_of_the_parcel(sample_store: Store) -> None:
    """For each fixture, a check of its geometry with the parcel's default facts gives the stored statuses."""
    geometries = truth().geometry
    for pid in FIXTURES:
        detail = get_parcel(sample_store, RULES, pid)
        site = read_site_geometry(geometries[pid].wkt, crs="EPSG:4528")
        checked = check_site(sample_store, site, parcel_facts(pid, detail["land_use"]["code"]), RULES)
        expected = {
            f["layer"]: (f["status"], f["rule"]["reason_zh"]) for f in checked["layers"] if f["layer"] != "slope"
        }
        assert {k: (v["status"], v["rule"]["reason_zh"]) for k, v in _layers(detail).items()} == expected, pid


def test_every_parcel_matches_the_independent_answer(sample_store: Store) -> None:
    """Clean flag, district (largest share) and distance to the nearest stop of all parcels, both engines."""
    engine = parcel_engine(sample_store)
    from sitecheck.parcels import ParcelQuery, search_parcels

    result = search_parcels(sample_store, RULES, ParcelQuery(include_nonclean=True, limit=1000))
    t = truth()
    assert result["total"] == len(t)
    for item in result["items"]:
        row = t.loc[item["id"]]
        assert item["compliance"]["clean"] == row["clean"], item["id"]
        assert item["district"]["code"] == row["district_code"], item["id"]
        assert item["transit"]["distance_m"] == pytest.approx(row["stop_m"], abs=5e-4), item["id"]
        assert item["in_zone"] == row["in_zone"], item["id"]
    assert engine.last_state() is not None


def test_figures_record_the_versions_they_came_from(sample_store: Store) -> None:
    """Every layer's figures carry its version, and the state lists the version of each part."""
    detail = get_parcel(sample_store, RULES, "FX-CLEAN-01")
    assert {layer["layer"]: layer["version"] for layer in detail["compliance"]["layers"]} == dict.fromkeys(
        ("eco_redline", "farmland", "dev_boundary", "industrial_zone"), 1
    )
    assert detail["layer_versions"] == dict.fromkeys(
        ("dev_boundary", "districts", "eco_redline", "farmland", "industrial_zone", "parcels", "transit"), 1
    )
    assert detail["parcels_version"] == 1
    assert refresh_parcels(sample_store, RULES)["status"] == "up_to_date"


def test_transit_and_neighbours_of_the_clean_fixture(sample_store: Store) -> None:
    """FX-CLEAN-01: 640.312 m from FX-ST-01; FX-WH-01 is its nearest neighbour, 141.421 m away, not adjacent."""
    detail = get_parcel(sample_store, RULES, "FX-CLEAN-01")
    assert detail["transit"]["nearest"] == {"id": "FX-ST-01", "name": "校验站", "kind": "地铁站", "distance_m": 640.312}
    kinds = {d["kind"]: d for d in detail["transit"]["by_kind"]}
    assert kinds["地铁站"]["id"] == "FX-ST-01" and set(kinds) >= {"地铁站", "地铁线", "高铁站", "高速公路"}
    assert detail["district"] == {"code": "990105", "name": "高新区"}
    nearest = detail["neighbours"][0]
    assert (nearest["id"], nearest["gap_m"], nearest["adjacent"]) == ("FX-WH-01", 141.421, False)
    eco = get_parcel(sample_store, RULES, "FX-ECO-01")
    assert eco["neighbours"][0]["id"] == "FX-SLIVER-01" and eco["neighbours"][0]["gap_m"] == 100.0
    assert detail["attributes"]["地块编号"] == "FX-CLEAN-01" and next(iter(detail["attributes"])) == "地块编号"
    assert detail["geometry"]["type"] == "MultiPolygon"


def test_unknown_parcel_is_not_found(sample_store: Store) -> None:
    """An id not in the current parcels version is PARCEL_NOT_FOUND."""
    with pytest.raises(ParcelNotFound):
        get_parcel(sample_store, RULES, "DK-NOT-THERE")


def test_detail_is_the_same_on_both_engines(sample_stores: dict[str, Store]) -> None:
    """Every figure of the fixtures' details agrees between the engines (times aside)."""
    for pid in (*FIXTURES, "CYQK-011-19"):
        a, b = (get_parcel(sample_stores[e], RULES, pid) for e in ("embedded", "postgis"))
        skip = ("engine", "computed_at")
        assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}, pid
