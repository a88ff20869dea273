"""Zipped Shapefile reader: encodings (.cpg, GBK without .cpg), .prj to EPSG, holes, refusals."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyogrio.raw import write
from shapely import affinity
from shapely.geometry import LineString, MultiPolygon, Polygon

from sitecheck.errors import FormatInvalid, GeometryNotPolygonal, GeometryTooManyVertices
from sitecheck.intake.shapefile import read_shapefile_zip
from sitecheck.settings import IntakeLimits

LIMITS = IntakeLimits()
NAME = "示例地块"
# Gauss-Krüger zone 40 with the zone prefix, like the sample city (EPSG:4528).
SQUARE_4528 = shapely.box(40_500_000, 3_300_000, 40_500_100, 3_300_100)


def _shapefile_zip(
    tmp_path: Path,
    geometries: list[shapely.Geometry],
    *,
    names: list[str] | None = None,
    crs: str = "EPSG:4528",
    encoding: str = "UTF-8",
    keep_cpg: bool = True,
    folder: str = "",
    geometry_type: str = "Polygon",
) -> bytes:
    """Write a Shapefile with pyogrio (field 名称 = names, .prj for ``crs``) into tmp_path and return it zipped."""
    out = tmp_path / "shp"
    out.mkdir()
    values = np.array(names or [NAME] * len(geometries), dtype=object)
    write(
        str(out / "site.shp"),
        np.array([shapely.to_wkb(geometry) for geometry in geometries], dtype=object),
        [values],
        fields=["名称"],
        driver="ESRI Shapefile",
        geometry_type=geometry_type,
        crs=crs,
        encoding=encoding,
    )
    if not keep_cpg:
        (out / "site.cpg").unlink()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(out.iterdir()):
            archive.write(path, folder + path.name)
    return buffer.getvalue()


def _rezip(data: bytes, *, drop: str | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """Copy an archive, dropping members whose name ends with ``drop`` and adding ``add``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            if drop is None or not info.filename.endswith(drop):
                target.writestr(info.filename, source.read(info))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return buffer.getvalue()


def test_gbk_dbf_without_cpg_round_trips_chinese(tmp_path: Path) -> None:
    """A GBK .dbf with no .cpg is detected as GBK: field name and value come back as written."""
    data = _shapefile_zip(tmp_path, [SQUARE_4528], encoding="GBK", keep_cpg=False)
    site = read_shapefile_zip(data, limits=LIMITS)
    assert site.meta["encoding"] == "gbk"
    assert site.meta["encoding_source"] == "detected"
    assert site.meta["fields"] == ["名称"]
    assert site.meta["attributes"] == [{"名称": NAME}]
    assert site.warnings == []


def test_utf8_cpg_is_used(tmp_path: Path) -> None:
    """A .cpg saying UTF-8 decides the encoding."""
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [SQUARE_4528], encoding="UTF-8"), limits=LIMITS)
    assert (site.meta["encoding"], site.meta["encoding_source"]) == ("utf-8", "cpg")
    assert site.meta["attributes"][0]["名称"] == NAME


def test_encoding_argument_used_without_cpg(tmp_path: Path) -> None:
    """With no .cpg, the caller's encoding argument is used when the bytes agree with it."""
    data = _shapefile_zip(tmp_path, [SQUARE_4528], encoding="GBK", keep_cpg=False)
    site = read_shapefile_zip(data, limits=LIMITS, encoding="cp936")
    assert (site.meta["encoding"], site.meta["encoding_source"]) == ("gbk", "argument")
    assert site.meta["attributes"][0]["名称"] == NAME


def test_wrong_cpg_falls_back_with_warning(tmp_path: Path) -> None:
    """A .cpg claiming UTF-8 over GBK bytes is overruled by detection, with DBF_ENCODING_MISMATCH."""
    data = _shapefile_zip(tmp_path, [SQUARE_4528], encoding="GBK", keep_cpg=False)
    data = _rezip(data, add={"site.cpg": b"UTF-8"})
    site = read_shapefile_zip(data, limits=LIMITS)
    assert [warning.code for warning in site.warnings] == ["DBF_ENCODING_MISMATCH"]
    assert site.meta["encoding"] == "gbk"
    assert site.meta["attributes"][0]["名称"] == NAME


