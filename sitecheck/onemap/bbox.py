"""Bounding boxes and output CRSs of one-map requests: CRS84 (lon/lat) or the analysis CRS."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import Polygon

from sitecheck.errors import ParameterInvalid
from sitecheck.intake.crs import CHINA_LAT, CHINA_LON
from sitecheck.onemap.model import Bounds
from sitecheck.projection import epsg_code, parse_crs, transformer

CRS84 = "OGC:CRS84"
CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
# lon/lat names accepted for CRS84: WGS84 and CGCS2000 differ by well under a metre in China (docs/intake.md).
_CRS84_NAMES = {
    "crs84",
    "ogc:crs84",
    CRS84_URI.lower(),
    "urn:ogc:def:crs:ogc:1.3:crs84",
    "wgs84",
    "epsg:4326",
    "4326",
    "cgcs2000",
    "epsg:4490",
    "4490",
}
_DENSIFY = 16  # points per bbox edge when a bbox changes CRS: edges do not stay straight


def resolve_crs(value: str | None, analysis_crs: str, *, parameter: str) -> str:
    """Return CRS84 or the analysis CRS for a request's CRS name (default CRS84); refuse anything else."""
    if value is None or value.strip() == "":
        return CRS84
    text = value.strip()
    if text.lower() in _CRS84_NAMES:
        return CRS84
    code = epsg_of(analysis_crs)
    accepted = {
        f"epsg:{code}",
        str(code),
        f"http://www.opengis.net/def/crs/epsg/0/{code}",
        f"urn:ogc:def:crs:epsg::{code}",
    }
    if text.lower() in accepted:
        return analysis_crs
    raise ParameterInvalid(
        f"{parameter} {value!r} is not supported: use CRS84 (lon/lat) or the analysis CRS EPSG:{code}",
        f"{parameter} 不支持 {value!r}：请使用 CRS84（经纬度）或分析坐标系 EPSG:{code}",
        details={"parameter": parameter, "value": value},
    )


def crs_uri(crs: str) -> str:
    """Return the OGC URI of CRS84 or of an EPSG CRS."""
    return CRS84_URI if crs == CRS84 else f"http://www.opengis.net/def/crs/EPSG/0/{epsg_of(crs)}"


def parse_bbox(text: str, *, parameter: str = "bbox") -> Bounds:
    """Parse 'minx,miny,maxx,maxy' (or the 6-number 3-D form, heights ignored) into finite, ordered bounds."""
    parts = [part.strip() for part in text.split(",")]
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise ParameterInvalid(
            f"{parameter} must be four finite numbers minx,miny,maxx,maxy, not {text!r}",
            f"{parameter} 应为四个有限数值 minx,miny,maxx,maxy，而不是 {text!r}",
            details={"parameter": parameter, "value": text},
        )
    minx, miny, maxx, maxy = numbers if len(numbers) == 4 else (numbers[0], numbers[1], numbers[3], numbers[4])
    if minx >= maxx or miny >= maxy:
        raise ParameterInvalid(
            f"{parameter} {text!r} is empty or inverted: minx < maxx and miny < maxy are required",
            f"{parameter} {text!r} 为空或顺序颠倒：须满足 minx < maxx 且 miny < maxy",
            details={"parameter": parameter, "value": text},
        )
    return (minx, miny, maxx, maxy)


def bbox_area(bounds: Bounds, bbox_crs: str, analysis_crs: str) -> Polygon | None:
    """Return a bbox as a polygon in the analysis CRS, or None when it lies entirely outside China.

    A CRS84 bbox is cut to China's extent first (a whole-world bbox is legitimate) and its edges are densified
    before the transform. An analysis-CRS bbox whose corners do not land in China is refused: it is almost
    always lon/lat sent with the wrong ``bbox-crs``.
    """
    minx, miny, maxx, maxy = bounds
    if bbox_crs != analysis_crs:
        if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
            raise ParameterInvalid(
                f"bbox {list(bounds)} is not lon/lat: longitudes run -180..180 and latitudes -90..90",
                f"bbox {list(bounds)} 不是经纬度范围",
                details={"bbox": list(bounds)},
            )
        clipped = (max(minx, CHINA_LON[0]), max(miny, CHINA_LAT[0]), min(maxx, CHINA_LON[1]), min(maxy, CHINA_LAT[1]))
        if clipped[0] >= clipped[2] or clipped[1] >= clipped[3]:
            return None
        return _transformed_box(clipped, CRS84, analysis_crs)
    corners = _transform_xy(np.array([minx, maxx, maxx, minx]), np.array([miny, miny, maxy, maxy]), analysis_crs, CRS84)
    lon, lat = corners
    inside = (lon >= CHINA_LON[0]) & (lon <= CHINA_LON[1]) & (lat >= CHINA_LAT[0]) & (lat <= CHINA_LAT[1])
    if not (np.isfinite(lon).all() and np.isfinite(lat).all() and inside.any()):
        raise ParameterInvalid(
            f"bbox {list(bounds)} in {analysis_crs} lies outside China: lon/lat needs bbox-crs=CRS84",
            f"bbox {list(bounds)} 按 {analysis_crs} 解释位于中国境外：经纬度范围请指定 bbox-crs=CRS84",
            details={"bbox": list(bounds), "bbox_crs": analysis_crs},
        )
    return shapely.box(minx, miny, maxx, maxy)


def to_crs84_bounds(bounds: Bounds, crs: str) -> Bounds:
    """Return the lon/lat bounds of a rectangle given in another CRS (edges densified)."""
    if crs == CRS84:
        return bounds
    box = _transformed_box(bounds, crs, CRS84)
    minx, miny, maxx, maxy = box.bounds
    return (minx, miny, maxx, maxy)


def centre_latitude(area: Polygon, analysis_crs: str) -> float:
    """Return the latitude of an analysis-CRS polygon's centre, in degrees."""
    centre = area.centroid
    _, lat = _transform_xy(np.array([centre.x]), np.array([centre.y]), analysis_crs, CRS84)
    return float(lat[0])


def _transformed_box(bounds: Bounds, source: str, target: str) -> Polygon:
    """Transform a rectangle's densified outline from one CRS to another."""
    minx, miny, maxx, maxy = bounds
    ring = shapely.segmentize(shapely.box(minx, miny, maxx, maxy), max(maxx - minx, maxy - miny) / _DENSIFY)
    coords = shapely.get_coordinates(ring)
    x, y = _transform_xy(coords[:, 0], coords[:, 1], source, target)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ParameterInvalid(
            f"bbox {list(bounds)} cannot be transformed from {source} to {target}",
            f"bbox {list(bounds)} 无法从 {source} 转换到 {target}",
        )
    return Polygon(np.column_stack([x, y]))


def _transform_xy(x: np.ndarray, y: np.ndarray, source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays (x/y order) between CRSs."""
    parse_crs(source)
    tx, ty = transformer(source, target).transform(x, y, errcheck=False)
    return np.asarray(tx, dtype=float), np.asarray(ty, dtype=float)


@lru_cache(maxsize=16)
def epsg_of(crs: str) -> int:
    """Return the EPSG code of a CRS (cached: the lookup is slow)."""
    return epsg_code(crs)
