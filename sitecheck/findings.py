"""Per-layer findings of a check: overlap pieces measured, slivers flagged, the layer's rule applied."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from sitecheck.areas import area_figures_many, hectares, mu
from sitecheck.config import LayerConfig
from sitecheck.rules import CATEGORY_ZH, STATUS_ZH, ProjectFacts, Rule, Thresholds
from sitecheck.stores.base import OverlapPiece


@dataclass(frozen=True)
class SiteFacts:
    """The site as the findings need it: geometry, area and CRS."""

    geometry: BaseGeometry
    area_m2: float
    crs: str


# Pieces below a square millimetre are floating-point noise, not slivers: re-assembling a feature from its
# subdivided pieces leaves gaps of ~1e-10 m² along the cuts. Real slivers (the 0.8 m² fixture) are far above.
NOISE_AREA_M2 = 1e-6


def polygonal_part(geometry: BaseGeometry | None) -> Polygon | MultiPolygon | None:
    """Keep the polygonal part of an overlay result (touching edges give lines and points), without noise."""
    if geometry is None or geometry.is_empty:
        return None
    if isinstance(geometry, Polygon):  # the common case: one clean piece
        return geometry if geometry.area >= NOISE_AREA_M2 else None
    parts = shapely.get_parts(shapely.get_parts(geometry))  # collections may hold multipolygons
    polygons = [p for p in parts if isinstance(p, Polygon) and p.area >= NOISE_AREA_M2]
    if len(polygons) == len(parts) and isinstance(geometry, MultiPolygon):
        return geometry
    if not polygons:
        return None
    merged = shapely.union_all(polygons)
    return merged if isinstance(merged, Polygon | MultiPolygon) else None


def interiors_overlap(geometries: np.ndarray) -> bool:
    """True when two of the polygonal geometries share interior (a layer's features overlap each other);
    pieces that only touch along an edge or at a point do not count."""
    left, right = shapely.STRtree(geometries).query(geometries, predicate="intersects")
    pairs = left < right
    return bool(
        pairs.any() and shapely.relate_pattern(geometries[left[pairs]], geometries[right[pairs]], "T********").any()
    )


def mean_width_m(geometry: BaseGeometry) -> float:
    """Mean width 2A/P of a polygonal piece in metres (a thin strip has a small one)."""
    perimeter = geometry.length
    return 2 * geometry.area / perimeter if perimeter > 0 else 0.0


def is_sliver(geometry: BaseGeometry, thresholds: Thresholds) -> bool:
    """True when a piece is below the sliver area or mean-width threshold: a suspected edge error."""
    return geometry.area < thresholds.sliver_area_m2 or mean_width_m(geometry) < thresholds.sliver_width_m


@dataclass(frozen=True)
class MeasuredLayer:
    """A layer's overlap pieces cut to their polygonal parts, their union and (for a zone) the area outside."""

    layer: LayerConfig
    version: int
    rule: Rule | None
    kept: list[tuple[OverlapPiece, BaseGeometry, bool]]  # piece, polygonal part, sliver?
    union: BaseGeometry  # measures as the union; a collection of the pieces when they do not overlap
    outside: BaseGeometry | None

    def geometries(self) -> list[BaseGeometry]:
        """What gets area figures, in the order finish_finding reads them: union, pieces, outside."""
        return [self.union, *(g for _, g, _ in self.kept)] + ([self.outside] if self.outside is not None else [])


def measure_layer(
    layer: LayerConfig,
    version: int,
    rule: Rule | None,
    pieces: list[OverlapPiece],
    site: SiteFacts,
    thresholds: Thresholds,
) -> MeasuredLayer:
    """Keep each piece's polygonal part, flag slivers, and work out the union and the area outside a zone."""
    kept: list[tuple[OverlapPiece, BaseGeometry, bool]] = []
    for piece in pieces:
        geometry = polygonal_part(piece.geometry)
        if geometry is not None:
            kept.append((piece, geometry, is_sliver(geometry, thresholds)))
    geometries = np.array([g for _, g, _ in kept], dtype=object)
    union: BaseGeometry
    if len(geometries) == 0:
        union = Polygon()
    elif len(geometries) == 1:
        union = geometries[0]
    elif layer.role != "zone" and not interiors_overlap(geometries):
        # Pieces that do not overlap measure exactly what their union would (planar and ellipsoidal areas
        # add up part by part), at a tenth of the cost; only a zone needs the true union, to cut the outside.
        union = shapely.multipolygons(shapely.get_parts(geometries))
    else:
        union = shapely.union_all(geometries)
    outside = None
    if layer.role == "zone":
        outside = polygonal_part(site.geometry.difference(union)) or Polygon()
    return MeasuredLayer(layer, version, rule, kept, union, outside)


def layer_finding(
    layer: LayerConfig,
    version: int,
    rule: Rule | None,
    pieces: list[OverlapPiece],
    site: SiteFacts,
    facts: ProjectFacts,
    thresholds: Thresholds,
    *,
    include_geometry: bool = False,
) -> dict[str, Any]:
    """Measure a layer's overlap pieces and apply its rule; the result is plain JSON-ready data."""
    return layer_findings([(layer, version, rule, pieces)], site, facts, thresholds, include_geometry=include_geometry)[
        0
    ]


def layer_findings(
    layers: list[tuple[LayerConfig, int, Rule | None, list[OverlapPiece]]],
    site: SiteFacts,
    facts: ProjectFacts,
    thresholds: Thresholds,
    *,
    include_geometry: bool = False,
) -> list[dict[str, Any]]:
    """Findings of several layers with all their areas measured in one batch (what a check does)."""
    measured = [
        measure_layer(layer, version, rule, pieces, site, thresholds) for layer, version, rule, pieces in layers
    ]
    figures = area_figures_many([g for m in measured for g in m.geometries()], site.crs)
    findings, start = [], 0
    for one in measured:
        count = len(one.geometries())
        findings.append(
            finish_finding(
                one, figures[start : start + count], site, facts, thresholds, include_geometry=include_geometry
            )
        )
        start += count
    return findings


def finish_finding(
    measured: MeasuredLayer,
    figures: list[dict[str, float]],
    site: SiteFacts,
    facts: ProjectFacts,
    thresholds: Thresholds,
    *,
    include_geometry: bool = False,
) -> dict[str, Any]:
    """Turn a measured layer and its area figures into the finding: pieces, shares, status, rule."""
    layer, rule, kept, union, outside = measured.layer, measured.rule, measured.kept, measured.union, measured.outside
    features = []
    for (piece, geometry, sliver), overlap in zip(kept, figures[1 : 1 + len(kept)], strict=True):
        feature: dict[str, Any] = {
            "id": piece.feature_id,
            "name": piece.name,
            "kind": piece.kind,
            "attributes": piece.attributes,
            "overlap": overlap,
            "share": geometry.area / site.area_m2,
            "mean_width_m": round(mean_width_m(geometry), 4),
            "sliver": sliver,
        }
        if include_geometry:
            feature["geometry"] = mapping(geometry)
        features.append(feature)
    finding: dict[str, Any] = {
        "layer": layer.key,
        "name_zh": layer.name_zh,
        "name_en": layer.name_en,
        "role": layer.role,
        "version": measured.version,
        "overlap": figures[0],
        "share": union.area / site.area_m2,
        "feature_count": len(features),
        "sliver_count": sum(1 for _, _, sliver in kept if sliver),
        "features": features,
    }
    values = _values(layer, facts, union.area, site.area_m2)
    values["count"] = finding["sliver_count"]
    significant_outside = False
    if outside is not None:
        outside_parts = [p for p in shapely.get_parts(outside) if not p.is_empty]
        finding["outside"] = figures[-1] | {"share": outside.area / site.area_m2}
        finding["outside_sliver_count"] = sum(1 for p in outside_parts if is_sliver(p, thresholds))
        if include_geometry and not outside.is_empty:
            finding["outside"]["geometry"] = mapping(outside)
        values |= _outside_values(outside.area, site.area_m2)
        significant_outside = any(not is_sliver(p, thresholds) for p in outside_parts)
    significant_overlap = any(not sliver for _, _, sliver in kept)
    if rule is None:
        status, key, exception = "not_applicable", None, None
    elif rule.kind == "constraint_overlap":
        status, key, exception = _constraint(rule, facts, significant_overlap, bool(kept))
    elif rule.kind == "zone_inside":
        values["count"] = finding["outside_sliver_count"]
        status, key, exception = _zone_inside(rule, facts, significant_outside, finding["outside_sliver_count"] > 0)
    elif rule.kind == "zone_use":
        status, key, exception = _zone_use(rule, facts, significant_overlap, significant_outside)
    else:
        status, key, exception = "not_applicable", None, None
    finding["status"] = status
    finding["status_zh"] = STATUS_ZH[status]
    finding["rule"] = _rule_block(rule, key, exception, facts, values)
    return finding


def _constraint(rule: Rule, facts: ProjectFacts, significant: bool, any_overlap: bool) -> tuple[str, str | None, Any]:
    """A constraint: significant overlap conflicts (or an exception applies); slivers alone need review."""
    if significant:
        exception = next((e for e in rule.exceptions if e.matches(facts)), None)
        return (exception.status, None, exception) if exception else ("conflict", "conflict", None)
    if any_overlap:
        return "review", "review", None
    return "pass", "pass", None


def _zone_inside(
    rule: Rule, facts: ProjectFacts, significant_outside: bool, sliver_outside: bool
) -> tuple[str, str | None, Any]:
    """A zone the site must lie in: area outside conflicts (or an exception applies); slivers need review."""
    if significant_outside:
        exception = next((e for e in rule.exceptions if e.matches(facts)), None)
        return (exception.status, None, exception) if exception else ("conflict", "conflict", None)
    if sliver_outside:
        return "review", "review", None
    return "pass", "pass", None


def _zone_use(
    rule: Rule, facts: ProjectFacts, significant_overlap: bool, significant_outside: bool
) -> tuple[str, str | None, Any]:
    """A use zone: industrial projects belong inside with a compatible code; housing and commerce do not."""
    applies = facts.category in rule.options.get("applies_to", [])
    code = facts.land_use_code
    if applies:
        if significant_outside:
            return "review", "outside", None
        prefixes = tuple(rule.options.get("compatible_use_prefixes", []))
        if code and prefixes and not code.startswith(prefixes):
            return "review", "use_mismatch", None
        return "pass", "pass", None
    if facts.category in rule.options.get("incompatible", []) and significant_overlap:
        return "review", "incompatible_use", None
    return "not_applicable", "not_applicable", None


def _rule_block(
    rule: Rule | None, key: str | None, exception: Any, facts: ProjectFacts, values: dict[str, Any]
) -> dict[str, Any]:
    """The deciding rule with its reason in both languages and its policy sources."""
    if rule is None:
        return {
            "id": None,
            "exception": None,
            "reason_zh": "该图层未配置审查规则。",
            "reason_en": "No rule is configured for this layer.",
            "policy": [],
        }
    if exception is not None:
        zh, en = exception.zh.format_map(values), exception.en.format_map(values)
    else:
        zh, en = rule.message(key or "pass", values)
    return {
        "id": rule.id,
        "exception": exception.id if exception else None,
        "reason_zh": zh,
        "reason_en": en,
        "policy": list(rule.policy),
    }


def _values(layer: LayerConfig, facts: ProjectFacts, area_m2: float, site_m2: float) -> dict[str, Any]:
    """Values for message templates: names and overlap figures, formatted for reading."""
    return {
        "layer_zh": layer.name_zh,
        "layer_en": layer.name_en,
        "area_m2": f"{area_m2:.2f}",
        "area_ha": f"{hectares(area_m2):.4f}",
        "area_mu": f"{mu(area_m2):.2f}",
        "share_pct": f"{area_m2 / site_m2:.2%}",
        "category": facts.category,
        "category_zh": CATEGORY_ZH.get(facts.category, facts.category),
        "land_use_code": facts.land_use_code or "",
    }


def _outside_values(outside_m2: float, site_m2: float) -> dict[str, Any]:
    """Values for message templates about the area outside a zone."""
    return {
        "outside_m2": f"{outside_m2:.2f}",
        "outside_ha": f"{hectares(outside_m2):.4f}",
        "outside_mu": f"{mu(outside_m2):.2f}",
        "outside_share_pct": f"{outside_m2 / site_m2:.2%}",
    }
