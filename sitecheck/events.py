"""What happens after a layer version is published (a load or a rollback): derived data is brought up to date.

Today the derived data is the precomputed parcel compliance (``sitecheck.parcels``). A failure here does not
undo the publication: it is logged and reported, and the next parcel search recomputes whatever is stale.
"""

from __future__ import annotations

import logging
from typing import Any

from sitecheck.errors import SitecheckError
from sitecheck.parcels.layout import ParcelLayout
from sitecheck.parcels.refresh import refresh_parcels
from sitecheck.rules import RuleSet, load_rules
from sitecheck.settings import get_settings
from sitecheck.stores.base import Store

log = logging.getLogger("sitecheck.events")


def after_publish(store: Store, layer_key: str, *, rules: RuleSet | None = None) -> dict[str, Any]:
    """Bring parcel compliance up to date after ``layer_key`` got a new current version; return what was done."""
    rules = rules or load_rules(get_settings().rules_config)
    layout = ParcelLayout.of(store.catalog, rules)
    if layout is None or layer_key not in layout.layer_keys():
        return {"layer": layer_key, "parcels": {"status": "unaffected"}}
    try:
        report = refresh_parcels(store, rules)
    except SitecheckError as error:
        log.warning("parcel figures not refreshed after publishing %s: %s", layer_key, error.message_en)
        report = {"status": "failed", "error": error.to_dict()}
    return {"layer": layer_key, "parcels": report}
