"""One FeatureReader per store, whichever engine it is: the one-map domain's way into the layers."""

from __future__ import annotations

from sitecheck.config import LayerConfig
from sitecheck.errors import LayerNotFound, VersionNotFound
from sitecheck.onemap.model import FeatureReader
from sitecheck.per_store import PerStore
from sitecheck.stores.base import LayerVersion, Store


def feature_reader(store: Store) -> FeatureReader:
    """Return the store's reader (made once per store: it caches version metadata and Web-Mercator copies)."""
    return _READERS(store)


def _make_reader(store: Store) -> FeatureReader:
    """Build the reader of the store's engine."""
    if store.engine == "postgis":
        from sitecheck.stores.features_postgis import PostgisFeatures
        from sitecheck.stores.postgis import PostgisStore

        assert isinstance(store, PostgisStore)
        return PostgisFeatures(store)
    from sitecheck.stores.embedded import EmbeddedStore
    from sitecheck.stores.features_embedded import EmbeddedFeatures

    assert isinstance(store, EmbeddedStore)
    return EmbeddedFeatures(store)


def vector_layer(store: Store, layer_key: str) -> LayerConfig:
    """Return a configured vector layer, or raise LayerNotFound (rasters have no features or tiles)."""
    layer = store.catalog.get(layer_key)
    if not layer.is_vector:
        raise LayerNotFound(
            f"layer '{layer_key}' is a raster: it has no features or vector tiles",
            f"图层“{layer_key}”为栅格图层，没有要素或矢量瓦片",
        )
    return layer


def current_version(store: Store, layer_key: str) -> LayerVersion:
    """Return the current version of a vector layer, or raise LayerNotFound / VersionNotFound."""
    vector_layer(store, layer_key)
    reader = feature_reader(store)
    number = reader.current_version_number(layer_key)
    if number is None:
        raise VersionNotFound(f"layer '{layer_key}' has no published version", f"图层“{layer_key}”尚无发布版本")
    return reader.version(layer_key, number)


def layer_version(store: Store, layer_key: str, number: int) -> LayerVersion:
    """Return a given version of a vector layer, or raise LayerNotFound / VersionNotFound."""
    vector_layer(store, layer_key)
    return feature_reader(store).version(layer_key, number)


_READERS: PerStore[FeatureReader] = PerStore(_make_reader)
