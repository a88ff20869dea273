"""按图索地: parcel search on precomputed compliance, explainable ranking, parcel detail and site suggestions."""

from __future__ import annotations

from sitecheck.parcels.detail import get_parcel
from sitecheck.parcels.query import parcels_csv, parcels_geojson, search_options, search_parcels
from sitecheck.parcels.refresh import refresh_parcels
from sitecheck.parcels.spec import ParcelQuery
from sitecheck.parcels.suggest import SuggestRequest, suggest_sites

__all__ = [
    "ParcelQuery",
    "SuggestRequest",
    "get_parcel",
    "parcels_csv",
    "parcels_geojson",
    "refresh_parcels",
    "search_options",
    "search_parcels",
    "suggest_sites",
]
