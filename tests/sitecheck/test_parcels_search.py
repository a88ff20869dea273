"""Parcel search (按图索地) on both engines, against answers computed independently from the GeoPackages."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping, shape

from sitecheck.errors import GeometryInvalid, GeometryNotPolygonal, ParameterInvalid
from sitecheck.parcels import ParcelQuery, parcels_csv, parcels_geojson, search_parcels
from sitecheck.rules import load_rules
from sitecheck.stores.base import Store
from tests.sitecheck.test_parcels_truth import MU_M2, from_lonlat, to_lonlat, truth

RULES = load_rules()
DRAWN_4528 = shapely.Polygon(
    [
        (40_480_000, 3_505_000),
        (40_495_000, 3_505_000),
        (40_495_000, 3_520_000),
        (40_487_000, 3_522_000),
        (40_480_000, 3_520_000),
    ]
)
DRAWN = json.loads(json.dumps(mapping(to_lonlat(DRAWN_4528))))  # what a web map sends: CGCS2000 lon/lat


def _search(store: Store, **query: Any) -> dict[str, Any]:
    """Run a search with keyword filters."""
    return search_parcels(store, RULES, ParcelQuery(**query))


def _ids(result: dict[str, Any]) -> list[str]:
    """The parcel ids of a result, in order."""
    return [item["id"] for item in result["items"]]


def _expected_order(rows: Any, target_m2: float, reference_m: float) -> list[str]:
    """The ranking recomputed by hand: area fit .35, transit .25, status .15, zone .10 (FAR inactive), by id on ties."""
    status = {"可招商": 1.0, "储备": 0.5, "已出让": 0.0}
    scored = []
    for pid, row in rows.iterrows():
        area_fit = max(0.0, 1 - abs(row["area_m2"] - target_m2) / target_m2)
        transit = max(0.0, 1 - row["stop_m"] / reference_m)
        score = (0.35 * area_fit + 0.25 * transit + 0.15 * status[row["状态"]] + 0.10 * row["in_zone"]) / 0.85
        scored.append((-round(score, 12), pid))
    return [pid for _, pid in sorted(scored)]


def test_default_search_returns_exactly_the_clean_parcels(sample_store: Store) -> None:
    """No filter: every parcel clean against red line and farmland and inside the boundary, and no other."""
    result = _search(sample_store, limit=1000)
    expected = truth()[truth()["clean"]]
    assert result["total"] == len(expected) == len(result["items"])
    assert set(_ids(result)) == set(expected.index)
    assert {"FX-CLEAN-01", "FX-WH-01"} <= set(_ids(result))
    assert not {"FX-FARM-01", "FX-DEV-01", "FX-ECO-01", "FX-SLIVER-01"} & set(_ids(result))
    assert result["default_filter"] == "clean" and result["layer_versions"]["eco_redline"] == 1


def test_include_nonclean_shows_each_fixture_problem(sample_store: Store) -> None:
    """The six fixture parcels of 校验园区 with their documented problems and figures."""
    result = _search(sample_store, park=["校验园区"], include_nonclean=True)
    items = {item["id"]: item["compliance"] for item in result["items"]}
    assert set(items) == {"FX-CLEAN-01", "FX-WH-01", "FX-FARM-01", "FX-DEV-01", "FX-ECO-01", "FX-SLIVER-01"}
    problems = {pid: {(p["layer"], p["status"]): p for p in c["problems"]} for pid, c in items.items()}
    assert problems["FX-CLEAN-01"] == problems["FX-WH-01"] == {}
    assert problems["FX-ECO-01"][("eco_redline", "conflict")]["overlap_m2"] == 10_000.0
    assert problems["FX-SLIVER-01"][("eco_redline", "review")]["overlap_m2"] == 0.8
    assert problems["FX-FARM-01"][("farmland", "conflict")]["overlap_m2"] == 20_000.0
    assert problems["FX-FARM-01"][("dev_boundary", "conflict")]["outside_m2"] == 40_000.0
    assert set(problems["FX-DEV-01"]) == {("dev_boundary", "conflict")}
    assert problems["FX-DEV-01"][("dev_boundary", "conflict")]["outside_m2"] == 20_000.0
    assert items["FX-ECO-01"]["verdict"] == "non_compliant" and items["FX-SLIVER-01"]["verdict"] == "needs_review"
    assert items["FX-CLEAN-01"]["statuses"] == dict.fromkeys(
        ("eco_redline", "farmland", "dev_boundary", "industrial_zone"), "pass"
    )
    assert "生态保护红线" in result["items"][[i["id"] for i in result["items"]].index("FX-ECO-01")]["reason_zh"]


@pytest.mark.parametrize("district", ["城关区", "990102"])
def test_m2_parcel_of_100_to_150_mu_within_3_km_of_a_stop_in_a_named_district(
    sample_store: Store, district: str
) -> None:
    """The issue's first search, by district name or code: the set and the order match the hand computation."""
    result = _search(sample_store, min_mu=100, max_mu=150, use=["M2"], max_transit_m=3000, district=[district])
    t = truth()
    rows = t[
        t["clean"]
        & (t["用地性质"] == "100102")
        & (t["area_m2"] >= 100 * MU_M2)
        & (t["area_m2"] <= 150 * MU_M2)
        & (t["stop_m"] <= 3000)
        & (t["district_name"] == "城关区")
    ]
    assert len(rows) >= 3
    assert _ids(result) == _expected_order(rows, 125 * MU_M2, 3000.0)
    for item in result["items"]:
        assert item["transit_m_ranked"] == pytest.approx(t.loc[item["id"], "stop_m"], abs=5e-4)
        assert item["in_zone"] == t.loc[item["id"], "in_zone"]
        assert item["score"] == pytest.approx(sum(b["contribution"] for b in item["breakdown"]), abs=1e-12)
    assert result["use_codes"][0]["scheme"] == "GB 50137-2011" and result["use_codes"][0]["prefixes"] == ["100102"]
    assert result["ranking"]["applied_weights"]["area_fit"] == pytest.approx(0.35 / 0.85)


