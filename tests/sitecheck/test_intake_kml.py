"""KML/KMZ reader: holes, MultiGeometry, namespaces, XXE and billion laughs refused, KMZ through the zip guard."""

from __future__ import annotations

import io
import zipfile

import pytest
from shapely.geometry import MultiPolygon, Polygon

from sitecheck.errors import (
    FormatInvalid,
    GeometryEmpty,
    GeometryNotPolygonal,
    GeometryTooManyVertices,
    ZipUnsafe,
)
from sitecheck.intake.kml import read_kml, read_kmz
from sitecheck.settings import IntakeLimits

LIMITS = IntakeLimits()
KML_NS = 'xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"'
OUTER = "120.0,30.0,0 120.01,30.0,0 120.01,30.01,0 120.0,30.01,0 120.0,30.0,0"
HOLE = "120.002,30.002 120.004,30.002 120.004,30.004 120.002,30.004 120.002,30.002"


def _polygon(outer: str, *holes: str) -> str:
    """Return a KML Polygon element with the given coordinate strings."""
    inner = "".join(
        f"<innerBoundaryIs><LinearRing><coordinates>{hole}</coordinates></LinearRing></innerBoundaryIs>"
        for hole in holes
    )
    return (
        f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{outer}</coordinates></LinearRing>"
        f"</outerBoundaryIs>{inner}</Polygon>"
    )


def _kml(body: str, *, namespace: str = KML_NS, name: str = "示例地块") -> bytes:
    """Return a KML document holding one Placemark with ``body`` as its geometry."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><kml {namespace}><Document>'
        f"<Placemark><name>{name}</name>{body}</Placemark></Document></kml>"
    ).encode()


def _kmz(entries: dict[str, bytes]) -> bytes:
    """Zip ``entries`` into a KMZ."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_polygon_with_hole() -> None:
    """A 0.01° square with a 0.002° hole: area 1e-4 − 4e-6 square degrees, one interior ring, lon/lat order."""
    site = read_kml(_kml(_polygon(OUTER, HOLE)), limits=LIMITS)
    assert isinstance(site.geometry, Polygon)
    assert len(site.geometry.interiors) == 1
    assert site.geometry.area == pytest.approx(1e-4 - 4e-6, rel=1e-9)
    assert site.geometry.bounds == pytest.approx((120.0, 30.0, 120.01, 30.01))
    assert site.crs == "EPSG:4326"
    assert site.source_format == "kml"
    assert site.meta["placemark_names"] == ["示例地块"]


def test_multigeometry_parts() -> None:
    """A MultiGeometry of two polygons gives a MultiPolygon of two parts with their areas."""
    second = "121.0,31.0 121.02,31.0 121.02,31.01 121.0,31.01 121.0,31.0"
    site = read_kml(_kml(f"<MultiGeometry>{_polygon(OUTER)}{_polygon(second)}</MultiGeometry>"), limits=LIMITS)
    assert isinstance(site.geometry, MultiPolygon)
    assert len(site.geometry.geoms) == 2
    assert [part.area for part in site.geometry.geoms] == pytest.approx([1e-4, 2e-4], rel=1e-9)
    assert site.meta["polygon_count"] == 2


def test_without_namespace_and_with_gx_extensions() -> None:
    """A namespace-less KML reads the same; gx: elements (tracks) are ignored, not counted as lines."""
    plain = read_kml(_kml(_polygon(OUTER), namespace=""), limits=LIMITS)
    body = f"<MultiGeometry>{_polygon(OUTER)}<gx:Track><gx:coord>120 30 0</gx:coord></gx:Track></MultiGeometry>"
    with_gx = read_kml(_kml(body), limits=LIMITS)
    assert plain.geometry.equals(with_gx.geometry)
    assert with_gx.warnings == []


def test_xxe_refused_and_never_resolved() -> None:
    """An external entity is refused as FORMAT_INVALID; the file it names is never read."""
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Placemark><name>&xxe;</name></Placemark></kml>'
    )
    with pytest.raises(FormatInvalid) as caught:
        read_kml(xxe, limits=LIMITS)
    assert caught.value.code == "FORMAT_INVALID"
    assert "XML entities are not allowed" in caught.value.message_en
    assert "root:" not in str(caught.value.to_dict())


def test_billion_laughs_refused() -> None:
    """Nested internal entities (billion laughs) are refused before any expansion."""
    lol = b'<!ENTITY lol "lol">' + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
    )
    bomb = b'<?xml version="1.0"?><!DOCTYPE kml [' + lol + b"]><kml><Placemark><name>&lol9;</name></Placemark></kml>"
    with pytest.raises(FormatInvalid) as caught:
        read_kml(bomb, limits=LIMITS)
    assert "XML entities are not allowed" in caught.value.message_en


def test_points_only_refused() -> None:
    """A KML with only a Point and a LineString is GEOM_NOT_POLYGONAL."""
    body = "<MultiGeometry><Point><coordinates>120,30</coordinates></Point>"
    body += "<LineString><coordinates>120,30 121,31</coordinates></LineString></MultiGeometry>"
    with pytest.raises(GeometryNotPolygonal) as caught:
        read_kml(_kml(body), limits=LIMITS)
    assert caught.value.details == {"Point": 1, "LineString": 1}


