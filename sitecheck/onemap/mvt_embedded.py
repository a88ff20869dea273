"""Mapbox Vector Tile encoding for the embedded engine: Shapely prepares the geometry, mapbox-vector-tile encodes.

Clipping, the move to tile units, snapping to the integer grid (repairing only what snapping broke, dropping
what collapsed) and ring orientation run vectorised in GEOS; the encoder then only writes commands. This is what
PostGIS's ST_AsMVTGeom does, so both engines draw the same features.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mapbox_vector_tile
import numpy as np
import shapely

from sitecheck.onemap.model import TileSpec
from sitecheck.onemap.tilegrid import buffered_bounds

_ENCODE_OPTIONS = {"y_coord_down": True, "check_winding_order": False, "quantize_bounds": None}


def tile_geometries(geometries: np.ndarray, tile: TileSpec) -> np.ndarray:
    """Clip Web-Mercator geometries to the buffered tile and return them in integer tile units (y down)."""
    if len(geometries) == 0:
        return geometries
    minx, _, maxx, maxy = tile.bounds
    bminx, bminy, bmaxx, bmaxy = buffered_bounds(tile)
    bounds = shapely.bounds(geometries)
    outside = (bounds[:, 0] < bminx) | (bounds[:, 1] < bminy) | (bounds[:, 2] > bmaxx) | (bounds[:, 3] > bmaxy)
    clipped = geometries.copy()
    if outside.any():
        clipped[outside] = shapely.clip_by_rect(geometries[outside], bminx, bminy, bmaxx, bmaxy)
    scale = tile.extent / (maxx - minx)

    def to_tile_grid(coords: np.ndarray) -> np.ndarray:
        """Web-Mercator metres to integer tile units, y down."""
        return np.rint(np.column_stack([(coords[:, 0] - minx) * scale, (maxy - coords[:, 1]) * scale]))

    snapped = shapely.transform(clipped, to_tile_grid)
    # Snapping can fold a polygon onto itself or collapse it: repair only those (as ST_AsMVTGeom does).
    broken = ~shapely.is_valid(snapped)
    if broken.any():
        snapped[broken] = shapely.make_valid(snapped[broken], method="structure", keep_collapsed=False)
    # MVT exterior rings have a positive surveyor's area in tile units (y down): counter-clockwise numerically.
    return np.asarray(shapely.orient_polygons(snapped, exterior_cw=False), dtype=object)


def encode_layer(
    name: str, geometries: np.ndarray, fids: Sequence[int], properties: Sequence[dict[str, Any]], tile: TileSpec
) -> bytes:
    """Encode one layer of a tile from Web-Mercator geometries, feature ids and properties (nulls dropped)."""
    prepared = tile_geometries(geometries, tile)
    features = [
        {"geometry": geometry, "id": int(fid), "properties": {k: v for k, v in props.items() if v is not None}}
        for geometry, fid, props in zip(prepared, fids, properties, strict=True)
        if not geometry.is_empty
    ]
    if not features:
        return b""
    options = {**_ENCODE_OPTIONS, "extents": tile.extent}
    data: bytes = mapbox_vector_tile.encode({"name": name, "features": features}, default_options=options)
    return data