@pytest.mark.parametrize("epsg", ["EPSG:4528", "EPSG:4490"])
def test_prj_identified_as_epsg(tmp_path: Path, epsg: str) -> None:
    """The ESRI-flavoured .prj GDAL writes for CGCS2000 (projected and geographic) maps back to its EPSG code."""
    geometry = SQUARE_4528 if epsg == "EPSG:4528" else shapely.box(120.0, 30.0, 120.01, 30.01)
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [geometry], crs=epsg), limits=LIMITS)
    assert site.crs == epsg
    assert site.source_format == "shapefile"


def test_no_prj_gives_no_crs(tmp_path: Path) -> None:
    """Without a .prj the reader declares nothing; the pipeline decides."""
    site = read_shapefile_zip(_rezip(_shapefile_zip(tmp_path, [SQUARE_4528]), drop=".prj"), limits=LIMITS)
    assert site.crs is None
    assert site.meta["prj"] is None


def test_unrecognised_prj_warns(tmp_path: Path) -> None:
    """A .prj that matches no EPSG code gives crs None and PRJ_UNRECOGNISED, keeping its name in meta."""
    custom = (
        'PROJCS["Local_Grid",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",'
        'SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],'
        'PROJECTION["Transverse_Mercator"],PARAMETER["False_Easting",512345.0],PARAMETER["False_Northing",-3000.0],'
        'PARAMETER["Central_Meridian",120.37],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],'
        'UNIT["Meter",1.0]]'
    )
    data = _rezip(_shapefile_zip(tmp_path, [SQUARE_4528]), drop=".prj", add={"site.prj": custom.encode()})
    site = read_shapefile_zip(data, limits=LIMITS)
    assert site.crs is None
    assert [warning.code for warning in site.warnings] == ["PRJ_UNRECOGNISED"]
    assert site.meta["prj_name"] == "Local_Grid"


def test_polygon_with_hole_area(tmp_path: Path) -> None:
    """A 100 × 100 m square with a 20 × 30 m hole reads back with area 9 400 m² (to 1e-6)."""
    hole = [(40_500_010, 3_300_010), (40_500_030, 3_300_010), (40_500_030, 3_300_040), (40_500_010, 3_300_040)]
    square = Polygon(SQUARE_4528.exterior.coords, [hole])
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [square]), limits=LIMITS)
    assert isinstance(site.geometry, Polygon)
    assert len(site.geometry.interiors) == 1
    assert site.geometry.area == pytest.approx(9_400.0, abs=1e-6)


def test_several_features_become_a_multipolygon_with_attributes(tmp_path: Path) -> None:
    """Features are collected (not dissolved) into one MultiPolygon; attribute rows follow the features."""
    other = affinity.translate(SQUARE_4528, 300, 0)
    data = _shapefile_zip(tmp_path, [SQUARE_4528, other], names=["甲", "乙"])
    site = read_shapefile_zip(data, limits=LIMITS)
    assert isinstance(site.geometry, MultiPolygon)
    assert len(site.geometry.geoms) == 2
    assert site.geometry.area == pytest.approx(20_000.0)
    assert site.meta["feature_count"] == 2
    assert [row["名称"] for row in site.meta["attributes"]] == ["甲", "乙"]
    assert site.meta["attributes_truncated"] is False


def test_z_coordinates_are_dropped(tmp_path: Path) -> None:
    """A PolygonZ Shapefile reads as 2D."""
    square_z = shapely.force_3d(SQUARE_4528, 12.5)
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [square_z], geometry_type="Polygon Z"), limits=LIMITS)
    assert not site.geometry.has_z
    assert site.geometry.area == pytest.approx(10_000.0)


def test_shapefile_in_sub_folder(tmp_path: Path) -> None:
    """The .shp and its companions may sit in a folder of the zip."""
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [SQUARE_4528], folder="红线/"), limits=LIMITS)
    assert "红线/site.shp" in site.meta["files"]


