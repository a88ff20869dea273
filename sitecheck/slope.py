"""Zonal slope statistics inside a site, read from the slope raster (GeoTIFF) with rasterio."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
import rasterio.features
import rasterio.windows
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import StoreUnavailable


@lru_cache(maxsize=16)
def raster_sha256(path: Path, mtime_ns: int) -> str:
    """Hash a raster file once per modification time: its version identity."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def raster_version(path: Path) -> dict[str, Any]:
    """Identify a raster layer's version by file name and sha256."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise StoreUnavailable(f"raster {path.name} is missing", f"栅格数据 {path.name} 缺失") from exc
    return {"source_name": path.name, "sha256": raster_sha256(path, stat.st_mtime_ns)}


def slope_statistics(path: Path, site: BaseGeometry, steep_degrees: float) -> dict[str, Any] | None:
    """Mean and max slope and the share of cells steeper than ``steep_degrees`` whose centres lie in the site.

    The site must be in the raster's CRS. Returns None when no cell centre of the raster lies in the site.
    """
    with rasterio.open(path) as dataset:
        minx, miny, maxx, maxy = site.bounds
        window = rasterio.windows.from_bounds(minx, miny, maxx, maxy, transform=dataset.transform)
        window = window.round_offsets(op="floor").round_lengths(op="ceil")
        try:
            window = window.intersection(rasterio.windows.Window(0, 0, dataset.width, dataset.height))
        except rasterio.errors.WindowError:
            return None
        if window.width <= 0 or window.height <= 0:
            return None
        values = dataset.read(1, window=window, masked=True)
        transform = dataset.window_transform(window)
        inside = rasterio.features.geometry_mask(
            [mapping(site)], out_shape=values.shape, transform=transform, invert=True, all_touched=False
        )
    mask = inside & ~np.ma.getmaskarray(values)
    cells = np.asarray(values)[mask].astype(np.float64)
    if cells.size == 0:
        return None
    return {
        "cells": int(cells.size),
        "mean_deg": round(float(cells.mean()), 2),
        "max_deg": round(float(cells.max()), 2),
        "steep_share": round(float((cells > steep_degrees).mean()), 4),
    }
