"""DXF reader: bulges on the true arc, holes by containment, open polylines ignored, text and binary DXF."""

from __future__ import annotations

import io
import math

import ezdxf
import pytest
from ezdxf.document import Drawing
from shapely.geometry import MultiPolygon, Polygon

from sitecheck.errors import FormatInvalid, GeometryEmpty, GeometryTooManyVertices
from sitecheck.intake.dxf import read_dxf
from sitecheck.settings import IntakeLimits

LIMITS = IntakeLimits()
HALF_DISC_R50 = math.pi * 50**2 / 2


def _drawing(version: str = "R2010") -> Drawing:
    """Return a new drawing in metres."""
    doc = ezdxf.new(version)
    doc.units = ezdxf.units.M
    return doc


def _text(doc: Drawing) -> bytes:
    """Serialise a drawing as text DXF in its own encoding."""
    stream = io.StringIO()
    doc.write(stream)
    return stream.getvalue().encode(doc.output_encoding)


def _square(doc: Drawing, x0: float, y0: float, size: float, layer: str = "0") -> None:
    """Add a closed LWPOLYLINE square."""
    points = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size)]
    doc.modelspace().add_lwpolyline(points, close=True, dxfattribs={"layer": layer})


def test_bulge_side_is_a_true_half_circle() -> None:
    """A 100 × 100 square whose top side bulges out as a half circle: area 10 000 + π·50²/2 within 0.5 m²."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline(
        [(0, 0, 0), (100, 0, 0), (100, 100, 1), (0, 100, 0)], format="xyb", close=True, dxfattribs={"layer": "红线"}
    )
    site = read_dxf(_text(doc), limits=LIMITS)
    assert isinstance(site.geometry, Polygon)
    assert site.geometry.area == pytest.approx(10_000 + HALF_DISC_R50, abs=0.5)
    assert site.geometry.bounds == pytest.approx((0, 0, 100, 150), abs=1e-3)
    assert site.crs is None
    assert site.source_format == "dxf"
    assert site.meta["layers"] == ["0", "Defpoints", "红线"]
    assert site.meta["entity_counts"] == {"LWPOLYLINE": 1}


def test_arc_vertices_lie_on_the_circle() -> None:
    """Linearised arc points are on the true circle (no Bézier drift), at least 8 per quarter circle."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline([(0, 0, 0), (100, 0, 0), (100, 100, 1), (0, 100, 0)], format="xyb", close=True)
    ring = read_dxf(_text(doc), limits=LIMITS).geometry.exterior.coords
    on_arc = [(x, y) for x, y in ring if y > 100 + 1e-9]
    assert len(on_arc) >= 15
    assert all(math.hypot(x - 50, y - 100) == pytest.approx(50, abs=1e-9) for x, y in on_arc)


def test_negative_bulge_cuts_inward() -> None:
    """A negative bulge on the same side bends into the square: area 10 000 − π·50²/2."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline([(0, 0, 0), (100, 0, 0), (100, 100, -1), (0, 100, 0)], format="xyb", close=True)
    assert read_dxf(_text(doc), limits=LIMITS).geometry.area == pytest.approx(10_000 - HALF_DISC_R50, abs=0.5)


def test_nested_square_becomes_hole() -> None:
    """A closed square inside another is a hole (by containment, whatever its layer)."""
    doc = _drawing()
    _square(doc, 0, 0, 100, layer="红线")
    _square(doc, 20, 20, 60, layer="其他")
    site = read_dxf(_text(doc), limits=LIMITS)
    assert isinstance(site.geometry, Polygon)
    assert len(site.geometry.interiors) == 1
    assert site.geometry.area == pytest.approx(10_000 - 3_600)


def test_island_in_hole_is_a_new_part() -> None:
    """Depth 0 shell, depth 1 hole, depth 2 island: two parts."""
    doc = _drawing()
    _square(doc, 0, 0, 100)
    _square(doc, 20, 20, 60)
    _square(doc, 40, 40, 20)
    site = read_dxf(_text(doc), limits=LIMITS)
    assert isinstance(site.geometry, MultiPolygon)
    assert len(site.geometry.geoms) == 2
    assert site.geometry.area == pytest.approx(10_000 - 3_600 + 400)


def test_open_polyline_ignored_with_warning() -> None:
    """An open polyline is skipped and counted in DXF_OPEN_POLYLINE_IGNORED."""
    doc = _drawing()
    _square(doc, 0, 0, 100)
    doc.modelspace().add_lwpolyline([(200, 0), (300, 0), (300, 100)])
    site = read_dxf(_text(doc), limits=LIMITS)
    assert [(w.code, w.location) for w in site.warnings] == [("DXF_OPEN_POLYLINE_IGNORED", {"count": 1})]
    assert site.geometry.area == pytest.approx(10_000)


def test_only_open_polylines_is_geometry_empty() -> None:
    """A drawing with no closed outline is GEOM_EMPTY."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline([(0, 0), (100, 0), (100, 100)])
    with pytest.raises(GeometryEmpty):
        read_dxf(_text(doc), limits=LIMITS)


