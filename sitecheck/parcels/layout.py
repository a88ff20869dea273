"""Which configured layers feed parcel search, and the state of the precomputed parcel figures.

The parts of a parcel's precomputed figures, each recorded with the layer version it came from:

- the parcels layer itself: attributes, areas and neighbours;
- every constraint and zone layer: overlap and status under the rules (``rule`` parts);
- every other polygonal reference layer (districts, …): overlap only (``relation`` parts);
- every non-polygonal reference layer (transit): the nearest feature of each kind (``distance`` parts).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sitecheck.config import LayerCatalog, LayerConfig
from sitecheck.rules import RuleSet
from sitecheck.stores.base import LayerVersion

PARCEL_FIELDS = ("status", "area_m2", "far_min", "far_max", "invest_wan_per_mu", "tax_wan_per_mu", "park", "industry")


@dataclass(frozen=True)
class ParcelLayout:
    """The layers parcel search uses, by the part they play."""

    parcels: LayerConfig
    rule_layers: tuple[LayerConfig, ...]
    relation_layers: tuple[LayerConfig, ...]
    distance_layers: tuple[LayerConfig, ...]
    blocking: frozenset[str]
    zone_use: frozenset[str]
    district: str | None

    @classmethod
    def of(cls, catalog: LayerCatalog, rules: RuleSet) -> ParcelLayout | None:
        """Derive the layout from the configuration; None when no parcels layer is configured."""
        parcels = catalog.by_role("parcels")
        if not parcels:
            return None
        rule_layers = tuple(catalog.by_role("constraint", "zone"))
        kinds = {layer.key: (rule.kind if (rule := rules.rule_for(layer)) else None) for layer in rule_layers}
        references = catalog.by_role("reference")
        polygons = [layer for layer in references if layer.geometry == "polygon"]
        flagged = [layer.key for layer in polygons if layer.extra.get("parcel_district")]
        district = flagged[0] if flagged else next((ly.key for ly in polygons if ly.key == "districts"), None)
        return cls(
            parcels=parcels[0],
            rule_layers=rule_layers,
            relation_layers=(*rule_layers, *polygons),
            distance_layers=tuple(layer for layer in references if layer.geometry != "polygon"),
            blocking=frozenset(
                layer.key for layer in rule_layers if layer.role == "constraint" or kinds[layer.key] == "zone_inside"
            ),
            zone_use=frozenset(key for key, kind in kinds.items() if kind == "zone_use"),
            district=district,
        )

    def field(self, canonical: str) -> str | None:
        """The parcels layer's source field for a canonical name (status, far_min, …)."""
        return self.parcels.source_field(canonical)

    def layer_keys(self) -> list[str]:
        """Every layer key that feeds the precomputed figures, parcels first."""
        return [self.parcels.key, *(ly.key for ly in self.relation_layers), *(ly.key for ly in self.distance_layers)]

    def required(self) -> list[str]:
        """Keys that must have a version before figures can be computed (parcels, constraints, zones)."""
        return [self.parcels.key, *(layer.key for layer in self.rule_layers)]

    def is_rule_layer(self, key: str) -> bool:
        """True for layers whose status comes from the rules (constraint and zone layers)."""
        return any(layer.key == key for layer in self.rule_layers)

    def polygon_keys(self) -> list[str]:
        """Layers a parcel can be inside or outside of (constraint, zone and polygonal reference layers)."""
        return [layer.key for layer in self.relation_layers]


@dataclass(frozen=True)
class PartState:
    """One part of the precomputed figures: the layer version (and rules) it was computed from."""

    layer_key: str
    parcels_version: int
    layer_version: int
    rules_sha: str | None
    computed_at: datetime
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParcelState:
    """Every part of the precomputed figures for one parcels version."""

    parcels_version: int
    parts: dict[str, PartState]

    @cached_property
    def token(self) -> str:
        """A short fingerprint of the versions and computation times (cache key of in-memory copies)."""
        text = "|".join(
            f"{p.layer_key}:{p.parcels_version}:{p.layer_version}:{p.rules_sha}:{p.computed_at.isoformat()}"
            for p in sorted(self.parts.values(), key=lambda p: p.layer_key)
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def versions(self) -> dict[str, int]:
        """Layer key → version the figures were computed from."""
        return {key: part.layer_version for key, part in sorted(self.parts.items())}

    def kinds(self) -> list[dict[str, Any]]:
        """The distance kinds of every distance part: ``{"layer", "kind", "points"}``, in stored column order."""
        found = [dict(k, layer=key) for key, part in sorted(self.parts.items()) for k in part.info.get("kinds", [])]
        return sorted(found, key=lambda k: (k["layer"], k["kind"]))


def rules_fingerprint(rules: RuleSet, layout: ParcelLayout) -> str:
    """A fingerprint of the rule set and of which layers feed which part: the figures go stale when it changes."""
    text = repr(rules) + repr(layout.polygon_keys()) + repr([layer.key for layer in layout.distance_layers])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def wanted_versions(layout: ParcelLayout, current: dict[str, LayerVersion]) -> dict[str, int]:
    """The version of every layer that feeds the figures and has one."""
    return {key: current[key].version for key in layout.layer_keys() if key in current}


def stale_parts(layout: ParcelLayout, state: ParcelState | None, wanted: dict[str, int], rules_sha: str) -> list[str]:
    """Layer keys whose part must be (re)computed; every part when the parcels version changed."""
    parcels = layout.parcels.key
    if state is None or state.parcels_version != wanted.get(parcels):
        return [key for key in layout.layer_keys() if key in wanted]
    stale = []
    for key in layout.layer_keys():
        part = state.parts.get(key)
        if key not in wanted:
            if part is not None:
                stale.append(key)
            continue
        if (
            part is None
            or part.layer_version != wanted[key]
            or (layout.is_rule_layer(key) and part.rules_sha != rules_sha)
        ):
            stale.append(key)
    return stale
