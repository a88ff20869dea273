"""Records that cross between the one-map domain and the engines' feature readers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shapely.geometry.base import BaseGeometry

from sitecheck.stores.base import LayerVersion

Bounds = tuple[float, float, float, float]


@dataclass(frozen=True)
class FeatureQuery:
    """Which features of one layer version to read; geometries and distances in the analysis CRS (metres).

    ``area`` keeps features intersecting it (within ``distance_m`` of it when that is set); ``equals`` keeps
    features whose reported field equals the (typed) value; ``simplify_m`` simplifies with topology preserved;
    ``clip`` cuts geometries to a rectangle. Results come in fid order.
    """

    area: BaseGeometry | None = None
    distance_m: float | None = None
    equals: Mapping[str, Any] = field(default_factory=dict)
    limit: int | None = None
    offset: int = 0
    count: bool = True
    simplify_m: float | None = None
    clip: Bounds | None = None


def page_total(query: FeatureQuery, returned: int) -> int | None:
    """The number of features matching a query when its page already tells it, else None (count them).

    A page that is not full and not empty holds the last match (offset + returned); so does an empty first page.
    A full page, or an empty page past the first, leaves the total unknown.
    """
    page_not_full = query.limit is None or returned < query.limit
    past_the_end = returned == 0 and query.offset > 0
    return query.offset + returned if page_not_full and not past_the_end else None


@dataclass(frozen=True)
class LayerFeature:
    """One feature of a layer version: identity, reported attributes and geometry (analysis CRS)."""

    fid: int
    feature_id: str
    name: str | None
    kind: str | None
    attributes: dict[str, Any]
    geometry: BaseGeometry


@dataclass(frozen=True)
class FeaturePage:
    """A page of features and, when counted, how many matched the query in all."""

    features: list[LayerFeature]
    matched: int | None


@dataclass(frozen=True)
class TileSpec:
    """One Web-Mercator (EPSG:3857) tile to render and the limits applied to it.

    ``bounds`` are the tile's edges in metres; ``min_size_m`` drops lines and polygons whose extent is below it
    (one display pixel at this zoom); ``max_features`` caps the features per tile, largest first.
    """

    z: int
    x: int
    y: int
    bounds: Bounds
    extent: int
    buffer: int
    min_size_m: float
    max_features: int


@dataclass(frozen=True)
class RenderedTile:
    """An encoded Mapbox Vector Tile and what went into it."""

    data: bytes
    features: int
    truncated: bool


class FeatureReader(Protocol):
    """Read access to layer versions that each engine offers for maps, tiles and OGC API – Features."""

    # True when a version's Web-Mercator copy is stored (built once for every process), False when each
    # process builds its own in memory.
    tile_copy_stored: bool

    def current_version_number(self, layer_key: str) -> int | None:
        """Return the number of the layer's current version (a cheap read), or None when it has none."""
        ...

    def version(self, layer_key: str, number: int) -> LayerVersion:
        """Return one version of a layer (cached: versions never change) or raise VersionNotFound."""
        ...

    def query_features(self, version: LayerVersion, query: FeatureQuery) -> FeaturePage:
        """Return the features of a layer version that match a query, in fid order."""
        ...

    def get_feature(self, version: LayerVersion, fid: int) -> LayerFeature | None:
        """Return one feature by fid, or None."""
        ...

    def render_tile(self, version: LayerVersion, tile: TileSpec) -> RenderedTile:
        """Encode one tile of a layer version as MVT; attributes are the layer's reported fields."""
        ...

    def prepare_tiles(self, version: LayerVersion) -> None:
        """Build the version's Web-Mercator copy now (otherwise its first tile does); idempotent."""
        ...
