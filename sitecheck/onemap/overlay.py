"""The one-map overlay: features of chosen layers inside a bbox, as one GeoJSON FeatureCollection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sitecheck.errors import ParameterInvalid
from sitecheck.onemap.bbox import bbox_area, centre_latitude, parse_bbox, resolve_crs
from sitecheck.onemap.geojson import crs_member, feature_collection, feature_text, geometry_texts
from sitecheck.onemap.model import FeaturePage, FeatureQuery, LayerFeature
from sitecheck.onemap.reader import current_version, feature_reader, vector_layer
from sitecheck.onemap.tilegrid import MAX_ZOOM, ground_pixel_m
from sitecheck.stores.base import LayerVersion, Store

DEFAULT_LIMIT = 2_000
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class OverlayRequest:
    """An overlay request as sent: bbox text, its CRS, layer keys (comma-separated), zoom, per-layer cap, output CRS."""

    bbox: str
    bbox_crs: str | None = None
    layers: str | None = None
    zoom: int | None = None
    limit: int = DEFAULT_LIMIT
    crs: str | None = None


def build_overlay(store: Store, request: OverlayRequest) -> bytes:
    """Return the features of the requested layers' current versions inside a bbox (GeoJSON bytes).

    Each layer returns at most ``limit`` features (fid order); a layer over the cap says so in ``layers[]`` and
    the collection carries ``truncated`` and a notice. With ``zoom`` geometries are simplified to half a display
    pixel at that zoom.
    """
    bounds = parse_bbox(request.bbox)
    bbox_crs = resolve_crs(request.bbox_crs, store.crs, parameter="bbox-crs")
    out_crs = resolve_crs(request.crs, store.crs, parameter="crs")
    if not 1 <= request.limit <= MAX_LIMIT:
        raise ParameterInvalid(
            f"limit must be 1..{MAX_LIMIT}, not {request.limit}",
            f"limit 取值应为 1..{MAX_LIMIT}，而不是 {request.limit}",
        )
    if request.zoom is not None and not 0 <= request.zoom <= MAX_ZOOM:
        raise ParameterInvalid(f"zoom must be 0..{MAX_ZOOM}", f"zoom 取值应为 0..{MAX_ZOOM}")
    versions = requested_versions(store, request.layers)
    area = bbox_area(bounds, bbox_crs, store.crs)
    simplify_m = None
    if request.zoom is not None and area is not None:
        simplify_m = ground_pixel_m(request.zoom, centre_latitude(area, store.crs)) / 2
    reader = feature_reader(store)
    summaries: list[dict[str, Any]] = []
    texts: list[str] = []
    for version in versions:
        query = FeatureQuery(area=area, limit=request.limit, simplify_m=simplify_m)
        page = reader.query_features(version, query) if area is not None else FeaturePage([], 0)
        texts.extend(layer_feature_texts(store, version, page.features, out_crs))
        summaries.append(layer_summary(store, version, page))
    truncated = any(summary["truncated"] for summary in summaries)
    members: dict[str, Any] = {}
    crs = crs_member(out_crs)
    if crs is not None:
        members["crs"] = crs
    members |= {
        "query": {
            "bbox": list(bounds),
            "bbox_crs": bbox_crs,
            "zoom": request.zoom,
            "simplify_m": round(simplify_m, 3) if simplify_m else None,
            "limit": request.limit,
        },
        "layers": summaries,
        "truncated": truncated,
    }
    if truncated:
        over = ", ".join(f"{s['layer']} ({s['matched']})" for s in summaries if s["truncated"])
        members["notice"] = {
            "en": f"more than {request.limit} features matched in {over}: zoom in, or use the vector tiles",
            "zh": f"{over} 的要素数超过上限 {request.limit}，仅返回前 {request.limit} 个：请放大地图或使用矢量瓦片",
        }
    return feature_collection(texts, members)


def requested_versions(store: Store, layers: str | None) -> list[LayerVersion]:
    """Resolve a comma-separated list of layer keys to current versions; none given means every loaded vector layer."""
    if layers is None or layers.strip() == "":
        loaded = store.current_versions()
        return [current_version(store, layer.key) for layer in store.catalog.vector_layers() if layer.key in loaded]
    keys = list(dict.fromkeys(key.strip() for key in layers.split(",") if key.strip()))
    for key in keys:
        vector_layer(store, key)
    return [current_version(store, key) for key in keys]


def layer_feature_texts(
    store: Store, version: LayerVersion, features: list[LayerFeature], crs: str, extra: dict[str, Any] | None = None
) -> list[str]:
    """Return GeoJSON Feature texts of one layer's features, tagged with the layer and its version."""
    geometries = geometry_texts([f.geometry for f in features], store.crs, crs)
    return [
        feature_text(
            f"{version.layer_key}.{feature.fid}",
            {
                **(extra or {}),
                "layer": version.layer_key,
                "layer_version": version.version,
                "fid": feature.fid,
                "id": feature.feature_id,
                "name": feature.name,
                "kind": feature.kind,
                "attributes": feature.attributes,
            },
            geometry,
        )
        for feature, geometry in zip(features, geometries, strict=True)
    ]


def layer_summary(store: Store, version: LayerVersion, page: FeaturePage) -> dict[str, Any]:
    """Describe one layer's part of an answer: names, colour, version, matched and returned counts."""
    layer = store.catalog.get(version.layer_key)
    matched = page.matched if page.matched is not None else len(page.features)
    return {
        "layer": layer.key,
        "name_zh": layer.name_zh,
        "name_en": layer.name_en,
        "role": layer.role,
        "color": layer.color,
        "version": version.version,
        "matched": matched,
        "returned": len(page.features),
        "truncated": matched > len(page.features),
    }