def test_points_beside_polygon_are_ignored_with_warning() -> None:
    """A marker pin next to the site polygon is ignored and reported."""
    body = f"<MultiGeometry>{_polygon(OUTER)}<Point><coordinates>120,30</coordinates></Point></MultiGeometry>"
    site = read_kml(_kml(body), limits=LIMITS)
    assert [warning.code for warning in site.warnings] == ["KML_NON_POLYGONAL_IGNORED"]
    assert isinstance(site.geometry, Polygon)


def test_empty_kml_is_geometry_empty() -> None:
    """A KML with no geometry at all is GEOM_EMPTY."""
    with pytest.raises(GeometryEmpty):
        read_kml(_kml(""), limits=LIMITS)


def test_gbk_declared_kml() -> None:
    """A KML declaring encoding GBK (which expat lacks) is transcoded and read."""
    text = _kml(_polygon(OUTER)).decode().replace('encoding="UTF-8"', 'encoding="GBK"')
    site = read_kml(text.encode("gbk"), limits=LIMITS)
    assert site.meta["placemark_names"] == ["示例地块"]


def test_spaces_after_commas_and_altitude() -> None:
    """Tuples written as 'lon, lat, alt' with spaces are still read as one vertex each."""
    spaced = "120.0, 30.0, 5\n 120.01, 30.0, 5\n 120.01, 30.01, 5\n 120.0, 30.01, 5\n 120.0, 30.0, 5"
    site = read_kml(_kml(_polygon(spaced)), limits=LIMITS)
    assert site.geometry.area == pytest.approx(1e-4, rel=1e-9)
    assert not site.geometry.has_z


def test_bad_coordinate_located() -> None:
    """A non-numeric coordinate is FORMAT_INVALID naming the placemark, ring and vertex."""
    with pytest.raises(FormatInvalid) as caught:
        read_kml(_kml(_polygon("120,30 abc,30 121,31 120,30")), limits=LIMITS)
    assert caught.value.location == {"placemark_index": 0, "polygon_index": 0, "ring": "outer", "vertex_index": 1}


def test_malformed_xml_located() -> None:
    """Broken XML is FORMAT_INVALID with the line and column."""
    with pytest.raises(FormatInvalid) as caught:
        read_kml(b"<kml>\n<Placemark></kml>", limits=LIMITS)
    assert caught.value.location is not None
    assert caught.value.location["line"] == 2


def test_vertex_limit() -> None:
    """More vertices than max_vertices are refused while counting tuples, before parsing numbers."""
    with pytest.raises(GeometryTooManyVertices):
        read_kml(_kml(_polygon(OUTER, HOLE)), limits=IntakeLimits(max_vertices=6))


def test_kmz_reads_doc_kml() -> None:
    """A KMZ's doc.kml is read (other files ignored) and the member is named in meta."""
    data = _kmz({"files/icon.png": b"\x89PNG", "other.kml": _kml(""), "doc.kml": _kml(_polygon(OUTER, HOLE))})
    site = read_kmz(data, limits=LIMITS)
    assert site.source_format == "kmz"
    assert site.meta["kmz_member"] == "doc.kml"
    assert site.geometry.area == pytest.approx(1e-4 - 4e-6, rel=1e-9)


def test_kmz_without_doc_kml_reads_first_kml() -> None:
    """Without doc.kml the first .kml in the archive is the document."""
    site = read_kmz(_kmz({"site/红线.kml": _kml(_polygon(OUTER))}), limits=LIMITS)
    assert site.meta["kmz_member"] == "site/红线.kml"


def test_kmz_goes_through_zip_guard() -> None:
    """A KMZ with a traversal entry is ZIP_UNSAFE; one without .kml is FORMAT_INVALID."""
    with pytest.raises(ZipUnsafe):
        read_kmz(_kmz({"../doc.kml": _kml(_polygon(OUTER))}), limits=LIMITS)
    with pytest.raises(FormatInvalid):
        read_kmz(_kmz({"a.png": b"x"}), limits=LIMITS)


def test_network_link_is_not_followed() -> None:
    """A NetworkLink is never fetched: alone it gives GEOM_EMPTY saying so; beside a polygon, a warning."""
    link = "<NetworkLink><Link><href>http://example.invalid/site.kml</href></Link></NetworkLink>"
    with pytest.raises(GeometryEmpty) as caught:
        read_kml(f'<kml xmlns="http://www.opengis.net/kml/2.2">{link}</kml>'.encode(), limits=LIMITS)
    assert "NetworkLinks are not followed" in caught.value.message_en
    site = read_kml(_kml(_polygon(OUTER)).replace(b"</Document>", link.encode() + b"</Document>"), limits=LIMITS)
    assert [warning.code for warning in site.warnings] == ["KML_NETWORK_LINK_IGNORED"]
