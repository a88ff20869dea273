"""Ministry coordinate TXT (部标) reading and writing: real samples, encodings, layouts, faults."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon

from sitecheck.areas import ellipsoidal_area_m2
from sitecheck.errors import SitecheckError
from sitecheck.intake import Site, read_site
from sitecheck.intake.txt import write_txt
from sitecheck.intake.validate import geometry_sha256

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
HEADER = [
    "[属性描述]",
    "坐标系=2000国家大地坐标系",
    "几度分带=3",
    "投影类型=高斯克吕格",
    "计量单位=米",
    "带号=40",
    "[地块坐标]",
]


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _square(x: float, y: float, size: float) -> list[tuple[float, float]]:
    """Clockwise square as (easting, northing), closed."""
    return [(x, y), (x, y + size), (x + size, y + size), (x + size, y), (x, y)]


def _point_lines(rings: list[list[tuple[float, float]]], swapped: bool = False) -> list[str]:
    lines = []
    for ring_no, ring in enumerate(rings, start=1):
        for k, (e, n) in enumerate(ring):
            first, second = (e, n) if swapped else (n, e)
            lines.append(f"J{k + 1},{ring_no},{first:.3f},{second:.3f}")
    return lines


def _txt(
    parcels: list[tuple[str, list[list[tuple[float, float]]]]],
    *,
    header: list[str] = HEADER,
    swapped: bool = False,
    newline: str = "\n",
) -> str:
    """Build a TXT file; each parcel's line gets the right point count and area unless the name says 'bad'."""
    lines = list(header)
    for name, rings in parcels:
        points = _point_lines(rings, swapped)
        shells = Polygon(rings[0], rings[1:]).area if rings else 0.0
        lines.append(f"{len(points)},{shells / 10_000:.4f},1,{name},面,,,,@")
        lines += points
    return newline.join(lines) + newline


def _error(data: bytes, **kwargs: object) -> SitecheckError:
    with pytest.raises(SitecheckError) as info:
        read_site(data, **kwargs)  # type: ignore[arg-type]
    return info.value


def _codes(site: Site) -> list[str]:
    return [w.code for w in site.warnings]


BASE = _square(40520000.0, 3353000.0, 100.0)


def test_hangzhou_sample_matches_declared_area_zone_and_points() -> None:
    """Hangzhou: zone 40, 66 point lines, planar 5.7089 ha, ellipsoidal 57 088.9 m² on GRS80."""
    site = read_site(_sample("hangzhou_pengbu_BR14.txt"), filename="hangzhou_pengbu_BR14.txt")
    parcel = site.meta["parcels"][0]
    assert site.source_format == "txt"
    assert site.source_crs == "EPSG:4528"
    assert site.meta["zone_prefix"] == 40
    assert parcel["point_count"] == parcel["point_count_declared"] == 66
    assert site.geometry.area / 10_000 == pytest.approx(5.7089, abs=1e-4)
    assert ellipsoidal_area_m2(site.geometry, site.analysis_crs) == pytest.approx(57_088.9, abs=0.5)
    assert parcel["name"] == "彭埠单元B/R-14地块"
    assert site.meta["header"]["转换参数"] == "0,0,0,0,0,0,0"
    assert site.warnings == []


def test_zhaoqing_sample_matches_declared_area_zone_and_points() -> None:
    """Zhaoqing: zone 38, 6 point lines, planar 1.2247 ha in its own zone."""
    site = read_site(_sample("zhaoqing_44120000072.txt"), analysis_crs="EPSG:4526")
    parcel = site.meta["parcels"][0]
    assert site.source_crs == "EPSG:4526"
    assert site.meta["zone_prefix"] == 38
    assert parcel["point_count"] == 6
    assert round(site.geometry.area / 10_000, 4) == 1.2247
    assert site.warnings == []


def test_sample_in_another_zone_transforms_into_the_analysis_crs() -> None:
    """Zhaoqing (zone 38) read into the zone-40 analysis CRS lands at the same place on the ellipsoid."""
    site = read_site(_sample("zhaoqing_44120000072.txt"))
    assert site.analysis_crs == "EPSG:4528"
    assert ellipsoidal_area_m2(site.geometry, "EPSG:4528") == pytest.approx(12_242.97, abs=0.05)


