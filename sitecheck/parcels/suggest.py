"""Site suggestions (规划选址建议): the best parcels, or groups of adjacent parcels, for a project not yet sited.

Candidates are clean parcels of the requested land use (and district, and supply status). A single parcel fits
when its area lies between the required area and that area plus the allowed excess; smaller parcels are
assembled into groups of up to four, connected by neighbour gaps of at most ``max_gap_m``, that reach the
required area and need every member. Options are ranked with the same criteria as the search plus nearness to
a point and a preference for one parcel over several; the best non-overlapping ones are checked with the
project's own facts, as the compliance check would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from sitecheck.areas import mu
from sitecheck.errors import ParameterInvalid
from sitecheck.intake.crs import parse_crs, resolve_source_crs, transform_checked
from sitecheck.parcels.crosswalk import CATEGORY_USES, resolve_uses
from sitecheck.parcels.engine import parcel_engine
from sitecheck.parcels.proposals import describe_option, score_options
from sitecheck.parcels.query import run_search
from sitecheck.parcels.ranking import (
    POINT_REFERENCE_M,
    SUGGEST_WEIGHTS,
    RankParams,
    make_ranking,
)
from sitecheck.parcels.spec import ParcelQuery, checked_number
from sitecheck.rules import ProjectFacts, RuleSet
from sitecheck.stores.base import Store

MAX_GROUP_SIZE = 4
MAX_GROUPS = 50_000


@dataclass(frozen=True)
class SuggestRequest:
    """A project looking for a site: required area, category, land use, and optional preferences."""

    area_mu: float | None = None
    area_m2: float | None = None
    max_excess: float = 0.3
    category: str = "industrial"
    level: str = "municipal"
    name: str = ""
    land_use_code: str | None = None
    far: float | None = None
    district: list[str] = field(default_factory=list)
    point: dict[str, Any] | list[float] | None = None
    point_crs: str | None = None
    zone: int | None = None
    max_point_distance_m: float | None = None
    status: list[str] = field(default_factory=lambda: ["可招商"])
    max_group_size: int = 3
    max_gap_m: float = 50.0
    limit: int = 5
    weights: dict[str, float] | None = None


def suggest_sites(store: Store, rules: RuleSet, request: SuggestRequest) -> dict[str, Any]:
    """Rank parcels and adjacent parcel groups that can hold the project; check the best few with its facts."""
    required = _required_area(request)
    top = required * (1 + (checked_number("max_excess", request.max_excess) or 0.0))
    _check_ranges(request)
    uses = (
        [request.land_use_code]
        if request.land_use_code
        else [f"YDYH:{p}" for p in CATEGORY_USES.get(request.category, ())]
    )
    intended = resolve_uses([request.land_use_code]) if request.land_use_code else []
    # The check's facts carry a 用地用海 code: the one the given code maps to, when it maps to exactly one.
    code = intended[0].prefixes[0] if intended and len(intended[0].prefixes) == 1 else None
    facts = rules.check_facts(ProjectFacts(request.name, request.level, request.category, code))
    point = _point(request, store.crs)
    ranking = make_ranking(
        SUGGEST_WEIGHTS,
        request.weights,
        RankParams(
            target_area_m2=required,
            far=checked_number("far", request.far, positive=True),
            point_reference_m=request.max_point_distance_m or POINT_REFERENCE_M,
            has_point=point is not None,
        ),
    )
    result: dict[str, Any] = {
        "engine": store.engine,
        "required_area_m2": required,
        "required_area_mu": mu(required),
        "acceptable_max_m2": top,
        "project": facts.to_dict(),
        "ranking": ranking.describe(),
        "options": [],
        "candidates": 0,
        "groups_considered": 0,
        "use_codes": [c.to_dict() for c in resolve_uses(uses)],
    }
    if not uses:
        result["note_zh"] = f"项目类别“{request.category}”没有对应的产业地块用途，请给出用地性质代码。"
        result["note_en"] = f"No parcel land use corresponds to category {request.category!r}; give land_use_code."
        return result
    query = ParcelQuery(district=request.district, use=uses, status=request.status)
    found, rows = run_search(store, rules, query, export=True, with_geometry=True, limits=None)
    result["layer_versions"] = found["layer_versions"]
    items = [dict(item, fid=row["fid"]) for item, row in zip(found["items"], rows, strict=True)]
    geometries = [row["geometry"] for row in rows]
    if point is not None:
        distances = shapely.distance(np.asarray(geometries, dtype=object), point).tolist() if items else []
        keep = [
            i
            for i, d in enumerate(distances)
            if request.max_point_distance_m is None or d <= request.max_point_distance_m
        ]
        items, geometries = [items[i] for i in keep], [geometries[i] for i in keep]
    result["candidates"] = len(items)
    options = [[i] for i, it in enumerate(items) if required <= it["area_m2"] <= top]
    groups = _groups(store, items, required, top, request)
    result["groups_considered"] = len(groups)
    options += groups
    if not options:
        return result
    scored = score_options(options, items, geometries, point, ranking)
    chosen: list[tuple[float, list[float], list[int]]] = []
    used: set[int] = set()
    for score, values, members in scored:
        if used.isdisjoint(members):
            chosen.append((score, values, members))
            used.update(members)
        if len(chosen) == request.limit:
            break
    result["options"] = [
        describe_option(store, rules, facts, rank + 1, s, v, m, items, geometries, point, ranking)
        for rank, (s, v, m) in enumerate(chosen)
    ]
    return result


def _required_area(request: SuggestRequest) -> float:
    """The required area in m² (given in 亩 or m², exactly one of them, > 0)."""
    area_mu = checked_number("area_mu", request.area_mu, positive=True)
    area_m2 = checked_number("area_m2", request.area_m2, positive=True)
    if (area_mu is None) == (area_m2 is None):
        raise ParameterInvalid(
            "give the required area as area_mu or area_m2 (one of them)",
            "请给出需求面积 area_mu（亩）或 area_m2（平方米）之一",
            location={"field": "area_mu"},
        )
    return area_mu * 2000 / 3 if area_mu is not None else float(area_m2 or 0.0)


def _check_ranges(request: SuggestRequest) -> None:
    """Refuse group sizes, gaps and limits outside what is supported."""
    checks = (
        ("max_group_size", request.max_group_size, 1, MAX_GROUP_SIZE),
        ("max_gap_m", request.max_gap_m, 0, 200),
        ("limit", request.limit, 1, 20),
        ("max_excess", request.max_excess, 0, 5),
    )
    for name, value, low, high in checks:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ParameterInvalid(
                f"{name} must be between {low} and {high}",
                f"{name} 须在 {low} 到 {high} 之间",
                location={"field": name},
            )


def _point(request: SuggestRequest, crs: str) -> Any:
    """The preferred point in the analysis CRS (GeoJSON Point or [x, y]; CRS given or detected), or None."""
    if request.point is None:
        return None
    coords = request.point.get("coordinates") if isinstance(request.point, dict) else request.point
    if isinstance(request.point, dict) and request.point.get("type") != "Point":
        raise ParameterInvalid("point must be a GeoJSON Point", "point 须为 GeoJSON 点", location={"field": "point"})
    if not (
        isinstance(coords, list | tuple)
        and len(coords) == 2
        and all(isinstance(v, int | float) and np.isfinite(v) for v in coords)
    ):
        raise ParameterInvalid(
            "point needs two finite coordinates", "point 须为两个有限数坐标", location={"field": "point"}
        )
    geometry = shapely.Point(float(coords[0]), float(coords[1]))
    explicit = parse_crs(request.point_crs) if request.point_crs else None
    resolved = resolve_source_crs(geometry, explicit=explicit, declared=None, zone=request.zone)
    return transform_checked(resolved.geometry, resolved.crs, crs)


def _groups(
    store: Store, items: list[dict[str, Any]], required: float, top: float, request: SuggestRequest
) -> list[list[int]]:
    """Connected sets of 2… parcels, each smaller than required, that reach it and need every member."""
    if request.max_group_size < 2:
        return []
    small = {i for i, it in enumerate(items) if it["area_m2"] < required}
    by_fid = {it["fid"]: i for i, it in enumerate(items) if i in small}
    state = parcel_engine(store).last_state()
    pairs = parcel_engine(store).adjacent_pairs(state, list(by_fid), request.max_gap_m) if state else []
    links: dict[int, set[int]] = {i: set() for i in small}
    for a, b, _ in pairs:
        links[by_fid[a]].add(by_fid[b])
        links[by_fid[b]].add(by_fid[a])
    area = {i: items[i]["area_m2"] for i in small}
    seen: set[frozenset[int]] = set()
    found: list[list[int]] = []
    frontier = [frozenset([i]) for i in sorted(small)]
    for _ in range(request.max_group_size - 1):
        grown = []
        for members in frontier:
            total = sum(area[m] for m in members)
            for nxt in sorted(set().union(*(links[m] for m in members)) - members):
                group = members | {nxt}
                if group in seen or total + area[nxt] > top or len(seen) >= MAX_GROUPS:
                    continue
                seen.add(group)
                size = total + area[nxt]
                if size >= required:
                    if size - min(area[m] for m in group) < required:
                        found.append(sorted(group))
                else:
                    grown.append(group)
        frontier = grown
    return found
