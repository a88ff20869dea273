"""Results people can read: each parcel's figures, compliance summary, score breakdown and a short reason."""

from __future__ import annotations

from typing import Any

from sitecheck.areas import hectares, mu
from sitecheck.parcels.crosswalk import use_name
from sitecheck.parcels.layout import ParcelLayout
from sitecheck.parcels.ranking import CRITERIA, STATUS_EN, Ranking
from sitecheck.rules import STATUS_ZH, VERDICT_ZH

_TOP_REASONS = 3
# The index columns a search result is made of (what ``item_of`` and site suggestions read of a page's rows).
SHOWN_COLUMNS = (
    "fid", "parcel_id", "name", "land_use", "category", "status", "area_m2", "area_recorded_m2", "far_min", "far_max",
    "invest", "tax", "park", "industry", "district_code", "district_name", "transit_m", "transit_id", "transit_name",
    "transit_kind", "in_zone", "clean", "verdict", "statuses", "problems", "notes",
)  # fmt: skip


def breakdown(ranking: Ranking, values: list[float]) -> list[dict[str, Any]]:
    """Each applied criterion's weight, value and contribution (weight × value), in applied order."""
    return [
        {
            "criterion": key,
            "name_zh": CRITERIA[key].name_zh,
            "name_en": CRITERIA[key].name_en,
            "weight": weight,
            "value": value,
            "contribution": weight * value,
        }
        for (key, weight), value in zip(ranking.applied, values, strict=True)
    ]


def reasons(
    ranking: Ranking, values: list[float], score: float, facts: dict[str, Any], problems: list[dict[str, Any]]
) -> tuple[str, str]:
    """A short reason in Chinese and English: the score, its largest contributions, and any problems."""
    parts = sorted(breakdown(ranking, values), key=lambda b: -b["contribution"])
    phrases = [_phrase(b["criterion"], facts, ranking) for b in parts[:_TOP_REASONS]]
    zh = f"得分 {score:.3f}：" + "；".join(p[0] for p in phrases) + "。" if phrases else "未设置排序指标。"
    en = f"Score {score:.3f}: " + "; ".join(p[1] for p in phrases) + "." if phrases else "No ranking criterion set."
    if problems:
        zh += "存在问题：" + "；".join(f"{p['name_zh']}{p['status_zh']}" for p in problems) + "。"
        en += " Problems: " + "; ".join(f"{p['name_en']} {p['status']}" for p in problems) + "."
    return zh, en


def _phrase(key: str, facts: dict[str, Any], ranking: Ranking) -> tuple[str, str]:
    """How one criterion's input reads for this parcel."""
    p = ranking.params
    if key == "area_fit":
        area, target = mu(facts["area_m2"], None), mu(p.target_area_m2 or 0.0, None)
        return f"面积 {area:.1f} 亩（需求约 {target:.1f} 亩）", f"{area:.1f} mu (about {target:.1f} mu wanted)"
    if key == "transit":
        d = facts.get("transit_m")
        if d is None:
            return "无交通站点数据", "no transit data"
        if facts.get("transit_kinds"):
            kinds = "、".join(facts["transit_kinds"])
            return f"距最近{kinds} {d:.0f} 米", f"{d:.0f} m to the nearest {kinds}"
        name, kind = facts.get("transit_name") or "", facts.get("transit_kind") or ""
        return f"距{name}（{kind}）{d:.0f} 米", f"{d:.0f} m from {name} ({kind})"
    if key == "far_fit":
        low, high = facts.get("far_min"), facts.get("far_max")
        span = f"{low:g}–{high:g}" if low is not None and high is not None else "未知"
        return f"容积率 {span}（需求 {p.far:g}）", f"FAR {span} ({p.far:g} wanted)"
    if key == "status":
        status = facts.get("status") or "未知"
        return f"状态{status}", f"status {STATUS_EN.get(status, status)}"
    if key == "in_zone":
        inside = bool(facts.get("in_zone"))
        return (
            ("位于产业区块内", "inside an industrial zone")
            if inside
            else ("不在产业区块内", "outside industrial zones")
        )
    if key == "proximity":
        d = facts.get("point_m")
        return f"距指定位置 {d:.0f} 米", f"{d:.0f} m from the given point"
    n = int(facts.get("members", 1))
    return ("整宗地块", "a single parcel") if n == 1 else (f"{n} 宗相邻地块连片", f"{n} adjacent parcels together")


def item_of(
    row: dict[str, Any],
    values: list[float],
    score: float,
    ranking: Ranking,
    layout: ParcelLayout,
    *,
    rank: int,
    kind_columns: tuple[int, ...] | None,
    kinds: list[dict[str, Any]],
) -> dict[str, Any]:
    """One search result: attributes, areas, district, nearest transit, compliance, score and reasons."""
    order = [layer.key for layer in layout.relation_layers]
    statuses = {key: row["statuses"][key] for key in order if key in row["statuses"]}
    wanted_kinds = sorted({kinds[i]["kind"] for i in kind_columns}) if kind_columns else []
    facts = dict(row, transit_m=row["transit_used"], transit_kinds=wanted_kinds)
    zh, en = reasons(ranking, values, score, facts, row["problems"])
    area = row["area_m2"]
    return {
        "rank": rank,
        "id": row["parcel_id"],
        "name": row["name"],
        "land_use": {"code": row["land_use"], "name_zh": use_name(row["land_use"]), "category": row["category"]},
        "status": row["status"],
        "status_en": STATUS_EN.get(row["status"] or "", None),
        "area_m2": area,
        "area_ha": hectares(area),
        "area_mu": mu(area),
        "area_recorded_m2": row["area_recorded_m2"],
        "far_min": row["far_min"],
        "far_max": row["far_max"],
        "invest_wan_per_mu": row["invest"],
        "tax_wan_per_mu": row["tax"],
        "park": row["park"],
        "industry": row["industry"],
        "district": {"code": row["district_code"], "name": row["district_name"]} if row["district_code"] else None,
        "transit": (
            {
                "id": row["transit_id"],
                "name": row["transit_name"],
                "kind": row["transit_kind"],
                "distance_m": row["transit_m"],
            }
            if row["transit_id"]
            else None
        ),
        "transit_m_ranked": row["transit_used"],
        "in_zone": row["in_zone"],
        "compliance": {
            "clean": row["clean"],
            "verdict": row["verdict"],
            "verdict_zh": VERDICT_ZH[row["verdict"]],
            "statuses": statuses,
            "statuses_zh": {key: STATUS_ZH[status] for key, status in statuses.items()},
            "problems": row["problems"],
            "notes": row["notes"],
        },
        "score": score,
        "breakdown": breakdown(ranking, values),
        "reason_zh": zh,
        "reason_en": en,
    }
