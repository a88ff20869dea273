"""Keeping precomputed parcel figures in step with the layer versions in force.

A refresh recomputes only the stale parts: every part when the parcels layer has a new version, else the parts
of the layers whose version (or, for rule layers, the rule set) changed. It runs under an exclusive lock in one
transaction, so readers see the old figures or the new ones, never a mix.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import shapely

from sitecheck.errors import VersionNotFound
from sitecheck.parcels.compliance import distance_rows, index_rows, layer_rows
from sitecheck.parcels.engine import ParcelEngine, RefreshSession, RefreshWrite, parcel_engine
from sitecheck.parcels.layout import ParcelLayout, ParcelState, PartState, rules_fingerprint, stale_parts
from sitecheck.parcels.records import DistanceRow, LayerRow, ParcelBase, round_distance
from sitecheck.rules import RuleSet
from sitecheck.stores.base import LayerVersion, Store

log = logging.getLogger("sitecheck.parcels")
NEIGHBOUR_RADIUS_M = 200.0
_MAX_ATTEMPTS = 3


def layout_of(store: Store, rules: RuleSet) -> ParcelLayout:
    """The parcel layout of a store's configuration; VersionNotFound-free, but refuses a catalog without parcels."""
    layout = ParcelLayout.of(store.catalog, rules)
    if layout is None:
        raise VersionNotFound("no parcels layer is configured", "未配置产业地块图层")
    return layout


def is_fresh(layout: ParcelLayout, rules_sha: str, state: ParcelState | None, pointers: dict[str, int]) -> bool:
    """True when the stored figures were computed from exactly the versions (and rules) now in force."""
    wanted = {key: pointers[key] for key in layout.layer_keys() if key in pointers}
    return state is not None and not stale_parts(layout, state, wanted, rules_sha)


def require_layers(layout: ParcelLayout, pointers: dict[str, int]) -> None:
    """Refuse to answer while the parcels layer or a constraint or zone layer has no published version."""
    missing = [key for key in layout.required() if key not in pointers]
    if missing:
        raise VersionNotFound(
            f"no published version of layers {missing}: parcel compliance cannot be computed",
            f"图层 {missing} 尚无发布版本，无法计算地块合规性",
            details={"layers": missing},
        )


def fresh_state(store: Store, rules: RuleSet) -> ParcelState | None:
    """The stored state when it is up to date with the layers and rules in force, else None (nothing recomputed)."""
    layout = ParcelLayout.of(store.catalog, rules)
    if layout is None:
        return None
    return _read_state(parcel_engine(store), layout, rules_fingerprint(rules, layout))[0]


def ensure_fresh(store: Store, rules: RuleSet) -> ParcelState:
    """Return the stored state, recomputing stale parts first when a layer or the rules changed."""
    layout = layout_of(store, rules)
    engine = parcel_engine(store)
    sha = rules_fingerprint(rules, layout)
    for _ in range(_MAX_ATTEMPTS):
        state, pointers = _read_state(engine, layout, sha)
        require_layers(layout, pointers)
        if state is not None:
            return state
        refresh_parcels(store, rules)
    raise VersionNotFound(
        "layer versions kept changing while parcel figures were recomputed; try again",
        "图层版本在重算地块指标期间持续变化，请稍后重试",
    )


def refresh_parcels(store: Store, rules: RuleSet, *, force: bool = False) -> dict[str, Any]:
    """Bring the precomputed parcel figures up to date with the current layer versions; return what was done."""
    layout = ParcelLayout.of(store.catalog, rules)
    if layout is None:
        return {"status": "no_parcels_layer"}
    missing = [key for key in layout.required() if key not in store.current_versions()]
    if missing:
        return {"status": "waiting", "missing": missing}
    engine = parcel_engine(store)
    sha = rules_fingerprint(rules, layout)
    started = time.perf_counter()
    with engine.refresh_session() as session:
        current = store.current_versions()
        wanted = {key: current[key].version for key in layout.layer_keys() if key in current}
        state = session.state()
        stale = list(wanted) if force else stale_parts(layout, state, wanted, sha)
        if not stale:
            return {"status": "up_to_date", "versions": wanted}
        change = _compute(session, layout, rules, sha, store.crs, current, state, stale)
        session.write(change)
    seconds = round(time.perf_counter() - started, 3)
    done = {part.layer_key: part.seconds for part in change.parts}
    log.info("parcel figures refreshed in %.3f s: %s", seconds, done)
    return {
        "status": "refreshed",
        "parts": done,
        "dropped": change.dropped,
        "seconds": seconds,
        "parcels": len(change.index),
        "versions": wanted,
    }


