"""The grid that picks a tile's features: the features an STRtree query of the tile's box finds, filtered by size,
largest first, capped."""

from __future__ import annotations

import numpy as np
import shapely

from sitecheck.onemap.tile_index import build_tile_index, tile_rows


def _expected(
    geometries: np.ndarray, sizes: np.ndarray, fids: np.ndarray, box: tuple[float, ...], min_size: float, most: int
) -> np.ndarray:
    """What the STRtree (envelopes meeting the box, edges touching count) and a lexsort give."""
    hits = shapely.STRtree(geometries).query(shapely.box(*box))
    hits = hits[sizes[hits] >= min_size]
    return hits[np.lexsort((fids[hits], -sizes[hits]))][:most]


def test_the_grid_finds_what_an_strtree_finds() -> None:
    """Random rectangles, points, empties and a few huge features; boxes of every size, some touching features'
    edges exactly, some outside everything: the same rows in the same order."""
    rng = np.random.default_rng(3)
    n = 3000
    corners = rng.integers(0, 10_000, size=(n, 2)).astype(float)
    extents = rng.choice([0.0, 5.0, 40.0, 300.0, 6000.0], size=(n, 2), p=[0.1, 0.4, 0.3, 0.18, 0.02])
    geometries = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + extents[:, 0], corners[:, 1] + extents[:, 1])
    points = extents[:, 0] == 0
    geometries[points] = shapely.points(corners[points])
    geometries[rng.choice(n, 40, replace=False)] = shapely.Polygon()
    bounds = shapely.bounds(geometries)
    sizes = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    sizes[points] = np.inf
    fids = rng.permutation(n) * 7 - 50
    sizes[:200] = 40.0  # ties in size: ordered by fid
    index = build_tile_index(bounds, sizes, fids)
    assert index.columns * index.rows > 10
    boxes = []
    for _ in range(400):
        x, y = rng.uniform(-2_000, 11_000, size=2)
        w = float(rng.choice([1.0, 50.0, 500.0, 5_000.0, 20_000.0]))
        boxes.append((x, y, x + w, y + w))
    # Boxes whose edges lie exactly on features' edges, and one beyond everything.
    for f in rng.choice(np.flatnonzero(~np.isnan(bounds[:, 0])), 50, replace=False):
        minx, miny, maxx, maxy = bounds[f]
        boxes += [(maxx, maxy, maxx + 100, maxy + 100), (minx - 100, miny - 100, minx, miny)]
    boxes.append((50_000.0, 50_000.0, 60_000.0, 60_000.0))
    found = 0
    for box in boxes:
        for min_size, most in ((0.0, 10**9), (30.0, 10**9), (10.0, 25)):
            rows = tile_rows(index, box, min_size, most)
            assert rows.tolist() == _expected(geometries, sizes, fids, box, min_size, most).tolist()
            found += len(rows)
    assert found > 10_000


def test_a_version_with_nothing_to_draw() -> None:
    """Only empty geometries: an index all the same, which finds nothing."""
    geometries = np.array([shapely.Polygon(), shapely.LineString()], dtype=object)
    index = build_tile_index(shapely.bounds(geometries), np.zeros(2), np.arange(2))
    assert tile_rows(index, (-1e9, -1e9, 1e9, 1e9), 0.0, 10).tolist() == []


def test_large_overlapping_features_keep_the_grid_small() -> None:
    """Many features each covering a quarter of the extent: the cells grow until they are listed a few times
    each, not in thousands of cells; queries still find what an STRtree finds."""
    rng = np.random.default_rng(5)
    corners = rng.uniform(0, 7_500, size=(20_000, 2))
    geometries = shapely.box(corners[:, 0], corners[:, 1], corners[:, 0] + 2_500, corners[:, 1] + 2_500)
    geometries[:10_000] = shapely.points(corners[:10_000])  # and as many points
    bounds = shapely.bounds(geometries)
    sizes = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])
    fids = np.arange(len(geometries))
    index = build_tile_index(bounds, sizes, fids)
    assert len(index.members) <= 8 * len(geometries)
    found = []
    for x, y, w in ((100.0, 100.0, 10.0), (5_000.0, 2_000.0, 300.0), (-50.0, -50.0, 20_000.0)):
        box = (x, y, x + w, y + w)
        rows = tile_rows(index, box, 0.0, 10**9)
        assert rows.tolist() == _expected(geometries, sizes, fids, box, 0.0, 10**9).tolist()
        found.append(len(rows))
    assert found[0] > 0 and found[1] > 100 and found[2] == len(geometries)
