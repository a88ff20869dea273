"""Golden checks in the sample city's verification zone (data/sample_gpkg/README.md), on both engines.

The zone V = [40 510 000, 40 514 000] x [3 524 000, 3 528 000] (EPSG:4528) holds axis-aligned fixtures, so
every expected area below is a product of side lengths, computed by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon, box

from layers.load import load_configured_layers, load_layer
from sitecheck.check import CheckOptions, check_site, rerun_check
from sitecheck.intake import read_site_geometry
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores import open_store
from sitecheck.stores.base import Store
from tests.conftest import make_settings

X, Y = 40_000_000, 3_000_000  # offsets so that the boxes below read as the README's short coordinates
RULES = load_rules()


def _site(geometry: Polygon) -> Any:
    """A validated site from a polygon in the analysis CRS."""
    return read_site_geometry(geometry.wkt, crs="EPSG:4528")


def _rect(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle given in short coordinates (easting - 40 000 000, northing - 3 000 000)."""
    return box(X + x0, Y + y0, X + x1, Y + y1)


def _check(
    store: Store, geometry: Polygon, category: str = "industrial", level: str = "municipal", use: str | None = "100101"
) -> dict[str, Any]:
    """Run a check of a polygon with project facts."""
    return check_site(store, _site(geometry), ProjectFacts("golden", level, category, use), RULES)


def _layer(result: dict[str, Any], key: str) -> dict[str, Any]:
    """The finding of one layer."""
    return next(f for f in result["layers"] if f["layer"] == key)


def test_clean_industrial_site_is_compliant(sample_store: Store) -> None:
    """A site inside the development boundary and the industrial zone, clear of constraints, passes."""
    result = _check(sample_store, _rect(510_100, 524_100, 510_500, 524_400))
    assert result["site"]["area_m2"] == pytest.approx(120_000, abs=1e-6)
    assert result["site"]["area_ha"] == 12.0 and result["site"]["area_mu"] == 180.0
    assert {f["layer"]: f["status"] for f in result["layers"]} == {
        "eco_redline": "pass",
        "farmland": "pass",
        "dev_boundary": "pass",
        "industrial_zone": "pass",
        "slope": "pass",
    }
    assert result["verdict"] == "compliant"


def test_red_line_overlap_is_conflict_with_area_and_feature(sample_store: Store) -> None:
    """A site across the red-line edge: 300 m x 200 m inside it is a conflict naming FX-HX-01."""
    result = _check(sample_store, _rect(511_900, 526_300, 512_300, 526_700))
    eco = _layer(result, "eco_redline")
    assert eco["status"] == "conflict"
    assert eco["overlap"]["area_m2"] == pytest.approx(60_000, abs=1e-6)
    assert eco["overlap"]["area_ha"] == 6.0 and eco["overlap"]["area_mu"] == 90.0
    assert eco["share"] == pytest.approx(60_000 / 160_000)
    assert [f["id"] for f in eco["features"]] == ["FX-HX-01"]
    assert eco["features"][0]["attributes"]["HXMC"] == "校验生态红线"
    assert "2022" in eco["rule"]["policy"][0] and eco["rule"]["id"] == "eco_redline.no_occupation"
    assert result["verdict"] == "non_compliant"


def test_linear_infrastructure_in_red_line_is_conditional(sample_store: Store) -> None:
    """The same overlap for unavoidable linear infrastructure is conditional on a provincial confirmation."""
    result = _check(sample_store, _rect(511_900, 526_300, 512_300, 526_700), category="linear_infrastructure", use=None)
    eco = _layer(result, "eco_redline")
    assert eco["status"] == "conditional" and eco["rule"]["exception"] == "eco_redline.limited_linear_infrastructure"
    assert "认定意见" in eco["rule"]["reason_zh"]
    assert _layer(result, "industrial_zone")["status"] == "not_applicable"
    assert result["verdict"] == "conditional"


