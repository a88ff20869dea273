"""Warming a freshly started service: read once, before the first request, what requests read on first use.

A new worker process otherwise spends its first check reading the slope raster (~0.5 s for a city), its
first parcel search reading the search index, and its first map or upload in another CRS making the CRS
transformer (~0.2 s each), and on the embedded engine its first tile of each layer building the layer's
Web-Mercator copy (seconds for a city's farmland), while the requests behind them wait; under load that shows as
a latency spike right after every start or restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sitecheck.errors import SitecheckError
from sitecheck.onemap.reader import feature_reader
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
    """Make the CRS transformers, read the raster layers, the parcel search index when up to date and, where
    the engine keeps it in memory, each vector layer's Web-Mercator copy for tiles."""
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
    _prepare_tiles(store)


def _prepare_tiles(store: Store) -> None:
    """Build the current versions' Web-Mercator copies where each worker keeps its own (the embedded engine; a
    PostGIS copy is built when the version is published)."""
    reader = feature_reader(store)
    if reader.tile_copy_stored:
        return
    for layer in store.catalog.vector_layers():
        number = reader.current_version_number(layer.key)
        if number is None:
            continue
        try:
            reader.prepare_tiles(reader.version(layer.key, number))
        except SitecheckError as error:
            log.info("tile copy of %s v%s not built at start: %s", layer.key, number, error)
