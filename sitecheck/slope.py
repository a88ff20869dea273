"""Zonal slope statistics inside a site, from the slope raster (GeoTIFF) read once with rasterio."""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import StoreUnavailable

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Raster:
    """A single-band raster held in memory: values (NaN where nodata), the affine transform, and identity."""

    values: np.ndarray
    transform: Affine
    sha256: str
    source_name: str

    def version(self) -> dict[str, Any]:
        """Identify the raster's version by file name and sha256."""
        return {"source_name": self.source_name, "sha256": self.sha256}


@lru_cache(maxsize=8)
def _read_raster(path: Path, mtime_ns: int) -> Raster:
    """Read a raster file once per modification time (the slope layer of a city is a few tens of MB)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with rasterio.open(path) as dataset:
        values = dataset.read(1, masked=True).astype(np.float64).filled(np.nan)
        return Raster(values=values, transform=dataset.transform, sha256=digest, source_name=path.name)


def load_raster(path: Path) -> Raster:
    """Return a raster layer in memory, re-read when the file changes."""
    try:
        mtime_ns = path.stat().st_mtime_ns
    except OSError as exc:
        raise StoreUnavailable(f"raster {path.name} is missing", f"栅格数据 {path.name} 缺失") from exc
    with _LOCK:
        return _read_raster(path, mtime_ns)


def slope_statistics(raster: Raster, site: BaseGeometry, steep_degrees: float) -> dict[str, Any] | None:
    """Mean and max slope and the share of cells steeper than ``steep_degrees`` whose centres lie in the site.

    The site must be in the raster's CRS. Returns None when no cell centre with data lies in the site.
    """
    a, b, c, d, e, f = raster.transform[:6]
    minx, miny, maxx, maxy = site.bounds
    height, width = raster.values.shape
    north_up = b == 0 and d == 0  # every raster we load: the window and the centres need no matrix work
    if north_up:
        cols, rows = sorted(((minx - c) / a, (maxx - c) / a)), sorted(((maxy - f) / e, (miny - f) / e))
    else:
        col_pair, row_pair = _apply(~raster.transform, np.array([minx, maxx]), np.array([maxy, miny]))
        cols, rows = [col_pair.min(), col_pair.max()], [row_pair.min(), row_pair.max()]
    col0, col1 = max(math.floor(cols[0]), 0), min(math.ceil(cols[1]), width)
    row0, row1 = max(math.floor(rows[0]), 0), min(math.ceil(rows[1]), height)
    if col0 >= col1 or row0 >= row1:
        return None
    col_centres, row_centres = np.arange(col0, col1) + 0.5, np.arange(row0, row1) + 0.5
    if north_up:
        xs = np.tile(a * col_centres + c, row1 - row0)
        ys = np.repeat(e * row_centres + f, col1 - col0)
    else:
        col_index, row_index = np.meshgrid(col_centres, row_centres)
        xs, ys = _apply(raster.transform, col_index.ravel(), row_index.ravel())
    inside = shapely.contains_xy(site, xs, ys)
    cells = raster.values[row0:row1, col0:col1].ravel()[inside]
    cells = cells[~np.isnan(cells)]
    if cells.size == 0:
        return None
    return {
        "cells": int(cells.size),
        "mean_deg": round(float(cells.mean()), 2),
        "max_deg": round(float(cells.max()), 2),
        "steep_share": round(float((cells > steep_degrees).mean()), 4),
    }


def _apply(transform: Affine, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to coordinate arrays."""
    a, b, c, d, e, f = transform[:6]
    return a * x + b * y + c, d * x + e * y + f