def test_gbk_crlf_file_is_decoded() -> None:
    """A GBK file with CRLF line ends reads with its Chinese parcel name intact."""
    data = _txt([("测试地块", [BASE])], newline="\r\n").encode("gbk")
    site = read_site(data, filename="site.txt")
    assert site.meta["encoding"] == "gbk"
    assert site.meta["parcels"][0]["name"] == "测试地块"
    assert site.geometry.area == pytest.approx(10_000.0)


def test_utf8_bom_file_is_decoded() -> None:
    """A UTF-8 file with a BOM reads (the BOM is not part of the first line)."""
    site = read_site(_txt([("地块", [BASE])]).encode("utf-8-sig"))
    assert site.meta["encoding"] == "utf-8-sig"
    assert site.geometry.area == pytest.approx(10_000.0)


def test_utf16_file_is_decoded() -> None:
    """A UTF-16 file with a BOM is recognised by content and reads."""
    site = read_site(_txt([("地块", [BASE])], newline="\r\n").encode("utf-16"))
    assert site.source_format == "txt"
    assert site.meta["encoding"] == "utf-16"
    assert site.geometry.area == pytest.approx(10_000.0)


def test_fullwidth_brackets_and_commas() -> None:
    """Full-width 【】 and ，as some tools write them are read like their ASCII forms."""
    text = _txt([("地块", [BASE])]).replace("[", "【").replace("]", "】").replace(",", "，")
    site = read_site(text.encode("utf-8"))
    assert site.geometry.area == pytest.approx(10_000.0)


def test_swapped_columns_are_fixed_and_reported() -> None:
    """Easting-first columns are detected by digit counts, swapped back and reported as AXES_SWAPPED."""
    normal = read_site(_txt([("地块", [BASE])]).encode())
    swapped = read_site(_txt([("地块", [BASE])], swapped=True).encode())
    assert _codes(swapped) == ["AXES_SWAPPED"]
    assert swapped.meta["axes"] == "easting_first"
    assert swapped.geometry_sha256 == normal.geometry_sha256


def test_hole_and_second_part_are_decided_by_geometry() -> None:
    """A ring inside the outer ring is a hole; a disjoint ring is a second part, whatever their 圈号."""
    hole = _square(40520025.0, 3353025.0, 50.0)
    other = _square(40520500.0, 3353000.0, 20.0)
    data = _txt([("地块", [BASE, hole, other])]).encode()
    site = read_site(data)
    assert isinstance(site.geometry, MultiPolygon)
    assert site.part_count == 2
    assert sorted(len(p.interiors) for p in site.geometry.geoms) == [0, 1]
    assert site.geometry.area == pytest.approx(10_000.0 - 2_500.0 + 400.0)
    assert site.meta["parcels"][0]["rings"] == 3


def test_island_inside_hole_is_a_part() -> None:
    """A ring inside a hole (depth two) is another outer ring, not a hole of the hole."""
    hole = _square(40520020.0, 3353020.0, 60.0)
    island = _square(40520040.0, 3353040.0, 20.0)
    site = read_site(_txt([("地块", [BASE, hole, island])]).encode())
    assert site.part_count == 2
    assert site.geometry.area == pytest.approx(10_000.0 - 3_600.0 + 400.0)


def test_two_parcels_are_combined_with_their_facts() -> None:
    """Two parcels (two @ lines) become one site; meta lists both with names and declared areas."""
    second = _square(40521000.0, 3353000.0, 50.0)
    site = read_site(_txt([("甲地块", [BASE]), ("乙地块", [second])]).encode())
    assert site.part_count == 2
    assert [p["name"] for p in site.meta["parcels"]] == ["甲地块", "乙地块"]
    assert [p["area_ha_declared"] for p in site.meta["parcels"]] == [1.0, 0.25]
    assert [p["line"] for p in site.meta["parcels"]] == [8, 14]
    assert site.warnings == []


def test_wrong_field_count_names_the_line() -> None:
    """A point line with three fields is TXT_MALFORMED at its 1-based line number."""
    lines = _txt([("地块", [BASE])]).splitlines()
    lines[9] = "J2,1,3353100.000"
    error = _error("\n".join(lines).encode())
    assert error.code == "TXT_MALFORMED"
    assert error.location == {"line": 10}


def test_non_numeric_coordinate_names_the_line() -> None:
    """A coordinate that is not a number is TXT_MALFORMED at its line."""
    lines = _txt([("地块", [BASE])]).splitlines()
    lines[10] = "J3,1,3353100.000,4052O100.000"
    error = _error("\n".join(lines).encode())
    assert error.code == "TXT_MALFORMED"
    assert error.location == {"line": 11}


