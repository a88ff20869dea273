"""Warming a started service: the slope raster, the parcel index, the CRS transformers and the embedded engine's
tile copies are made before the first request."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sitecheck import slope
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tiles import get_tile
from sitecheck.projection import transformer
from sitecheck.rules import load_rules
from sitecheck.settings import Settings
from sitecheck.stores import features_embedded, open_store
from sitecheck.stores.base import Store
from sitecheck.warmup import warm_up


def test_warm_up_reads_the_raster_and_tolerates_missing_layers(empty_store: Store, sample_store: Store) -> None:
    """On a store with nothing loaded warm_up does nothing and does not fail; on the sample city the slope
    raster is in memory afterwards, so the first check does not read it."""
    slope._read_raster.cache_clear()
    warm_up(empty_store, load_rules())
    warm_up(sample_store, load_rules())
    raster = next(layer for layer in sample_store.catalog.by_role("raster"))
    assert raster.source is not None
    info = slope._read_raster.cache_info()
    assert info.currsize >= 1
    slope.load_raster(Path(raster.source))
    assert slope._read_raster.cache_info().hits == info.hits + 1


def test_warm_up_makes_the_crs_transformers(sample_store: Store) -> None:
    """The transformers between the analysis CRS and lon/lat or Web Mercator exist before the first request."""
    transformer.cache_clear()
    warm_up(sample_store, load_rules())
    made = transformer.cache_info().currsize
    transformer(sample_store.crs, "OGC:CRS84")
    transformer("EPSG:3857", sample_store.crs)
    assert made >= 8
    assert transformer.cache_info().currsize == made


def test_warm_up_builds_the_embedded_tile_copies(
    sample_settings: dict[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded engine keeps each version's Web-Mercator copy in the worker's memory: warm_up builds the
    current version's copy of every vector layer, so no tile request does."""
    built: list[int] = []
    tile_source = features_embedded.tile_source

    def counted(*args: Any) -> Any:
        built.append(len(args[0]))
        return tile_source(*args)

    monkeypatch.setattr(features_embedded, "tile_source", counted)
    with closing(open_store(sample_settings["embedded"])) as store:
        reader = feature_reader(store)
        published = {
            layer.key: number
            for layer in store.catalog.vector_layers()
            if (number := reader.current_version_number(layer.key)) is not None
        }
        warm_up(store, load_rules())
        assert len(built) == len(published) >= 5
        assert sum(built) > 1000  # the farmland alone has more features
        for key, number in published.items():
            get_tile(store, key, number, 14, 13_000, 6_800)
        assert len(built) == len(published)
