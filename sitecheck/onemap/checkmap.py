"""A check's one map (一张图) as GeoJSON: the site, every overlap piece, and the layers around the site.

Everything is read from the layer versions the check used: the versions it recorded (constraint and zone
layers) and, for the other layers, the versions in force at the check's date (its ``as_of`` or creation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.areas import area_figures
from sitecheck.errors import ParameterInvalid
from sitecheck.findings import mean_width_m, polygonal_part
from sitecheck.onemap.bbox import resolve_crs
from sitecheck.onemap.geojson import crs_member, feature_collection, feature_text, geometry_texts
from sitecheck.onemap.model import FeatureQuery
from sitecheck.onemap.overlay import layer_feature_texts, layer_summary
from sitecheck.onemap.reader import feature_reader, layer_version, vector_layer
from sitecheck.stores.base import CheckRecord, LayerVersion, Store

DEFAULT_BUFFER_M = 500.0
MAX_BUFFER_M = 5_000.0
DEFAULT_LIMIT = 2_000
MAX_LIMIT = 10_000


@dataclass(frozen=True)
class CheckMapRequest:
    """How much of the surroundings to show: buffer (m), layer keys (comma-separated), per-layer cap, output CRS."""

    buffer_m: float = DEFAULT_BUFFER_M
    layers: str | None = None
    limit: int = DEFAULT_LIMIT
    crs: str | None = None


def build_check_map(store: Store, check_id: str, request: CheckMapRequest) -> bytes:
    """Return a stored check's map as GeoJSON bytes: site, overlap and outside pieces with areas, nearby features.

    Nearby features are those within ``buffer_m`` of the site, clipped to the map window (the site's extent
    widened by the buffer), at most ``limit`` per layer.
    """
    if not 0 <= request.buffer_m <= MAX_BUFFER_M:
        raise ParameterInvalid(f"buffer_m must be 0..{MAX_BUFFER_M:g}", f"buffer_m 取值应为 0..{MAX_BUFFER_M:g} 米")
    if not 1 <= request.limit <= MAX_LIMIT:
        raise ParameterInvalid(f"limit must be 1..{MAX_LIMIT}", f"limit 取值应为 1..{MAX_LIMIT}")
    out_crs = resolve_crs(request.crs, store.crs, parameter="crs")
    record = store.get_check(check_id)
    if not record.accepted or record.geometry_wkb is None:
        raise ParameterInvalid(
            f"check {check_id} was refused: it has no site to map",
            f"审查 {check_id} 未受理，没有可绘制的用地范围",
            details={"check_id": check_id},
        )
    site = shapely.from_wkb(record.geometry_wkb)
    versions = check_versions(store, record)
    wanted = _wanted_layers(store, request.layers, versions)
    window = _window(site, request.buffer_m)
    texts = _site_texts(store, record, site, out_crs) + _piece_texts(store, record, site, versions, out_crs)
    reader = feature_reader(store)
    summaries = []
    for key in wanted:
        query = FeatureQuery(area=site, distance_m=request.buffer_m, limit=request.limit, clip=window)
        page = reader.query_features(versions[key], query)
        texts.extend(layer_feature_texts(store, versions[key], page.features, out_crs, {"role": "feature"}))
        summaries.append(layer_summary(store, versions[key], page))
    pinned = _pinned(record)
    members: dict[str, Any] = {}
    crs = crs_member(out_crs)
    if crs is not None:
        members["crs"] = crs
    members |= {
        "check_id": record.id,
        "verdict": (record.result or {}).get("verdict"),
        "buffer_m": request.buffer_m,
        "layer_versions": {
            key: {"version": version.version, "pinned": key in pinned} for key, version in versions.items()
        },
        "layers": summaries,
        "truncated": any(s["truncated"] for s in summaries),
    }
    return feature_collection(texts, members)


def check_versions(store: Store, record: CheckRecord) -> dict[str, LayerVersion]:
    """Return, per vector layer, the version a check used: recorded ones pinned, the rest as of its date."""
    pinned = _pinned(record)
    as_of = record.parameters.get("as_of")
    when = datetime.fromisoformat(as_of) if isinstance(as_of, str) else record.created_at
    in_force = store.versions_as_of(when)
    versions: dict[str, LayerVersion] = {}
    for layer in store.catalog.vector_layers():
        if layer.key in pinned:
            versions[layer.key] = layer_version(store, layer.key, pinned[layer.key])
        elif layer.key in in_force:
            versions[layer.key] = in_force[layer.key]
    return versions


def _pinned(record: CheckRecord) -> dict[str, int]:
    """The layer versions a check recorded (raster entries carry a hash, not a version)."""
    return {
        key: int(ref["version"])
        for key, ref in record.layer_versions.items()
        if isinstance(ref, dict) and isinstance(ref.get("version"), int)
    }


def _wanted_layers(store: Store, layers: str | None, versions: dict[str, LayerVersion]) -> list[str]:
    """The layers whose nearby features to show: the requested ones, or every layer the check could see."""
    if layers is None or layers.strip() == "":
        return list(versions)
    keys = list(dict.fromkeys(key.strip() for key in layers.split(",") if key.strip()))
    for key in keys:
        vector_layer(store, key)
        if key not in versions:
            raise ParameterInvalid(
                f"layer '{key}' had no version in force at the check's date", f"审查时图层“{key}”没有发布版本"
            )
    return keys


def _window(site: BaseGeometry, buffer_m: float) -> tuple[float, float, float, float]:
    """The map window: the site's extent widened by the buffer (analysis CRS, metres)."""
    minx, miny, maxx, maxy = site.bounds
    return (minx - buffer_m, miny - buffer_m, maxx + buffer_m, maxy + buffer_m)


