"""部标 TXT exports of a check: parsing the exported site or overlap pieces gives back the same geometry (1 mm)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from sitecheck.check import check_site
from sitecheck.documents import check_overlaps_txt, check_site_txt
from sitecheck.documents.txt_export import Encoding
from sitecheck.errors import GeometryEmpty, LayerNotFound, ParameterInvalid
from sitecheck.intake import read_site, read_site_geometry
from sitecheck.intake.txt import read_txt
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import IntakeLimits
from sitecheck.stores.base import Store

RULES = load_rules()
LIMITS = IntakeLimits()
RED_LINE_SITE = box(40_511_900, 3_526_300, 40_512_300, 3_526_700)
HALF_OUTSIDE_SITE = box(40_512_900, 3_525_000, 40_513_100, 3_525_100)  # half beyond the boundary x = 40 513 000


def _check(store: Store, geometry: BaseGeometry, name: str = "导出测试项目") -> Any:
    """Run and store a check of a geometry in EPSG:4528."""
    site = read_site_geometry(geometry.wkt, crs="EPSG:4528")
    return check_site(store, site, ProjectFacts(name, "municipal", "public_service", None), RULES)


def _same_to_1mm(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Same structure and every vertex within 1 mm (both in GEOS normal form)."""
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=0.001))


def _read_back(data: bytes) -> BaseGeometry:
    """Parse an exported TXT as an upload: the validated site in the analysis CRS."""
    return read_site(data, filename="export.txt", analysis_crs="EPSG:4528", limits=LIMITS).geometry


def test_site_txt_round_trip_with_hole_and_parts(sample_store: Store) -> None:
    """A two-part site with a hole and sub-millimetre coordinates comes back to 1 mm, in GBK and in UTF-8."""
    ring = Polygon(
        [(40_510_150.1234, 3_524_120.5678), (40_510_480.9876, 3_524_130.4321), (40_510_470.5555, 3_524_390.0001),
         (40_510_160.3333, 3_524_380.7777)],
        [[(40_510_250.25, 3_524_200.75), (40_510_300.5, 3_524_200.125), (40_510_290.875, 3_524_260.0625)]],
    )
    island = box(40_510_600.0004, 3_524_150.0006, 40_510_700.4567, 3_524_250.8901)
    site = MultiPolygon([ring, island])
    result = _check(sample_store, site, name="示例市，㮾梨@园区")
    stored = shapely.from_wkb(sample_store.get_check(result["check_id"]).geometry_wkb)
    encodings: tuple[Encoding, ...] = ("gbk", "utf-8")
    for encoding in encodings:
        data = check_site_txt(sample_store, result["check_id"], encoding=encoding)
        back = _read_back(data)
        assert _same_to_1mm(back, stored), encoding
        assert back.area == pytest.approx(stored.area, abs=0.5)
    raw = read_txt(check_site_txt(sample_store, result["check_id"]), limits=LIMITS)
    assert raw.crs == "EPSG:4528" and raw.meta["encoding"] in ("gbk", "gb18030")
    parcel = raw.meta["parcels"][0]
    assert parcel["id"] == result["check_id"] and parcel["name"] == "示例市 㮾梨 园区"
    assert parcel["area_ha_declared"] == pytest.approx(stored.area / 10_000, abs=1e-4)
    assert not [w for w in raw.warnings if w.code.startswith("TXT_")]


def test_site_txt_of_a_rectangle_is_exact(sample_store: Store) -> None:
    """Whole-metre coordinates are written and read back exactly: the same geometry hash."""
    result = _check(sample_store, RED_LINE_SITE)
    site = read_site(check_site_txt(sample_store, result["check_id"]), filename="s.txt", limits=LIMITS)
    assert site.geometry_sha256 == result["site"]["geometry_sha256"]
    text = check_site_txt(sample_store, result["check_id"], encoding="utf-8").decode("utf-8")
    assert "带号=40" in text and text.endswith("\r\n")
    points = re.findall(r"^J(\d+),1,(\d{7}\.\d{3}),(40\d{6}\.\d{3})\r$", text, flags=re.MULTILINE)
    assert len(points) == 5 and points[0] == points[-1]  # X = northing, Y = prefixed easting, ring closed
    assert {(float(y), float(x)) for _, x, y in points} == {
        (40_511_900, 3_526_300), (40_512_300, 3_526_300), (40_512_300, 3_526_700), (40_511_900, 3_526_700)
    }


def test_overlap_pieces_round_trip(sample_store: Store) -> None:
    """The red-line piece (300 m x 200 m) comes back as one parcel named by its feature; all layers give two."""
    result = _check(sample_store, RED_LINE_SITE)
    data = check_overlaps_txt(sample_store, result["check_id"], layer="eco_redline")
    raw = read_txt(data, limits=LIMITS)
    assert [(p["id"], p["name"]) for p in raw.meta["parcels"]] == [("FX-HX-01", "生态保护红线 校验生态红线")]
    back = _read_back(data)
    assert back.area == pytest.approx(60_000, abs=1e-6)
    assert _same_to_1mm(back, box(40_512_000, 3_526_500, 40_512_300, 3_526_700))
    every = read_txt(check_overlaps_txt(sample_store, result["check_id"]), limits=LIMITS)
    assert [p["id"] for p in every.meta["parcels"]] == ["FX-HX-01", "KFBJ0001"]


def test_outside_part_of_a_zone(sample_store: Store) -> None:
    """part=outside writes the 100 m x 100 m of the site beyond the development boundary."""
    result = _check(sample_store, HALF_OUTSIDE_SITE)
    data = check_overlaps_txt(sample_store, result["check_id"], layer="dev_boundary", part="outside")
    assert _same_to_1mm(_read_back(data), box(40_513_000, 3_525_000, 40_513_100, 3_525_100))
    assert read_txt(data, limits=LIMITS).meta["parcels"][0]["name"] == "位于城镇开发边界外"


def test_overlap_export_refusals(sample_store: Store) -> None:
    """No overlap, a non-checked layer, outside for a constraint, an unknown layer: each a clear domain error."""
    result = _check(sample_store, RED_LINE_SITE)
    with pytest.raises(GeometryEmpty) as empty:
        check_overlaps_txt(sample_store, result["check_id"], layer="farmland")
    assert empty.value.details["layer"] == "farmland"
    with pytest.raises(ParameterInvalid):
        check_overlaps_txt(sample_store, result["check_id"], layer="parcels")
    with pytest.raises(ParameterInvalid):
        check_overlaps_txt(sample_store, result["check_id"], layer="eco_redline", part="outside")
    with pytest.raises(GeometryEmpty):
        check_overlaps_txt(sample_store, result["check_id"], layer="dev_boundary", part="outside")
    with pytest.raises(LayerNotFound):
        check_overlaps_txt(sample_store, result["check_id"], layer="no_such_layer")
