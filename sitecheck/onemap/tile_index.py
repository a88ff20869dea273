"""A grid over a layer version's feature extents (Web-Mercator metres): a tile's features, largest first, in one
compiled call.

Each cell lists the features whose extent reaches it. A tile reads the cells under its buffered box and keeps
each feature whose extent meets the box (edges touching count, as in an STRtree query), once: in the cell that
holds the lower-left corner of the two extents' overlap. Then the size filter and the drawing order (largest
extent first, then feature id) and the cap, as ``render_tile`` asks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import types

from sitecheck.compiled import FLOAT, INT, INTS, compiled

_FEATURES_PER_CELL = 32  # the cell's size aims at this many features per cell, where they are spread evenly
_MOST_CELLS = 1 << 22
_MOST_LISTINGS_PER_FEATURE = 8  # on average: cells grow until the features' listings fit


@dataclass(frozen=True)
class TileIndex:
    """Per feature: its extent (minx, miny, maxx, maxy), size and id. Cells of ``cell_m`` metres from
    ``origin`` (``columns`` × ``rows``); ``cell_starts`` delimits each cell's features in ``members`` (cells row
    by row)."""

    bounds: np.ndarray
    sizes: np.ndarray
    fids: np.ndarray
    origin: tuple[float, float]
    cell_m: float
    columns: int
    rows: int
    cell_starts: np.ndarray
    members: np.ndarray


def build_tile_index(bounds: np.ndarray, sizes: np.ndarray, fids: np.ndarray) -> TileIndex:
    """Index features by their extents (NaN for an empty geometry: never found), with their sizes and ids."""
    bounds = np.ascontiguousarray(bounds, dtype=np.float64)
    sizes = np.ascontiguousarray(sizes, dtype=np.float64)
    fids = np.ascontiguousarray(fids, dtype=np.int64)
    drawn = np.flatnonzero(~np.isnan(bounds[:, 0]))
    if not len(drawn):
        empty = np.zeros(0, dtype=np.int64)
        return TileIndex(bounds, sizes, fids, (0.0, 0.0), 1.0, 1, 1, np.zeros(2, dtype=np.int64), empty)
    minx, miny = bounds[drawn, 0].min(), bounds[drawn, 1].min()
    width = max(bounds[drawn, 2].max() - minx, 1.0)
    height = max(bounds[drawn, 3].max() - miny, 1.0)
    cell = max(math.sqrt(width * height * _FEATURES_PER_CELL / len(drawn)), math.sqrt(width * height / _MOST_CELLS))
    # Large features are listed in every cell they reach: coarser cells where that would list too many.
    while True:
        columns, rows = int(width // cell) + 1, int(height // cell) + 1
        ranges = _cell_ranges(bounds, drawn, minx, miny, cell, columns, rows)
        listings = ((ranges[:, 2] - ranges[:, 0] + 1) * (ranges[:, 3] - ranges[:, 1] + 1)).sum()
        if listings <= _MOST_LISTINGS_PER_FEATURE * len(drawn) or columns * rows == 1:
            break
        cell *= 2
    starts, members = _fill(ranges, drawn, columns, rows)
    return TileIndex(bounds, sizes, fids, (float(minx), float(miny)), float(cell), columns, rows, starts, members)


def tile_rows(index: TileIndex, box: tuple[float, float, float, float], min_size: float, most: int) -> np.ndarray:
    """The features (row numbers) whose extent meets ``box`` and whose size is ``min_size`` or more: largest
    first, then by feature id, at most ``most``."""
    return _query(
        index.cell_starts, index.members, *index.origin, index.cell_m, index.columns, index.rows,
        index.bounds, index.sizes, index.fids, *box, min_size, most,
    )  # fmt: skip


@compiled(INT(FLOAT, FLOAT, FLOAT, INT))
def _cell_of(value: float, origin: float, cell: float, cells: int) -> int:
    """The cell (column or row) holding a coordinate, within the grid."""
    return min(max(math.floor((value - origin) / cell), 0), cells - 1)


@compiled(types.int64[:, ::1](FLOAT[:, ::1], INTS, FLOAT, FLOAT, FLOAT, INT, INT))
def _cell_ranges(
    bounds: np.ndarray, drawn: np.ndarray, minx: float, miny: float, cell: float, columns: int, rows: int
) -> np.ndarray:
    """The cells each feature reaches: first column, first row, last column, last row."""
    ranges = np.empty((len(drawn), 4), dtype=np.int64)
    for i in range(len(drawn)):
        f = drawn[i]
        ranges[i, 0], ranges[i, 2] = (
            _cell_of(bounds[f, 0], minx, cell, columns),
            _cell_of(bounds[f, 2], minx, cell, columns),
        )
        ranges[i, 1], ranges[i, 3] = _cell_of(bounds[f, 1], miny, cell, rows), _cell_of(bounds[f, 3], miny, cell, rows)
    return ranges


@compiled(types.Tuple((INTS, INTS))(types.int64[:, ::1], INTS, INT, INT))
def _fill(ranges: np.ndarray, drawn: np.ndarray, columns: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's features (CSR: starts, members), from the cells each reaches (``_cell_ranges``)."""
    counts = np.zeros(columns * rows + 1, dtype=np.int64)
    for i in range(len(drawn)):
        for row in range(ranges[i, 1], ranges[i, 3] + 1):
            counts[row * columns + ranges[i, 0] + 1 : row * columns + ranges[i, 2] + 2] += 1
    starts = np.cumsum(counts)
    members = np.empty(starts[-1], dtype=np.int64)
    filled = starts[:-1].copy()
    for i in range(len(drawn)):
        for row in range(ranges[i, 1], ranges[i, 3] + 1):
            for column in range(ranges[i, 0], ranges[i, 2] + 1):
                members[filled[row * columns + column]] = drawn[i]
                filled[row * columns + column] += 1
    return starts, members


