"""Geometry validation and repair, normal form and hashes, and property tests over random polygons."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

from sitecheck.errors import SitecheckError
from sitecheck.intake import Site, read_site, read_site_geometry
from sitecheck.intake.validate import (
    check_finite,
    check_limits,
    flatten_polygons,
    geometry_sha256,
    validate_parts,
)
from sitecheck.settings import IntakeLimits

BOWTIE = [[40520000, 3353000], [40520100, 3353100], [40520100, 3353000], [40520000, 3353100], [40520000, 3353000]]


def _error(call: Any, *args: Any, **kwargs: Any) -> SitecheckError:
    with pytest.raises(SitecheckError) as info:
        call(*args, **kwargs)
    return info.value


def _gk(ring: list[list[int]] | list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


def test_self_intersection_is_invalid_with_location_and_reason() -> None:
    """A bow-tie is GEOM_INVALID with the GEOS reason and the crossing point in source and analysis CRS."""
    error = _error(read_site_geometry, _gk(BOWTIE), crs="EPSG:4528")
    assert error.code == "GEOM_INVALID"
    assert error.location == {
        "part": 0,
        "reason": "Self-intersection[40520050 3353050]",
        "x": 40520050.0,
        "y": 3353050.0,
        "crs": "EPSG:4528",
        "analysis": {"x": 40520050.0, "y": 3353050.0, "crs": "EPSG:4528"},
    }


def test_invalid_location_is_given_in_the_uploads_own_lonlat() -> None:
    """For a lon/lat upload the crossing point is given in lon/lat, and in the analysis CRS beside it."""
    ring = [[120.2, 30.3], [120.201, 30.301], [120.201, 30.3], [120.2, 30.301], [120.2, 30.3]]
    error = _error(read_site_geometry, _gk(ring))
    assert error.location is not None
    assert (error.location["x"], error.location["y"], error.location["crs"]) == (120.2005, 30.3005, "EPSG:4490")
    assert error.location["analysis"]["crs"] == "EPSG:4528"
    assert error.location["analysis"]["x"] == pytest.approx(40_519_287.0, abs=1.0)


def test_invalid_shape_is_reported_before_a_range_fault() -> None:
    """A bow-tie at a place outside China is GEOM_INVALID first: the shape is broken in any CRS."""
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    assert _error(read_site_geometry, _gk(bowtie), crs="EPSG:4528").code == "GEOM_INVALID"
    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    assert _error(read_site_geometry, _gk(square), crs="EPSG:4528").code == "CRS_OUT_OF_RANGE"


def test_repair_uses_structure_and_reports_areas() -> None:
    """repair=True splits the bow-tie into two triangles and reports the areas before and after."""
    site = read_site_geometry(_gk(BOWTIE), crs="EPSG:4528", repair=True)
    assert site.part_count == 2
    assert site.geometry.area == pytest.approx(5_000.0)
    assert site.repair == {"method": "structure", "parts": [0], "area_before_m2": 0.0, "area_after_m2": 5_000.0}
    assert [w.code for w in site.warnings] == ["GEOM_REPAIRED"]


def test_structure_repair_keeps_an_overlap_instead_of_making_a_hole() -> None:
    """A ring that loops over itself keeps the doubly covered square (7 m², not the 6 m² of 'linework')."""
    ring = [(0, 0), (2, 0), (2, 2), (1, 2), (1, 1), (3, 1), (3, 3), (1, 3), (1, 2), (0, 2), (0, 0)]
    result = validate_parts([Polygon(ring)], repair=True)
    assert result.geometry.area == pytest.approx(7.0)
    assert result.repair is not None
    assert (result.repair["area_before_m2"], result.repair["area_after_m2"]) == (8.0, 7.0)
    assert not any(len(p.interiors) for p in getattr(result.geometry, "geoms", [result.geometry]))


def test_flat_polygon_is_zero_area() -> None:
    """A polygon whose points lie on one line is GEOM_ZERO_AREA (even with repair asked for)."""
    ring = [[40520000, 3353000], [40520100, 3353000], [40520200, 3353000], [40520000, 3353000]]
    assert _error(read_site_geometry, _gk(ring), crs="EPSG:4528").code == "GEOM_ZERO_AREA"
    assert _error(read_site_geometry, _gk(ring), crs="EPSG:4528", repair=True).code == "GEOM_ZERO_AREA"


def test_repair_drops_a_collapsed_part_and_reports_it() -> None:
    """With repair, a flat part next to a good one is dropped (structure, keep_collapsed=False) and reported."""
    flat = Polygon([(40520300, 3353000), (40520400, 3353000), (40520500, 3353000), (40520300, 3353000)])
    good = box(40520000, 3353000, 40520100, 3353100)
    assert _error(validate_parts, [good, flat], repair=False).code == "GEOM_ZERO_AREA"
    result = validate_parts([good, flat], repair=True)
    assert result.geometry.area == pytest.approx(10_000.0)
    assert result.repair == {"method": "structure", "parts": [1], "area_before_m2": 0.0, "area_after_m2": 0.0}


def test_tiny_valid_polygon_is_zero_area() -> None:
    """A valid polygon under 1e-6 m² is GEOM_ZERO_AREA."""
    tiny = box(40520000.0, 3353000.0, 40520000.0001, 3353000.0001)
    assert _error(validate_parts, [tiny], repair=False).code == "GEOM_ZERO_AREA"


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_non_finite_vertex_is_located() -> None:
    """A NaN vertex from a reader is GEOM_NON_FINITE naming part, ring and vertex."""
    polygon = Polygon([(0, 0), (1, 0), (math.nan, 1), (0, 0)])
    error = _error(check_finite, [box(5, 5, 6, 6), polygon])
    assert error.code == "GEOM_NON_FINITE"
    assert error.location == {"part": 1, "ring": 0, "vertex": 2, "x": "nan", "y": 1.0}


def test_empty_input_is_geometry_empty() -> None:
    """An empty collection is GEOM_EMPTY."""
    assert _error(flatten_polygons, GeometryCollection()).code == "GEOM_EMPTY"


def test_points_and_lines_are_not_polygonal() -> None:
    """A point or a line among the members is GEOM_NOT_POLYGONAL naming the member."""
    error = _error(flatten_polygons, GeometryCollection([box(0, 0, 1, 1), LineString([(0, 0), (1, 1)])]))
    assert error.code == "GEOM_NOT_POLYGONAL"
    assert error.location == {"member": [1], "type": "LineString"}
    assert _error(flatten_polygons, Point(0, 0)).code == "GEOM_NOT_POLYGONAL"


def test_part_limit_is_upload_too_large() -> None:
    """More parts than max_parts is UPLOAD_TOO_LARGE."""
    parts = [box(i * 2, 0, i * 2 + 1, 1) for i in range(3)]
    assert _error(check_limits, parts, IntakeLimits(max_parts=2)).code == "UPLOAD_TOO_LARGE"


def test_site_geometry_is_in_geos_normal_form() -> None:
    """The site is normalised: shells clockwise, and normalising again changes nothing."""
    ring = [[120.2, 30.3], [120.201, 30.3], [120.201, 30.301], [120.2, 30.301], [120.2, 30.3]]
    site = read_site_geometry(_gk(ring))
    assert isinstance(site.geometry, Polygon)
    assert not site.geometry.exterior.is_ccw
    assert site.geometry.equals_exact(shapely.normalize(site.geometry), 0.0)


def test_geometry_hash_ignores_start_vertex_orientation_and_sub_mm_noise() -> None:
    """The hash is the same for a rotated, reversed ring and for coordinates moved by 0.1 mm."""
    base = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    rotated = Polygon([(10, 10), (0, 10), (0, 0), (10, 0)])
    reversed_ring = Polygon([(0, 0), (0, 10), (10, 10), (10, 0)])
    noisy = Polygon([(0.0001, 0), (10, 0.0001), (10, 10), (0, 10)])
    assert len({geometry_sha256(g) for g in (base, rotated, reversed_ring, noisy)}) == 1
    assert geometry_sha256(base) != geometry_sha256(Polygon([(0, 0), (10, 0), (10, 10.002), (0, 10)]))


def test_hash_is_stable_across_formats() -> None:
    """The same site as TXT, GeoJSON (legacy crs) and EWKT gets the same geometry hash."""
    coords = [(40520000.0, 3353000.0), (40520000.0, 3353100.0), (40520100.0, 3353100.0), (40520100.0, 3353000.0)]
    closed = [*coords, coords[0]]
    txt = "[地块坐标]\n5,1.0000,1,地块,面,,,,@\n" + "\n".join(f"J{i},1,{n},{e}" for i, (e, n) in enumerate(closed))
    wkt = "SRID=4528;POLYGON((" + ",".join(f"{e} {n}" for e, n in closed) + "))"
    body = {
        "type": "Polygon",
        "crs": {"type": "name", "properties": {"name": "EPSG:4528"}},
        "coordinates": [[list(c) for c in closed]],
    }
    sites = [read_site(txt.encode(), fmt="txt"), read_site(wkt.encode()), read_site(json.dumps(body).encode())]
    assert len({s.geometry_sha256 for s in sites}) == 1
    assert len({s.input_sha256 for s in sites}) == 3


# --- properties --------------------------------------------------------------------------------------

# A coarse grid (10 m steps) makes repeated points, collinear runs, touching and crossing rings common.
_grid = st.tuples(st.integers(0, 8), st.integers(0, 8))
_random_ring = st.lists(_grid, min_size=3, max_size=8).map(lambda pts: [*pts, pts[0]])


@st.composite
def _square_with_hole(draw: st.DrawFn) -> list[list[tuple[int, int]]]:
    x, y, size = draw(st.integers(0, 4)), draw(st.integers(0, 4)), draw(st.integers(2, 4))
    outer = [(x, y), (x + size, y), (x + size, y + size), (x, y + size), (x, y)]
    if size < 3 or not draw(st.booleans()):
        return [outer]
    return [outer, [(x + 1, y + 1), (x + 1, y + 2), (x + 2, y + 2), (x + 2, y + 1), (x + 1, y + 1)]]


_polygon = st.one_of(
    _square_with_hole(), st.tuples(_random_ring, st.lists(_random_ring, max_size=2)).map(lambda t: [t[0], *t[1]])
)
_site = st.lists(_polygon, min_size=1, max_size=3)


def _gk_point(ix: int, iy: int) -> tuple[float, float]:
    return 40520000.0 + 10.0 * ix, 3353000.0 + 10.0 * iy


def _lonlat_point(ix: int, iy: int) -> tuple[float, float]:
    return 120.2 + 1e-4 * ix, 30.3 + 1e-4 * iy


def _accepts_or_refuses(call: Any) -> Site | None:
    try:
        site: Site = call()
    except SitecheckError:
        return None
    assert site.geometry.is_valid
    assert site.geometry.area >= 1e-6
    return site


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=_site, lonlat=st.booleans(), swapped=st.booleans(), repair=st.booleans())
def test_random_geojson_sites_only_raise_domain_errors(
    site: list[list[list[tuple[int, int]]]], lonlat: bool, swapped: bool, repair: bool
) -> None:
    """Random polygons (valid or not, holes, parts, either axis order) as GeoJSON: a Site or a SitecheckError."""
    to_xy = _lonlat_point if lonlat else _gk_point

    def position(p: tuple[int, int]) -> list[float]:
        x, y = to_xy(*p)
        return [y, x] if swapped else [x, y]

    body = {"type": "MultiPolygon", "coordinates": [[[position(p) for p in ring] for ring in poly] for poly in site]}
    _accepts_or_refuses(lambda: read_site(json.dumps(body).encode(), repair=repair))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(site=_site, swapped=st.booleans(), repair=st.booleans())
def test_random_txt_sites_only_raise_domain_errors(
    site: list[list[list[tuple[int, int]]]], swapped: bool, repair: bool
) -> None:
    """Random polygons written as Ministry TXT (either column order): a Site or a SitecheckError."""
    lines = ["[属性描述]", "坐标系=2000国家大地坐标系", "带号=40", "[地块坐标]"]
    for k, poly in enumerate(site):
        points = []
        for ring_no, ring in enumerate(poly, start=1):
            for i, p in enumerate(ring):
                e, n = _gk_point(*p)
                points.append(f"J{i},{ring_no},{e if swapped else n:.3f},{n if swapped else e:.3f}")
        lines += [f"{len(points)},0.0100,{k},地块{k},面,,,,@", *points]
    result = _accepts_or_refuses(lambda: read_site("\r\n".join(lines).encode("gbk"), fmt="txt", repair=repair))
    if result is not None and swapped:
        assert "AXES_SWAPPED" in [w.code for w in result.warnings]


@settings(max_examples=100, deadline=None)
@given(text=st.text(alphabet="0123456789.,@J[]地块坐标属性描述=\n -", max_size=300))
def test_random_txt_text_only_raises_domain_errors(text: str) -> None:
    """Arbitrary short texts read as TXT give a Site or a SitecheckError, never another exception."""
    _accepts_or_refuses(lambda: read_site(text.encode(), fmt="txt"))


def test_multipolygon_with_parts_sharing_an_edge_is_dissolved() -> None:
    """Two parts sharing an edge are merged into one polygon and reported as PARTS_DISSOLVED."""
    parts = [box(40520000, 3353000, 40520100, 3353100), box(40520100, 3353000, 40520200, 3353100)]
    body = shapely.geometry.mapping(MultiPolygon(parts))
    site = read_site_geometry(json.loads(json.dumps(body)), crs="EPSG:4528")
    assert site.part_count == 1
    assert [w.code for w in site.warnings] == ["PARTS_DISSOLVED"]
    assert site.geometry.area == pytest.approx(20_000.0)
