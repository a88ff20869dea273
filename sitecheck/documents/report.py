"""The report (合规性审查报告) as data: every figure formatted once, for the HTML and the PDF renderers alike.

Built only from a stored check (its result and record) and its map, so a report is a deterministic rendering
of the audit record: the same check always gives the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sitecheck.areas import hectares, mu
from sitecheck.documents.stored import StoredCheck
from sitecheck.rules import CATEGORY_ZH, LEVEL_ZH

REPORT_TITLE = "建设项目选址合规性审查报告"
REPORT_SUBTITLE = "（三线协调分析）"
CHINA_TIME = timezone(timedelta(hours=8))
ENGINE_ZH = {"postgis": "PostGIS", "embedded": "内置引擎（GeoPackage + Shapely）"}
WARNING_SOURCE = "数据提示"


@dataclass(frozen=True)
class Fact:
    """A label and its value."""

    label: str
    value: str


@dataclass(frozen=True)
class CoordinationRow:
    """A row of the 三线协调 table: whether the site occupies a layer (or lies outside a zone), how much, verdict."""

    name: str
    occupied: str
    area_ha: str
    area_mu: str
    share: str
    status: str = ""
    status_zh: str = ""
    reason: str = ""
    sub: bool = False


@dataclass(frozen=True)
class PatchRow:
    """One overlapping patch (图斑) of a layer with its areas, share and reported attributes."""

    layer: str
    feature_id: str
    name: str
    kind: str
    area_m2: str
    area_ha: str
    area_mu: str
    ellipsoidal_ha: str
    share: str
    mean_width_m: str
    sliver: bool
    attributes: str


@dataclass(frozen=True)
class RuleRow:
    """The rule that decided a layer, its exception if any, and its policy sources."""

    layer: str
    rule_id: str
    exception: str
    policy: list[str]


@dataclass(frozen=True)
class VersionRow:
    """A layer version (or raster file) the check used."""

    layer: str
    version: str
    source: str
    sha256: str


@dataclass(frozen=True)
class Report:
    """Everything the report shows, as formatted text, plus the map PNG."""

    check_id: str
    created_at: str
    verdict: str
    verdict_zh: str
    verdict_summary: str
    project: list[Fact]
    site: list[Fact]
    coordination: list[CoordinationRow]
    patches: list[PatchRow]
    review: list[Fact]
    slope: list[Fact]
    rules: list[RuleRow]
    rule_set: str
    thresholds: list[Fact]
    versions: list[VersionRow]
    trace: list[Fact]
    map_png: bytes
    title: str = REPORT_TITLE
    subtitle: str = REPORT_SUBTITLE
    notes: list[str] = field(default_factory=list)


def build_report(check: StoredCheck, map_png: bytes) -> Report:
    """Format a stored check's result into the report's sections."""
    result = check.result
    findings = [f for f in result.get("layers", []) if f.get("role") in ("constraint", "zone")]
    crs = result.get("site", {}).get("analysis_crs", check.crs)
    return Report(
        check_id=check.check_id,
        created_at=china_time(result.get("created_at")),
        verdict=str(result.get("verdict", "")),
        verdict_zh=str(result.get("verdict_zh", "")),
        verdict_summary=_verdict_summary(result),
        project=_project_facts(result),
        site=_site_facts(result),
        coordination=[row for finding in findings for row in _coordination_rows(finding)],
        patches=[row for finding in findings for row in _patch_rows(finding)],
        review=_review_items(result),
        slope=_slope_facts(result),
        rules=[_rule_row(finding) for finding in result.get("layers", [])],
        rule_set=_rule_set(result.get("rule_set", {})),
        thresholds=_threshold_facts(result.get("thresholds", {})),
        versions=_version_rows(result),
        trace=_trace_facts(check),
        map_png=map_png,
        notes=[
            f"面积为分析坐标系（{crs}）下的平面面积；椭球面积（CGCS2000 椭球）见占用图斑明细。",
            "1 公顷 = 10 000 平方米，1 亩 = 2000/3 平方米；比例为占项目用地面积的比例。",
        ],
    )


def china_time(value: str | None) -> str:
    """An ISO timestamp in China Standard Time to the second ('—' when absent)."""
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


def _ha(area_m2: float) -> str:
    """公顷 with 4 decimals."""
    return f"{hectares(area_m2, None):.4f}"


def _mu(area_m2: float) -> str:
    """亩 with 2 decimals."""
    return f"{mu(area_m2, None):.2f}"


def _pct(share: float) -> str:
    """A share as a percentage with 2 decimals."""
    return f"{share:.2%}"


def _verdict_summary(result: dict[str, Any]) -> str:
    """One sentence naming the layers behind the verdict, grouped by status."""
    groups: dict[str, list[str]] = {}
    for finding in result.get("layers", []):
        groups.setdefault(str(finding.get("status_zh", "")), []).append(str(finding.get("name_zh", "")))
    order = ("冲突", "有条件通过", "需复核", "通过", "不适用")
    parts = [f"{status}：{'、'.join(groups[status])}" for status in order if groups.get(status)]
    return "；".join(parts) + "。" if parts else ""


def _project_facts(result: dict[str, Any]) -> list[Fact]:
    """Project name, level, category, land-use code, and where the site lies (districts, parcels)."""
    project = result.get("project", {})
    facts = [
        Fact("项目名称", project.get("name") or "（未填写）"),
        Fact("项目级别", LEVEL_ZH.get(project.get("level", ""), project.get("level", ""))),
        Fact("项目类别", CATEGORY_ZH.get(project.get("category", ""), project.get("category", ""))),
        Fact("拟用地性质代码", project.get("land_use_code") or "（未填写）"),
    ]
    for context in result.get("context", []):
        names = [
            f"{feature.get('name') or feature.get('id')}（{feature.get('id')}，{_pct(feature.get('share', 0.0))}）"
            for feature in context.get("features", [])
        ]
        facts.append(Fact(f"涉及{context.get('name_zh', context.get('layer', ''))}", "、".join(names) or "无"))
    return facts


def _site_facts(result: dict[str, Any]) -> list[Fact]:
    """The site's areas (planar and ellipsoidal), vertices, parts, source and CRS."""
    site = result.get("site", {})
    area_m2 = float(site.get("area_m2", 0.0))
    ellipsoidal_m2 = float(site.get("ellipsoidal_area_m2", 0.0))
    bbox = site.get("bbox") or []
    facts = [
        Fact("用地面积", f"{_ha(area_m2)} 公顷（{_mu(area_m2)} 亩，{area_m2:,.2f} 平方米）"),
        Fact("椭球面积", f"{_ha(ellipsoidal_m2)} 公顷（{_mu(ellipsoidal_m2)} 亩，{ellipsoidal_m2:,.2f} 平方米）"),
        Fact("界址点数 / 部件数", f"{site.get('vertex_count', '—')} / {site.get('part_count', '—')}"),
        Fact("来源格式 / 坐标系", f"{site.get('source_format', '—')} / {site.get('source_crs', '—')}"),
        Fact("分析坐标系", str(site.get("analysis_crs", "—"))),
    ]
    if len(bbox) == 4:
        facts.append(Fact("范围（X 东 / Y 北，米）", f"X {bbox[0]:.3f}–{bbox[2]:.3f}；Y {bbox[1]:.3f}–{bbox[3]:.3f}"))
    repair = site.get("repair")
    if repair:
        facts.append(Fact("几何修复", _repair_text(repair)))
    return facts


