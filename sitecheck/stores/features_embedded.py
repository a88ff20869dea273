"""Feature reads and vector tiles of the embedded engine, over its in-memory layer versions.

Versions are immutable, so a version is prepared for tiles once (the current ones by the service's warm-up, any
other on its first tile) and kept beside the store's own cache: its Web-Mercator tile source (geometries, their
vertices and clearances, the reported fields coded; ``sitecheck.onemap.mvt_embedded``) and a grid of the
features' extents (``sitecheck.onemap.tile_index``).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import shapely

from sitecheck.errors import VersionNotFound
from sitecheck.onemap.model import FeaturePage, FeatureQuery, LayerFeature, RenderedTile, TileSpec
from sitecheck.onemap.mvt_embedded import TileSource, encode_layer, tile_source
from sitecheck.onemap.tile_index import TileIndex, build_tile_index, tile_rows
from sitecheck.onemap.tilegrid import WEB_MERCATOR, buffered_bounds
from sitecheck.projection import transform_geometries
from sitecheck.stores.base import LayerVersion
from sitecheck.stores.embedded import EmbeddedStore, LayerData

# Versions kept prepared for tiles: one per vector layer (the current ones, prepared at start) and this many more.
_MORE_VERSIONS_KEPT = 8


@dataclass(frozen=True)
class MercatorIndex:
    """A layer version ready for tiles: its Web-Mercator tile source and a grid of its features' extents, with
    each feature's size in metres (points: infinite) and id."""

    data: LayerData
    source: TileSource
    grid: TileIndex


class EmbeddedFeatures:
    """The embedded engine's FeatureReader."""

    tile_copy_stored = False

    def __init__(self, store: EmbeddedStore) -> None:
        """Wrap a store (weakly: the reader lives in a cache keyed by the store); caches are per reader."""
        self.store: EmbeddedStore = weakref.proxy(store)
        self._versions: dict[tuple[str, int], LayerVersion] = {}
        self._mercator: OrderedDict[tuple[str, int], MercatorIndex] = OrderedDict()
        self._lock = threading.Lock()

    def current_version_number(self, layer_key: str) -> int | None:
        """Return the current version number from the records (read on every call: another process may publish)."""
        return self.store.records.current_pointers().get(layer_key)

    def version(self, layer_key: str, number: int) -> LayerVersion:
        """Return one version of a layer or raise VersionNotFound."""
        cached = self._versions.get((layer_key, number))
        if cached is not None:
            return cached
        match = [v for v in self.store.list_versions(layer_key) if v.version == number]
        if not match:
            raise VersionNotFound(f"layer '{layer_key}' has no version {number}", f"图层“{layer_key}”没有版本 {number}")
        self._versions[(layer_key, number)] = match[0]
        return match[0]

    def query_features(self, version: LayerVersion, query: FeatureQuery) -> FeaturePage:
        """Return the features matching a query, in fid order, with the total matched when asked."""
        data = self.store.layer_data(version.layer_key, version.version)
        if query.area is None:
            hits = np.arange(len(data))
        elif query.distance_m is not None:
            hits = data.tree.query(query.area, predicate="dwithin", distance=query.distance_m)
        else:
            hits = data.tree.query(query.area, predicate="intersects")
        for name, value in query.equals.items():
            column = data.columns[name]
            hits = hits[np.fromiter((column[i] == value for i in hits), dtype=bool, count=len(hits))]
        hits = hits[np.argsort(data.fids[hits], kind="stable")]
        page = hits[query.offset :] if query.limit is None else hits[query.offset : query.offset + query.limit]
        features = self._features(version, data, page, query)
        return FeaturePage(features=features, matched=len(hits) if query.count else None)

    def get_feature(self, version: LayerVersion, fid: int) -> LayerFeature | None:
        """Return one feature by fid, or None."""
        data = self.store.layer_data(version.layer_key, version.version)
        found = np.flatnonzero(data.fids == fid)
        if len(found) == 0:
            return None
        return self._features(version, data, found[:1], FeatureQuery())[0]

    def render_tile(self, version: LayerVersion, tile: TileSpec) -> RenderedTile:
        """Encode one tile: its features from the grid, largest first, tiny ones dropped, capped."""
        mercator = self.mercator_index(version)
        grid = mercator.grid
        hits = tile_rows(grid, buffered_bounds(tile), tile.min_size_m, tile.max_features)
        encoded = encode_layer(version.layer_key, mercator.source, hits, grid.fids[hits], tile)
        return RenderedTile(data=encoded, features=len(hits), truncated=len(hits) >= tile.max_features)

    def prepare_tiles(self, version: LayerVersion) -> None:
        """Build the version's Web-Mercator copy in this process now (otherwise its first tile does)."""
        self.mercator_index(version)

    def _features(
        self, version: LayerVersion, data: LayerData, rows: np.ndarray, query: FeatureQuery
    ) -> list[LayerFeature]:
        """Build features for the given rows, clipped and simplified as the query asks."""
        reported = [name for name in self.store.catalog.get(version.layer_key).report if name in data.columns]
        geometries = data.geometries[rows]
        if query.clip is not None and len(rows):
            geometries = shapely.clip_by_rect(geometries, *query.clip)
        if query.simplify_m and len(rows):
            geometries = shapely.simplify(geometries, query.simplify_m, preserve_topology=True)
        return [
            LayerFeature(
                fid=int(data.fids[i]),
                feature_id=str(data.feature_ids[i]),
                name=data.names[i],
                kind=data.kinds[i],
                attributes=data.attributes(int(i), reported),
                geometry=geometry,
            )
            for i, geometry in zip(rows, geometries, strict=True)
        ]

    def mercator_index(self, version: LayerVersion) -> MercatorIndex:
        """Return the version's Web-Mercator copy (holding its in-memory data), building it on first use."""
        key = (version.layer_key, version.version)
        with self._lock:
            cached = self._mercator.get(key)
            if cached is not None:
                self._mercator.move_to_end(key)
                return cached
            data = self.store.layer_data(version.layer_key, version.version)
            geometries = np.asarray(transform_geometries(data.geometries, self.store.crs, WEB_MERCATOR), dtype=object)
            reported = [name for name in self.store.catalog.get(version.layer_key).report if name in data.columns]
            source = tile_source(geometries, reported, data.columns)
            bounds = source.bounds
            sizes = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
            sizes[shapely.get_dimensions(geometries) == 0] = np.inf
            index = MercatorIndex(data=data, source=source, grid=build_tile_index(bounds, sizes, data.fids))
            self._mercator[key] = index
            while len(self._mercator) > len(self.store.catalog.vector_layers()) + _MORE_VERSIONS_KEPT:
                self._mercator.popitem(last=False)
            return index
