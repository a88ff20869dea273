"""Site suggestion options: scored with the ranking criteria, described, and checked with the project's facts."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from sitecheck.areas import hectares, mu
from sitecheck.findings import SiteFacts, layer_finding
from sitecheck.parcels.explain import breakdown, reasons
from sitecheck.parcels.export import lonlat
from sitecheck.parcels.ranking import STATUS_SCORES, NumpyOps, Ranking, criterion_values, score_of
from sitecheck.rules import STATUS_ZH, VERDICT_ZH, ProjectFacts, RuleSet, overall_verdict
from sitecheck.stores.base import OverlapPiece, Store

NOISE_M2 = 1e-6


def score_options(
    options: list[list[int]], items: list[dict[str, Any]], geometries: list[Any], point: Any, ranking: Ranking
) -> list[tuple[float, list[float], list[int]]]:
    """Score every option with the numpy back end; best first, ties by fewer parcels then ids."""

    def worst_status(members: list[int]) -> str | None:
        """The least available status among the members."""
        return min((items[i]["status"] for i in members), key=lambda s: STATUS_SCORES.get(s or "", 0.0))

    def numbers(key: str, members: list[int], pick: Any) -> float:
        """A figure combined over the members (NaN when one lacks it)."""
        found = [items[i][key] for i in members]
        return float(pick(found)) if all(v is not None for v in found) and found else np.nan

    columns: dict[str, Any] = {
        "area_m2": np.asarray([sum(items[i]["area_m2"] for i in m) for m in options]),
        "transit_m": np.asarray(
            [
                min(
                    (items[i]["transit_m_ranked"] for i in m if items[i]["transit_m_ranked"] is not None),
                    default=np.nan,
                )
                for m in options
            ]
        ),
        "far_min": np.asarray([numbers("far_min", m, max) for m in options]),
        "far_max": np.asarray([numbers("far_max", m, min) for m in options]),
        "status": [worst_status(m) for m in options],
        "in_zone": np.asarray([all(items[i]["in_zone"] for i in m) for m in options]),
        "point_m": np.asarray(
            [
                shapely.distance(shapely.union_all([geometries[i] for i in m]), point) if point is not None else np.nan
                for m in options
            ]
        ),
        "unity": np.asarray([1.0 / len(m) for m in options]),
    }
    ops = NumpyOps()
    values = [np.broadcast_to(v, (len(options),)) for v in criterion_values(ranking, columns, ops)]
    total = score_of(ranking, values, ops)
    scores = np.zeros(len(options)) if total is None else np.broadcast_to(total, (len(options),))
    order = sorted(
        range(len(options)), key=lambda k: (-scores[k], len(options[k]), [items[i]["id"] for i in options[k]])
    )
    return [(float(scores[k]), [float(v[k]) for v in values], options[k]) for k in order]


def describe_option(
    store: Store,
    rules: RuleSet,
    facts: ProjectFacts,
    rank: int,
    score: float,
    values: list[float],
    members: list[int],
    items: list[dict[str, Any]],
    geometries: list[Any],
    point: Any,
    ranking: Ranking,
) -> dict[str, Any]:
    """One suggestion: its parcels, area, score breakdown, reasons and the check under the project's facts."""
    parcels = sorted((items[i] for i in members), key=lambda it: it["id"])
    geometry = shapely.union_all([geometries[i] for i in members])
    area = sum(it["area_m2"] for it in parcels)
    findings = check_option(store, rules, facts, geometry)
    nearest = min(
        (it for it in parcels if it["transit_m_ranked"] is not None),
        key=lambda it: it["transit_m_ranked"],
        default=None,
    )
    status = min((it["status"] for it in parcels), key=lambda s: STATUS_SCORES.get(s or "", 0.0))
    facts_for_reason = {
        "area_m2": area,
        "transit_m": nearest["transit_m_ranked"] if nearest else None,
        "transit_name": (nearest["transit"] or {}).get("name") if nearest else None,
        "transit_kind": (nearest["transit"] or {}).get("kind") if nearest else None,
        "far_min": max((it["far_min"] for it in parcels if it["far_min"] is not None), default=None),
        "far_max": min((it["far_max"] for it in parcels if it["far_max"] is not None), default=None),
        "status": status,
        "in_zone": all(it["in_zone"] for it in parcels),
        "point_m": float(shapely.distance(geometry, point)) if point is not None else None,
        "members": len(parcels),
    }
    problems = [f for f in findings if f["status"] not in ("pass", "not_applicable")]
    zh, en = reasons(ranking, values, score, facts_for_reason, problems)
    gap = _bridge_gap([geometries[i] for i in members])
    return {
        "rank": rank,
        "kind": "parcel" if len(parcels) == 1 else "group",
        "parcel_ids": [it["id"] for it in parcels],
        "parcels": [
            {
                "id": it["id"],
                "name": it["name"],
                "land_use": it["land_use"]["code"],
                "status": it["status"],
                "area_m2": it["area_m2"],
                "area_mu": it["area_mu"],
                "district": it["district"],
            }
            for it in parcels
        ],
        "area_m2": round(area, 2),
        "area_ha": hectares(area),
        "area_mu": mu(area),
        "max_gap_m": gap,
        "point_distance_m": facts_for_reason["point_m"],
        "score": score,
        "breakdown": breakdown(ranking, values),
        "reason_zh": zh,
        "reason_en": en,
        "check": {
            "verdict": (v := overall_verdict([f["status"] for f in findings])),
            "verdict_zh": VERDICT_ZH[v],
            "layers": findings,
        },
        "geometry": lonlat(geometry, store.crs),
    }


