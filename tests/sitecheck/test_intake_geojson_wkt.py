"""GeoJSON and WKT intake, format detection and the pipeline's limits."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import MultiPolygon, Polygon

from sitecheck.errors import SitecheckError
from sitecheck.intake import detect_format, read_site, read_site_geometry
from sitecheck.settings import IntakeLimits

LIMITS = IntakeLimits()


def _square(lon: float, lat: float, size: float = 0.001) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def _polygon(lon: float = 120.2, lat: float = 30.3, size: float = 0.001) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [_square(lon, lat, size)]}


def _feature(geometry: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"名称": "地块"}, "geometry": geometry}


def _collection(*geometries: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [_feature(g) for g in geometries]}


def _error(call: Any, *args: Any, **kwargs: Any) -> SitecheckError:
    with pytest.raises(SitecheckError) as info:
        call(*args, **kwargs)
    return info.value


def test_geojson_polygon_lonlat_is_read_as_cgcs2000() -> None:
    """A lon/lat polygon without a crs member is CGCS2000 geographic and lands in the analysis CRS in metres."""
    data = json.dumps(_polygon()).encode()
    site = read_site(data, filename="site.geojson")
    assert site.source_format == "geojson"
    assert site.source_crs == "EPSG:4490"
    assert site.geometry.area == pytest.approx(10_664.0, rel=1e-3)
    assert site.input_sha256 == hashlib.sha256(data).hexdigest()
    assert site.warnings == []


def test_feature_and_geometry_give_the_same_site() -> None:
    """A bare geometry, a Feature and a one-feature collection hash to the same geometry."""
    hashes = {
        read_site_geometry(obj).geometry_sha256 for obj in (_polygon(), _feature(_polygon()), _collection(_polygon()))
    }
    assert len(hashes) == 1


def test_disjoint_features_become_a_multipolygon() -> None:
    """Two disjoint polygon features are unioned into a two-part MultiPolygon without warnings."""
    site = read_site_geometry(_collection(_polygon(120.2), _polygon(120.21)))
    assert isinstance(site.geometry, MultiPolygon)
    assert site.part_count == 2
    assert site.warnings == []


def test_overlapping_features_are_dissolved_and_reported() -> None:
    """Overlapping features are merged into one polygon and PARTS_DISSOLVED reports the overlap counted once."""
    site = read_site_geometry(_collection(_polygon(120.2), _polygon(120.2005)))
    assert isinstance(site.geometry, Polygon)
    assert [w.code for w in site.warnings] == ["PARTS_DISSOLVED"]
    location = site.warnings[0].location or {}
    assert location["overlap_m2"] == pytest.approx(5_332.0, rel=1e-3)


def test_non_polygonal_feature_is_named_by_index() -> None:
    """A LineString feature is GEOM_NOT_POLYGONAL naming feature 1."""
    line = {"type": "LineString", "coordinates": [[120.2, 30.3], [120.3, 30.4]]}
    error = _error(read_site_geometry, _collection(_polygon(), line))
    assert error.code == "GEOM_NOT_POLYGONAL"
    assert error.location == {"feature": 1, "type": "LineString"}


def test_unclosed_ring_is_invalid_not_closed_silently() -> None:
    """An RFC 7946 ring whose last position differs from the first is GEOM_INVALID with its location."""
    polygon = {"type": "Polygon", "coordinates": [_square(120.2, 30.3)[:-1]]}
    error = _error(read_site_geometry, _collection(polygon))
    assert error.code == "GEOM_INVALID"
    assert error.location is not None
    assert (error.location["feature"], error.location["ring"]) == (0, 0)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    """100 000 nested arrays are JSON_TOO_DEEP, found by a scan before json.loads."""
    error = _error(read_site, b"[" * 100_000 + b"]" * 100_000, fmt="geojson")
    assert error.code == "JSON_TOO_DEEP"
    assert error.location == {"line": 1, "column": 33}


def test_deep_dict_body_is_refused() -> None:
    """An already-parsed body nested 40 deep is JSON_TOO_DEEP (iterative walk)."""
    body: dict[str, Any] = _polygon()
    for _ in range(40):
        body = {"type": "Feature", "geometry": body}
    assert _error(read_site_geometry, body).code == "JSON_TOO_DEEP"


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    """Brackets inside property strings are not nesting."""
    feature = _feature(_polygon())
    feature["properties"] = {"note": "[" * 100}
    assert read_site(json.dumps(feature).encode()).part_count == 1


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_tokens_are_non_finite(token: str) -> None:
    """NaN/Infinity tokens are GEOM_NON_FINITE with line and column."""
    text = json.dumps(_polygon()).replace("120.2,", f"{token},", 1)
    error = _error(read_site, text.encode())
    assert error.code == "GEOM_NON_FINITE"
    assert error.location is not None and error.location["line"] == 1


def test_overflowing_number_is_non_finite() -> None:
    """1e999 parses as infinity and is GEOM_NON_FINITE naming the vertex."""
    text = json.dumps(_polygon()).replace("120.2,", "1e999,", 1)
    error = _error(read_site, text.encode())
    assert error.code == "GEOM_NON_FINITE"
    assert error.location is not None and error.location["vertex"] == 0


def test_broken_json_is_format_invalid_with_position() -> None:
    """Truncated JSON is FORMAT_INVALID with line and column."""
    error = _error(read_site, b'{"type": "Polygon", "coordinates": [[', fmt="geojson")
    assert error.code == "FORMAT_INVALID"
    assert error.location == {"line": 1, "column": 38}


def test_string_coordinates_are_format_invalid() -> None:
    """Coordinates given as strings are FORMAT_INVALID naming the vertex."""
    polygon = _polygon()
    polygon["coordinates"][0][2] = ["120.201", "30.301"]
    error = _error(read_site_geometry, polygon)
    assert error.code == "FORMAT_INVALID"
    assert error.location == {"ring": 0, "vertex": 2}


def test_null_geometry_is_empty() -> None:
    """A feature with a null geometry is GEOM_EMPTY naming the feature."""
    error = _error(read_site_geometry, _collection(_polygon(), None))
    assert error.code == "GEOM_EMPTY"
    assert error.location == {"feature": 1}


def test_legacy_crs_member_is_honoured() -> None:
    """A pre-RFC crs member naming EPSG:4528 is used for Gauss-Krüger coordinates (no detection warning)."""
    ring = [[40520000, 3353000], [40520100, 3353000], [40520100, 3353100], [40520000, 3353000]]
    body = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4528"}},
        "features": [_feature({"type": "Polygon", "coordinates": [ring]})],
    }
    site = read_site_geometry(body)
    assert site.source_crs == "EPSG:4528"
    assert site.warnings == []
    assert site.geometry.area == pytest.approx(5_000.0)


def test_geojson_text_body_is_read() -> None:
    """read_site_geometry accepts GeoJSON text as well as a parsed object."""
    assert read_site_geometry(json.dumps(_polygon())).source_format == "geojson"


def test_ewkt_srid_declares_the_crs() -> None:
    """EWKT's SRID=4490 is the source CRS."""
    site = read_site(b"SRID=4490;POLYGON((120.2 30.3,120.201 30.3,120.201 30.301,120.2 30.3))")
    assert site.source_format == "wkt"
    assert site.source_crs == "EPSG:4490"
    assert site.geometry.area == pytest.approx(5_332.0, rel=1e-3)


