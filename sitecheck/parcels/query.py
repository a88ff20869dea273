"""Parcel search (按图索地): check a query against what the index holds, run it on the engine, explain the page."""

from __future__ import annotations

from typing import Any

from sitecheck.errors import ParameterInvalid, VersionNotFound
from sitecheck.intake import read_site_geometry
from sitecheck.parcels.crosswalk import UseCode, crosswalk_table, resolve_uses, use_prefixes
from sitecheck.parcels.engine import Vocabulary, parcel_engine
from sitecheck.parcels.explain import item_of
from sitecheck.parcels.export import csv_bytes, feature_collection
from sitecheck.parcels.layout import ParcelLayout, ParcelState, rules_fingerprint
from sitecheck.parcels.ranking import SEARCH_WEIGHTS, RankParams, make_ranking
from sitecheck.parcels.refresh import ensure_fresh, is_fresh, layout_of
from sitecheck.parcels.spec import (
    AREA_RELATIONS,
    ParcelQuery,
    Range,
    SearchPage,
    SearchSpec,
    checked_number,
    known_values,
    one_of,
    ordered,
    page_limit,
    page_offset,
)
from sitecheck.rules import RuleSet
from sitecheck.settings import IntakeLimits
from sitecheck.stores.base import Store

_ATTEMPTS = 3


def plan_search(
    query: ParcelQuery,
    layout: ParcelLayout,
    state: ParcelState,
    vocabulary: Vocabulary,
    *,
    analysis_crs: str,
    export: bool = False,
    with_geometry: bool = False,
    limits: IntakeLimits | None = None,
) -> tuple[SearchSpec, list[UseCode]]:
    """Check every filter of a query (naming the offending field) and turn it into an engine plan."""
    min_m2 = one_of("min_mu", query.min_mu, "min_m2", query.min_m2)
    max_m2 = one_of("max_mu", query.max_mu, "max_m2", query.max_m2)
    ordered("area", min_m2, max_m2)
    target = one_of("target_mu", query.target_mu, "target_m2", query.target_m2)
    if target == 0:
        raise ParameterInvalid("the target area must be > 0", "目标面积须大于 0", location={"field": "target_mu"})
    if target is None and (min_m2 or max_m2):
        target = (min_m2 + max_m2) / 2 if min_m2 and max_m2 else (min_m2 or max_m2)
    ranges = [
        Range("area_m2", ">=", min_m2) if min_m2 is not None else None,
        Range("area_m2", "<=", max_m2) if max_m2 is not None else None,
    ]
    for name, column, op in (
        ("min_far", "far_max", ">="),
        ("max_far", "far_min", "<="),
        ("min_invest", "invest", ">="),
        ("max_invest", "invest", "<="),
        ("min_tax", "tax", ">="),
        ("max_tax", "tax", "<="),
    ):
        value = checked_number(name, getattr(query, name))
        ranges.append(Range(column, op, value) if value is not None else None)
    for name, low, high in (
        ("far", query.min_far, query.max_far),
        ("invest", query.min_invest, query.max_invest),
        ("tax", query.min_tax, query.max_tax),
    ):
        ordered(name, low, high)
    far = checked_number("far", query.far, positive=True)
    max_transit = checked_number("max_transit_m", query.max_transit_m, positive=True)
    kinds = state.kinds()
    kind_names = sorted({k["kind"] for k in kinds})
    wanted_kinds = known_values("transit_kind", query.transit_kind, kind_names, label_zh="交通设施类型")
    codes = resolve_uses(query.use)
    polygon_keys = layout.polygon_keys()
    district_values = sorted({v for pair in vocabulary.districts for v in pair if v})
    if query.area_relation not in AREA_RELATIONS:
        raise ParameterInvalid(
            f"area_relation must be one of {list(AREA_RELATIONS)}",
            f"area_relation 须为 {list(AREA_RELATIONS)} 之一",
            location={"field": "area_relation"},
        )
    area = None
    if query.area is not None:
        area = read_site_geometry(
            query.area, crs=query.area_crs, zone=query.area_zone, analysis_crs=analysis_crs, limits=limits
        ).geometry
    ranking = make_ranking(
        SEARCH_WEIGHTS,
        query.weights,
        RankParams(target_area_m2=target, far=far, transit_reference_m=max_transit or RankParams().transit_reference_m),
    )
    spec = SearchSpec(
        include_nonclean=bool(query.include_nonclean),
        districts=known_values("district", query.district, district_values, label_zh="行政区"),
        area=area,
        area_relation=query.area_relation,
        ranges=tuple(r for r in ranges if r is not None),
        use_prefixes=use_prefixes(codes),
        statuses=known_values("status", query.status, vocabulary.statuses, label_zh="供地状态"),
        industries=known_values("industry", query.industry, vocabulary.industries, label_zh="产业定位"),
        parks=known_values("park", query.park, vocabulary.parks, label_zh="所属园区"),
        max_transit_m=max_transit,
        kind_columns=tuple(i for i, k in enumerate(kinds) if k["kind"] in wanted_kinds) if wanted_kinds else None,
        inside=known_values("inside", query.inside, polygon_keys, label_zh="图层"),
        outside=known_values("outside", query.outside, polygon_keys, label_zh="图层"),
        ranking=ranking,
        limit=page_limit(query.limit, export=export),
        offset=page_offset(query.offset),
        with_geometry=with_geometry,
        relation_keys=tuple(polygon_keys),
    )
    return spec, codes