def _site_texts(store: Store, record: CheckRecord, site: BaseGeometry, crs: str) -> list[str]:
    """The site as one feature with its areas."""
    result = record.result or {}
    properties = {
        "role": "site",
        "check_id": record.id,
        "verdict": result.get("verdict"),
        "verdict_zh": result.get("verdict_zh"),
        "project": (result.get("project") or {}).get("name"),
        **area_figures(site, store.crs),
    }
    return [feature_text("site", properties, geometry_texts([site], store.crs, crs)[0])]


def _piece_texts(
    store: Store, record: CheckRecord, site: BaseGeometry, versions: dict[str, LayerVersion], crs: str
) -> list[str]:
    """Overlap pieces of every checked layer (and, for zones, the part of the site outside) with their areas."""
    result = record.result or {}
    status = {finding["layer"]: finding.get("status") for finding in result.get("layers", [])}
    thresholds = result.get("thresholds", {})
    sliver_m2 = float(thresholds.get("sliver_area_m2", 1.0))
    sliver_width = float(thresholds.get("sliver_width_m", 0.1))
    checked = {key: versions[key] for key in _pinned(record) if key in versions}
    pieces = store.overlaps(site, checked)
    entries: list[tuple[str, dict[str, Any], BaseGeometry]] = []
    for key, version in checked.items():
        layer = store.catalog.get(key)
        base = {
            "layer": key,
            "layer_name_zh": layer.name_zh,
            "layer_version": version.version,
            "status": status.get(key),
        }
        kept = []
        for piece in pieces.get(key, []):
            geometry = polygonal_part(piece.geometry)
            if geometry is None:
                continue
            kept.append(geometry)
            sliver = geometry.area < sliver_m2 or mean_width_m(geometry) < sliver_width
            properties = base | {"role": "overlap", "fid": piece.fid, "id": piece.feature_id, "name": piece.name}
            properties |= {"kind": piece.kind, **area_figures(geometry, store.crs)}
            properties |= {"share": geometry.area / site.area, "sliver": sliver}
            entries.append((f"overlap.{key}.{piece.fid}", properties, geometry))
        if layer.role == "zone":
            inside = shapely.union_all(kept) if kept else Polygon()
            outside = polygonal_part(site.difference(inside))
            if outside is not None:
                properties = base | {"role": "outside", **area_figures(outside, store.crs)}
                entries.append((f"outside.{key}", properties | {"share": outside.area / site.area}, outside))
    geometries = geometry_texts([geometry for _, _, geometry in entries], store.crs, crs)
    return [feature_text(fid, props, text) for (fid, props, _), text in zip(entries, geometries, strict=True)]
