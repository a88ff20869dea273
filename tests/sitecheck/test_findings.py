"""Findings of one layer: overlapping features measured once, touching ones added up, slivers kept apart."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import box

from sitecheck.config import load_catalog
from sitecheck.findings import SiteFacts, interiors_overlap, layer_findings
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores.base import OverlapPiece

X0, Y0 = 40_500_000.0, 3_520_000.0
SITE = box(X0, Y0, X0 + 300, Y0 + 200)  # 60 000 m²
FACTS = ProjectFacts("测试", "municipal", "industrial", "100101")


def _finding(layer_key: str, pieces: list[shapely.Geometry]) -> dict[str, object]:
    """The finding of the sample city's layer for pieces already cut to the site."""
    catalog, rules = load_catalog(SAMPLE_CITY_DIR / "layers.toml"), load_rules()
    layer = catalog.get(layer_key)
    overlap = [OverlapPiece(i, f"F{i}", None, None, {}, g) for i, g in enumerate(pieces, start=1)]
    site = SiteFacts(SITE, SITE.area, "EPSG:4528")
    return layer_findings([(layer, 1, rules.rule_for(layer), overlap)], site, FACTS, rules.thresholds)[0]


def test_touching_pieces_are_not_overlapping_but_overlapping_ones_are() -> None:
    """Edge- and corner-touching pieces do not share interior; a 1 m overlap does."""
    touching = np.array([box(0, 0, 10, 10), box(10, 0, 20, 10), box(20, 10, 30, 20)], dtype=object)
    assert not interiors_overlap(touching)
    assert interiors_overlap(np.array([box(0, 0, 10, 10), box(9, 0, 20, 10)], dtype=object))
    assert interiors_overlap(np.array([box(0, 0, 10, 10), box(2, 2, 5, 5)], dtype=object))  # one inside another


def test_touching_farmland_patches_add_up() -> None:
    """Three patches sharing edges: the layer's overlap is their sum, 3 x 10 000 m², share 50 %."""
    pieces = [box(X0 + 100 * i, Y0, X0 + 100 * (i + 1), Y0 + 100) for i in range(3)]
    finding = _finding("farmland", pieces)
    assert finding["overlap"]["area_m2"] == pytest.approx(30_000, abs=1e-6)  # type: ignore[index]
    assert finding["share"] == pytest.approx(0.5)
    assert finding["feature_count"] == 3 and finding["status"] == "conflict"
    ellipsoidal = sum(f["overlap"]["ellipsoidal_area_m2"] for f in finding["features"])  # type: ignore[attr-defined]
    assert finding["overlap"]["ellipsoidal_area_m2"] == pytest.approx(ellipsoidal, abs=1e-3)  # type: ignore[index]


def test_overlapping_farmland_patches_count_once() -> None:
    """Two patches overlapping by 50 m x 100 m: 15 000 m² of overlap, not 20 000; each feature keeps its own."""
    pieces = [box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 50, Y0, X0 + 150, Y0 + 100)]
    finding = _finding("farmland", pieces)
    assert finding["overlap"]["area_m2"] == pytest.approx(15_000, abs=1e-6)  # type: ignore[index]
    assert [f["overlap"]["area_m2"] for f in finding["features"]] == [10_000, 10_000]  # type: ignore[attr-defined]


def test_zone_outside_is_cut_by_the_union_of_touching_pieces() -> None:
    """Two development-boundary features sharing an edge cover the left 200 m: 20 000 m² lie outside."""
    pieces = [box(X0, Y0, X0 + 100, Y0 + 200), box(X0 + 100, Y0, X0 + 200, Y0 + 200)]
    finding = _finding("dev_boundary", pieces)
    assert finding["overlap"]["area_m2"] == pytest.approx(40_000, abs=1e-6)  # type: ignore[index]
    assert finding["outside"]["area_m2"] == pytest.approx(20_000, abs=1e-6)  # type: ignore[index]
    assert finding["status"] == "conflict"
