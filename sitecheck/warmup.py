"""Warming a freshly started service: read once, before the first request, what requests read on first use.

A new worker process otherwise spends its first check reading the slope raster (~0.5 s for a city), its
first parcel search reading the search index, and its first map or upload in another CRS making the CRS
transformer (~0.2 s each), while the requests behind them wait; under load that shows as a latency spike
right after every start or restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sitecheck.errors import SitecheckError
from sitecheck.parcels import ParcelQuery, search_parcels
from sitecheck.parcels.refresh import fresh_state
from sitecheck.projection import transformer
from sitecheck.rules import RuleSet
from sitecheck.slope import load_raster
from sitecheck.stores.base import Store

log = logging.getLogger(__name__)


# The CRSs requests arrive in or are answered in besides the analysis CRS: lon/lat and Web Mercator.
_OTHER_CRSS = ("OGC:CRS84", "EPSG:4490", "EPSG:4326", "EPSG:3857")


def warm_up(store: Store, rules: RuleSet) -> None:
    """Make the CRS transformers, read the raster layers and, when up to date, the parcel search index."""
    for other in _OTHER_CRSS:
        transformer(store.crs, other)
        transformer(other, store.crs)
    for layer in store.catalog.by_role("raster"):
        if layer.source is not None:
            try:
                load_raster(Path(layer.source))
            except SitecheckError as error:
                log.info("raster %s not read at start: %s", layer.key, error)
    try:
        # Only figures already up to date: recomputing stale ones is the first search's (or a load's) work.
        if fresh_state(store, rules) is not None:
            search_parcels(store, rules, ParcelQuery(limit=1))
    except SitecheckError as error:
        log.info("parcel search index not read at start: %s", error)
