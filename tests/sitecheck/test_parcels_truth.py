"""Independent answers for the parcel tests, computed with GeoPandas/Shapely straight from the sample GeoPackages.

The other parcel test modules import ``truth`` from here; the tests below pin the documented fixtures in it.
"""

from __future__ import annotations

from functools import cache

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from sitecheck.settings import SAMPLE_CITY_DIR

MU_M2 = 2000 / 3


@cache
def layer(key: str) -> gpd.GeoDataFrame:
    """A sample layer as committed."""
    return pyogrio.read_dataframe(SAMPLE_CITY_DIR / f"{key}.gpkg", layer=key)


def _significant_parts(geometry: shapely.Geometry) -> bool:
    """True when a geometry has a polygon part of at least 1 m² and mean width (2A/P) of at least 0.1 m."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
    return any(p.area >= 1.0 and 2 * p.area / p.length >= 0.1 for p in parts)


@cache
def truth() -> gpd.GeoDataFrame:
    """Every parcel with its area, district (largest share), distance to the nearest stop, clean and zone flags."""
    parcels = layer("parcels").copy()
    geoms = parcels.geometry.values
    eco = shapely.union_all(layer("eco_redline").geometry.values)
    farm = shapely.union_all(layer("farmland").geometry.values)
    dev = shapely.union_all(layer("dev_boundary").geometry.values)
    zone = shapely.union_all(layer("industrial_zone").geometry.values)
    districts = layer("districts")
    shares = np.stack([shapely.area(shapely.intersection(geoms, d)) for d in districts.geometry.values], axis=1)
    best = shares.argmax(axis=1)
    transit = layer("transit")
    stops = transit[transit.geom_type == "Point"].geometry.values
    parcels["area_m2"] = shapely.area(geoms)
    parcels["district_code"] = districts["XZQDM"].to_numpy()[best]
    parcels["district_name"] = districts["XZQMC"].to_numpy()[best]
    parcels["stop_m"] = [float(shapely.distance(g, stops).min()) for g in geoms]
    parcels["clean"] = (
        (shapely.area(shapely.intersection(geoms, eco)) == 0)
        & (shapely.area(shapely.intersection(geoms, farm)) == 0)
        & shapely.covers(dev, geoms)
    )
    parcels["in_zone"] = [not _significant_parts(g.difference(zone)) for g in geoms]
    return parcels.set_index("地块编号", drop=False)


def to_lonlat(geometry: shapely.Geometry) -> shapely.Geometry:
    """A geometry from EPSG:4528 to CGCS2000 lon/lat (EPSG:4490) with pyproj."""
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4528", "EPSG:4490", always_xy=True)
    return shapely.transform(geometry, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])))


def from_lonlat(geometry: shapely.Geometry) -> shapely.Geometry:
    """A geometry from CGCS2000 lon/lat back to EPSG:4528."""
    from pyproj import Transformer

    transformer = Transformer.from_crs("EPSG:4490", "EPSG:4528", always_xy=True)
    return shapely.transform(geometry, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1])))


def test_truth_holds_the_documented_fixtures() -> None:
    """FX-CLEAN-01 and FX-WH-01 are clean in 990105 高新区; the others each break one documented rule."""
    table = truth()
    fixtures = table.loc[["FX-CLEAN-01", "FX-WH-01", "FX-FARM-01", "FX-DEV-01", "FX-ECO-01", "FX-SLIVER-01"]]
    assert fixtures["clean"].tolist() == [True, True, False, False, False, False]
    assert set(fixtures["district_code"]) == {"990105"}
    assert fixtures.loc["FX-CLEAN-01", "area_m2"] == 120_000.0 and fixtures.loc["FX-WH-01", "area_m2"] == 200_000.0
    assert fixtures.loc["FX-CLEAN-01", "stop_m"] == np.hypot(400.0, 500.0)  # to FX-ST-01 (40 511 000, 3 525 000)
    assert fixtures.loc["FX-WH-01", "stop_m"] == 0.0
