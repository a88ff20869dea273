"""The check's map (项目范围与三条控制线叠加分析图): its data from the pinned versions and the PNG it renders."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Polygon, box

from layers.load import load_configured_layers, load_layer
from sitecheck.check import check_site, record_refusal
from sitecheck.documents import check_map_png
from sitecheck.documents.mapdata import build_map_data, map_frame
from sitecheck.documents.png import MAP_ASPECT, MAP_BOX
from sitecheck.documents.stored import open_check
from sitecheck.errors import CheckNotFound, ParameterInvalid, TxtMalformed
from sitecheck.intake import read_site_geometry
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.stores.base import Store

RULES = load_rules()
RED_LINE_SITE = box(40_511_900, 3_526_300, 40_512_300, 3_526_700)  # 60 000 m² inside the red line FX-HX-01
CLEAN_SITE = box(40_510_100, 3_524_100, 40_510_500, 3_524_400)  # inside the boundary and the industrial zone
ECO_GREEN = np.array([0x2E, 0x7D, 0x32])  # eco_redline's configured colour, drawn opaque only on overlaps


def _check(store: Store, geometry: Polygon, name: str = "地图测试项目") -> dict[str, Any]:
    """Run and store a check of a polygon in EPSG:4528."""
    site = read_site_geometry(geometry.wkt, crs="EPSG:4528")
    return check_site(store, site, ProjectFacts(name, "municipal", "industrial", "100101"), RULES)


def _pixels_near(png: bytes, color: np.ndarray, tolerance: int = 6) -> int:
    """Number of pixels of the map area (not the legend or the text beside it) within a tolerance of a colour."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    height, width = rgb.shape[:2]
    left, bottom, box_width, box_height = MAP_BOX
    rows = slice(round(height * (1 - bottom - box_height)), round(height * (1 - bottom)))
    columns = slice(round(width * left), round(width * (left + box_width)))
    return int((np.abs(rgb[rows, columns] - color) <= tolerance).all(axis=2).sum())


def test_map_frame_keeps_the_site_and_the_aspect() -> None:
    """The frame holds the site with a margin and has the map's aspect ratio."""
    frame = map_frame((100.0, 200.0, 500.0, 300.0), 1.25)
    assert frame[0] < 100 and frame[1] < 200 and frame[2] > 500 and frame[3] > 300
    assert (frame[2] - frame[0]) / (frame[3] - frame[1]) == pytest.approx(1.25)
    assert (frame[0] + frame[2]) / 2 == pytest.approx(300) and (frame[1] + frame[3]) / 2 == pytest.approx(250)


def test_map_data_has_overlap_pieces_and_background(sample_store: Store) -> None:
    """A site across the red line: one 60 000 m² piece of FX-HX-01; the layers around it are clipped to the frame."""
    result = _check(sample_store, RED_LINE_SITE)
    data = build_map_data(sample_store, open_check(sample_store, result["check_id"]), aspect=MAP_ASPECT)
    layers = {layer.key: layer for layer in data.layers}
    assert list(layers) == ["eco_redline", "farmland", "dev_boundary", "industrial_zone"]
    eco = layers["eco_redline"]
    assert [piece.feature_id for piece in eco.pieces] == ["FX-HX-01"]
    assert eco.overlap_m2 == pytest.approx(60_000, abs=1e-6) and eco.pieces[0].sliver is False
    assert eco.pieces[0].geometry.bounds == pytest.approx((40_512_000, 3_526_500, 40_512_300, 3_526_700))
    assert eco.background and layers["dev_boundary"].background
    assert layers["dev_boundary"].outside is None and layers["farmland"].pieces == []
    frame = box(*data.frame)
    assert frame.contains(RED_LINE_SITE)
    assert (data.frame[2] - data.frame[0]) / (data.frame[3] - data.frame[1]) == pytest.approx(MAP_ASPECT)


def test_png_shows_the_red_line_overlap(sample_store: Store) -> None:
    """The PNG decodes at 1600 x 1200, is not blank, and the overlap is painted in the red line's colour."""
    result = _check(sample_store, RED_LINE_SITE)
    png = check_map_png(sample_store, result["check_id"])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1600, 1200)
    rgb = np.asarray(image.convert("RGB"))
    assert (rgb < 250).any(axis=2).mean() > 0.3  # most of the picture is drawn, not white
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 100
    # 300 m x 200 m at about 1.3 px/m is some 100 000 px, less the white hatching.
    assert _pixels_near(png, ECO_GREEN) > 20_000
    assert _pixels_near(png, np.array([0xD5, 0x00, 0x00])) > 300  # the red outline of the overlap


def test_png_of_a_clean_site_has_no_overlap_colour(sample_store: Store) -> None:
    """A compliant site has nothing painted in the red line's overlap colour."""
    result = _check(sample_store, CLEAN_SITE)
    assert result["verdict"] == "compliant"
    png = check_map_png(sample_store, result["check_id"])
    assert Image.open(io.BytesIO(png)).size == (1600, 1200)
    assert _pixels_near(png, ECO_GREEN) < 200


def test_map_uses_the_versions_the_check_used(empty_store: Store, tmp_path: Path) -> None:
    """After a new red-line version without FX-HX-01 the old check's map still shows its overlap; a new one none."""
    load_configured_layers(empty_store, loaded_by="tests", analysis_crs=empty_store.crs)
    before = _check(empty_store, RED_LINE_SITE)
    moved = gpd.GeoDataFrame(
        {"HXBM": ["FX-HX-99"], "HXMC": ["迁移后的红线"], "HXLX": ["水源涵养"], "MJ": [1.0], "GKCS": ["禁止开发"]},
        geometry=[box(40_500_000, 3_510_000, 40_500_500, 3_510_500)],
        crs="EPSG:4528",
    )
    moved.to_file(tmp_path / "moved.gpkg")
    load_layer(empty_store, "eco_redline", tmp_path / "moved.gpkg", loaded_by="tests", analysis_crs=empty_store.crs)
    after = _check(empty_store, RED_LINE_SITE)
    old = build_map_data(empty_store, open_check(empty_store, before["check_id"]), aspect=MAP_ASPECT)
    new = build_map_data(empty_store, open_check(empty_store, after["check_id"]), aspect=MAP_ASPECT)
    old_eco = next(layer for layer in old.layers if layer.key == "eco_redline")
    new_eco = next(layer for layer in new.layers if layer.key == "eco_redline")
    assert old_eco.version == 1 and old_eco.overlap_m2 == pytest.approx(60_000, abs=1e-6)
    assert new_eco.version == 2 and new_eco.pieces == []


def test_unknown_and_refused_checks_have_no_map(sample_store: Store) -> None:
    """An unknown id is CheckNotFound; a refused check (no site) is a ParameterInvalid naming it."""
    with pytest.raises(CheckNotFound):
        check_map_png(sample_store, "chk_doesnotexist")
    refused = record_refusal(
        sample_store,
        TxtMalformed("Line 3: bad", "第 3 行：格式错误"),
        input_sha256=None,
        parameters={},
        created_by="tests",
    )
    with pytest.raises(ParameterInvalid) as caught:
        check_map_png(sample_store, refused)
    assert caught.value.details["check_id"] == refused and caught.value.details["refusal_code"] == "TXT_MALFORMED"
