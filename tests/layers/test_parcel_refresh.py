"""Parcel figures follow the layer versions: a new red line, a rollback, a new parcels version, changed rules."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pytest
import shapely

from layers.load import load_configured_layers, load_layer
from sitecheck.errors import ParcelNotFound
from sitecheck.events import after_publish
from sitecheck.parcels import ParcelQuery, get_parcel, refresh_parcels, search_parcels
from sitecheck.rules import Thresholds, load_rules
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores import open_store
from sitecheck.stores.base import Store
from tests.conftest import make_settings

RULES = load_rules()
CLEAN_COVER = shapely.box(40_510_150, 3_524_150, 40_510_650, 3_524_550)  # a new red-line patch over FX-CLEAN-01


@pytest.fixture
def loaded_store(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh store of one engine with every sample layer loaded (its own, so tests may change it)."""
    store = open_store(make_settings(engine, tmp_path, request))
    load_configured_layers(store, loaded_by="tests", analysis_crs=store.crs)
    yield store
    store.close()


def _ids(store: Store, **query: Any) -> list[str]:
    """Parcel ids of a search in the verification district."""
    result = search_parcels(store, RULES, ParcelQuery(district=["高新区"], limit=100, **query))
    return [item["id"] for item in result["items"]]


def _with_patch(tmp_path: Path) -> Path:
    """The red-line source plus one polygon covering FX-CLEAN-01, written as a new GeoPackage."""
    frame = pyogrio.read_dataframe(SAMPLE_CITY_DIR / "eco_redline.gpkg", layer="eco_redline")
    extra = frame.iloc[[0]].copy()
    extra["HXBM"], extra["HXMC"] = "FX-HX-02", "新增生态红线"
    extra["MJ"] = CLEAN_COVER.area / 1e4
    extra.geometry = [shapely.MultiPolygon([CLEAN_COVER])]
    path = tmp_path / "eco_redline_v2.gpkg"
    pyogrio.write_dataframe(pd.concat([frame, extra], ignore_index=True), path, layer="eco_redline")
    return path


def test_a_new_red_line_version_drops_the_parcel_it_covers(loaded_store: Store, tmp_path: Path) -> None:
    """Red line v2 over FX-CLEAN-01 drops it from default results; a rollback, even without the hook, restores it."""
    assert "FX-CLEAN-01" in _ids(loaded_store)
    version = load_layer(
        loaded_store, "eco_redline", _with_patch(tmp_path), loaded_by="tests", analysis_crs=loaded_store.crs
    )
    assert version.version == 2
    assert "FX-CLEAN-01" not in _ids(loaded_store) and "FX-WH-01" in _ids(loaded_store)
    nonclean = search_parcels(loaded_store, RULES, ParcelQuery(park=["校验园区"], include_nonclean=True))
    clean_fixture = next(item for item in nonclean["items"] if item["id"] == "FX-CLEAN-01")
    problem = clean_fixture["compliance"]["problems"][0]
    assert (problem["layer"], problem["status"], problem["overlap_m2"]) == ("eco_redline", "conflict", 120_000.0)
    assert nonclean["layer_versions"]["eco_redline"] == 2
    eco = next(
        x for x in get_parcel(loaded_store, RULES, "FX-CLEAN-01")["compliance"]["layers"] if x["layer"] == "eco_redline"
    )
    assert eco["version"] == 2 and eco["features"][0]["id"] == "FX-HX-02"

    loaded_store.rollback("eco_redline", 1, by="tests")  # published behind the service's back: no after_publish
    assert "FX-CLEAN-01" in _ids(loaded_store)
    assert search_parcels(loaded_store, RULES, ParcelQuery())["layer_versions"]["eco_redline"] == 1