def test_wkt_without_crs_is_crs_unknown() -> None:
    """Plain WKT carries no CRS and detection is not used for it: CRS_UNKNOWN."""
    error = _error(read_site, b"POLYGON((120.2 30.3,120.201 30.3,120.201 30.301,120.2 30.3))")
    assert error.code == "CRS_UNKNOWN"


def test_wkt_with_crs_parameter() -> None:
    """WKT text with crs= reads; read_site_geometry takes WKT text too."""
    wkt = "POLYGON((40520000 3353000,40520100 3353000,40520100 3353100,40520000 3353000))"
    assert read_site_geometry(wkt, crs="EPSG:4528").geometry.area == pytest.approx(5_000.0)


def test_crs_parameter_overriding_srid_is_reported() -> None:
    """An explicit crs= different from the EWKT SRID wins and is reported as CRS_OVERRIDDEN."""
    site = read_site(b"SRID=4326;POLYGON((120.2 30.3,120.201 30.3,120.201 30.301,120.2 30.3))", crs="EPSG:4490")
    assert site.source_crs == "EPSG:4490"
    assert [w.code for w in site.warnings] == ["CRS_OVERRIDDEN"]


def test_wkt_parse_error_carries_geos_message() -> None:
    """Broken WKT is FORMAT_INVALID quoting the GEOS parser."""
    error = _error(read_site, b"POLYGON((120.2 30.3,120.201", fmt="wkt", crs="EPSG:4490")
    assert error.code == "FORMAT_INVALID"
    assert "ParseException" in error.message_en


def test_wkt_unclosed_ring_is_geometry_invalid() -> None:
    """An unclosed WKT ring is GEOM_INVALID (same fault as in GeoJSON), with the GEOS message."""
    error = _error(read_site, b"POLYGON((120.2 30.3,120.201 30.3,120.201 30.301,120.2 30.4))", crs="EPSG:4490")
    assert error.code == "GEOM_INVALID"


