"""What happens after a layer version is published (a load or a rollback): derived data is brought up to date.

The derived data is the precomputed parcel compliance (``sitecheck.parcels``) and, where the engine stores it,
the version's Web-Mercator copy for vector tiles (a PostGIS table; seconds for 200 000 polygons, which the
version's first tile request would otherwise spend while every tile of that version waits). A failure here does
not undo the publication: it is logged and reported, and the next parcel search or tile makes whatever is missing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sitecheck.errors import SitecheckError
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tiles import prepare_tiles
from sitecheck.parcels.layout import ParcelLayout
from sitecheck.parcels.refresh import refresh_parcels
from sitecheck.rules import RuleSet, load_rules
from sitecheck.settings import get_settings
from sitecheck.stores.base import Store

log = logging.getLogger("sitecheck.events")


def after_publish(store: Store, layer_key: str, *, rules: RuleSet | None = None) -> dict[str, Any]:
    """Bring parcel compliance and the stored tile copy up to date after ``layer_key`` got a new current version;
    return what was done."""
    return {
        "layer": layer_key,
        "tiles": _prepare_tiles(store, layer_key),
        "parcels": _refresh_parcels(store, layer_key, rules),
    }


def _prepare_tiles(store: Store, layer_key: str) -> dict[str, Any]:
    """Build the current version's stored Web-Mercator copy, where the engine stores one."""
    reader = feature_reader(store)
    if not reader.tile_copy_stored or not store.catalog.get(layer_key).is_vector:
        return {"status": "on_first_tile"}
    number = reader.current_version_number(layer_key)
    if number is None:
        return {"status": "no_current_version"}
    started = time.perf_counter()
    try:
        prepare_tiles(store, layer_key, number)
    except SitecheckError as error:
        log.warning("tile copy of %s v%s not built after publishing: %s", layer_key, number, error.message_en)
        return {"status": "failed", "error": error.to_dict()}
    return {"status": "prepared", "version": number, "seconds": round(time.perf_counter() - started, 3)}


def _refresh_parcels(store: Store, layer_key: str, rules: RuleSet | None) -> dict[str, Any]:
    """Recompute the parcel figures that depend on the layer."""
    rules = rules or load_rules(get_settings().rules_config)
    layout = ParcelLayout.of(store.catalog, rules)
    if layout is None or layer_key not in layout.layer_keys():
        return {"status": "unaffected"}
    try:
        return refresh_parcels(store, rules)
    except SitecheckError as error:
        log.warning("parcel figures not refreshed after publishing %s: %s", layer_key, error.message_en)
        return {"status": "failed", "error": error.to_dict()}
