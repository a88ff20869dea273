"""Warming a started service: the slope raster and the parcel index are read before the first request."""

from __future__ import annotations

from pathlib import Path

from sitecheck import slope
from sitecheck.projection import transformer
from sitecheck.rules import load_rules
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