def test_point_before_parcel_line_is_malformed() -> None:
    """Point lines before any parcel line are TXT_MALFORMED at the first of them."""
    text = "\n".join([*HEADER, "J1,1,3353000.000,40520000.000"]) + "\n"
    error = _error(text.encode(), fmt="txt")
    assert error.code == "TXT_MALFORMED"
    assert error.location == {"line": 8}


def test_unclosed_ring_is_invalid_with_line() -> None:
    """A ring whose first point is not repeated is GEOM_INVALID naming the ring's last line."""
    lines = _txt([("地块", [BASE])]).splitlines()[:-1]
    error = _error("\n".join(lines).encode())
    assert error.code == "GEOM_INVALID"
    assert error.location is not None
    assert error.location["line"] == 12
    assert error.location["ring_start_line"] == 9


def test_area_mismatch_is_a_warning_with_line() -> None:
    """A declared 地块面积 off by more than 0.0001 ha + 0.1 % is a TXT_AREA_MISMATCH warning at the parcel line."""
    text = _txt([("地块", [BASE])]).replace(",1.0000,", ",1.2000,")
    site = read_site(text.encode())
    assert _codes(site) == ["TXT_AREA_MISMATCH"]
    assert site.warnings[0].location == {"line": 8, "parcel": 0}
    assert site.meta["parcels"][0]["area_ha_computed"] == pytest.approx(1.0)


def test_area_within_tolerance_is_accepted() -> None:
    """A declared area 0.0009 ha off on a 1 ha parcel is within 0.0001 ha + 0.1 %: no warning."""
    site = read_site(_txt([("地块", [BASE])]).replace(",1.0000,", ",1.0009,").encode())
    assert site.warnings == []


def test_point_count_mismatch_is_a_warning_with_line() -> None:
    """A 界址点数 that does not count the closing point is a TXT_POINT_COUNT_MISMATCH warning."""
    site = read_site(_txt([("地块", [BASE])]).replace("\n5,1.0000,", "\n4,1.0000,").encode())
    assert _codes(site) == ["TXT_POINT_COUNT_MISMATCH"]
    assert site.warnings[0].location == {"line": 8, "parcel": 0}


def test_ten_field_parcel_line_keeps_extra_fields() -> None:
    """The 10-field 报省部标 parcel line reads; the extra field is kept in meta."""
    text = _txt([("地块", [BASE])]).replace("面,,,,@", "面,,,,备注,@")
    site = read_site(text.encode())
    assert site.meta["parcels"][0]["extra_fields"] == ["备注"]


def test_xian80_header_is_refused_unless_crs_given() -> None:
    """坐标系=1980西安坐标系 needs 转换参数: CRS_UNKNOWN, unless the caller names the CRS (CRS_OVERRIDDEN)."""
    text = _txt([("地块", [BASE])]).replace("2000国家大地坐标系", "1980西安坐标系")
    error = _error(text.encode())
    assert error.code == "CRS_UNKNOWN"
    assert "转换参数" in error.message_zh
    site = read_site(text.encode(), crs="EPSG:4528")
    assert _codes(site) == ["CRS_OVERRIDDEN"]
    assert site.source_crs == "EPSG:4528"


def test_unprefixed_eastings_use_header_zone() -> None:
    """Eastings without the zone prefix take 带号 from the header (EPSG:4549 = 4509 + 40)."""
    ring = [(e - 40_000_000, n) for e, n in BASE]
    site = read_site(_txt([("地块", [ring])]).encode())
    prefixed = read_site(_txt([("地块", [BASE])]).encode())
    assert site.source_crs == "EPSG:4549"
    assert site.geometry.equals_exact(prefixed.geometry, 1e-6)


def test_unprefixed_eastings_without_zone_need_one() -> None:
    """Without prefix and without 带号 the file is CRS_UNKNOWN, and reads once zone= is passed."""
    header = [h for h in HEADER if not h.startswith("带号")]
    text = _txt([("地块", [[(e - 40_000_000, n) for e, n in BASE]])], header=header)
    assert _error(text.encode()).code == "CRS_UNKNOWN"
    assert read_site(text.encode(), zone=40).source_crs == "EPSG:4549"


def test_zone_argument_contradicting_prefix_is_refused() -> None:
    """zone=39 against eastings carrying prefix 40 is PARAM_INVALID."""
    assert _error(_txt([("地块", [BASE])]).encode(), zone=39).code == "PARAM_INVALID"