def test_farmland_and_outside_boundary(sample_store: Store) -> None:
    """A site on farmland outside the boundary conflicts twice; a national energy project is conditional."""
    site = _rect(513_100, 524_500, 513_400, 524_800)
    result = _check(sample_store, site)
    farmland, boundary = _layer(result, "farmland"), _layer(result, "dev_boundary")
    assert farmland["status"] == "conflict" and farmland["overlap"]["area_m2"] == pytest.approx(60_000, abs=1e-6)
    assert [f["id"] for f in farmland["features"]] == ["FX-NT-01"]
    assert boundary["status"] == "conflict" and boundary["outside"]["area_m2"] == pytest.approx(90_000, abs=1e-6)
    energy = _check(sample_store, site, category="energy", level="national", use=None)
    assert _layer(energy, "farmland")["status"] == "conditional"
    assert "国务院" in _layer(energy, "farmland")["rule"]["reason_zh"]
    assert _layer(energy, "dev_boundary")["status"] == "conditional"
    assert energy["verdict"] == "conditional"


def test_partly_outside_boundary_reports_area_outside(sample_store: Store) -> None:
    """Half of a site beyond the boundary edge x = 40 513 000: 10 000 m² outside is a conflict."""
    result = _check(sample_store, _rect(512_900, 525_000, 513_100, 525_100))
    boundary = _layer(result, "dev_boundary")
    assert boundary["status"] == "conflict"
    assert boundary["outside"]["area_m2"] == pytest.approx(10_000, abs=1e-6)
    assert boundary["outside"]["share"] == pytest.approx(0.5)
    assert _layer(result, "industrial_zone")["status"] == "review"


def test_sliver_overlap_is_review_not_conflict(sample_store: Store) -> None:
    """A 0.8 m² sliver along the red-line edge is reported, flagged, and sent to review."""
    result = _check(sample_store, _rect(512_600, 526_300, 512_800, 526_500.004), category="public_service", use=None)
    eco = _layer(result, "eco_redline")
    assert eco["status"] == "review" and eco["sliver_count"] == 1
    assert eco["overlap"]["area_m2"] == pytest.approx(0.8, abs=1e-6)
    assert eco["features"][0]["sliver"] is True and eco["features"][0]["mean_width_m"] < 0.1
    assert "人工复核" in eco["rule"]["reason_zh"]
    assert result["thresholds"]["sliver_area_m2"] == 1.0 and result["thresholds"]["sliver_width_m"] == 0.1
    assert result["verdict"] == "needs_review"


def test_boundary_sliver_outside_is_review(sample_store: Store) -> None:
    """A strip 2 cm wide beyond the boundary is a sliver: review, with its area reported."""
    result = _check(sample_store, _rect(512_800, 525_500, 513_000.02, 525_600), category="public_service", use=None)
    boundary = _layer(result, "dev_boundary")
    assert boundary["status"] == "review" and boundary["outside_sliver_count"] == 1
    assert boundary["outside"]["area_m2"] == pytest.approx(2.0, abs=1e-6)


def test_slope_share_above_threshold_is_review(sample_store: Store) -> None:
    """Half the site on the 30° block: steep share 0.5, mean 16.5°, max 30°, review."""
    result = _check(sample_store, _rect(510_450, 527_100, 511_350, 528_000), category="public_service", use=None)
    slope = _layer(result, "slope")
    assert slope["status"] == "review"
    assert slope["slope"]["steep_share"] == pytest.approx(0.5, abs=1e-4)
    assert slope["slope"]["mean_deg"] == pytest.approx(16.5, abs=0.01)
    assert slope["slope"]["max_deg"] == pytest.approx(30.0, abs=0.01)


def test_ring_site_overlap_excludes_its_hole(sample_store: Store) -> None:
    """A ring across the red line: overlap = outer ∩ red line - hole ∩ red line = 120 000 - 60 000 m²."""
    ring = Polygon(
        _rect(511_800, 526_200, 512_400, 526_800).exterior.coords,
        [_rect(511_900, 526_300, 512_300, 526_700).exterior.coords],
    )
    result = _check(sample_store, ring)
    assert result["site"]["area_m2"] == pytest.approx(200_000, abs=1e-6)
    assert _layer(result, "eco_redline")["overlap"]["area_m2"] == pytest.approx(60_000, abs=1e-6)