def test_wkt_point_is_not_polygonal() -> None:
    """A WKT POINT is GEOM_NOT_POLYGONAL."""
    assert _error(read_site, b"SRID=4490;POINT(120.2 30.3)").code == "GEOM_NOT_POLYGONAL"


def test_wkt_empty_polygon_is_empty() -> None:
    """POLYGON EMPTY is GEOM_EMPTY."""
    assert _error(read_site, b"SRID=4490;POLYGON EMPTY").code == "GEOM_EMPTY"


def test_upload_size_is_checked_first() -> None:
    """Bytes over max_upload_bytes are UPLOAD_TOO_LARGE before any parsing (even of garbage)."""
    error = _error(read_site, b"x" * 101, limits=IntakeLimits(max_upload_bytes=100))
    assert error.code == "UPLOAD_TOO_LARGE"
    assert error.details == {"size_bytes": 101, "limit_bytes": 100}


def test_vertex_limit_is_enforced() -> None:
    """A polygon with more vertices than max_vertices is GEOM_TOO_MANY_VERTICES."""
    limits = IntakeLimits(max_vertices=4)
    assert _error(read_site_geometry, _polygon(), limits=limits).code == "GEOM_TOO_MANY_VERTICES"
    wkt = b"SRID=4490;POLYGON((120.2 30.3,120.201 30.3,120.201 30.301,120.2 30.301,120.2 30.3))"
    assert _error(read_site, wkt, limits=limits).code == "GEOM_TOO_MANY_VERTICES"


def test_unknown_format_parameter_is_refused() -> None:
    """fmt='gml' is FORMAT_UNKNOWN."""
    assert _error(read_site, b"<gml/>", fmt="gml").code == "FORMAT_UNKNOWN"


def test_unrecognised_content_is_format_unknown() -> None:
    """Content that matches no format is FORMAT_UNKNOWN."""
    assert _error(read_site, b"hello, world").code == "FORMAT_UNKNOWN"


def test_bare_shp_is_refused_with_advice() -> None:
    """A lone .shp is FORMAT_UNKNOWN telling the user to zip it with its sidecars."""
    error = _error(read_site, b"\x00\x00\x27\x0a", filename="site.shp")
    assert error.code == "FORMAT_UNKNOWN"
    assert ".zip" in error.message_en


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "filename", "expected"),
    [
        (b' \n{"type": "Polygon"}', None, "geojson"),
        (b"MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))", None, "wkt"),
        (b"srid=4490;polygon((0 0,1 0,1 1,0 0))", None, "wkt"),
        ("[属性描述]\n坐标系=2000国家大地坐标系\n".encode("gbk"), None, "txt"),
        ("【地块坐标】\r\n".encode("utf-16"), None, "txt"),
        (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2">', None, "kml"),
        (b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n", None, "dxf"),
        (b"POLYGON((0 0,1 0,1 1,0 0))", "site.txt", "wkt"),
        (b"anything", "site.txt", "txt"),
        ('{"type": "Feature", "properties": {"note": "[地块坐标]"}}'.encode(), None, "geojson"),
        (b"anything", "site.geojson", "geojson"),
        (b"anything", "site.kml", "kml"),
        (b"anything", "site.dxf", "dxf"),
    ],
)
def test_format_detection(data: bytes, filename: str | None, expected: str) -> None:
    """Formats are told from the extension, else from the content."""
    assert detect_format(data, filename=filename) == expected


def test_zip_is_shapefile_or_kmz_by_contents() -> None:
    """A zip holding a .shp is a zipped Shapefile; one holding a .kml is a KMZ; fmt=zip decides the same way."""
    assert detect_format(_zip("a.shp", "a.dbf", "a.shx")) == "shapefile"
    assert detect_format(_zip("doc.kml"), filename="x.zip") == "kmz"
    assert detect_format(_zip("doc.kml"), fmt="zip") == "kmz"
    assert _error(detect_format, _zip("readme.md")).code == "FORMAT_UNKNOWN"


def test_fmt_parameter_wins_over_extension() -> None:
    """An explicit fmt is used whatever the file name says."""
    assert detect_format(b"", filename="x.geojson", fmt="WKT") == "wkt"


def test_no_submodule_shadows_a_pipeline_name() -> None:
    """No module in sitecheck/intake/ is named like a function the pipeline imports (importing it would rebind it)."""
    import ast
    import pkgutil

    import sitecheck.intake as intake

    tree = ast.parse(Path(intake.__file__).read_text(encoding="utf-8"))
    bound = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    bound |= {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    submodules = {module.name for module in pkgutil.iter_modules(intake.__path__)}
    assert bound & submodules == set()
