"""CRS names, detection from coordinates, swapped axes, GCJ-02 and range-checked transforms."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS, Geod
from shapely.geometry import Polygon, box

from sitecheck.errors import SitecheckError
from sitecheck.intake import read_site_geometry
from sitecheck.intake.crs import (
    detect_crs,
    gcj02_to_wgs84,
    gk_epsg,
    parse_crs,
    resolve_source_crs,
    transform_checked,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="GRS80")


def _error(call: object, *args: object, **kwargs: object) -> SitecheckError:
    with pytest.raises(SitecheckError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EPSG:4528", "EPSG:4528"),
        (" epsg:4490 ", "EPSG:4490"),
        ("4326", "EPSG:4326"),
        ("urn:ogc:def:crs:EPSG::4490", "EPSG:4490"),
        ("http://www.opengis.net/def/crs/EPSG/0/4528", "EPSG:4528"),
        ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326"),
        ("WGS84", "EPSG:4326"),
        ("WGS 84", "EPSG:4326"),
        ("CGCS2000", "EPSG:4490"),
        ("GCJ-02", "GCJ02"),
        ("gcj02", "GCJ02"),
        ("CGCS2000_3_DEGREE_GK_ZONE_40", "EPSG:4528"),
        ("CGCS2000 / 3-degree Gauss-Kruger zone 40", "EPSG:4528"),
        ("CGCS2000 / 3-degree Gauss-Kruger CM 120E", "EPSG:4549"),
        ("CGCS2000 / Gauss-Kruger zone 20", "EPSG:4498"),
        ("CGCS2000 / Gauss-Kruger CM 117E", "EPSG:4509"),
    ],
)
def test_parse_crs_names(name: str, expected: str) -> None:
    """Accepted CRS spellings map to one EPSG string (or GCJ02)."""
    assert parse_crs(name) == expected


@pytest.mark.parametrize("name", ["Mars", "EPSG:999999", "EPSG:2385", "EPSG:4214", "EPSG:5773", "+proj=longlat"])
def test_parse_crs_refuses_unknown_and_old_datums(name: str) -> None:
    """Unknown names, unknown codes, Xian 1980 / Beijing 1954 and non-2D CRS are CRS_UNKNOWN."""
    assert _error(parse_crs, name).code == "CRS_UNKNOWN"


@pytest.mark.parametrize(
    ("zone", "degrees", "prefixed", "code", "name_part"),
    [
        (25, 3, True, 4513, "3-degree Gauss-Kruger zone 25"),
        (40, 3, True, 4528, "3-degree Gauss-Kruger zone 40"),
        (45, 3, True, 4533, "3-degree Gauss-Kruger zone 45"),
        (25, 3, False, 4534, "3-degree Gauss-Kruger CM 75E"),
        (40, 3, False, 4549, "3-degree Gauss-Kruger CM 120E"),
        (45, 3, False, 4554, "3-degree Gauss-Kruger CM 135E"),
        (13, 6, True, 4491, "Gauss-Kruger zone 13"),
        (23, 6, True, 4501, "Gauss-Kruger zone 23"),
        (13, 6, False, 4502, "Gauss-Kruger CM 75E"),
        (23, 6, False, 4512, "Gauss-Kruger CM 135E"),
    ],
)
def test_gk_epsg_table_matches_pyproj(zone: int, degrees: int, prefixed: bool, code: int, name_part: str) -> None:
    """The zone → EPSG arithmetic agrees with the EPSG registry's names."""
    assert gk_epsg(zone, degrees=degrees, prefixed=prefixed) == f"EPSG:{code}"
    assert CRS.from_epsg(code).name.endswith(name_part)


def test_gk_epsg_refuses_zones_outside_china() -> None:
    """A 3-degree zone 20 does not cover China: CRS_UNKNOWN."""
    assert _error(gk_epsg, 20, degrees=3, prefixed=True).code == "CRS_UNKNOWN"


def test_detect_lonlat_as_cgcs2000() -> None:
    """Lon/lat in China's ranges is CGCS2000 geographic, silently."""
    resolved = detect_crs(box(120.2, 30.3, 120.21, 30.31))
    assert (resolved.crs, resolved.warnings) == ("EPSG:4490", [])


def test_detect_swapped_latlon() -> None:
    """Lat/lon order is detected, swapped and reported."""
    resolved = detect_crs(box(30.3, 120.2, 30.31, 120.21))
    assert resolved.crs == "EPSG:4490"
    assert [w.code for w in resolved.warnings] == ["AXES_SWAPPED"]
    assert resolved.geometry.bounds == pytest.approx((120.2, 30.3, 120.21, 30.31))


def test_detect_prefixed_gauss_kruger() -> None:
    """An 8-digit easting with prefix 40 is 3-degree zone 40 with prefix (EPSG:4528), reported as detected."""
    resolved = detect_crs(box(40520000, 3353000, 40520100, 3353100))
    assert resolved.crs == "EPSG:4528"
    assert [w.code for w in resolved.warnings] == ["CRS_DETECTED"]


def test_detect_swapped_gauss_kruger() -> None:
    """Northing first (survey order) with a prefixed easting second is swapped and reported."""
    resolved = detect_crs(box(3353000, 40520000, 3353100, 40520100))
    assert resolved.crs == "EPSG:4528"
    assert [w.code for w in resolved.warnings] == ["AXES_SWAPPED", "CRS_DETECTED"]
    assert resolved.geometry.bounds[0] == 40520000


