"""A page of features and its total: counted only when the page itself does not tell it, the same either way."""

from __future__ import annotations

import pytest

from sitecheck.onemap.model import FeatureQuery, page_total
from sitecheck.onemap.reader import feature_reader
from sitecheck.stores.base import Store


@pytest.mark.parametrize(
    ("limit", "offset", "returned", "total"),
    [
        (10, 0, 3, 3),  # a first page that is not full holds every match
        (10, 20, 4, 24),  # so does a last page
        (10, 0, 0, 0),  # nothing matched
        (10, 0, 10, None),  # a full page: there may be more
        (10, 30, 0, None),  # past the end: the total is smaller than the offset, but unknown
        (None, 5, 7, 12),  # no limit: the rest after the offset
    ],
)
def test_page_total(limit: int | None, offset: int, returned: int, total: int | None) -> None:
    """The total follows from the page exactly when the page is neither full nor empty past the first."""
    assert page_total(FeatureQuery(limit=limit, offset=offset), returned) == total


def test_every_page_reports_the_same_total(sample_store: Store) -> None:
    """Full pages, the short last page and a page past the end all give the layer's count of features."""
    reader = feature_reader(sample_store)
    version = reader.version("farmland", sample_store.current_versions()["farmland"].version)
    everything = reader.query_features(version, FeatureQuery())
    total = len(everything.features)
    assert everything.matched == total > 25
    for offset in (0, 10, total - 3, total + 5):
        page = reader.query_features(version, FeatureQuery(limit=10, offset=offset))
        assert page.matched == total
        assert [f.fid for f in page.features] == [f.fid for f in everything.features[offset : offset + 10]]