def test_a_search_never_answers_from_figures_another_worker_replaced(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two workers on one deployment: one publishes a red line and rolls it back; the other, which searched before
    (and holds the figures of that state in memory), answers each time from the versions now in force."""
    settings = make_settings(engine, tmp_path, request)
    publisher, searcher = open_store(settings), open_store(settings)
    try:
        load_configured_layers(publisher, loaded_by="tests", analysis_crs=publisher.crs)
        assert "FX-CLEAN-01" in _ids(searcher)
        load_layer(publisher, "eco_redline", _with_patch(tmp_path), loaded_by="tests", analysis_crs=publisher.crs)
        assert "FX-CLEAN-01" not in _ids(searcher) and "FX-WH-01" in _ids(searcher)
        assert search_parcels(searcher, RULES, ParcelQuery())["layer_versions"]["eco_redline"] == 2
        publisher.rollback("eco_redline", 1, by="tests")  # no after_publish anywhere: the searcher catches up
        assert "FX-CLEAN-01" in _ids(searcher)
        assert search_parcels(searcher, RULES, ParcelQuery())["layer_versions"]["eco_redline"] == 1
    finally:
        searcher.close()
        publisher.close()


def test_a_new_parcels_version_and_changed_rules_recompute(loaded_store: Store, tmp_path: Path) -> None:
    """Parcels v2 without FX-WH-01 recomputes everything; a changed rule set recomputes only the rule layers."""
    frame = pyogrio.read_dataframe(SAMPLE_CITY_DIR / "parcels.gpkg", layer="parcels")
    path = tmp_path / "parcels_v2.gpkg"
    pyogrio.write_dataframe(frame[frame["地块编号"] != "FX-WH-01"], path, layer="parcels")
    load_layer(loaded_store, "parcels", path, loaded_by="tests", analysis_crs=loaded_store.crs)
    with pytest.raises(ParcelNotFound):
        get_parcel(loaded_store, RULES, "FX-WH-01")
    assert get_parcel(loaded_store, RULES, "FX-CLEAN-01")["parcels_version"] == 2
    assert "FX-WH-01" not in _ids(loaded_store)

    stricter = dataclasses.replace(RULES, thresholds=Thresholds(sliver_area_m2=0.5, sliver_width_m=0.001))
    report = refresh_parcels(loaded_store, stricter)
    assert report["status"] == "refreshed"
    assert set(report["parts"]) == {"eco_redline", "farmland", "dev_boundary", "industrial_zone"}
    sliver = next(
        x
        for x in get_parcel(loaded_store, stricter, "FX-SLIVER-01")["compliance"]["layers"]
        if x["layer"] == "eco_redline"
    )
    assert sliver["status"] == "conflict"  # 0.8 m² by 4 mm is no sliver under 0.5 m² / 1 mm thresholds
    assert refresh_parcels(loaded_store, stricter)["status"] == "up_to_date"


def test_after_publish_reports_what_it_did(empty_store: Store) -> None:
    """Before parcels exist it waits; a raster layer is unaffected; an up-to-date store is left alone."""
    assert after_publish(empty_store, "slope", rules=RULES)["parcels"] == {"status": "unaffected"}
    waiting = after_publish(empty_store, "eco_redline", rules=RULES)["parcels"]
    assert waiting["status"] == "waiting" and "parcels" in waiting["missing"]


def test_searches_during_a_refresh_see_complete_figures(loaded_store: Store) -> None:
    """Searches running while the figures are recomputed see the old index or the new one, never a partial one."""
    expected = search_parcels(loaded_store, RULES, ParcelQuery(limit=5))
    wrong: list[Any] = []
    done: list[int] = []
    stop = threading.Event()

    def search_until_stopped() -> None:
        """Search again and again, recording any answer (or error) that differs from the expected one."""
        while not stop.is_set():
            try:
                found = search_parcels(loaded_store, RULES, ParcelQuery(limit=5))
            except Exception as error:  # a thread's exception would otherwise vanish
                wrong.append(repr(error))
                return
            if (found["total"], found["items"]) != (expected["total"], expected["items"]):
                wrong.append(found["total"])
            done.append(1)

    threads = [threading.Thread(target=search_until_stopped) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(2):
            assert refresh_parcels(loaded_store, RULES, force=True)["status"] == "refreshed"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert wrong == [] and len(done) > 0
