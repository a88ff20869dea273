"""Stores: the two engines (PostGIS, embedded GeoPackage + Shapely) behind one small interface."""

from __future__ import annotations

from sitecheck.config import LayerCatalog, load_catalog
from sitecheck.settings import Settings
from sitecheck.stores.base import Store


def open_store(settings: Settings, catalog: LayerCatalog | None = None) -> Store:
    """Open the store these settings select: PostGIS when a database URL is set, else embedded."""
    catalog = catalog or load_catalog(settings.layer_config)
    if settings.database_url:
        from sitecheck.stores.postgis import PostgisStore

        return PostgisStore(settings, catalog)
    from sitecheck.stores.embedded import EmbeddedStore

    return EmbeddedStore(settings, catalog)
