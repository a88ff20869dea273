"""The shared transformers: built from the chosen operation's PROJ pipeline, they compute what pyproj's own do."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from pyproj import Transformer

from sitecheck.projection import transformer

PROJECTED = {
    "EPSG:4528": (np.array([40_500_000.0, 40_412_345.6]), np.array([3_500_000.0, 3_612_345.6])),
    "EPSG:4549": (np.array([500_000.0, 412_345.6]), np.array([3_500_000.0, 3_612_345.6])),
    "EPSG:3857": (np.array([13_358_338.9, 13_400_000.0]), np.array([3_700_000.0, 3_800_000.0])),
}
LONLAT = (np.array([120.1, 119.5]), np.array([31.2, 32.0]))
PAIRS = [
    ("EPSG:4528", "OGC:CRS84"),
    ("OGC:CRS84", "EPSG:4528"),
    ("EPSG:4528", "EPSG:3857"),
    ("EPSG:3857", "EPSG:4528"),
    ("EPSG:4490", "EPSG:4528"),
    ("EPSG:4528", "EPSG:4490"),
    ("EPSG:4326", "EPSG:4528"),
    ("EPSG:4326", "EPSG:4490"),
    ("EPSG:4549", "EPSG:4490"),
]


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_transformer_matches_pyproj_from_crs(source: str, target: str) -> None:
    """Same numbers as pyproj's transformer between the two CRSs, in x/y (lon/lat) order, from any thread."""
    x, y = PROJECTED.get(source, LONLAT)
    expected = Transformer.from_crs(source, target, always_xy=True).transform(x, y, errcheck=True)
    ours = transformer(source, target)
    assert ours is transformer(source, target)
    np.testing.assert_array_equal(ours.transform(x, y, errcheck=True), expected)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    worker = threading.Thread(target=lambda: seen.append(ours.transform(x, y, errcheck=True)))
    worker.start()
    worker.join()
    np.testing.assert_array_equal(seen[0], expected)


def test_transformer_is_a_pipeline() -> None:
    """What a new thread rebuilds is a PROJ pipeline, not a search of PROJ's database."""
    assert transformer("EPSG:4528", "OGC:CRS84").definition.startswith("proj=pipeline")


def test_a_pair_with_several_operations_keeps_pyprojs_transformer() -> None:
    """WGS 84 to NAD83 has several candidate operations, chosen point by point: no single pipeline stands for them."""
    ours = transformer("EPSG:4326", "EPSG:4269")
    assert not ours.definition.startswith("proj=pipeline")
    expected = Transformer.from_crs("EPSG:4326", "EPSG:4269", always_xy=True).transform(-100.0, 40.0)
    assert ours.transform(-100.0, 40.0) == expected
