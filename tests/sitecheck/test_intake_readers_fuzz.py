"""Fuzzing the file readers: whatever the bytes, a reader returns a RawSite or raises a SitecheckError."""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ezdxf
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyogrio.raw import write

from sitecheck.errors import SitecheckError
from sitecheck.intake.archive import open_zip
from sitecheck.intake.dxf import read_dxf
from sitecheck.intake.kml import read_kml, read_kmz
from sitecheck.intake.raw import RawSite
from sitecheck.intake.shapefile import read_shapefile_zip
from sitecheck.settings import IntakeLimits

# Small limits keep each example cheap; the limits themselves are part of what is exercised.
LIMITS = IntakeLimits(
    max_upload_bytes=1_000_000,
    max_vertices=20_000,
    max_parts=500,
    max_zip_entries=16,
    max_unzipped_bytes=4_000_000,
)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Reader = Callable[..., RawSite]


def _zip(members: dict[str, bytes]) -> bytes:
    """Zip ``members`` (deflated) in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _shapefile_members() -> dict[str, bytes]:
    """Write a two-feature GBK Shapefile (one feature with a hole) with pyogrio and return its files."""
    square = shapely.Polygon(
        [(40_500_000, 3_300_000), (40_500_100, 3_300_000), (40_500_100, 3_300_100), (40_500_000, 3_300_100)],
        [[(40_500_010, 3_300_010), (40_500_020, 3_300_010), (40_500_020, 3_300_020)]],
    )
    other = shapely.box(40_500_200, 3_300_000, 40_500_260, 3_300_050)
    with tempfile.TemporaryDirectory() as tmp:
        write(
            str(Path(tmp) / "site.shp"),
            np.array([shapely.to_wkb(square), shapely.to_wkb(other)], dtype=object),
            [np.array(["示例地块", "乙"], dtype=object)],
            fields=["名称"],
            driver="ESRI Shapefile",
            geometry_type="Polygon",
            crs="EPSG:4528",
            encoding="GBK",
        )
        return {path.name: path.read_bytes() for path in sorted(Path(tmp).iterdir())}


def _kml() -> bytes:
    """Return a KML with a holed polygon, a MultiGeometry and a point."""
    ring = "<LinearRing><coordinates>{}</coordinates></LinearRing>"
    polygon = (
        "<Polygon><outerBoundaryIs>"
        + ring.format("120,30,0 120.01,30,0 120.01,30.01,0 120,30.01,0 120,30,0")
        + "</outerBoundaryIs><innerBoundaryIs>"
        + ring.format("120.002,30.002 120.004,30.002 120.004,30.004 120.002,30.002")
        + "</innerBoundaryIs></Polygon>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<Placemark><name>示例地块</name><MultiGeometry>{polygon}{polygon}"
        "<Point><coordinates>120,30</coordinates></Point></MultiGeometry></Placemark></Document></kml>"
    ).encode()


def _dxf_drawing() -> ezdxf.document.Drawing:
    """Return a drawing with a bulged outline, a hole, an open polyline and a 2D POLYLINE."""
    doc = ezdxf.new("R2000")
    msp = doc.modelspace()
    msp.add_lwpolyline([(0, 0, 0), (100, 0, 0), (100, 100, 1), (0, 100, 0)], format="xyb", close=True)
    msp.add_lwpolyline([(20, 20), (80, 20), (80, 80), (20, 80)], close=True)
    msp.add_lwpolyline([(200, 0), (300, 0)])
    msp.add_polyline2d([(500, 0, 0, 0, 1), (600, 0, 0, 0, 1)], format="xyseb", close=True)
    return doc


def _dxf_text() -> bytes:
    """Serialise the fuzz drawing as text DXF."""
    stream = io.StringIO()
    _dxf_drawing().write(stream)
    return stream.getvalue().encode()


def _dxf_binary() -> bytes:
    """Serialise the fuzz drawing as binary DXF."""
    stream = io.BytesIO()
    _dxf_drawing().write(stream, fmt="bin")
    return stream.getvalue()


SHP_MEMBERS = _shapefile_members()
SHP_ZIP = _zip(SHP_MEMBERS)
KML = _kml()
KMZ = _zip({"doc.kml": KML, "files/icon.png": b"\x89PNG\r\n"})
DXF_TEXT = _dxf_text()
DXF_BINARY = _dxf_binary()


@st.composite
def mutations(draw: st.DrawFn, seed: bytes) -> bytes:
    """Return ``seed`` after a few random bit flips, byte sets, truncations, insertions, deletions, copies."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            data.extend(draw(st.binary(min_size=1, max_size=16)))
            continue
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(("flip", "set", "truncate", "insert", "delete", "copy")))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set":
            data[at] = draw(st.sampled_from((0x00, 0x01, 0x7F, 0x80, 0xFF, draw(st.integers(0, 255)))))
        elif operation == "truncate":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif operation == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


@st.composite
def mutated_members(draw: st.DrawFn, members: dict[str, bytes]) -> bytes:
    """Return a well-formed zip of ``members`` with one member's content mutated (reaches the inner parser)."""
    name = draw(st.sampled_from(sorted(members)))
    return _zip({**members, name: draw(mutations(members[name]))})


def _holds_contract(reader: Reader, data: bytes, **kwargs: Any) -> None:
    """Assert that ``reader`` returns a polygonal RawSite or raises a SitecheckError, and nothing else."""
    try:
        site = reader(data, limits=LIMITS, **kwargs)
    except SitecheckError:
        return
    assert isinstance(site, RawSite)
    assert site.geometry.geom_type in ("Polygon", "MultiPolygon")


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations(SHP_ZIP)))
def test_open_zip_never_fails_unexpectedly(data: bytes) -> None:
    """The zip guard refuses or returns files for random and mutated archives; its result is always a dict."""
    try:
        files = open_zip(data, limits=LIMITS)
    except SitecheckError:
        return
    assert isinstance(files, dict)


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations(SHP_ZIP), mutated_members(SHP_MEMBERS)))
def test_shapefile_reader_contract(data: bytes) -> None:
    """Random bytes, damaged archives and damaged .shp/.shx/.dbf/.prj/.cpg never escape as non-domain errors."""
    _holds_contract(read_shapefile_zip, data)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=4096),
        mutations(KML),
        st.text(alphabet=" \n,.-+0123456789eEnaNifI", max_size=300).map(
            lambda coords: KML.replace(b"120,30,0 120.01,30,0", coords.encode())
        ),
    )
)
def test_kml_reader_contract(data: bytes) -> None:
    """Random bytes, damaged KML and random coordinate text give a RawSite or a SitecheckError."""
    _holds_contract(read_kml, data)


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations(KMZ), mutated_members({"doc.kml": KML})))
def test_kmz_reader_contract(data: bytes) -> None:
    """Damaged KMZ archives and damaged doc.kml inside a sound archive keep the contract."""
    _holds_contract(read_kmz, data)


@FUZZ
@given(st.one_of(st.binary(max_size=4096), mutations(DXF_TEXT), mutations(DXF_BINARY)))
def test_dxf_reader_contract(data: bytes) -> None:
    """Random bytes and damaged text and binary DXF give a RawSite or a SitecheckError."""
    _holds_contract(read_dxf, data)