def test_repeated_first_vertex_counts_as_closed() -> None:
    """A polyline drawn back to its start without the closed flag is an outline."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)])
    assert read_dxf(_text(doc), limits=LIMITS).geometry.area == pytest.approx(100)


def test_polyline_2d_and_3d() -> None:
    """Closed POLYLINE entities: a 2D circle of two bulged vertices and a 3D square (heights dropped)."""
    doc = _drawing()
    msp = doc.modelspace()
    msp.add_polyline2d([(0, 0, 0, 0, 1), (100, 0, 0, 0, 1)], format="xyseb", close=True)
    msp.add_polyline3d([(500, 0, 12), (510, 0, 13), (510, 10, 14), (500, 10, 12)], close=True)
    site = read_dxf(_text(doc), limits=LIMITS)
    assert isinstance(site.geometry, MultiPolygon)
    assert site.geometry.area == pytest.approx(2 * HALF_DISC_R50 + 100, abs=0.5)


def test_binary_dxf() -> None:
    """Binary DXF reads like text DXF."""
    doc = _drawing()
    _square(doc, 0, 0, 100)
    stream = io.BytesIO()
    doc.write(stream, fmt="bin")
    assert read_dxf(stream.getvalue(), limits=LIMITS).geometry.area == pytest.approx(10_000)


def test_gbk_codepage_layer_names() -> None:
    """An R2000 drawing in code page ANSI_936 (GBK) keeps its Chinese layer names."""
    doc = _drawing("R2000")
    doc.encoding = "gbk"
    doc.layers.add("用地红线")
    _square(doc, 0, 0, 10, layer="用地红线")
    site = read_dxf(_text(doc), limits=LIMITS)
    assert site.meta["polygon_layers"] == {"用地红线": 1}


def test_layer_filter() -> None:
    """``layers`` restricts the outlines read (case-insensitive); none on those layers is GEOM_EMPTY."""
    doc = _drawing()
    _square(doc, 0, 0, 100, layer="Site")
    _square(doc, 500, 0, 10, layer="Buildings")
    assert read_dxf(_text(doc), limits=LIMITS, layers=["SITE"]).geometry.area == pytest.approx(10_000)
    with pytest.raises(GeometryEmpty):
        read_dxf(_text(doc), limits=LIMITS, layers=["Roads"])


def test_mirrored_extrusion_is_mapped_to_world() -> None:
    """An outline with extrusion (0, 0, −1) has its OCS x mirrored into world coordinates."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline(
        [(10, 0), (20, 0), (20, 10), (10, 10)], close=True, dxfattribs={"extrusion": (0, 0, -1)}
    )
    assert read_dxf(_text(doc), limits=LIMITS).geometry.bounds == pytest.approx((-20, 0, -10, 10))


def test_duplicate_outline_ignored() -> None:
    """The same square drawn twice counts once, with a warning."""
    doc = _drawing()
    _square(doc, 0, 0, 100)
    _square(doc, 0, 0, 100)
    site = read_dxf(_text(doc), limits=LIMITS)
    assert [w.code for w in site.warnings] == ["DXF_DUPLICATE_POLYLINE_IGNORED"]
    assert site.geometry.area == pytest.approx(10_000)


def test_units_other_than_metres_warn() -> None:
    """A drawing in millimetres is read unscaled with DXF_UNITS_NOT_METRES."""
    doc = _drawing()
    doc.units = ezdxf.units.MM
    _square(doc, 0, 0, 100)
    site = read_dxf(_text(doc), limits=LIMITS)
    assert [w.code for w in site.warnings] == ["DXF_UNITS_NOT_METRES"]
    assert site.meta["units"] == "Millimeters"


def test_huge_arc_trips_vertex_limit_before_building() -> None:
    """An arc needing more points than allowed is refused from the computed segment count."""
    doc = _drawing()
    doc.modelspace().add_lwpolyline([(0, 0, 1), (1_000_000, 0, 1)], format="xyb", close=True)
    with pytest.raises(GeometryTooManyVertices):
        read_dxf(_text(doc), limits=IntakeLimits(max_vertices=10_000))


def test_not_a_dxf() -> None:
    """Bytes that are not DXF give FORMAT_INVALID."""
    with pytest.raises(FormatInvalid):
        read_dxf(b"PK\x03\x04 not a drawing", limits=LIMITS)


def test_circles_and_hatches_are_not_read() -> None:
    """Boundary-point circles and a hatch repeating the outline add no parts; they are counted in meta."""
    doc = _drawing()
    msp = doc.modelspace()
    _square(doc, 0, 0, 100)
    for corner in [(0, 0), (100, 0), (100, 100), (0, 100)]:
        msp.add_circle(corner, radius=0.5)
    msp.add_hatch().paths.add_polyline_path([(0, 0), (100, 0), (100, 100), (0, 100)], is_closed=True)
    site = read_dxf(_text(doc), limits=LIMITS)
    assert isinstance(site.geometry, Polygon)
    assert site.geometry.area == pytest.approx(10_000)
    assert site.meta["entity_counts"] == {"LWPOLYLINE": 1, "CIRCLE": 4, "HATCH": 1}
