"""Area figures: planar, ellipsoidal (CGCS2000/GRS80), 公顷 and 亩."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.polygon import orient

from sitecheck.areas import (
    MU_PER_M2,
    area_figures,
    ellipsoidal_area_m2,
    hectares,
    mu,
    planar_area_m2,
)
from sitecheck.intake import read_site
from sitecheck.intake.crs import transform_coords

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"


def test_unit_conversions() -> None:
    """1 公顷 = 10 000 m², 1 亩 = 2000/3 m², rounded to 4 and 2 decimals by default."""
    assert MU_PER_M2 == 3 / 2000
    assert hectares(12_345.678) == 1.2346
    assert hectares(12_345.678, ndigits=None) == pytest.approx(1.2345678)
    assert mu(2000 / 3) == 1.0
    assert mu(10_000) == 15.0
    assert mu(1_000, ndigits=None) == pytest.approx(1.5)


def test_planar_area_of_a_square() -> None:
    """A 100 m square in a metre CRS is 10 000 m²."""
    assert planar_area_m2(box(40520000, 3353000, 40520100, 3353100)) == pytest.approx(10_000.0)


def test_hangzhou_ellipsoidal_area() -> None:
    """The Hangzhou sample's ellipsoidal area on GRS80 is 57 088.9 ± 0.5 m² (hand-checked figure)."""
    site = read_site((SAMPLES / "hangzhou_pengbu_BR14.txt").read_bytes())
    assert ellipsoidal_area_m2(site.geometry, "EPSG:4528") == pytest.approx(57_088.9, abs=0.5)


def test_ellipsoidal_area_is_the_same_from_any_crs() -> None:
    """The same site given in EPSG:4528 and in CGCS2000 lon/lat has the same ellipsoidal area."""
    square = box(40520000, 3353000, 40520100, 3353100)
    lonlat = transform_coords(square, "EPSG:4528", "EPSG:4490")
    assert ellipsoidal_area_m2(lonlat, "EPSG:4490") == pytest.approx(ellipsoidal_area_m2(square, "EPSG:4528"))


def test_ellipsoidal_area_ignores_orientation_and_subtracts_holes() -> None:
    """Either ring orientation gives the same area; a hole is subtracted, a second part added."""
    outer = Polygon(
        box(40520000, 3353000, 40520100, 3353100).exterior, [box(40520025, 3353025, 40520075, 3353075).exterior]
    )
    other = box(40521000, 3353000, 40521050, 3353050)
    area = ellipsoidal_area_m2(outer, "EPSG:4528")
    assert ellipsoidal_area_m2(orient(outer, -1.0), "EPSG:4528") == pytest.approx(area)
    assert ellipsoidal_area_m2(orient(outer, 1.0), "EPSG:4528") == pytest.approx(area)
    whole = ellipsoidal_area_m2(box(40520000, 3353000, 40520100, 3353100), "EPSG:4528")
    hole = ellipsoidal_area_m2(box(40520025, 3353025, 40520075, 3353075), "EPSG:4528")
    assert area == pytest.approx(whole - hole)
    both = ellipsoidal_area_m2(MultiPolygon([outer, other]), "EPSG:4528")
    assert both == pytest.approx(area + ellipsoidal_area_m2(other, "EPSG:4528"))
    # Near the central meridian the Gauss-Krüger scale is close to 1: planar and ellipsoidal agree to 0.1 %.
    assert area == pytest.approx(outer.area, rel=1e-3)


def test_area_figures_for_the_hangzhou_sample() -> None:
    """area_figures gives m² (4 decimals), 公顷 (4) and 亩 (2), planar and ellipsoidal."""
    site = read_site((SAMPLES / "hangzhou_pengbu_BR14.txt").read_bytes())
    figures = area_figures(site.geometry, site.analysis_crs)
    assert figures == {
        "area_m2": 57_089.5009,
        "area_ha": 5.709,
        "area_mu": 85.63,
        "ellipsoidal_area_m2": 57_088.8894,
        "ellipsoidal_area_ha": 5.7089,
        "ellipsoidal_area_mu": 85.63,
    }


def test_area_of_empty_geometry_is_zero() -> None:
    """An empty polygon has zero planar and ellipsoidal area."""
    assert ellipsoidal_area_m2(Polygon(), "EPSG:4528") == 0.0
    assert planar_area_m2(shapely.Polygon()) == 0.0


@pytest.mark.parametrize("easting_offset_m", [0, 120_000, -150_000])
def test_scale_factor_area_matches_the_geodesic_polygon_area(easting_offset_m: int) -> None:
    """The projected-CRS shortcut (planar area over the areal scale at the centroid) agrees with the geodesic
    area of the polygon's vertices transformed to lon/lat, to 1e-8 relative, near and far from the meridian."""
    shapes = [
        box(40495000, 3520000, 40496000, 3520800),
        shapely.affinity.rotate(box(40490000, 3515000, 40490300, 3518000), 33),
        Polygon(
            [(40500000, 3530000), (40501000, 3530000), (40501000, 3531000), (40500000, 3531000)],
            [[(40500200, 3530200), (40500600, 3530200), (40500600, 3530600), (40500200, 3530600)]],
        ),
        MultiPolygon([box(40480000, 3500000, 40480500, 3500500), box(40482000, 3501000, 40482100, 3501900)]),
    ]
    for shape in shapes:
        moved = shapely.affinity.translate(shape, easting_offset_m, 0)
        geodesic = ellipsoidal_area_m2(transform_coords(moved, "EPSG:4528", "EPSG:4490"), "EPSG:4490")
        assert ellipsoidal_area_m2(moved, "EPSG:4528") == pytest.approx(geodesic, rel=1e-8)
