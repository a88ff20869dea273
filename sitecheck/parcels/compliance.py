"""Parcel compliance: each parcel measured against each layer with the check's own rules, and summarised.

The engines find the overlapping features (set-based SQL or vectorised STRtrees); everything measured and
decided from there happens here, once, for both engines: the rule of each layer is applied by
``sitecheck.findings.layer_finding`` exactly as a check of that parcel would apply it, under default project
facts (level ``municipal``, the category implied by the parcel's land-use code, that code as the intended use).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon

from sitecheck.config import LayerConfig
from sitecheck.findings import SiteFacts, is_sliver, layer_finding, polygonal_part
from sitecheck.parcels.crosswalk import category_for_use
from sitecheck.parcels.layout import ParcelLayout
from sitecheck.parcels.records import (
    DistanceRow,
    IndexRow,
    LayerRow,
    Nearest,
    ParcelBase,
    Piece,
    number,
    round_area,
    round_distance,
    text,
)
from sitecheck.rules import STATUS_ZH, ProjectFacts, Rule, Thresholds, overall_verdict
from sitecheck.stores.base import OverlapPiece

DEFAULT_LEVEL = "municipal"


def parcel_facts(parcel_id: str, use: str | None) -> ProjectFacts:
    """The default project facts of a parcel: municipal level, category and intended use from its land-use code."""
    code = use if use and use.isalnum() and len(use) <= 12 else None
    return ProjectFacts(name=parcel_id, level=DEFAULT_LEVEL, category=category_for_use(code), land_use_code=code)


def layer_rows(
    layer: LayerConfig,
    version: int,
    rule: Rule | None,
    rules_sha: str | None,
    base: ParcelBase,
    pieces: list[Piece],
    thresholds: Thresholds,
    crs: str,
) -> list[LayerRow]:
    """Measure every parcel against one layer and, for rule layers, apply the layer's rule."""
    position = {int(fid): i for i, fid in enumerate(base.fids.tolist())}
    geometries = shapely.from_wkb([p.wkb for p in pieces if not p.covered])
    found: dict[int, list[OverlapPiece]] = defaultdict(list)
    cut = iter(geometries)
    for piece in pieces:
        # A parcel covered by a feature is its own overlap: no overlay noise can leave a phantom sliver outside.
        geometry = base.geometries[position[piece.parcel_fid]] if piece.covered else next(cut)
        found[piece.parcel_fid].append(
            OverlapPiece(piece.fid, piece.feature_id, piece.name, piece.kind, piece.attributes, geometry)
        )
    rows = []
    for i, fid in enumerate(base.fids.tolist()):
        geometry = base.geometries[i]
        overlaps = sorted(found.get(fid, []), key=lambda p: p.fid)
        site = SiteFacts(geometry, geometry.area, crs)
        facts = parcel_facts(base.ids[i], base.uses[i])
        finding = layer_finding(layer, version, rule, overlaps, site, facts, thresholds)
        kept = [g for g in (polygonal_part(p.geometry) for p in overlaps) if g is not None]
        outside = polygonal_part(geometry.difference(shapely.union_all(kept))) if kept else geometry
        outside = outside or Polygon()
        rows.append(
            LayerRow(
                fid=fid,
                parcels_version=base.version,
                layer_key=layer.key,
                layer_version=version,
                rules_sha=rules_sha if rule is not None else None,
                overlap_m2=round_area(finding["overlap"]["area_m2"]),
                outside_m2=round_area(outside.area),
                inside=not any(not is_sliver(p, thresholds) for p in shapely.get_parts(outside) if not p.is_empty),
                overlaps=any(not f["sliver"] for f in finding["features"]),
                status=finding["status"] if rule is not None else None,
                rule_id=finding["rule"]["id"] if rule is not None else None,
                exception=finding["rule"]["exception"] if rule is not None else None,
                reason_zh=finding["rule"]["reason_zh"] if rule is not None else None,
                reason_en=finding["rule"]["reason_en"] if rule is not None else None,
                features=[
                    {
                        "id": f["id"],
                        "name": f["name"],
                        "kind": f["kind"],
                        "overlap_m2": round_area(f["overlap"]["area_m2"]),
                        "sliver": f["sliver"],
                    }
                    for f in finding["features"]
                ],
            )
        )
    return rows


def distance_rows(layer_key: str, version: int, base: ParcelBase, nearest: list[Nearest]) -> list[DistanceRow]:
    """The nearest feature of each kind to each parcel, measured with Shapely from the engine's candidates."""
    if not nearest:
        return []
    position = {int(fid): i for i, fid in enumerate(base.fids.tolist())}
    parcels = base.geometries[[position[n.parcel_fid] for n in nearest]]
    distances = shapely.distance(parcels, shapely.from_wkb([n.wkb for n in nearest]))
    best: dict[tuple[int, str], tuple[float, int, Nearest]] = {}
    for candidate, distance in zip(nearest, distances.tolist(), strict=True):
        key = (candidate.parcel_fid, candidate.kind)
        if key not in best or (distance, candidate.fid) < best[key][:2]:
            best[key] = (distance, candidate.fid, candidate)
    return [
        DistanceRow(fid, base.version, layer_key, version, kind, n.fid, n.feature_id, n.name, round_distance(distance))
        for (fid, kind), (distance, _, n) in sorted(best.items())
    ]