@compiled(
    INTS(
        INTS, INTS, FLOAT, FLOAT, FLOAT, INT, INT,
        FLOAT[:, ::1], FLOAT[::1], INTS,
        FLOAT, FLOAT, FLOAT, FLOAT, FLOAT, INT,
    )
)  # fmt: skip
def _query(
    cell_starts: np.ndarray,
    members: np.ndarray,
    origin_x: float,
    origin_y: float,
    cell: float,
    columns: int,
    rows: int,
    bounds: np.ndarray,
    sizes: np.ndarray,
    fids: np.ndarray,
    minx: float,
    miny: float,
    maxx: float,
    maxy: float,
    min_size: float,
    most: int,
) -> np.ndarray:
    """``tile_rows`` over the index's arrays."""
    first_column, last_column = _cell_of(minx, origin_x, cell, columns), _cell_of(maxx, origin_x, cell, columns)
    first_row, last_row = _cell_of(miny, origin_y, cell, rows), _cell_of(maxy, origin_y, cell, rows)
    listed = 0
    for row in range(first_row, last_row + 1):
        listed += cell_starts[row * columns + last_column + 1] - cell_starts[row * columns + first_column]
    hits = np.empty(listed, dtype=np.int64)
    found = 0
    for row in range(first_row, last_row + 1):
        for column in range(first_column, last_column + 1):
            for k in range(cell_starts[row * columns + column], cell_starts[row * columns + column + 1]):
                f = members[k]
                if bounds[f, 0] > maxx or bounds[f, 2] < minx or bounds[f, 1] > maxy or bounds[f, 3] < miny:
                    continue
                if sizes[f] < min_size:
                    continue
                # Once: in the cell holding the overlap's lower-left corner.
                if _cell_of(max(bounds[f, 0], minx), origin_x, cell, columns) != column:
                    continue
                if _cell_of(max(bounds[f, 1], miny), origin_y, cell, rows) != row:
                    continue
                hits[found] = f
                found += 1
    hits = hits[:found]
    hits = hits[np.argsort(fids[hits], kind="mergesort")]
    hits = hits[np.argsort(-sizes[hits], kind="mergesort")]
    return hits[:most].copy()
