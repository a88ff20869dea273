"""CRS handling for uploads: parse names, detect from coordinates, fix swapped axes, GCJ-02, checked transforms.

Decisions (see docs/intake.md): lon/lat without a declared CRS is read as CGCS2000 (EPSG:4490) because WGS84 and
CGCS2000 differ by well under a metre in China; an 8-digit easting names its Gauss-Krüger zone by its first two
digits (25–45 are 3-degree zones, 13–23 are 6-degree zones: the ranges do not overlap in China); Xian 1980 and
Beijing 1954 are refused because PROJ only has a "ballpark" (null) shift for them, wrong by up to ~100 m.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import CrsOutOfRange, CrsUnknown, ParameterInvalid
from sitecheck.intake.raw import IntakeWarning
from sitecheck.projection import transformer

GCJ02 = "GCJ02"
CGCS2000_GEOGRAPHIC = "EPSG:4490"
WGS84_GEOGRAPHIC = "EPSG:4326"

# China's bounding box (lon/lat degrees) for the range check on every transform.
CHINA_LON = (73.5, 135.1)
CHINA_LAT = (3.8, 53.6)
# Slightly wider ranges for *detecting* lon/lat: a point just outside is then refused by the range check with a
# clear message instead of "CRS unknown".
_DETECT_LON = (73.0, 136.0)
_DETECT_LAT = (3.0, 54.0)
# Gauss-Krüger coordinates in China: northing 0.4–6.0e6 m, easting 500 km ± ~340 km inside a zone.
_GK_NORTHING = (2.0e5, 6.5e6)
_GK_EASTING = (1.0e5, 9.0e5)
ZONES_3_DEGREE = range(25, 46)
ZONES_6_DEGREE = range(13, 24)
_REFUSED_DATUMS = ("Xian 1980", "Beijing 1954", "New Beijing")

_ALIASES = {
    "WGS84": WGS84_GEOGRAPHIC,
    "WGS1984": WGS84_GEOGRAPHIC,
    "CRS84": WGS84_GEOGRAPHIC,
    "OGCCRS84": WGS84_GEOGRAPHIC,
    "URNOGCDEFCRSOGC13CRS84": WGS84_GEOGRAPHIC,
    "CGCS2000": CGCS2000_GEOGRAPHIC,
    "GCJ02": GCJ02,
}
_EPSG_RE = re.compile(
    r"^(?:EPSG:+|URN:OGC:DEF:CRS:EPSG:[\d.]*:|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/EPSG/\d+/)?(\d{4,6})$"
)
_GK_NAME_RE = re.compile(r"^CGCS2000_(3_DEGREE_)?(?:GAUSS_KRUGER|GK)_(?:ZONE_(\d+)|CM_(\d+)E)$")


@dataclass
class ResolvedCrs:
    """Where the source coordinates are after CRS resolution: the EPSG string, the (possibly fixed) geometry."""

    crs: str
    geometry: BaseGeometry
    warnings: list[IntakeWarning] = field(default_factory=list)


def parse_crs(name: str) -> str:
    """Parse a request's CRS name into ``EPSG:nnnn`` (or ``GCJ02``); unknown or refused names raise CrsUnknown."""
    return _parse_crs_cached(name.strip())


