"""Versioned vector tiles: render a tile of a layer version, its validator, and the layer's TileJSON.

A tile URL names the layer version, so a tile never changes: its ETag is derived from what determines it
(engine, layer, version and its sha256, reported fields, z/x/y, renderer revision) and a conditional request
is answered without rendering. For the same reason rendered tiles are kept, per store, in a small LRU keyed by
that ETag (``TILE_CACHE_BYTES``). The unversioned alias resolves the current version on every request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sitecheck.errors import VersionNotFound
from sitecheck.onemap.bbox import to_crs84_bounds
from sitecheck.onemap.model import RenderedTile, TileSpec
from sitecheck.onemap.reader import current_version, feature_reader, layer_version, vector_layer
from sitecheck.onemap.tilegrid import TILEJSON_MAXZOOM, TILEJSON_MINZOOM, tile_spec
from sitecheck.per_store import PerStore
from sitecheck.stores.base import LayerVersion, Store

RENDER_REVISION = "1"  # bump when the tile rules (size filter, cap, buffer) change
TILE_CACHE_BYTES = 32 * 1024 * 1024  # rendered tiles kept per store (a z10 tile of the city is 0.7 MB)
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
_TILEJSON_TYPES = {"text": "String", "datetime": "String", "integer": "Number", "real": "Number", "boolean": "Boolean"}


@dataclass(frozen=True)
class TileAnswer:
    """A tile request's answer: the encoded tile (None when the client's copy is current) and its ETag."""

    data: bytes | None
    etag: str
    truncated: bool = False


def get_tile(
    store: Store, layer_key: str, version_number: int, z: int, x: int, y: int, *, if_none_match: str | None = None
) -> TileAnswer:
    """Return one tile of a layer version, or only its ETag when ``If-None-Match`` already names it."""
    version = layer_version(store, layer_key, version_number)
    tile = tile_spec(z, x, y)
    tiles = _store_tiles(store)
    etag = tiles.etag(store, version, tile)
    if if_none_match is not None and _matches(if_none_match, etag):
        return TileAnswer(data=None, etag=etag)
    answer = tiles.get(etag)
    if answer is None:
        rendered: RenderedTile = feature_reader(store).render_tile(version, tile)
        answer = TileAnswer(data=rendered.data, etag=etag, truncated=rendered.truncated)
        tiles.put(answer)
    return answer


def clear_tile_cache(store: Store) -> None:
    """Forget the store's rendered tiles (the next request for each renders it again)."""
    _store_tiles(store).clear()


def prepare_tiles(store: Store, layer_key: str, version_number: int) -> None:
    """Build a layer version's Web-Mercator copy ahead of its first tile (e.g. right after a load)."""
    feature_reader(store).prepare_tiles(layer_version(store, layer_key, version_number))


def current_tile_version(store: Store, layer_key: str, z: int, x: int, y: int) -> int:
    """Return the version an unversioned tile URL stands for now (validating z/x/y first)."""
    tile_spec(z, x, y)
    vector_layer(store, layer_key)
    number = feature_reader(store).current_version_number(layer_key)
    if number is None:
        raise VersionNotFound(f"layer '{layer_key}' has no published version", f"图层“{layer_key}”尚无发布版本")
    return number


def tile_etag(store: Store, version: LayerVersion, tile: TileSpec) -> str:
    """Return the strong ETag of a tile: a digest of everything that determines its bytes."""
    return _tile_digest(_etag_prefix(store, version), tile)


def _etag_prefix(store: Store, version: LayerVersion) -> bytes:
    """What determines every tile of a layer version (engine, layer, version and its sha256, reported fields)."""
    reported = ",".join(store.catalog.get(version.layer_key).report)
    parts = (store.engine, version.layer_key, str(version.version), version.sha256, reported)
    return "\x1f".join((*parts, "")).encode("utf-8")


