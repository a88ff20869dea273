"""Area figures for sites and overlaps: planar in the analysis CRS and ellipsoidal on CGCS2000 (GRS80).

Pure Shapely/pyproj so that both store engines report the same numbers. 1 公顷 = 10 000 m², 1 亩 = 2000/3 m².
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import shapely
from pyproj import CRS, Geod, Proj, Transformer
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.intake.crs import CGCS2000_GEOGRAPHIC, transform_coords_many
from sitecheck.projection import transformer

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
    return ellipsoidal_areas_m2([geometry], crs)[0]


def ellipsoidal_areas_m2(geometries: Sequence[BaseGeometry], crs: str) -> list[float]:
    """Ellipsoidal areas of several geometries at once (a check measures dozens).

    In a projected CRS the planar area is divided by the projection's areal scale factor at the geometry's
    centroid: one coordinate transformation per geometry instead of one per vertex. The scale of a
    Gauss-Krüger projection changes so slowly that the centroid's value stands for each polygon part: on the
    city-scale sites (1-100 ha, up to 150 km off the central meridian) this agrees with the geodesic area of
    the transformed polygon to 5e-9 relative (docs/checks.md). Lon/lat input uses the geodesic area directly.
    """
    areas = np.zeros(len(geometries))
    chosen = np.asarray(geometries, dtype=object).reshape(-1)
    present = ~shapely.is_empty(chosen) if len(chosen) else np.zeros(0, dtype=bool)
    if present.any():
        projection = _projection(crs)
        if projection is None:
            lonlat = transform_coords_many(chosen[present], crs, CGCS2000_GEOGRAPHIC)
            areas[present] = [_geodesic_area(geometry) for geometry in lonlat]
        else:
            proj, to_lonlat = projection
            parts, owner = shapely.get_parts(chosen[present], return_index=True)
            measurable = shapely.area(parts) > 0  # lines and points of a collection, empty parts
            parts, owner = parts[measurable], owner[measurable]
            centroids = shapely.get_coordinates(shapely.centroid(parts))
            lon, lat = to_lonlat.transform(centroids[:, 0], centroids[:, 1], errcheck=True)
            scale = np.asarray(proj.get_factors(lon, lat, errcheck=True).areal_scale, dtype=float)
            areas[present] = np.bincount(owner, shapely.area(parts) / scale, minlength=int(present.sum()))
    return [float(a) for a in areas]


@functools.lru_cache(maxsize=16)
def _projection(crs: str) -> tuple[Proj, Transformer] | None:
    """The projection and its lon/lat transformer for a projected CRS; None for a geographic one."""
    parsed = CRS.from_user_input(crs)
    if not parsed.is_projected:
        return None
    geodetic = parsed.geodetic_crs
    assert geodetic is not None, "a projected CRS has a geodetic CRS"
    return Proj(parsed), transformer(crs, geodetic.to_string())


def _geodesic_area(geometry: BaseGeometry) -> float:
    """Geodesic area of a lon/lat polygonal geometry: outer rings minus holes, independent of orientation."""
    total = 0.0
    for polygon in _polygons(geometry):
        if polygon.is_empty:
            continue
        ring = shapely.get_coordinates(polygon.exterior)
        total += abs(_GRS80.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0])
        for hole in polygon.interiors:
            ring = shapely.get_coordinates(hole)
            total -= abs(_GRS80.polygon_area_perimeter(ring[:, 0], ring[:, 1])[0])
    return total


def area_figures(geometry: BaseGeometry, crs: str) -> dict[str, float]:
    """Planar (analysis CRS) and ellipsoidal areas in m², 公顷 (4 decimals) and 亩 (2 decimals)."""
    return area_figures_many([geometry], crs)[0]


def area_figures_many(geometries: Sequence[BaseGeometry], crs: str) -> list[dict[str, float]]:
    """Area figures of several geometries; m² keep 4 decimals so that engines compare to 1e-6 relative."""
    ellipsoidal = ellipsoidal_areas_m2(geometries, crs)
    figures = []
    for geometry, ellipsoid in zip(geometries, ellipsoidal, strict=True):
        planar = planar_area_m2(geometry)
        figures.append(
            {
                "area_m2": round(planar, 4),
                "area_ha": hectares(planar),
                "area_mu": mu(planar),
                "ellipsoidal_area_m2": round(ellipsoid, 4),
                "ellipsoidal_area_ha": hectares(ellipsoid),
                "ellipsoidal_area_mu": mu(ellipsoid),
            }
        )
    return figures