def test_industrial_use_code_mismatch_is_review(sample_store: Store) -> None:
    """An industrial project with a commercial land-use code inside the zone is sent to review."""
    result = _check(sample_store, _rect(510_100, 524_100, 510_500, 524_400), use="090101")
    zone = _layer(result, "industrial_zone")
    assert zone["status"] == "review" and "090101" in zone["rule"]["reason_zh"]


def test_check_is_stored_and_rerun_gives_same_answer(sample_store: Store) -> None:
    """A stored check re-runs against the same versions to the same findings."""
    first = _check(sample_store, _rect(511_900, 526_300, 512_300, 526_700))
    record = sample_store.get_check(first["check_id"])
    assert record.accepted and record.result == first
    assert record.layer_versions["eco_redline"]["version"] == 1
    again = rerun_check(sample_store, first["check_id"], RULES, analysis_crs="EPSG:4528", created_by="t")
    assert again["rerun_of"] == first["check_id"]
    assert again["layers"] == first["layers"] and again["verdict"] == first["verdict"]
    assert again["layer_versions"] == first["layer_versions"]


def test_engines_agree_on_verdicts_and_areas(sample_stores: dict[str, Store]) -> None:
    """Both engines give the same statuses and areas (1e-6 relative) on a spread of sites."""
    sites = [
        _rect(511_900, 526_300, 512_300, 526_700),
        _rect(513_100, 524_500, 513_400, 524_800),
        _rect(512_600, 526_300, 512_800, 526_500.004),
        _rect(495_000, 515_000, 496_000, 516_500),
        _rect(480_000, 530_000, 482_500, 532_000),
        _rect(500_000, 520_000, 504_000, 523_000),
    ]
    for geometry in sites:
        embedded, postgis = (_check(sample_stores[e], geometry) for e in ("embedded", "postgis"))
        assert embedded["verdict"] == postgis["verdict"]
        for a, b in zip(embedded["layers"], postgis["layers"], strict=True):
            assert (a["layer"], a["status"]) == (b["layer"], b["status"])
            if "overlap" in a:
                assert a["overlap"]["area_m2"] == pytest.approx(b["overlap"]["area_m2"], rel=1e-6, abs=1e-6)
                assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
            if "outside" in a:
                assert a["outside"]["area_m2"] == pytest.approx(b["outside"]["area_m2"], rel=1e-6, abs=1e-6)


def test_as_of_before_any_load_is_refused(sample_store: Store) -> None:
    """Checking as of a date before the layers were loaded says which layers had no version then."""
    from datetime import UTC, datetime

    from sitecheck import errors

    with pytest.raises(errors.VersionNotFound, match="eco_redline"):
        check_site(
            sample_store,
            _site(_rect(510_100, 524_100, 510_500, 524_400)),
            ProjectFacts(),
            RULES,
            options=CheckOptions(as_of=datetime(2001, 1, 1, tzinfo=UTC)),
        )


def test_a_version_published_elsewhere_is_used_by_the_next_check(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store that has cached the versions (one worker) sees a version another store (another worker, the
    command line) published since: the next check names and uses it, never the version it had cached."""
    settings = make_settings(engine, tmp_path, request)
    reader, writer = open_store(settings), open_store(settings)
    try:
        load_configured_layers(writer, loaded_by="tests", analysis_crs=writer.crs)
        before = _check(reader, _rect(512_000, 526_400, 512_200, 526_600))
        assert before["layer_versions"]["eco_redline"]["version"] == 1
        load_layer(
            writer, "eco_redline", SAMPLE_CITY_DIR / "eco_redline.gpkg", loaded_by="tests", analysis_crs=writer.crs
        )
        after = _check(reader, _rect(512_000, 526_400, 512_200, 526_600))
        assert after["layer_versions"]["eco_redline"]["version"] == 2
        assert _layer(after, "eco_redline")["version"] == 2
        assert [f["status"] for f in after["layers"]] == [f["status"] for f in before["layers"]]
    finally:
        reader.close()
        writer.close()