def test_several_shapefiles_refused_by_name(tmp_path: Path) -> None:
    """Two .shp files in one zip are refused, naming both."""
    data = _shapefile_zip(tmp_path, [SQUARE_4528])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        extra = {f"b/{info.filename}": archive.read(info) for info in archive.infolist()}
    with pytest.raises(FormatInvalid) as caught:
        read_shapefile_zip(_rezip(data, add=extra), limits=LIMITS)
    assert caught.value.details["shapefiles"] == ["site.shp", "b/site.shp"]


def test_missing_dbf_refused(tmp_path: Path) -> None:
    """A .shp without its .dbf is refused, naming the missing file."""
    data = _rezip(_shapefile_zip(tmp_path, [SQUARE_4528]), drop=".dbf")
    with pytest.raises(FormatInvalid) as caught:
        read_shapefile_zip(data, limits=LIMITS)
    assert caught.value.details["missing"] == ["site.dbf"]


def test_line_feature_refused_by_index(tmp_path: Path) -> None:
    """A polyline Shapefile is refused with GEOM_NOT_POLYGONAL naming the feature."""
    line = LineString([(0, 0), (10, 10)])
    data = _shapefile_zip(tmp_path, [line], geometry_type="LineString")
    with pytest.raises(GeometryNotPolygonal) as caught:
        read_shapefile_zip(data, limits=LIMITS)
    assert caught.value.location == {"feature_index": 0}


def test_vertex_limit_refused_from_shp_headers(tmp_path: Path) -> None:
    """Vertices are counted from the .shp record headers, before GDAL builds any geometry."""
    circle = shapely.Point(40_500_000, 3_300_000).buffer(50, quad_segs=64)
    data = _shapefile_zip(tmp_path, [circle])
    with pytest.raises(GeometryTooManyVertices) as caught:
        read_shapefile_zip(data, limits=IntakeLimits(max_vertices=100))
    assert caught.value.code == "GEOM_TOO_MANY_VERTICES"


def test_invalid_polygon_is_returned_unvalidated(tmp_path: Path) -> None:
    """A self-intersecting bow-tie is read, not repaired and not refused: validation is the pipeline's job."""
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    site = read_shapefile_zip(_shapefile_zip(tmp_path, [bowtie]), limits=LIMITS)
    assert not site.geometry.is_valid


def test_shx_pointing_many_entries_at_one_record_is_counted_each_time(tmp_path: Path) -> None:
    """A forged .shx listing one 129-point record ten times costs 1 290 vertices, as GDAL would build them."""
    circle = shapely.Point(40_500_000, 3_300_000).buffer(50, quad_segs=32)
    data = _shapefile_zip(tmp_path, [circle])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        shx = archive.read("site.shx")
    forged = shx[:100] + shx[100:108] * 10
    forged = forged[:24] + struct.pack(">i", len(forged) // 2) + forged[28:]
    data = _rezip(data, drop=".shx", add={"site.shx": forged})
    with pytest.raises(GeometryTooManyVertices):
        read_shapefile_zip(data, limits=IntakeLimits(max_vertices=1_000))


def test_attribute_values_are_plain_json_data(tmp_path: Path) -> None:
    """Numbers, dates and nulls in the .dbf come back as JSON-friendly values (date as ISO text, null as None)."""
    out = tmp_path / "shp"
    out.mkdir()
    write(
        str(out / "site.shp"),
        np.array([shapely.to_wkb(SQUARE_4528)] * 2, dtype=object),
        [
            np.array([1.5, np.nan]),
            np.array([3, 4], dtype="int64"),
            np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"),
        ],
        fields=["MJ", "BH", "RQ"],
        driver="ESRI Shapefile",
        geometry_type="Polygon",
        crs="EPSG:4528",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(out.iterdir()):
            archive.write(path, path.name)
    site = read_shapefile_zip(buffer.getvalue(), limits=LIMITS)
    assert site.meta["attributes"] == [
        {"MJ": 1.5, "BH": 3, "RQ": "2024-01-02"},
        {"MJ": None, "BH": 4, "RQ": None},
    ]
