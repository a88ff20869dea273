"""Response models of the one-map API: TileJSON, OGC API – Features documents, and the GeoJSON answers' shape."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from sitecheck.onemap.geojson import GEOJSON_MEDIA_TYPE


class GeoJsonResponse(Response):
    """A GeoJSON body built by the domain (RFC 7946 media type); its shape is documented by the models below."""

    media_type = GEOJSON_MEDIA_TYPE


class VectorLayerInfo(BaseModel):
    """A vector layer inside a tileset, with its attribute names and types."""

    id: str = Field(examples=["farmland"])
    description: str
    minzoom: int
    maxzoom: int
    fields: dict[str, str] = Field(examples=[{"YJJBNTTBBH": "String", "YJJBNTMJ": "Number"}])


class TileJson(BaseModel):
    """TileJSON 3.0.0 of one layer; ``tiles`` names the current version, so its tiles are never stale."""

    tilejson: str = Field(examples=["3.0.0"])
    name: str
    description: str
    version: str
    scheme: str
    tiles: list[str] = Field(examples=[["http://127.0.0.1:8000/v1/tiles/farmland/3/{z}/{x}/{y}.mvt"]])
    minzoom: int
    maxzoom: int
    bounds: list[float]
    center: list[float]
    vector_layers: list[VectorLayerInfo]
    layer: str
    layer_version: int
    sha256: str
    role: str
    color: str


class Link(BaseModel):
    """An OGC API link."""

    href: str
    rel: str
    type: str
    title: str


class LandingPage(BaseModel):
    """The OGC API landing page."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the service implements."""

    conformsTo: list[str]


class SpatialExtent(BaseModel):
    """A collection's bbox in CRS84."""

    bbox: list[list[float]]
    crs: str


class Extent(BaseModel):
    """A collection's extent (spatial only: layers carry no time)."""

    spatial: SpatialExtent


class Collection(BaseModel):
    """One collection: a layer's current version."""

    id: str = Field(examples=["eco_redline"])
    title: str = Field(examples=["生态保护红线"])
    description: str
    itemType: str
    crs: list[str]
    extent: Extent
    links: list[Link]


class Collections(BaseModel):
    """Every collection."""

    links: list[Link]
    collections: list[Collection]


class LayerSlice(BaseModel):
    """One layer's part of a GeoJSON answer: which version, how many features matched and came back."""

    layer: str
    name_zh: str
    name_en: str
    role: str
    color: str
    version: int
    matched: int
    returned: int
    truncated: bool


class OverlayCollection(BaseModel):
    """The overlay (application/geo+json): features tagged with ``layer``/``layer_version`` in properties."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["FeatureCollection"])
    query: dict[str, Any]
    layers: list[LayerSlice]
    truncated: bool = Field(description="true when a layer had more features than the cap: see notice")
    notice: dict[str, str] | None = Field(default=None, description="what to do when truncated (en, zh)")
    features: list[dict[str, Any]]


class CheckMapCollection(BaseModel):
    """A check's map (application/geo+json): features with role site, overlap, outside or feature."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["FeatureCollection"])
    check_id: str
    verdict: str | None
    buffer_m: float
    layer_versions: dict[str, dict[str, Any]]
    layers: list[LayerSlice]
    truncated: bool
    features: list[dict[str, Any]]


class ItemsCollection(BaseModel):
    """A page of OGC items (application/geo+json)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["FeatureCollection"])
    numberMatched: int
    numberReturned: int
    timeStamp: str
    links: list[Link]
    features: list[dict[str, Any]]