def test_detect_six_degree_prefix() -> None:
    """Prefix 20 (13–23) is a 6-degree zone: EPSG:4498."""
    assert detect_crs(box(20500000, 3520000, 20500100, 3520100)).crs == "EPSG:4498"


def test_detect_unprefixed_needs_zone() -> None:
    """A 6-digit easting without prefix is CRS_UNKNOWN unless zone= is given (then EPSG:4549)."""
    geometry = box(520000, 3353000, 520100, 3353100)
    error = _error(detect_crs, geometry)
    assert error.code == "CRS_UNKNOWN"
    assert "zone" in error.message_en
    assert detect_crs(geometry, zone=40).crs == "EPSG:4549"


def test_detect_zone_contradicting_prefix() -> None:
    """zone=39 with eastings carrying prefix 40 is PARAM_INVALID."""
    assert _error(detect_crs, box(40520000, 3353000, 40520100, 3353100), zone=39).code == "PARAM_INVALID"


def test_detect_nonsense_is_crs_unknown() -> None:
    """Coordinates that fit no rule are CRS_UNKNOWN naming their ranges."""
    error = _error(detect_crs, box(1, 2, 3, 4))
    assert error.code == "CRS_UNKNOWN"
    assert error.details["bounds"] == [1.0, 2.0, 3.0, 4.0]


def test_declared_crs_with_swapped_axes_is_fixed() -> None:
    """A declared EPSG:4528 with northing-first coordinates is swapped (only that order lands in China)."""
    resolved = resolve_source_crs(
        box(3353000, 40520000, 3353100, 40520100), explicit="EPSG:4528", declared=None, zone=None
    )
    assert resolved.crs == "EPSG:4528"
    assert [w.code for w in resolved.warnings] == ["AXES_SWAPPED"]


def test_declared_zone_contradicting_prefix_is_out_of_range() -> None:
    """Eastings with prefix 40 declared as zone 38 (EPSG:4526) are CRS_OUT_OF_RANGE, not moved 600 km west."""
    error = _error(transform_checked, box(40520000, 3353000, 40520100, 3353100), "EPSG:4526", "EPSG:4528")
    assert error.code == "CRS_OUT_OF_RANGE"


def test_transform_outside_china_is_refused_with_first_coordinate() -> None:
    """A lon/lat site in Europe is CRS_OUT_OF_RANGE naming the first bad coordinate and the CRS."""
    error = _error(transform_checked, box(10.0, 50.0, 10.01, 50.01), "EPSG:4326", "EPSG:4528")
    assert error.code == "CRS_OUT_OF_RANGE"
    assert error.location == {"x": 10.01, "y": 50.0, "crs": "EPSG:4326", "vertex": 0}


def test_unprefixed_coordinates_declared_prefixed_are_refused() -> None:
    """An upload in EPSG:4528 whose eastings lack the prefix is refused (it would be thousands of km away)."""
    error = _error(
        read_site_geometry,
        {
            "type": "Polygon",
            "coordinates": [[[520000, 3353000], [520100, 3353000], [520100, 3353100], [520000, 3353000]]],
        },
        crs="EPSG:4528",
    )
    assert error.code == "CRS_OUT_OF_RANGE"


def test_gcj02_offset_is_hundreds_of_metres_in_beijing() -> None:
    """The forward GCJ-02 offset near Tiananmen is a few hundred metres, as web maps show."""
    lon, lat = wgs84_to_gcj02(np.array([116.3912]), np.array([39.9073]))
    distance = GEOD.inv(116.3912, 39.9073, float(lon[0]), float(lat[0]))[2]
    assert 100.0 < distance < 700.0


def test_gcj02_inverse_is_accurate_to_far_below_half_a_metre() -> None:
    """gcj02_to_wgs84 undoes wgs84_to_gcj02 to < 1 cm across China."""
    lon = np.linspace(74.0, 134.0, 61)
    lat = np.linspace(4.0, 53.0, 61)
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    errors = GEOD.inv(lon, lat, back_lon, back_lat)[2]
    assert float(np.max(errors)) < 0.01


def test_gcj02_request_is_converted_and_reported() -> None:
    """crs=GCJ02 removes the offset (site moves by the GCJ shift) and warns GCJ02_CONVERTED."""
    ring = [[116.39, 39.90], [116.391, 39.90], [116.391, 39.901], [116.39, 39.901], [116.39, 39.90]]
    body = {"type": "Polygon", "coordinates": [ring]}
    converted = read_site_geometry(body, crs="GCJ02", analysis_crs="EPSG:4527")
    plain = read_site_geometry(body, crs="WGS84", analysis_crs="EPSG:4527")
    assert converted.source_crs == "EPSG:4326"
    assert [w.code for w in converted.warnings] == ["GCJ02_CONVERTED"]
    shift = converted.geometry.centroid.distance(plain.geometry.centroid)
    assert 100.0 < shift < 700.0
    assert converted.geometry.area == pytest.approx(plain.geometry.area, rel=1e-3)


def test_explicit_wgs84_and_default_cgcs2000_agree_within_a_metre() -> None:
    """Treating lon/lat as CGCS2000 instead of WGS84 moves the site by less than 1 m (documented choice)."""
    body = {"type": "Polygon", "coordinates": [[[120.2, 30.3], [120.21, 30.3], [120.21, 30.31], [120.2, 30.3]]]}
    as_wgs = read_site_geometry(body, crs="WGS84").geometry
    as_cgcs = read_site_geometry(body).geometry
    assert isinstance(as_wgs, Polygon)
    assert as_wgs.centroid.distance(as_cgcs.centroid) < 1.0
