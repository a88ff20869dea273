"""OGC API – Features Part 1 (core + GeoJSON) documents over the layers' current versions, in CRS84.

Collections are the vector layers that have a published version; item ids are the stored fids; properties
are the layer's reported fields, which are also the attribute filters (``?DLBM=0101``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sitecheck.errors import NotFound, ParameterInvalid
from sitecheck.onemap.bbox import CRS84, CRS84_URI, bbox_area, parse_bbox, resolve_crs, to_crs84_bounds
from sitecheck.onemap.geojson import GEOJSON_MEDIA_TYPE, feature_collection, feature_text, geometry_texts
from sitecheck.onemap.model import FeaturePage, FeatureQuery, LayerFeature
from sitecheck.onemap.reader import current_version, feature_reader
from sitecheck.stores.base import LayerVersion, Store

JSON_MEDIA_TYPE = "application/json"
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
RESERVED_PARAMETERS = frozenset({"bbox", "bbox-crs", "limit", "offset", "f", "datetime"})


@dataclass(frozen=True)
class ServiceUrls:
    """Absolute URLs the documents link to: the service root (OpenAPI, docs) and the OGC API root."""

    root: str
    ogc: str


@dataclass(frozen=True)
class ItemsRequest:
    """An items request: bbox (and its CRS), paging, and attribute filters as sent (field name -> text)."""

    bbox: str | None = None
    bbox_crs: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    filters: Mapping[str, str] = field(default_factory=dict)


def landing_page(urls: ServiceUrls) -> dict[str, Any]:
    """Return the landing page: title and links to the API definition, conformance and collections."""
    return {
        "title": "sitecheck 一张图 — OGC API – Features",
        "description": "国土空间管控图层（生态保护红线、永久基本农田、城镇开发边界等），CRS84 GeoJSON",
        "links": [
            _link(urls.ogc, "self", JSON_MEDIA_TYPE, "本页 / this document"),
            _link(f"{urls.root}/openapi.json", "service-desc", OPENAPI_MEDIA_TYPE, "API definition (OpenAPI)"),
            _link(f"{urls.root}/docs", "service-doc", "text/html", "API documentation"),
            _link(f"{urls.ogc}/conformance", "conformance", JSON_MEDIA_TYPE, "conformance classes"),
            _link(f"{urls.ogc}/collections", "data", JSON_MEDIA_TYPE, "collections: the loaded layers"),
        ],
    }


def conformance() -> dict[str, Any]:
    """Return the conformance classes implemented."""
    return {"conformsTo": list(CONFORMANCE)}


def list_collections(store: Store, urls: ServiceUrls) -> dict[str, Any]:
    """Return every vector layer with a published version as a collection."""
    current = store.current_versions()
    described = [
        _collection(store, current[layer.key], urls) for layer in store.catalog.vector_layers() if layer.key in current
    ]
    return {
        "links": [_link(f"{urls.ogc}/collections", "self", JSON_MEDIA_TYPE, "collections")],
        "collections": described,
    }


def describe_collection(store: Store, collection_id: str, urls: ServiceUrls) -> dict[str, Any]:
    """Return one collection (a layer's current version), or raise LayerNotFound / VersionNotFound."""
    return _collection(store, current_version(store, collection_id), urls)


def get_items(store: Store, collection_id: str, request: ItemsRequest, urls: ServiceUrls) -> bytes:
    """Return a page of a collection's items as GeoJSON bytes with numberMatched/numberReturned and paging links."""
    version = current_version(store, collection_id)
    if request.limit < 1 or request.offset < 0:
        raise ParameterInvalid("limit must be at least 1 and offset at least 0", "limit 至少为 1，offset 不能为负")
    limit = min(request.limit, MAX_LIMIT)
    equals = _typed_filters(store, version, request.filters)
    area = None
    if request.bbox is not None:
        bbox_crs = resolve_crs(request.bbox_crs, store.crs, parameter="bbox-crs")
        area = bbox_area(parse_bbox(request.bbox), bbox_crs, store.crs)
        if area is None:
            return _items_document(store, version, FeaturePage([], 0), request, limit, urls)
    query = FeatureQuery(area=area, equals=equals, limit=limit, offset=request.offset)
    page = feature_reader(store).query_features(version, query)
    return _items_document(store, version, page, request, limit, urls)


def get_item(store: Store, collection_id: str, feature_id: str, urls: ServiceUrls) -> bytes:
    """Return one item as a GeoJSON Feature, or raise NotFound."""
    version = current_version(store, collection_id)
    feature = feature_reader(store).get_feature(version, int(feature_id)) if feature_id.isdigit() else None
    if feature is None:
        raise NotFound(
            f"collection '{collection_id}' has no feature {feature_id!r}",
            f"图层“{collection_id}”中没有编号为 {feature_id!r} 的要素",
        )
    text = _feature_texts(store, version, [feature])[0]
    base = f"{urls.ogc}/collections/{collection_id}"
    links = [
        _link(f"{base}/items/{feature.fid}", "self", GEOJSON_MEDIA_TYPE, "this feature"),
        _link(base, "collection", JSON_MEDIA_TYPE, "the collection"),
    ]
    return (text[:-1] + ',"links":' + _json(links) + "}").encode("utf-8")


def _collection(store: Store, version: LayerVersion, urls: ServiceUrls) -> dict[str, Any]:
    """Describe one layer version as a collection."""
    layer = store.catalog.get(version.layer_key)
    base = f"{urls.ogc}/collections/{layer.key}"
    bbox = list(to_crs84_bounds(version.bbox, store.crs)) if version.bbox else [-180.0, -90.0, 180.0, 90.0]
    return {
        "id": layer.key,
        "title": layer.name_zh,
        "description": f"{layer.name_en} ({layer.role}) — version {version.version}, {version.feature_count} features",
        "itemType": "feature",
        "crs": [CRS84_URI],
        "extent": {"spatial": {"bbox": [[round(v, 7) for v in bbox]], "crs": CRS84_URI}},
        "links": [
            _link(base, "self", JSON_MEDIA_TYPE, layer.name_zh),
            _link(f"{base}/items", "items", GEOJSON_MEDIA_TYPE, f"{layer.name_zh} features"),
        ],
    }


def _items_document(
    store: Store, version: LayerVersion, page: FeaturePage, request: ItemsRequest, limit: int, urls: ServiceUrls
) -> bytes:
    """Assemble the items FeatureCollection with its counts and links."""
    base = f"{urls.ogc}/collections/{version.layer_key}/items"
    matched = page.matched or 0
    links = [_link(_page_url(base, request, limit, request.offset), "self", GEOJSON_MEDIA_TYPE, "this page")]
    if request.offset + len(page.features) < matched:
        links.append(_link(_page_url(base, request, limit, request.offset + limit), "next", GEOJSON_MEDIA_TYPE, "next"))
    if request.offset > 0:
        previous = max(0, request.offset - limit)
        links.append(_link(_page_url(base, request, limit, previous), "prev", GEOJSON_MEDIA_TYPE, "previous page"))
    links.append(_link(f"{urls.ogc}/collections/{version.layer_key}", "collection", JSON_MEDIA_TYPE, "collection"))
    members = {
        "numberMatched": matched,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    return feature_collection(_feature_texts(store, version, page.features), members)


def _feature_texts(store: Store, version: LayerVersion, features: list[LayerFeature]) -> list[str]:
    """GeoJSON texts of features: id = fid, properties = the reported fields, CRS84."""
    geometries = geometry_texts([f.geometry for f in features], store.crs, CRS84)
    return [feature_text(f.fid, f.attributes, g) for f, g in zip(features, geometries, strict=True)]


def _typed_filters(store: Store, version: LayerVersion, filters: Mapping[str, str]) -> dict[str, Any]:
    """Turn attribute filters into typed values; only reported fields may be filtered."""
    layer = store.catalog.get(version.layer_key)
    kinds = {f.name: f.kind for f in version.fields}
    typed: dict[str, Any] = {}
    for name, raw in filters.items():
        if name not in layer.report or name not in kinds:
            allowed = ", ".join([*sorted(RESERVED_PARAMETERS), *layer.report])
            raise ParameterInvalid(
                f"unknown query parameter {name!r}: use one of {allowed}",
                f"未知查询参数 {name!r}：可用参数为 {allowed}",
                details={"parameter": name},
            )
        typed[name] = _typed_value(name, raw, kinds[name])
    return typed


def _typed_value(name: str, raw: str, kind: str) -> Any:
    """Convert a filter value to the field's type, refusing what does not convert."""
    try:
        if kind == "integer":
            return int(raw)
        if kind == "real":
            return float(raw)
        if kind == "boolean":
            return {"true": True, "false": False, "1": True, "0": False}[raw.strip().lower()]
    except (ValueError, KeyError) as exc:
        raise ParameterInvalid(
            f"filter {name}={raw!r} is not a valid {kind}", f"筛选条件 {name}={raw!r} 不是有效的 {kind} 值"
        ) from exc
    return raw


def _page_url(base: str, request: ItemsRequest, limit: int, offset: int) -> str:
    """The URL of a page of items with the same filters."""
    params: dict[str, Any] = dict(request.filters)
    if request.bbox is not None:
        params["bbox"] = request.bbox
    if request.bbox_crs is not None:
        params["bbox-crs"] = request.bbox_crs
    params |= {"limit": limit, "offset": offset}
    return f"{base}?{urlencode(params)}"


def _link(href: str, rel: str, media_type: str, title: str) -> dict[str, str]:
    """One link object."""
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def _json(value: Any) -> str:
    """Compact JSON text, Chinese kept readable."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