def _tile_digest(prefix: bytes, tile: TileSpec) -> str:
    """The ETag of one tile of the version whose ``_etag_prefix`` this is."""
    key = prefix + f"{tile.z}/{tile.x}/{tile.y}\x1f{RENDER_REVISION}".encode()
    return '"' + hashlib.sha256(key).hexdigest()[:32] + '"'


def tilejson(store: Store, layer_key: str, tiles_url: str) -> dict[str, Any]:
    """Return the TileJSON 3.0.0 of a layer's current version; ``tiles_url`` has {version}, {z}, {x}, {y}."""
    layer = vector_layer(store, layer_key)
    version = current_version(store, layer_key)
    url = tiles_url.replace("{version}", str(version.version))
    kinds = {f.name: f.kind for f in version.fields}
    fields = {name: _TILEJSON_TYPES.get(kinds.get(name, "text"), "String") for name in layer.report if name in kinds}
    bounds = list(to_crs84_bounds(version.bbox, store.crs)) if version.bbox else [-180.0, -85.0511, 180.0, 85.0511]
    centre = [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 12]
    return {
        "tilejson": "3.0.0",
        "name": layer.name_zh,
        "description": f"{layer.name_zh} {layer.name_en} — version {version.version} ({version.source_name})",
        "version": f"{version.version}.0.0",
        "scheme": "xyz",
        "tiles": [url],
        "minzoom": TILEJSON_MINZOOM,
        "maxzoom": TILEJSON_MAXZOOM,
        "bounds": [round(v, 7) for v in bounds],
        "center": [round(centre[0], 7), round(centre[1], 7), centre[2]],
        "vector_layers": [
            {
                "id": layer.key,
                "description": layer.name_zh,
                "minzoom": TILEJSON_MINZOOM,
                "maxzoom": TILEJSON_MAXZOOM,
                "fields": fields,
            }
        ],
        "layer": layer.key,
        "layer_version": version.version,
        "sha256": version.sha256,
        "role": layer.role,
        "color": layer.color,
    }


class _StoreTiles:
    """A store's rendered tiles by ETag, least recently used dropped first once over ``TILE_CACHE_BYTES``, and
    the ETag prefix of each version asked for (versions never change)."""

    def __init__(self) -> None:
        """Start empty."""
        self._tiles: OrderedDict[str, TileAnswer] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._prefixes: dict[tuple[str, int], bytes] = {}

    def etag(self, store: Store, version: LayerVersion, tile: TileSpec) -> str:
        """Return the tile's ETag (``tile_etag``)."""
        key = (version.layer_key, version.version)
        prefix = self._prefixes.get(key)
        if prefix is None:
            prefix = self._prefixes[key] = _etag_prefix(store, version)
        return _tile_digest(prefix, tile)

    def get(self, etag: str) -> TileAnswer | None:
        """Return a kept tile, or None."""
        with self._lock:
            answer = self._tiles.get(etag)
            if answer is not None:
                self._tiles.move_to_end(etag)
            return answer

    def put(self, answer: TileAnswer) -> None:
        """Keep a rendered tile (one larger than the whole budget is not kept)."""
        size = len(answer.data or b"")
        if size > TILE_CACHE_BYTES:
            return
        with self._lock:
            if answer.etag in self._tiles:
                return
            self._tiles[answer.etag] = answer
            self._bytes += size
            while self._bytes > TILE_CACHE_BYTES:
                _, dropped = self._tiles.popitem(last=False)
                self._bytes -= len(dropped.data or b"")

    def clear(self) -> None:
        """Drop every kept tile."""
        with self._lock:
            self._tiles.clear()
            self._bytes = 0


# A store's tiles, made on first use; they go with the store.
_store_tiles: PerStore[_StoreTiles] = PerStore(lambda _store: _StoreTiles())


def _matches(header: str, etag: str) -> bool:
    """True when an If-None-Match header names this ETag or '*' (weak comparison, RFC 9110 §13.1.2)."""
    tags = {part.strip().removeprefix("W/") for part in header.split(",")}
    return "*" in tags or etag in tags