def _repair_text(repair: dict[str, Any]) -> str:
    """How a repair changed the site (method and areas before and after)."""
    before, after = repair.get("area_before_m2"), repair.get("area_after_m2")
    method = repair.get("method", "structure")
    if isinstance(before, int | float) and isinstance(after, int | float):
        return f"已按 {method} 方法修复，面积 {before:,.2f} → {after:,.2f} 平方米"
    return f"已按 {method} 方法修复"


def _coordination_rows(finding: dict[str, Any]) -> list[CoordinationRow]:
    """The 三线协调 rows of a layer: the overlap, and for zones also the part of the site outside."""
    overlap = finding.get("overlap") or {}
    area_m2 = float(overlap.get("area_m2", 0.0))
    name = str(finding.get("name_zh", finding.get("layer", "")))
    zone = finding.get("role") == "zone"
    main = CoordinationRow(
        name=f"{name}（区内）" if zone else name,
        occupied="是" if area_m2 > 0 else "否",
        area_ha=_ha(area_m2),
        area_mu=_mu(area_m2),
        share=_pct(float(finding.get("share", 0.0))),
        status=str(finding.get("status", "")),
        status_zh=str(finding.get("status_zh", "")),
        reason=str(finding.get("rule", {}).get("reason_zh", "")),
    )
    if not zone:
        return [main]
    outside = finding.get("outside") or {}
    outside_m2 = float(outside.get("area_m2", 0.0))
    return [
        main,
        CoordinationRow(
            name=f"{name}（区外）",
            occupied="是" if outside_m2 > 0 else "否",
            area_ha=_ha(outside_m2),
            area_mu=_mu(outside_m2),
            share=_pct(float(outside.get("share", 0.0))),
            sub=True,
        ),
    ]


def _patch_rows(finding: dict[str, Any]) -> list[PatchRow]:
    """One row per overlapping feature of a layer (for a zone: the zone features the site lies in)."""
    layer = str(finding.get("name_zh", ""))
    if finding.get("role") == "zone":
        layer += "（区内）"
    rows = []
    for feature in finding.get("features", []):
        overlap = feature.get("overlap") or {}
        area_m2 = float(overlap.get("area_m2", 0.0))
        attributes = "；".join(
            f"{key}={value}" for key, value in (feature.get("attributes") or {}).items() if value not in (None, "")
        )
        rows.append(
            PatchRow(
                layer=layer,
                feature_id=str(feature.get("id", "")),
                name=str(feature.get("name") or ""),
                kind=str(feature.get("kind") or ""),
                area_m2=f"{area_m2:,.2f}",
                area_ha=_ha(area_m2),
                area_mu=_mu(area_m2),
                ellipsoidal_ha=_ha(float(overlap.get("ellipsoidal_area_m2", 0.0))),
                share=_pct(float(feature.get("share", 0.0))),
                mean_width_m=f"{float(feature.get('mean_width_m', 0.0)):.3f}",
                sliver=bool(feature.get("sliver")),
                attributes=attributes,
            )
        )
    return rows


