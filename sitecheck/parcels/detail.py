"""One parcel in full: attributes, compliance per layer with versions, nearest transit, neighbours."""

from __future__ import annotations

from typing import Any

from sitecheck.areas import hectares, mu
from sitecheck.errors import VersionNotFound
from sitecheck.parcels.crosswalk import use_name
from sitecheck.parcels.engine import DetailRows, parcel_engine
from sitecheck.parcels.export import lonlat
from sitecheck.parcels.layout import ParcelLayout, ParcelState, rules_fingerprint
from sitecheck.parcels.ranking import STATUS_EN
from sitecheck.parcels.records import LayerRow
from sitecheck.parcels.refresh import NEIGHBOUR_RADIUS_M, ensure_fresh, is_fresh, layout_of
from sitecheck.rules import STATUS_ZH, VERDICT_ZH, RuleSet
from sitecheck.stores.base import Store

ADJACENT_GAP_M = 50.0  # neighbours this close (across a branch road) can be assembled into one site
_ATTEMPTS = 3


def get_parcel(store: Store, rules: RuleSet, parcel_id: str) -> dict[str, Any]:
    """Everything known about one parcel of the current parcels version; ParcelNotFound when unknown."""
    layout = layout_of(store, rules)
    engine = parcel_engine(store)
    sha = rules_fingerprint(rules, layout)
    state = engine.last_state() or ensure_fresh(store, rules)
    for _ in range(_ATTEMPTS):
        rows = engine.detail(parcel_id, state.token, lambda s, p: is_fresh(layout, sha, s, p))
        if rows is not None:
            return _detail(store, rules, layout, rows)
        state = ensure_fresh(store, rules)
    raise VersionNotFound("layer versions kept changing; try again", "图层版本持续变化，请重试")


def _detail(store: Store, rules: RuleSet, layout: ParcelLayout, rows: DetailRows) -> dict[str, Any]:
    """Assemble the detail answer in configuration order (both engines give the same)."""
    row, state = rows.index, rows.state
    by_layer = {r.layer_key: r for r in rows.layers}
    fields = _field_order(store, layout, state)
    attributes = {name: row["attributes"].get(name) for name in fields if name in row["attributes"]}
    area = row["area_m2"]
    nearest_by_kind = sorted(
        (
            {
                "layer": d.layer_key,
                "kind": d.kind,
                "id": d.feature_id,
                "name": d.feature_name,
                "distance_m": d.distance_m,
                "layer_version": d.layer_version,
            }
            for d in rows.distances
        ),
        key=lambda d: (d["distance_m"], d["layer"], d["kind"], d["id"]),
    )
    return {
        "engine": store.engine,
        "id": row["parcel_id"],
        "name": row["name"],
        "land_use": {"code": row["land_use"], "name_zh": use_name(row["land_use"]), "category": row["category"]},
        "status": row["status"],
        "status_en": STATUS_EN.get(row["status"] or ""),
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
        "attributes": attributes,
        "compliance": {
            "clean": row["clean"],
            "verdict": row["verdict"],
            "verdict_zh": VERDICT_ZH[row["verdict"]],
            "layers": [
                _layer(store, rules, layout, by_layer[ly.key], area) for ly in layout.rule_layers if ly.key in by_layer
            ],
            "relations": [
                _layer(store, rules, layout, by_layer[ly.key], area)
                for ly in layout.relation_layers
                if ly.key in by_layer and not layout.is_rule_layer(ly.key)
            ],
        },
        "transit": {
            "nearest": (
                {
                    "id": row["transit_id"],
                    "name": row["transit_name"],
                    "kind": row["transit_kind"],
                    "distance_m": row["transit_m"],
                }
                if row["transit_id"]
                else None
            ),
            "by_kind": nearest_by_kind,
        },
        "neighbours": _neighbours(rows.neighbours),
        "neighbour_radius_m": NEIGHBOUR_RADIUS_M,
        "adjacent_gap_m": ADJACENT_GAP_M,
        "geometry": lonlat(rows.geometry, store.crs),
        "bbox": [round(v, 3) for v in rows.geometry.bounds],
        "crs": store.crs,
        "parcels_version": state.parcels_version,
        "layer_versions": state.versions(),
        "computed_at": max(p.computed_at for p in state.parts.values()).isoformat(),
    }


def _field_order(store: Store, layout: ParcelLayout, state: ParcelState) -> list[str]:
    """The parcels version's source fields in their stored order."""
    versions = [v for v in store.list_versions(layout.parcels.key) if v.version == state.parcels_version]
    return [f.name for f in versions[0].fields] if versions else []


def _layer(store: Store, rules: RuleSet, layout: ParcelLayout, row: LayerRow, area_m2: float) -> dict[str, Any]:
    """One layer's stored figures for the parcel, with the version they came from and the rule's policy."""
    layer = store.catalog.get(row.layer_key)
    rule = rules.rule_for(layer) if layout.is_rule_layer(row.layer_key) else None
    status = row.status
    return {
        "layer": layer.key,
        "name_zh": layer.name_zh,
        "name_en": layer.name_en,
        "role": layer.role,
        "version": row.layer_version,
        "status": status,
        "status_zh": STATUS_ZH[status] if status else None,
        "overlap_m2": row.overlap_m2,
        "overlap_mu": mu(row.overlap_m2),
        "share": row.overlap_m2 / area_m2 if area_m2 else 0.0,
        "outside_m2": row.outside_m2,
        "inside": row.inside,
        "overlaps": row.overlaps,
        "rule": None
        if rule is None
        else {
            "id": row.rule_id,
            "exception": row.exception,
            "reason_zh": row.reason_zh,
            "reason_en": row.reason_en,
            "policy": list(rule.policy),
        },
        "features": [
            {"id": f["id"], "name": f["name"], "kind": f["kind"], "overlap_m2": f["overlap_m2"], "sliver": f["sliver"]}
            for f in row.features
        ],
    }


def _neighbours(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nearby parcels, closest first: id, use, status, area, clean flag, gap and whether adjacent."""
    out = [
        {
            "id": r["parcel_id"],
            "name": r["name"],
            "land_use": r["land_use"],
            "status": r["status"],
            "area_m2": r["area_m2"],
            "area_mu": mu(r["area_m2"]),
            "clean": r["clean"],
            "gap_m": r["gap_m"],
            "adjacent": r["gap_m"] <= ADJACENT_GAP_M,
        }
        for r in rows
    ]
    return sorted(out, key=lambda n: (n["gap_m"], n["id"]))