def search_parcels(
    store: Store, rules: RuleSet, query: ParcelQuery, *, export: bool = False, limits: IntakeLimits | None = None
) -> dict[str, Any]:
    """Search the parcels (按图索地): filters, default clean-only, ranked with visible weights, one page."""
    return run_search(store, rules, query, export=export, with_geometry=False, limits=limits)[0]


def parcels_geojson(
    store: Store, rules: RuleSet, query: ParcelQuery, *, export: bool = False, limits: IntakeLimits | None = None
) -> dict[str, Any]:
    """The same search as a GeoJSON FeatureCollection (CGCS2000 lon/lat); ``export`` lifts the page size cap."""
    result, rows = run_search(store, rules, query, export=export, with_geometry=True, limits=limits)
    return feature_collection(result, [row["geometry"] for row in rows], store.crs)


def parcels_csv(store: Store, rules: RuleSet, query: ParcelQuery, *, limits: IntakeLimits | None = None) -> bytes:
    """The same search as CSV for Excel; without a limit every match is exported (up to 50 000)."""
    return csv_bytes(run_search(store, rules, query, export=True, with_geometry=False, limits=limits)[0])


def run_search(
    store: Store,
    rules: RuleSet,
    query: ParcelQuery,
    *,
    export: bool,
    with_geometry: bool,
    limits: IntakeLimits | None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Plan against the fresh state, run on the engine (retrying if the state moved on), explain the page."""
    layout = layout_of(store, rules)
    engine = parcel_engine(store)
    sha = rules_fingerprint(rules, layout)
    state = engine.last_state() or ensure_fresh(store, rules)
    for _ in range(_ATTEMPTS):
        spec, codes = plan_search(
            query,
            layout,
            state,
            engine.vocabulary(state),
            analysis_crs=store.crs,
            export=export,
            with_geometry=with_geometry,
            limits=limits,
        )
        page = engine.search(spec, state.token, lambda s, p: is_fresh(layout, sha, s, p))
        if page is not None:
            return _result(store, layout, query, spec, codes, page), page.rows
        state = ensure_fresh(store, rules)
    raise VersionNotFound(
        "layer versions kept changing during the search; try again", "检索期间图层版本持续变化，请重试"
    )


def _result(
    store: Store, layout: ParcelLayout, query: ParcelQuery, spec: SearchSpec, codes: list[UseCode], page: SearchPage
) -> dict[str, Any]:
    """The JSON-ready answer: total, page, ranking, echoed query and the versions the figures come from."""
    limit = spec.limit or 0
    kinds = page.state.kinds()
    items = [
        item_of(
            row,
            values,
            score,
            spec.ranking,
            layout,
            rank=spec.offset + i + 1,
            kind_columns=spec.kind_columns,
            kinds=kinds,
        )
        for i, (row, values, score) in enumerate(zip(page.rows, page.values, page.scores, strict=True))
    ]
    after = spec.offset + len(items)
    return {
        "engine": store.engine,
        "total": page.total,
        "limit": limit,
        "offset": spec.offset,
        "count": len(items),
        "next_offset": after if after < page.total else None,
        "prev_offset": max(spec.offset - limit, 0) if spec.offset > 0 else None,
        "items": items,
        "ranking": spec.ranking.describe(),
        "query": query.echo(),
        "use_codes": [code.to_dict() for code in codes],
        "default_filter": None if spec.include_nonclean else "clean",
        "layer_versions": page.state.versions(),
        "computed_at": max(p.computed_at for p in page.state.parts.values()).isoformat(),
        "crs": store.crs,
    }


def search_options(store: Store, rules: RuleSet) -> dict[str, Any]:
    """What a search form can offer: districts, statuses, industries, parks, transit kinds, layers, criteria."""
    layout = layout_of(store, rules)
    engine = parcel_engine(store)
    state = ensure_fresh(store, rules)
    vocabulary = engine.vocabulary(state)
    return {
        "engine": store.engine,
        "districts": [{"code": code, "name": name} for code, name in vocabulary.districts],
        "statuses": vocabulary.statuses,
        "industries": vocabulary.industries,
        "parks": vocabulary.parks,
        "transit_kinds": [{"layer": k["layer"], "kind": k["kind"], "stop": k["points"]} for k in state.kinds()],
        "layers": [
            {"key": layer.key, "name_zh": layer.name_zh, "name_en": layer.name_en, "role": layer.role}
            for layer in layout.relation_layers
        ],
        "criteria": make_ranking(SEARCH_WEIGHTS, None, RankParams()).describe()["criteria"],
        "default_weights": SEARCH_WEIGHTS,
        "land_use_crosswalk": crosswalk_table(),
        "layer_versions": state.versions(),
    }