def check_option(store: Store, rules: RuleSet, facts: ProjectFacts, geometry: Any) -> list[dict[str, Any]]:
    """Each constraint and zone layer's status for the option's site under the project's facts (not stored)."""
    layers = store.catalog.by_role("constraint", "zone")
    current = store.current_versions()
    versions = {layer.key: current[layer.key] for layer in layers if layer.key in current}
    pieces = store.overlaps(geometry, versions)
    site = SiteFacts(geometry, geometry.area, store.crs)
    out = []
    for layer in layers:
        if layer.key not in versions:
            continue
        found = _without_noise(pieces[layer.key], geometry)
        finding = layer_finding(
            layer, versions[layer.key].version, rules.rule_for(layer), found, site, facts, rules.thresholds
        )
        out.append(
            {
                "layer": layer.key,
                "name_zh": layer.name_zh,
                "name_en": layer.name_en,
                "version": versions[layer.key].version,
                "status": finding["status"],
                "status_zh": STATUS_ZH[finding["status"]],
                "reason_zh": finding["rule"]["reason_zh"],
                "reason_en": finding["rule"]["reason_en"],
            }
        )
    return out


def _without_noise(pieces: list[OverlapPiece], site: Any) -> list[OverlapPiece]:
    """A feature whose overlap leaves less than 1 mm² of the site outside covers the whole site.

    Overlay of a site with subdivided or touching polygons leaves floating-point crumbs; taken at face value
    they would read as slivers outside the development boundary. Parcel compliance decides coverage with an
    exact predicate; here, with only the overlaps at hand, the crumbs are recognised by size.
    """
    by_feature: dict[int, list[OverlapPiece]] = {}
    for piece in pieces:
        by_feature.setdefault(piece.fid, []).append(piece)
    out = []
    for fid in sorted(by_feature):
        group = by_feature[fid]
        union = shapely.union_all([p.geometry for p in group])
        if shapely.area(shapely.difference(site, union)) < NOISE_M2:
            first = group[0]
            out.append(OverlapPiece(first.fid, first.feature_id, first.name, first.kind, first.attributes, site))
        else:
            out.extend(group)
    return out


def _bridge_gap(geometries: list[Any]) -> float:
    """The widest gap that must be bridged to join the parcels (the longest edge of their minimum spanning tree)."""
    edges = sorted(
        (float(shapely.distance(geometries[a], geometries[b])), a, b)
        for a in range(len(geometries))
        for b in range(a + 1, len(geometries))
    )
    group = list(range(len(geometries)))

    def root(k: int) -> int:
        """The representative of k\'s group."""
        while group[k] != k:
            k = group[k]
        return k

    widest = 0.0
    for distance, a, b in edges:
        if root(a) != root(b):
            group[root(a)] = root(b)
            widest = distance
    return round(widest, 3)