def test_available_warehouse_land_over_50_mu_inside_a_drawn_polygon(sample_store: Store) -> None:
    """The issue's second search: 可招商 W land ≥ 50 亩 covered by a lon/lat polygon drawn on a web map."""
    result = _search(sample_store, status=["可招商"], use=["W"], min_mu=50, area=DRAWN)
    t = truth()
    drawn = from_lonlat(to_lonlat(DRAWN_4528))
    rows = t[
        t["clean"]
        & (t["状态"] == "可招商")
        & t["用地性质"].str.startswith("1101")
        & (t["area_m2"] >= 50 * MU_M2)
        & shapely.covers(drawn, t.geometry.values)
    ]
    assert len(rows) >= 5
    assert sorted(_ids(result)) == sorted(rows.index)
    touching = _search(sample_store, status=["可招商"], use=["0604"], min_mu=50, area=DRAWN, area_relation="overlaps")
    assert set(_ids(result)) < set(_ids(touching))


def test_attribute_thresholds_and_layer_relations(sample_store: Store) -> None:
    """容积率, 投资强度 and 亩均税收 bounds, industry, and inside/outside layers agree with the attributes."""
    result = _search(
        sample_store,
        min_far=2.5,
        max_invest=450,
        min_tax=30,
        industry=["电子信息"],
        inside=["industrial_zone"],
        outside=["farmland"],
        limit=1000,
    )
    t = truth()
    rows = t[
        t["clean"]
        & (t["容积率上限"] >= 2.5)
        & (t["投资强度"] <= 450)
        & (t["亩均税收"] >= 30)
        & (t["产业定位"] == "电子信息")
        & t["in_zone"]
    ]
    assert sorted(_ids(result)) == sorted(rows.index) and len(rows) > 0


def test_transit_kind_measures_only_that_kind(sample_store: Store) -> None:
    """transit_kind=高速出入口 ranks and filters by the nearest highway exit, not the nearest stop."""
    result = _search(sample_store, transit_kind=["高速出入口"], max_transit_m=4000, limit=1000)
    t = truth()
    transit = t.attrs.get("exits")
    exits = [g for g, kind in zip(_transit().geometry.values, _transit()["LX"], strict=True) if kind == "高速出入口"]
    distance = {pid: float(shapely.distance(g, shapely.GeometryCollection(exits))) for pid, g in t.geometry.items()}
    expected = {pid for pid in t.index[t["clean"]] if distance[pid] <= 4000}
    assert transit is None and set(_ids(result)) == expected
    for item in result["items"]:
        assert item["transit_m_ranked"] == pytest.approx(distance[item["id"]], abs=5e-4)
    assert "高速出入口" in result["items"][0]["reason_zh"]


def _transit() -> Any:
    """The committed transit layer."""
    from tests.sitecheck.test_parcels_truth import layer

    return layer("transit")


def test_pages_are_stable_and_complete(sample_store: Store) -> None:
    """Pages of 7 concatenate to the full ordered list; next_offset chains; past the end is empty with the total."""
    full = _search(sample_store, include_nonclean=True, limit=1000)
    pages, offset = [], 0
    while offset is not None:
        page = _search(sample_store, include_nonclean=True, limit=7, offset=offset)
        pages += _ids(page)
        offset = page["next_offset"]
    assert pages == _ids(full) and len(pages) == full["total"] == len(truth())
    beyond = _search(sample_store, limit=5, offset=5000)
    assert beyond["items"] == [] and beyond["total"] == int(truth()["clean"].sum())
    scores = [item["score"] for item in full["items"]]
    assert scores == sorted(scores, reverse=True)