@lru_cache(maxsize=256)
def _parse_crs_cached(name: str) -> str:
    upper = name.upper().replace(" ", "")
    squashed = re.sub(r"[^A-Z0-9]", "", upper)
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    match = _EPSG_RE.match(upper)
    if match:
        return _checked_epsg(int(match.group(1)), name)
    gk = _GK_NAME_RE.match(re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_"))
    if gk:
        three_degree, zone, cm = gk.group(1) is not None, gk.group(2), gk.group(3)
        degrees = 3 if three_degree else 6
        zone_no = int(zone) if zone else _zone_from_cm(int(cm or 0), degrees)
        return gk_epsg(zone_no, degrees=degrees, prefixed=zone is not None)
    raise CrsUnknown(
        f"Unknown CRS {name!r}: give an EPSG code (EPSG:4490, EPSG:4528, ...), CGCS2000, WGS84 or GCJ02.",
        f"无法识别的坐标系 {name!r}：请给出 EPSG 代码（如 EPSG:4490、EPSG:4528）或 CGCS2000、WGS84、GCJ02。",
        details={"crs": name},
    )


def _zone_from_cm(cm: int, degrees: int) -> int:
    return cm // 3 if degrees == 3 else (cm + 3) // 6


def _checked_epsg(code: int, given: str) -> str:
    try:
        crs = CRS.from_epsg(code)
    except CRSError as exc:
        raise CrsUnknown(
            f"EPSG:{code} is not a known CRS ({exc}).", f"EPSG:{code} 不是已知的坐标系。", details={"crs": given}
        ) from exc
    if not (crs.is_geographic or crs.is_projected) or len(crs.axis_info) != 2:
        raise CrsUnknown(
            f"EPSG:{code} ({crs.name}) is not a 2D geographic or projected CRS.",
            f"EPSG:{code}（{crs.name}）不是二维地理或投影坐标系。",
            details={"crs": given},
        )
    datum = crs.datum.name if crs.datum is not None else ""
    if any(refused in datum for refused in _REFUSED_DATUMS):
        raise CrsUnknown(
            f"EPSG:{code} ({crs.name}) needs a local transformation-parameter set (转换参数) to reach CGCS2000; "
            "convert the coordinates to CGCS2000 first.",
            f"EPSG:{code}（{crs.name}）转换到 2000 国家大地坐标系需要当地的转换参数，请先将坐标转换为 CGCS2000。",
            details={"crs": given, "datum": datum},
        )
    return f"EPSG:{code}"


def gk_epsg(zone: int, *, degrees: int, prefixed: bool) -> str:
    """EPSG code of the CGCS2000 Gauss-Krüger CRS for a zone (3- or 6-degree, easting with or without prefix)."""
    if degrees == 3 and zone in ZONES_3_DEGREE:
        return f"EPSG:{(4488 if prefixed else 4509) + zone}"
    if degrees == 6 and zone in ZONES_6_DEGREE:
        return f"EPSG:{(4478 if prefixed else 4489) + zone}"
    raise CrsUnknown(
        f"Zone {zone} is not a {degrees}-degree Gauss-Krüger zone covering China "
        f"(3-degree zones 25–45, 6-degree zones 13–23).",
        f"带号 {zone} 不是覆盖中国的 {degrees} 度分带（3 度带 25–45，6 度带 13–23）。",
        details={"zone": zone, "degrees": degrees},
    )


def zone_degrees(zone: int) -> int | None:
    """Band width (3 or 6 degrees) implied by a zone number in China, or None when it is neither."""
    if zone in ZONES_3_DEGREE:
        return 3
    if zone in ZONES_6_DEGREE:
        return 6
    return None


@lru_cache(maxsize=256)
def crs_info(crs: str) -> CRS:
    """The pyproj CRS for an ``EPSG:nnnn`` string (cached)."""
    return CRS.from_user_input(crs)


def gk_zone_of(crs: str) -> tuple[int, bool] | None:
    """Zone number and whether eastings carry the prefix, for a CGCS2000 Gauss-Krüger EPSG code; else None."""
    code = int(crs.split(":")[1]) if crs.startswith("EPSG:") else 0
    if 4513 <= code <= 4533:
        return code - 4488, True
    if 4534 <= code <= 4554:
        return (code - 4509), False
    if 4491 <= code <= 4501:
        return code - 4478, True
    if 4502 <= code <= 4512:
        return code - 4489, False
    return None


def transform_coords(geometry: BaseGeometry, src: str, dst: str) -> BaseGeometry:
    """Transform a geometry between two CRS (no range checks: use transform_checked for inputs)."""
    result: BaseGeometry = transform_coords_many(np.array([geometry], dtype=object), src, dst)[0]
    return result


def transform_coords_many(geometries: NDArray[np.object_], src: str, dst: str) -> NDArray[np.object_]:
    """Transform an array of geometries with one call into PROJ (no range checks)."""
    if src == dst:
        return geometries
    forward = transformer(src, dst)

    def _apply(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = forward.transform(coords[:, 0], coords[:, 1], errcheck=False)
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geometries, _apply), dtype=object)