def _review_items(result: dict[str, Any]) -> list[Fact]:
    """What needs a person: intake warnings, sliver overlaps, slivers outside zones, layers under review."""
    items = [
        Fact(WARNING_SOURCE, f"{warning.get('message_zh', '')}（{warning.get('code', '')}）")
        for warning in result.get("warnings", [])
    ]
    for finding in result.get("layers", []):
        name = str(finding.get("name_zh", ""))
        for feature in finding.get("features", []):
            if feature.get("sliver"):
                area_m2 = float((feature.get("overlap") or {}).get("area_m2", 0.0))
                items.append(
                    Fact(
                        name,
                        f"图斑 {feature.get('id')} {feature.get('name') or ''} 细小重叠 {area_m2:.2f} 平方米，"
                        f"平均宽度 {float(feature.get('mean_width_m', 0.0)):.3f} 米：疑似边界误差，需人工复核。",
                    )
                )
        count = int(finding.get("outside_sliver_count", 0) or 0)
        if count:
            items.append(Fact(name, f"项目用地有 {count} 处细小部分位于{name}外：疑似边界误差，需人工复核。"))
        if finding.get("status") == "review":
            items.append(Fact(name, str(finding.get("rule", {}).get("reason_zh", ""))))
    return items


def _slope_facts(result: dict[str, Any]) -> list[Fact]:
    """Slope statistics of the site and the slope rule's conclusion (empty without a slope raster)."""
    facts = []
    for finding in result.get("layers", []):
        if finding.get("role") != "raster":
            continue
        slope = finding.get("slope")
        if slope:
            facts += [
                Fact("平均坡度", f"{slope['mean_deg']:.1f}°"),
                Fact("最大坡度", f"{slope['max_deg']:.1f}°"),
                Fact("陡坡面积比例", _pct(float(slope["steep_share"]))),
                Fact("统计栅格数", str(slope.get("cells", "—"))),
            ]
        facts += [
            Fact("结论", str(finding.get("status_zh", ""))),
            Fact("说明", str(finding.get("rule", {}).get("reason_zh", ""))),
        ]
    return facts


def _rule_row(finding: dict[str, Any]) -> RuleRow:
    """The deciding rule of a layer with its policy references."""
    rule = finding.get("rule") or {}
    return RuleRow(
        layer=str(finding.get("name_zh", "")),
        rule_id=str(rule.get("id") or "—"),
        exception=str(rule.get("exception") or "—"),
        policy=[str(p) for p in rule.get("policy", [])] or ["—"],
    )


def _rule_set(rule_set: dict[str, Any]) -> str:
    """The rule set's name, id and version."""
    return f"{rule_set.get('name_zh', '')}（{rule_set.get('id', '')}，版本 {rule_set.get('version', '')}）"


def _threshold_facts(thresholds: dict[str, Any]) -> list[Fact]:
    """The sliver and slope thresholds as applied."""
    return [
        Fact("细小重叠面积阈值", f"{thresholds.get('sliver_area_m2', '—')} 平方米"),
        Fact("细小重叠平均宽度阈值", f"{thresholds.get('sliver_width_m', '—')} 米"),
        Fact("陡坡坡度", f"{thresholds.get('slope_degrees', '—')}°"),
        Fact("陡坡面积比例复核阈值", _pct(float(thresholds.get("slope_review_share", 0.0)))),
    ]


def _version_rows(result: dict[str, Any]) -> list[VersionRow]:
    """The layer versions and raster files the check used, with their sha256."""
    names = {f.get("layer"): f.get("name_zh") for f in result.get("layers", [])}
    return [
        VersionRow(
            layer=str(names.get(key) or key),
            version=f"v{ref['version']}" if "version" in ref else "文件",
            source=str(ref.get("source_name", "—")),
            sha256=str(ref.get("sha256", ""))[:16],
        )
        for key, ref in result.get("layer_versions", {}).items()
    ]


def _trace_facts(check: StoredCheck) -> list[Fact]:
    """Identity of the check for traceability: id, time, who, engine, as-of date, hashes."""
    result, record = check.result, check.record
    return [
        Fact("审查编号", check.check_id),
        Fact("审查时间", f"{china_time(result.get('created_at'))}（北京时间）"),
        Fact("提交人", record.created_by),
        Fact("计算引擎", ENGINE_ZH.get(str(result.get("engine")), str(result.get("engine")))),
        Fact("数据时点", china_time(result["as_of"]) if result.get("as_of") else "审查时的现行版本"),
        Fact("复核来源", str(result.get("rerun_of") or "—")),
        Fact("几何哈希（SHA-256）", str(result.get("site", {}).get("geometry_sha256", "—"))),
    ]