def _read_state(
    engine: ParcelEngine, layout: ParcelLayout, rules_sha: str
) -> tuple[ParcelState | None, dict[str, int]]:
    """The stored state when it is fresh (else None), and the version pointers it was judged against."""
    pointers = engine.pointers()
    state = engine.read_state()
    return (state if is_fresh(layout, rules_sha, state, pointers) else None), pointers


def _compute(
    session: RefreshSession,
    layout: ParcelLayout,
    rules: RuleSet,
    sha: str,
    crs: str,
    current: dict[str, LayerVersion],
    state: ParcelState | None,
    stale: list[str],
) -> RefreshWrite:
    """Compute the stale parts, read back the others, and summarise every parcel."""
    parcels = current[layout.parcels.key]
    reset = state is None or state.parcels_version != parcels.version
    t0 = time.perf_counter()
    base = session.parcel_base(parcels)
    now = datetime.now(UTC)
    parts: list[PartState] = []
    fresh_layers: dict[str, list[LayerRow]] = {}
    fresh_distances: dict[str, list[DistanceRow]] = {}
    neighbours = None
    if layout.parcels.key in stale:
        neighbours = _neighbours(session, parcels, base)
        parts.append(
            PartState(
                layout.parcels.key,
                parcels.version,
                parcels.version,
                None,
                now,
                round(time.perf_counter() - t0, 3),
                {"count": len(base)},
            )
        )
    for layer in layout.relation_layers:
        if layer.key in stale and layer.key in current:
            t0 = time.perf_counter()
            rule = rules.rule_for(layer) if layout.is_rule_layer(layer.key) else None
            pieces = session.overlay(parcels, current[layer.key], base)
            fresh_layers[layer.key] = layer_rows(
                layer, current[layer.key].version, rule, sha, base, pieces, rules.thresholds, crs
            )
            parts.append(
                PartState(
                    layer.key,
                    parcels.version,
                    current[layer.key].version,
                    sha if rule is not None else None,
                    now,
                    round(time.perf_counter() - t0, 3),
                )
            )
    for layer in layout.distance_layers:
        if layer.key in stale and layer.key in current:
            t0 = time.perf_counter()
            candidates, kinds = session.nearest(parcels, current[layer.key], base)
            fresh_distances[layer.key] = distance_rows(layer.key, current[layer.key].version, base, candidates)
            parts.append(
                PartState(
                    layer.key,
                    parcels.version,
                    current[layer.key].version,
                    None,
                    now,
                    round(time.perf_counter() - t0, 3),
                    {"kinds": kinds},
                )
            )
    keys = layout.layer_keys()
    kept = {} if reset or state is None else {k: p for k, p in state.parts.items() if k not in stale and k in keys}
    old_layers = session.read_layer_rows(parcels.version, [k for k in kept if k in layout.polygon_keys()])
    old_distances = session.read_distance_rows(
        parcels.version, [ly.key for ly in layout.distance_layers if ly.key in kept]
    )
    layers: dict[str, dict[int, LayerRow]] = {}
    for layer in layout.relation_layers:
        rows = fresh_layers.get(layer.key) or [r for r in old_layers if r.layer_key == layer.key]
        if rows:
            layers[layer.key] = {row.fid: row for row in rows}
    distances: dict[int, list[DistanceRow]] = defaultdict(list)
    for row in [*old_distances, *(r for rows in fresh_distances.values() for r in rows)]:
        distances[row.fid].append(row)
    all_parts = {**kept, **{p.layer_key: p for p in parts}}
    merged = ParcelState(parcels.version, all_parts)
    index = index_rows(layout, base, layers, distances, merged.kinds(), merged.versions())
    dropped = sorted(set(state.parts) - set(all_parts)) if state is not None and not reset else []
    return RefreshWrite(
        parcels.version,
        reset,
        fresh_layers,
        fresh_distances,
        neighbours,
        dropped,
        index,
        base.geometries,
        parts,
        layout.polygon_keys(),
    )


def _neighbours(session: RefreshSession, parcels: LayerVersion, base: ParcelBase) -> list[tuple[int, int, float]]:
    """Neighbour pairs within the radius, both directions, with their gaps measured by Shapely."""
    pairs = session.neighbour_candidates(parcels, base, NEIGHBOUR_RADIUS_M + 1.0)
    if len(pairs) == 0:
        return []
    position = {int(fid): i for i, fid in enumerate(base.fids.tolist())}
    left = np.asarray([position[int(a)] for a in pairs[:, 0]])
    right = np.asarray([position[int(b)] for b in pairs[:, 1]])
    gaps = shapely.distance(base.geometries[left], base.geometries[right])
    rows = []
    for a, b, gap in zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), gaps.tolist(), strict=True):
        if gap <= NEIGHBOUR_RADIUS_M:
            rows += [(a, b, round_distance(gap)), (b, a, round_distance(gap))]
    return sorted(rows)
