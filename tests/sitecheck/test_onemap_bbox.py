"""Bounding boxes and CRS names of one-map requests: parsing, refusals, and the transform into the analysis CRS."""

from __future__ import annotations

import pytest
import shapely
from pyproj import Transformer

from sitecheck.errors import ParameterInvalid
from sitecheck.onemap.bbox import CRS84, bbox_area, parse_bbox, resolve_crs, to_crs84_bounds

ANALYSIS = "EPSG:4528"


def test_parse_bbox_accepts_four_or_six_numbers() -> None:
    """Four numbers, or six with heights (which are ignored), become ordered bounds."""
    assert parse_bbox("120.1, 31.8,120.2,31.9") == (120.1, 31.8, 120.2, 31.9)
    assert parse_bbox("120.1,31.8,0,120.2,31.9,100") == (120.1, 31.8, 120.2, 31.9)


@pytest.mark.parametrize("text", ["", "1,2,3", "a,b,c,d", "1,2,3,4,5", "nan,1,2,3", "1,2,inf,4", "3,1,2,4", "1,4,2,4"])
def test_parse_bbox_refuses_malformed_empty_or_inverted(text: str) -> None:
    """Anything but four finite numbers with min < max is PARAM_INVALID naming the parameter."""
    with pytest.raises(ParameterInvalid) as caught:
        parse_bbox(text)
    assert caught.value.details["parameter"] == "bbox"


def test_crs_names() -> None:
    """lon/lat names mean CRS84, the analysis CRS is accepted in its usual spellings, others are refused."""
    for name in (None, "", "CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84", "EPSG:4326", "EPSG:4490", "WGS84"):
        assert resolve_crs(name, ANALYSIS, parameter="bbox-crs") == CRS84
    for name in ("EPSG:4528", "4528", "http://www.opengis.net/def/crs/EPSG/0/4528"):
        assert resolve_crs(name, ANALYSIS, parameter="bbox-crs") == ANALYSIS
    with pytest.raises(ParameterInvalid):
        resolve_crs("EPSG:3857", ANALYSIS, parameter="bbox-crs")


def test_lonlat_bbox_lands_where_the_analysis_crs_says() -> None:
    """A CRS84 bbox around the verification zone transforms onto it (to a centimetre) with densified edges."""
    to_lonlat = Transformer.from_crs(ANALYSIS, "EPSG:4490", always_xy=True)
    lon0, lat0 = to_lonlat.transform(40_510_000, 3_524_000)
    lon1, lat1 = to_lonlat.transform(40_514_000, 3_528_000)
    area = bbox_area((lon0, lat0, lon1, lat1), CRS84, ANALYSIS)
    assert area is not None and len(area.exterior.coords) > 5
    corners = shapely.points([(40_510_000, 3_524_000), (40_514_000, 3_528_000)])
    assert shapely.distance(area.exterior, corners).max() < 0.01
    back = to_crs84_bounds((40_510_000, 3_524_000, 40_514_000, 3_528_000), ANALYSIS)
    assert back[0] == pytest.approx(min(lon0, to_lonlat.transform(40_510_000, 3_528_000)[0]), abs=1e-9)


def test_bbox_outside_china_and_lonlat_sent_as_metres() -> None:
    """A lon/lat bbox outside China gives no area; lon/lat numbers sent as EPSG:4528 are refused with a hint."""
    assert bbox_area((-10.0, 40.0, 0.0, 50.0), CRS84, ANALYSIS) is None
    whole_world = bbox_area((-180.0, -90.0, 180.0, 90.0), CRS84, ANALYSIS)
    assert whole_world is not None and whole_world.contains(shapely.box(40_510_000, 3_524_000, 40_514_000, 3_528_000))
    with pytest.raises(ParameterInvalid) as caught:
        bbox_area((120.1, 31.8, 120.2, 31.9), ANALYSIS, ANALYSIS)
    assert "bbox-crs=CRS84" in caught.value.message_en
    with pytest.raises(ParameterInvalid):
        bbox_area((200.0, 31.0, 210.0, 32.0), CRS84, ANALYSIS)
