"""GeoJSON writing: geometries serialised by GEOS in one vectorised call, documents assembled as bytes.

Geometries are never round-tripped through Python dicts (DESIGN §10: parsing big geometries is slow).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from sitecheck.jsontext import dumps_text
from sitecheck.onemap.bbox import CRS84, epsg_of
from sitecheck.projection import transform_geometries

GEOJSON_MEDIA_TYPE = "application/geo+json"
CRS84_DECIMALS = 7  # about 1 cm
METRE_DECIMALS = 3  # 1 mm


def geometry_texts(geometries: Sequence[Any], source_crs: str, crs: str) -> list[str]:
    """Return GeoJSON geometry texts of analysis-CRS geometries in the output CRS (CRS84 or the analysis CRS).

    Polygons follow the right-hand rule (RFC 7946) and coordinates are rounded to 7 decimals (lon/lat) or
    to the millimetre.
    """
    if len(geometries) == 0:
        return []
    array = np.asarray(list(geometries), dtype=object)
    if crs != source_crs:
        array = transform_geometries(array, source_crs, crs)
    array = shapely.orient_polygons(array, exterior_cw=False)
    grid = 10.0 ** -(CRS84_DECIMALS if crs == CRS84 else METRE_DECIMALS)
    array = shapely.set_precision(array, grid, mode="pointwise")
    return [str(text) for text in shapely.to_geojson(array)]


def feature_text(feature_id: str | int, properties: Mapping[str, Any], geometry: str) -> str:
    """Return one GeoJSON Feature as text, its geometry text inserted as it is (NaN properties become null)."""
    return (
        '{"type":"Feature","id":'
        + dumps_text(feature_id)
        + ',"geometry":'
        + geometry
        + ',"properties":'
        + dumps_text(dict(properties))
        + "}"
    )


def feature_collection(features: Iterable[str], members: Mapping[str, Any] | None = None) -> bytes:
    """Return a FeatureCollection (UTF-8 bytes) of feature texts, with foreign members before the features."""
    head = {"type": "FeatureCollection", **(members or {})}
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"), default=str)[:-1]
    return (opening + ',"features":[' + ",".join(features) + "]}").encode("utf-8")


def crs_member(crs: str) -> dict[str, Any] | None:
    """Return the legacy GeoJSON 'crs' member naming a non-CRS84 output CRS (GDAL and QGIS read it)."""
    if crs == CRS84:
        return None
    return {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg_of(crs)}"}}