def index_rows(
    layout: ParcelLayout,
    base: ParcelBase,
    layers: dict[str, dict[int, LayerRow]],
    distances: dict[int, list[DistanceRow]],
    kinds: list[dict[str, Any]],
    versions: dict[str, int],
) -> list[IndexRow]:
    """Summarise every parcel: attributes, district, nearest transit, clean flag, problems and notes."""
    labels = [(k["layer"], k["kind"]) for k in kinds]
    access = {(k["layer"], k["kind"]) for k in kinds if k["points"]} or set(labels)
    names = {layer.key: layer for layer in layout.relation_layers}
    rows = []
    for i, fid in enumerate(base.fids.tolist()):
        attrs = base.attributes[i]
        value = _field_reader(layout, attrs)
        own = {key: rows_by_fid[fid] for key, rows_by_fid in layers.items() if fid in rows_by_fid}
        near = {(d.layer_key, d.kind): d for d in distances.get(fid, [])}
        nearest = min(
            (near[label] for label in access if label in near),
            key=lambda d: (d.distance_m, d.layer_key, d.kind, d.feature_id),
            default=None,
        )
        statuses = {key: row.status for key, row in own.items() if row.status is not None}
        district = _district(own.get(layout.district)) if layout.district else None
        rows.append(
            IndexRow(
                fid=fid,
                parcel_id=base.ids[i],
                name=base.names[i],
                land_use=base.uses[i],
                category=category_for_use(base.uses[i]),
                status=text(value("status")),
                area_m2=round_area(base.geometries[i].area),
                area_recorded_m2=number(value("area_m2")),
                far_min=number(value("far_min")),
                far_max=number(value("far_max")),
                invest=number(value("invest_wan_per_mu")),
                tax=number(value("tax_wan_per_mu")),
                park=text(value("park")),
                industry=text(value("industry")),
                district_code=district[0] if district else None,
                district_name=district[1] if district else None,
                transit_m=nearest.distance_m if nearest else None,
                transit_id=nearest.feature_id if nearest else None,
                transit_name=nearest.feature_name if nearest else None,
                transit_kind=nearest.kind if nearest else None,
                kind_m=[near[label].distance_m if label in near else None for label in labels],
                clean=all(key in statuses and statuses[key] == "pass" for key in sorted(layout.blocking)),
                in_zone=any(own[key].inside for key in sorted(layout.zone_use) if key in own),
                verdict=overall_verdict(list(statuses.values())),
                inside_layers=[key for key, row in own.items() if row.inside],
                overlap_layers=[key for key, row in own.items() if row.overlaps],
                statuses=statuses,
                problems=[_issue(names[k], own[k]) for k in statuses if k in layout.blocking and statuses[k] != "pass"],
                notes=[
                    _issue(names[k], own[k])
                    for k in statuses
                    if k not in layout.blocking and statuses[k] not in ("pass", "not_applicable")
                ],
                attributes={key: _plain(v) for key, v in attrs.items()},
                versions=versions,
            )
        )
    return rows


def _field_reader(layout: ParcelLayout, attrs: dict[str, Any]) -> Any:
    """A reader of canonical parcel fields (status, far_min, …) from a parcel's source attributes."""

    def value(canonical: str) -> Any:
        """The value of a canonical field, or None when the layer does not map it."""
        source = layout.field(canonical)
        return attrs.get(source) if source else None

    return value


def _district(row: LayerRow | None) -> tuple[str, str | None] | None:
    """The district holding the largest part of the parcel (ties: the smaller code)."""
    if row is None or not row.features:
        return None
    best = min(row.features, key=lambda f: (-f["overlap_m2"], str(f["id"])))
    return str(best["id"]), best["name"]


def _issue(layer: LayerConfig, row: LayerRow) -> dict[str, Any]:
    """A problem or note of a parcel: the layer, its status and the rule's reason."""
    status = row.status or "not_applicable"
    return {
        "layer": layer.key,
        "name_zh": layer.name_zh,
        "name_en": layer.name_en,
        "status": status,
        "status_zh": STATUS_ZH[status],
        "overlap_m2": row.overlap_m2,
        "outside_m2": row.outside_m2,
        "reason_zh": row.reason_zh,
        "reason_en": row.reason_en,
    }


def _plain(value: Any) -> Any:
    """An attribute value as JSON-ready data (numbers, text, booleans; anything else as text)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return str(value)