def swap_axes(geometry: BaseGeometry) -> BaseGeometry:
    """Swap the x and y of every coordinate."""
    return shapely.transform(geometry, lambda c: np.ascontiguousarray(c[:, ::-1]))


def _lonlat_of(coords: NDArray[np.float64], crs: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if crs == CGCS2000_GEOGRAPHIC:
        return coords[:, 0], coords[:, 1]
    lon, lat = transformer(crs, CGCS2000_GEOGRAPHIC).transform(coords[:, 0], coords[:, 1], errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _inside_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(lon)
            & np.isfinite(lat)
            & (lon >= CHINA_LON[0])
            & (lon <= CHINA_LON[1])
            & (lat >= CHINA_LAT[0])
            & (lat <= CHINA_LAT[1])
        )


def transform_checked(geometry: BaseGeometry, src: str, dst: str) -> BaseGeometry:
    """Transform source coordinates to the analysis CRS, refusing a wrong zone prefix, places outside China
    and non-finite results."""
    _check_gk_prefix(geometry, src)
    coords = shapely.get_coordinates(geometry)
    lon, lat = _lonlat_of(coords, src)
    bad = np.flatnonzero(~_inside_china(lon, lat))
    if bad.size:
        i = int(bad[0])
        raise CrsOutOfRange(
            f"Coordinate ({coords[i, 0]:.6f}, {coords[i, 1]:.6f}) read as {src} ({crs_info(src).name}) lies at "
            f"lon {lon[i]:.6f}, lat {lat[i]:.6f}: outside China ({CHINA_LON[0]}–{CHINA_LON[1]} E, "
            f"{CHINA_LAT[0]}–{CHINA_LAT[1]} N). Check the CRS, the zone or the axis order.",
            f"坐标 ({coords[i, 0]:.6f}, {coords[i, 1]:.6f}) 按 {src} 解读后位于经度 {lon[i]:.6f}、纬度 {lat[i]:.6f}，"
            "超出中国范围。请检查坐标系、带号或 X/Y 顺序。",
            location=_point_location(coords[i, 0], coords[i, 1], src) | {"vertex": i},
            details={"lon": _json_float(lon[i]), "lat": _json_float(lat[i]), "crs": src},
        )
    out = transform_coords(geometry, src, dst)
    out_coords = shapely.get_coordinates(out)
    bad = np.flatnonzero(~np.isfinite(out_coords).all(axis=1))
    if bad.size:
        i = int(bad[0])
        raise CrsOutOfRange(
            f"Coordinate ({coords[i, 0]:.6f}, {coords[i, 1]:.6f}) in {src} has no finite position in {dst}.",
            f"坐标 ({coords[i, 0]:.6f}, {coords[i, 1]:.6f}) 无法转换到 {dst}（结果非有限数）。",
            location=_point_location(coords[i, 0], coords[i, 1], src) | {"vertex": i},
        )
    return out


def _json_float(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)


def _point_location(x: float, y: float, crs: str) -> dict[str, object]:
    return {"x": _json_float(float(x)), "y": _json_float(float(y)), "crs": crs}


def resolve_source_crs(
    geometry: BaseGeometry,
    *,
    explicit: str | None,
    declared: str | None,
    zone: int | None,
    allow_detection: bool = True,
) -> ResolvedCrs:
    """Decide the source CRS (request, then file, then detection), fix swapped axes and convert GCJ-02."""
    warnings: list[IntakeWarning] = []
    if explicit and declared and explicit != declared:
        warnings.append(
            IntakeWarning(
                "CRS_OVERRIDDEN",
                f"The file declares {declared}; the coordinates were read as {explicit} as requested.",
                f"文件声明的坐标系为 {declared}，已按请求的 {explicit} 解读坐标。",
            )
        )
    crs = explicit or declared
    if crs is None:
        if not allow_detection:
            raise CrsUnknown(
                "This format carries no CRS: pass crs= (e.g. EPSG:4490) or use EWKT (SRID=4490;POLYGON(...)).",
                "该格式不含坐标系信息：请传入 crs 参数（如 EPSG:4490），或使用 EWKT（SRID=4490;POLYGON(...)）。",
            )
        resolved = detect_crs(geometry, zone=zone)
        resolved.warnings[:0] = warnings
        return resolved
    if crs == GCJ02:
        geometry, swapped = _fix_axes(geometry, WGS84_GEOGRAPHIC)
        warnings += swapped
        geometry = shapely.transform(geometry, lambda c: np.column_stack(gcj02_to_wgs84(c[:, 0], c[:, 1])))
        warnings.append(
            IntakeWarning(
                "GCJ02_CONVERTED",
                "Coordinates were declared GCJ-02 (Amap/Tencent web maps) and converted to WGS84 "
                "(offset of a few hundred metres removed).",
                "坐标声明为 GCJ-02（高德/腾讯地图），已转换为 WGS84（消除约数百米的偏移）。",
            )
        )
        return ResolvedCrs(WGS84_GEOGRAPHIC, geometry, warnings)
    geometry, swapped = _fix_axes(geometry, crs)
    return ResolvedCrs(crs, geometry, warnings + swapped)


def _fix_axes(geometry: BaseGeometry, crs: str) -> tuple[BaseGeometry, list[IntakeWarning]]:
    """Swap x/y when only the swapped order lands in China (the order as given is kept when both or neither do)."""
    xmin, ymin, xmax, ymax = shapely.total_bounds(geometry)
    corners = np.array([[xmin, ymin], [xmax, ymax], [xmin, ymax], [xmax, ymin]], dtype=float)
    if _inside_china(*_lonlat_of(corners, crs)).all():
        return geometry, []
    if _inside_china(*_lonlat_of(np.ascontiguousarray(corners[:, ::-1]), crs)).all():
        return swap_axes(geometry), [_axes_warning(crs)]
    return geometry, []


def _axes_warning(crs: str) -> IntakeWarning:
    return IntakeWarning(
        "AXES_SWAPPED",
        f"The coordinates were given as northing/latitude first; they were swapped to x=easting/longitude for {crs}.",
        f"坐标按 北/纬度 在前给出，已交换为 东/经度 在前（{crs}）。",
    )


def _check_gk_prefix(geometry: BaseGeometry, crs: str) -> None:
    """Refuse eastings whose zone prefix does not match a Gauss-Krüger CRS (a wrong zone moves the site far away)."""
    zone_info = gk_zone_of(crs)
    if zone_info is None:
        return
    zone, prefixed = zone_info
    xmin, _, xmax, _ = shapely.total_bounds(geometry)
    prefixes = {math.floor(xmin / 1e6), math.floor(xmax / 1e6)}
    expected = {zone} if prefixed else {0}
    if prefixes != expected:
        seen = ", ".join(str(p) for p in sorted(prefixes))
        raise CrsOutOfRange(
            f"Eastings run from {xmin:.3f} to {xmax:.3f} (leading zone digits {seen}) but {crs} "
            f"({crs_info(crs).name}) expects "
            + (f"the zone prefix {zone}." if prefixed else "eastings without a zone prefix (below 1 000 000)."),
            f"东坐标范围 {xmin:.3f}–{xmax:.3f} 与 {crs}（{crs_info(crs).name}）不符："
            + (f"应带带号前缀 {zone}。" if prefixed else "应为不带带号的东坐标（小于 1 000 000）。"),
            location={"x": float(xmin), "crs": crs},
        )


def detect_crs(geometry: BaseGeometry, *, zone: int | None = None) -> ResolvedCrs:
    """Guess the CRS from coordinate ranges: lon/lat → CGCS2000, prefixed or zoned Gauss-Krüger; fix swapped axes."""
    bounds = shapely.total_bounds(geometry)
    if _is_lonlat(bounds):
        return ResolvedCrs(CGCS2000_GEOGRAPHIC, geometry)
    swapped_bounds = bounds[[1, 0, 3, 2]]
    if _is_lonlat(swapped_bounds):
        return ResolvedCrs(CGCS2000_GEOGRAPHIC, swap_axes(geometry), [_axes_warning(CGCS2000_GEOGRAPHIC)])
    crs = _gk_from_bounds(bounds, zone)
    if crs is not None:
        return ResolvedCrs(crs, geometry, [_detected_warning(crs)])
    crs = _gk_from_bounds(swapped_bounds, zone)
    if crs is not None:
        return ResolvedCrs(crs, swap_axes(geometry), [_axes_warning(crs), _detected_warning(crs)])
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    unprefixed = _within(xmin, xmax, _GK_EASTING) or _within(ymin, ymax, _GK_EASTING)
    hint = (
        "The eastings carry no zone prefix: pass zone= (带号) or crs= (EPSG code)."
        if unprefixed
        else ("Pass crs= (EPSG code).")
    )
    raise CrsUnknown(
        f"Cannot tell the CRS from the coordinates (x {xmin:.6f}…{xmax:.6f}, y {ymin:.6f}…{ymax:.6f}): "
        f"they are neither lon/lat in China nor Gauss-Krüger with a zone prefix. {hint}",
        f"无法根据坐标判断坐标系（x {xmin:.6f}…{xmax:.6f}，y {ymin:.6f}…{ymax:.6f}）：既不是中国范围内的经纬度，"
        "也不是带带号前缀的高斯-克吕格坐标。"
        + (
            "东坐标不带带号前缀，请传入 zone（带号）或 crs（EPSG 代码）。"
            if unprefixed
            else "请传入 crs（EPSG 代码）。"
        ),
        details={"bounds": [xmin, ymin, xmax, ymax]},
    )


def _within(lo: float, hi: float, rng: tuple[float, float]) -> bool:
    return rng[0] <= lo and hi <= rng[1]


def _is_lonlat(bounds: NDArray[np.float64]) -> bool:
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    return _within(xmin, xmax, _DETECT_LON) and _within(ymin, ymax, _DETECT_LAT)


def _gk_from_bounds(bounds: NDArray[np.float64], zone: int | None) -> str | None:
    """EPSG of a Gauss-Krüger CRS that fits x=easting, y=northing bounds, or None."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    if not _within(ymin, ymax, _GK_NORTHING):
        return None
    prefix_lo, prefix_hi = math.floor(xmin / 1e6), math.floor(xmax / 1e6)
    if prefix_lo == prefix_hi and zone_degrees(prefix_lo) is not None:
        in_zone = (xmin - prefix_lo * 1e6, xmax - prefix_lo * 1e6)
        if not _within(*in_zone, _GK_EASTING):
            return None
        if zone is not None and zone != prefix_lo:
            raise ParameterInvalid(
                f"zone={zone} was given but the eastings carry the zone prefix {prefix_lo}.",
                f"请求的带号为 {zone}，但东坐标的带号前缀为 {prefix_lo}。",
                details={"zone": zone, "prefix": prefix_lo},
            )
        return gk_epsg(prefix_lo, degrees=zone_degrees(prefix_lo) or 3, prefixed=True)
    if zone is not None and _within(xmin, xmax, _GK_EASTING):
        return gk_epsg(zone, degrees=zone_degrees(zone) or 3, prefixed=False)
    return None


def _detected_warning(crs: str) -> IntakeWarning:
    name = crs_info(crs).name
    return IntakeWarning(
        "CRS_DETECTED",
        f"No CRS was declared; the coordinates were read as {crs} ({name}) from their ranges.",
        f"未声明坐标系；已根据坐标范围按 {crs}（{name}）解读。",
    )


# --- GCJ-02 ------------------------------------------------------------------------------------------
# The public "Mars coordinates" formula (Krasovsky ellipsoid constants as used by the published algorithm).
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _gcj_delta(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Apply the GCJ-02 offset to WGS84 lon/lat (degrees)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Remove the GCJ-02 offset by fixed-point iteration (converges to far below 1 mm in a few steps)."""
    g_lon, g_lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(30):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        with np.errstate(invalid="ignore"):
            if not (np.nanmax(np.abs(e_lon), initial=0.0) > 1e-10 or np.nanmax(np.abs(e_lat), initial=0.0) > 1e-10):
                break
    return w_lon, w_lat