def test_header_zone_contradicting_prefix_is_a_warning() -> None:
    """带号=39 in the header against prefix 40: the prefix wins and TXT_ZONE_MISMATCH names the header line."""
    header = [h.replace("带号=40", "带号=39") for h in HEADER]
    site = read_site(_txt([("地块", [BASE])], header=header).encode())
    assert _codes(site) == ["TXT_ZONE_MISMATCH"]
    assert site.warnings[0].location == {"line": 6}
    assert site.source_crs == "EPSG:4528"


def test_missing_crs_name_is_assumed_cgcs2000() -> None:
    """A file without 坐标系 is read as CGCS2000 with a TXT_CRS_ASSUMED warning."""
    header = [h for h in HEADER if not h.startswith("坐标系")]
    site = read_site(_txt([("地块", [BASE])], header=header).encode())
    assert _codes(site) == ["TXT_CRS_ASSUMED"]


def test_six_degree_zone_file() -> None:
    """几度分带=6 with prefix 20 is CGCS2000 6-degree zone 20 (EPSG:4498 = 4478 + 20)."""
    to_gk = Transformer.from_crs("EPSG:4490", "EPSG:4498", always_xy=True)
    e, n = to_gk.transform(117.2, 31.8)
    header = [h.replace("几度分带=3", "几度分带=6").replace("带号=40", "带号=20") for h in HEADER]
    site = read_site(_txt([("地块", [_square(round(e), round(n), 100.0)])], header=header).encode())
    assert site.source_crs == "EPSG:4498"
    assert ellipsoidal_area_m2(site.geometry, site.analysis_crs) == pytest.approx(10_000.0, rel=2e-3)


def test_point_shaped_parcel_is_not_polygonal() -> None:
    """A parcel recorded as 点 is GEOM_NOT_POLYGONAL at its line."""
    error = _error(_txt([("地块", [BASE])]).replace(",面,", ",点,").encode())
    assert error.code == "GEOM_NOT_POLYGONAL"
    assert error.location == {"line": 8, "parcel": 0}


def test_undecodable_bytes_are_encoding_unknown() -> None:
    """Bytes that are neither UTF-8 nor GBK/GB18030 are ENCODING_UNKNOWN."""
    assert _error(b"[\xff\xff\xff]\n", fmt="txt").code == "ENCODING_UNKNOWN"


def test_write_txt_round_trips_holes_and_parts() -> None:
    """write_txt output reads back to the same geometry (holes, two parts) with consistent counts and areas."""
    outer = Polygon(_square(40520000.0, 3353000.0, 100.0), [_square(40520020.0, 3353020.0, 30.5)])
    second = Polygon(_square(40520300.125, 3353000.0, 40.0))
    geometry = MultiPolygon([outer, second])
    text = write_txt(geometry, zone=40, parcel_name="回读地块")
    site = read_site(text.encode("gbk"), fmt="txt")
    assert site.warnings == []
    assert site.geometry_sha256 == geometry_sha256(shapely.normalize(geometry))
    assert site.meta["parcels"][0]["point_count"] == 15
    assert text.splitlines()[10].startswith("15,1.0670,1,回读地块,面")


def test_write_txt_style_matches_ministry_files() -> None:
    """The writer puts X = northing first, prefixes eastings, draws outer rings clockwise and repeats J1."""
    text = write_txt(Polygon([(520000.0, 3353000.0), (520100.0, 3353000.0), (520100.0, 3353100.0)]), zone=40)
    lines = text.split("\r\n")
    assert lines[0] == "[属性描述]" and "[地块坐标]" in lines
    points = lines[lines.index("[地块坐标]") + 2 : -1]
    assert points[0].startswith("J1,1,3353000.000,40520000.000")
    assert points[-1] == points[0]
    ring = [(float(p.split(",")[3]), float(p.split(",")[2])) for p in points]
    assert not shapely.LinearRing(ring).is_ccw


def test_write_txt_of_sample_reads_back_identically() -> None:
    """The Hangzhou sample written out and read back keeps its geometry hash."""
    site = read_site(_sample("hangzhou_pengbu_BR14.txt"))
    again = read_site(write_txt(site.geometry, zone=40).encode(), fmt="txt")
    assert again.geometry_sha256 == site.geometry_sha256
    assert again.warnings == []
