"""Area figures for sites and overlaps: planar in the analysis CRS and ellipsoidal on CGCS2000 (GRS80).

Pure Shapely/pyproj so that both store engines report the same numbers. 1 公顷 = 10 000 m², 1 亩 = 2000/3 m².
"""

from __future__ import annotations

from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.intake.crs import CGCS2000_GEOGRAPHIC, transform_coords

MU_PER_M2 = 3 / 2000
M2_PER_HA = 10_000
_GRS80 = Geod(ellps="GRS80")


def hectares(area_m2: float, ndigits: int | None = 4) -> float:
    """Square metres to 公顷 (hectares), rounded to 4 decimals unless ndigits says otherwise."""
    value = area_m2 / M2_PER_HA
    return value if ndigits is None else round(value, ndigits)


def mu(area_m2: float, ndigits: int | None = 2) -> float:
    """Square metres to 亩 (1 亩 = 2000/3 m²), rounded to 2 decimals unless ndigits says otherwise."""
    value = area_m2 * MU_PER_M2
    return value if ndigits is None else round(value, ndigits)


def planar_area_m2(geometry: BaseGeometry) -> float:
    """Planar area of a geometry whose CRS is projected in metres (the analysis CRS), in m²."""
    return float(geometry.area)


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon) or hasattr(geometry, "geoms"):
        return [p for g in getattr(geometry, "geoms", []) for p in _polygons(g)]
    return []


def ellipsoidal_area_m2(geometry: BaseGeometry, crs: str) -> float:
    """Area on the CGCS2000 ellipsoid (GRS80) in m², what land surveys report (椭球面积); crs is the geometry's."""
    lonlat = transform_coords(geometry, crs, CGCS2000_GEOGRAPHIC)
    total = 0.0
    for polygon in _polygons(lonlat):
        if polygon.is_empty:
            continue
        # Ring areas are signed by orientation; taking magnitudes makes the result independent of it.
        total += abs(_GRS80.polygon_area_perimeter(*polygon.exterior.xy)[0])
        total -= sum(abs(_GRS80.polygon_area_perimeter(*hole.xy)[0]) for hole in polygon.interiors)
    return total


def area_figures(geometry: BaseGeometry, crs: str) -> dict[str, float]:
    """Planar (analysis CRS) and ellipsoidal areas in m² (2 decimals), 公顷 (4) and 亩 (2)."""
    planar = planar_area_m2(geometry)
    ellipsoidal = ellipsoidal_area_m2(geometry, crs)
    return {
        "area_m2": round(planar, 2),
        "area_ha": hectares(planar),
        "area_mu": mu(planar),
        "ellipsoidal_area_m2": round(ellipsoidal, 2),
        "ellipsoidal_area_ha": hectares(ellipsoidal),
        "ellipsoidal_area_mu": mu(ellipsoidal),
    }