QUERIES: list[dict[str, Any]] = [
    {"limit": 1000},
    {"include_nonclean": True, "limit": 1000, "weights": {"area_fit": 1.0}, "target_mu": 80},
    {"min_mu": 100, "max_mu": 150, "use": ["M2"], "max_transit_m": 3000, "district": ["城关区"]},
    {"status": ["可招商"], "use": ["W"], "min_mu": 50, "area": DRAWN},
    {"area": DRAWN, "area_relation": "overlaps", "include_nonclean": True, "limit": 1000},
    {"far": 2.5, "weights": {"far_fit": 1.0}, "limit": 50, "offset": 10},
    {"transit_kind": ["地铁站", "高铁站"], "max_transit_m": 6000, "limit": 200},
    {"inside": ["industrial_zone"], "outside": ["farmland"], "include_nonclean": True, "limit": 500},
]


@pytest.mark.parametrize("query", QUERIES)
def test_both_engines_give_identical_results(sample_stores: dict[str, Store], query: dict[str, Any]) -> None:
    """Same ids in the same order, scores within 1e-9 (in fact equal), same breakdowns and reasons."""
    embedded, postgis = (_search(sample_stores[e], **query) for e in ("embedded", "postgis"))
    assert embedded["total"] == postgis["total"] and _ids(embedded) == _ids(postgis)
    for a, b in zip(embedded["items"], postgis["items"], strict=True):
        assert abs(a["score"] - b["score"]) <= 1e-9
        assert a == b
    skip = ("engine", "computed_at")
    assert {k: v for k, v in embedded.items() if k not in skip} == {k: v for k, v in postgis.items() if k not in skip}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"district": ["不存在区"]}, "district"),
        ({"status": ["待售"]}, "status"),
        ({"transit_kind": ["轮渡"]}, "transit_kind"),
        ({"inside": ["parcels"]}, "inside"),
        ({"outside": ["transit"]}, "outside"),
        ({"min_mu": 200, "max_mu": 100}, "area"),
        ({"min_mu": -1}, "min_mu"),
        ({"min_mu": 10, "min_m2": 10}, "min_m2"),
        ({"max_transit_m": float("nan")}, "max_transit_m"),
        ({"limit": 0}, "limit"),
        ({"offset": -3}, "offset"),
        ({"use": ["ZZ9"]}, "use"),
        ({"area_relation": "near"}, "area_relation"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(sample_store: Store, query: dict[str, Any], field: str) -> None:
    """Every bad filter is PARAM_INVALID with the field named, never a crash."""
    with pytest.raises(ParameterInvalid) as raised:
        _search(sample_store, **query)
    assert raised.value.location == {"field": field}


def test_bad_drawn_areas_are_geometry_errors(sample_store: Store) -> None:
    """A self-intersecting area is GEOM_INVALID; a point is GEOM_NOT_POLYGONAL."""
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[120.1, 31.8], [120.2, 31.9], [120.2, 31.8], [120.1, 31.9], [120.1, 31.8]]],
    }
    with pytest.raises(GeometryInvalid):
        _search(sample_store, area=bowtie)
    with pytest.raises(GeometryNotPolygonal):
        _search(sample_store, area={"type": "Point", "coordinates": [120.1, 31.8]})


def test_geojson_and_csv_exports(sample_store: Store) -> None:
    """GeoJSON in lon/lat with flat properties; CSV with a BOM, Chinese headers and every match when unpaged."""
    query = ParcelQuery(park=["校验园区"], include_nonclean=True)
    collection = parcels_geojson(sample_store, RULES, query)
    assert collection["type"] == "FeatureCollection" and collection["numberMatched"] == 6
    clean = next(f for f in collection["features"] if f["id"] == "FX-CLEAN-01")
    lon, lat = shape(clean["geometry"]).centroid.coords[0]
    assert 73 < lon < 136 and 3 < lat < 54
    assert shape(clean["geometry"]).equals_exact(to_lonlat(truth().loc["FX-CLEAN-01"].geometry), 1e-7)
    assert clean["properties"]["area_mu"] == 180.0 and clean["properties"]["district_name"] == "高新区"
    data = parcels_csv(sample_store, RULES, ParcelQuery(include_nonclean=True))
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["排名", "地块编号", "地块名称"]
    assert len(lines) == 1 + len(truth())
