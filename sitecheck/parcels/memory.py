"""The narrow parcel index in memory, ranked with numpy: how both engines filter, rank and page a search.

Filters are boolean masks over columns; text columns are category codes; criteria run through the numpy back
end of ``ranking``; the order is score descending, then parcel id in code-point order (as ``COLLATE "C"``).
An index holds what searches filter and rank on and nothing else; it belongs to one stored state and only
changes when the figures are recomputed. The engine picks the rows a drawn area selects and reads what a page
shows (the embedded engine from its copy of the whole rows, the PostGIS engine from the database by fid).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sitecheck.parcels.engine import Vocabulary
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.ranking import Categories, NumpyOps, criterion_values, score_of
from sitecheck.parcels.spec import SearchSpec

NUMBER_COLUMNS = ("area_m2", "far_min", "far_max", "invest", "tax", "transit_m")
TEXT_COLUMNS = ("status", "industry", "park", "district_code", "district_name", "land_use")
# What an index is built from: one sequence per column, in the index's row order.
NARROW_COLUMNS = ("fid", "parcel_id", "clean", "in_zone", *NUMBER_COLUMNS, *TEXT_COLUMNS, "kind_m")


@dataclass(frozen=True)
class RankedPage:
    """One page ranked in memory: row positions in rank order, the number of matches, values, scores, distances."""

    positions: list[int]
    total: int
    values: list[list[float]]
    scores: list[float]
    transit_used: list[float | None]


class MemoryIndex:
    """The narrow index of one state: numbers as float arrays (NaN missing), text as categories, flags as masks."""

    def __init__(
        self,
        state: ParcelState,
        columns: Mapping[str, Sequence[Any]],
        inside: Mapping[str, np.ndarray],
        overlaps: Mapping[str, np.ndarray],
    ) -> None:
        """Build from one sequence per column of ``NARROW_COLUMNS`` and per-layer inside/overlap flags."""
        self.token, self.state = state.token, state
        n = len(columns["fid"])
        self.fids = np.asarray(columns["fid"], dtype=np.int64)
        self.ids = list(columns["parcel_id"])
        self.id_rank = np.empty(n, dtype=np.int64)
        self.id_rank[sorted(range(n), key=self.ids.__getitem__)] = np.arange(n)
        # numpy reads None as NaN in float arrays.
        self.numbers = {c: np.asarray(columns[c], dtype=float) for c in NUMBER_COLUMNS}
        self.texts = {c: Categories.of(list(columns[c])) for c in TEXT_COLUMNS}
        self.kind_m = np.asarray(columns["kind_m"], dtype=float).reshape(n, len(state.kinds()))
        self.clean = np.asarray(columns["clean"], dtype=bool)
        self.in_zone = np.asarray(columns["in_zone"], dtype=bool)
        self.inside, self.overlaps = dict(inside), dict(overlaps)
        districts = zip(columns["district_code"], columns["district_name"], strict=True)
        pairs = {(code, name) for code, name in districts if code}
        self.vocabulary = Vocabulary(
            sorted(pairs), self.texts["status"].labels, self.texts["industry"].labels, self.texts["park"].labels
        )

    @classmethod
    def of_rows(cls, state: ParcelState, rows: Sequence[Mapping[str, Any]]) -> MemoryIndex:
        """An index of whole index rows (layer relations as lists of layer keys), in the rows' order."""
        keys = {k for r in rows for k in (*r["inside_layers"], *r["overlap_layers"])}
        return cls(
            state,
            {c: [r[c] for r in rows] for c in NARROW_COLUMNS},
            {k: np.asarray([k in r["inside_layers"] for r in rows], dtype=bool) for k in keys},
            {k: np.asarray([k in r["overlap_layers"] for r in rows], dtype=bool) for k in keys},
        )

    def __len__(self) -> int:
        return len(self.fids)

    def values_at(self, positions: list[int]) -> list[dict[str, Any]]:
        """The index's values of some rows as stored (None where missing), all but ``kind_m``."""
        at = np.asarray(positions, dtype=np.int64)
        columns: dict[str, list[Any]] = {
            "fid": self.fids[at].tolist(),
            "parcel_id": [self.ids[k] for k in positions],
            "clean": self.clean[at].tolist(),
            "in_zone": self.in_zone[at].tolist(),
        }
        for c in NUMBER_COLUMNS:
            columns[c] = [None if math.isnan(v) else v for v in self.numbers[c][at].tolist()]
        for c in TEXT_COLUMNS:
            labels = [*self.texts[c].labels, None]  # code −1: missing
            columns[c] = [labels[code] for code in self.texts[c].codes[at].tolist()]
        return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]

    def rows_of(self, fids: Sequence[int]) -> np.ndarray:
        """Boolean mask of the rows with the given fids."""
        return np.isin(self.fids, np.asarray(fids, dtype=np.int64))

    def rank(self, spec: SearchSpec, in_area: np.ndarray | None = None) -> RankedPage:
        """Filter, rank and page; ``in_area`` is the mask of the rows a drawn area selects (given by the engine)."""
        n = len(self)
        mask = np.ones(n, dtype=bool) if spec.include_nonclean else self.clean.copy()
        if spec.districts:
            wanted = set(spec.districts)
            mask &= self.texts["district_code"].isin(wanted) | self.texts["district_name"].isin(wanted)
        with np.errstate(invalid="ignore"):
            for bound in spec.ranges:
                column = self.numbers[bound.column]
                mask &= column >= bound.value if bound.op == ">=" else column <= bound.value
        if spec.use_prefixes:
            uses = self.texts["land_use"]
            table = np.asarray([lab.startswith(spec.use_prefixes) for lab in uses.labels] + [False], dtype=bool)
            mask &= table[uses.codes]
        for name, chosen in (("status", spec.statuses), ("industry", spec.industries), ("park", spec.parks)):
            if chosen:
                mask &= self.texts[name].isin(set(chosen))
        transit = self.numbers["transit_m"]
        if spec.kind_columns is not None:
            transit = (
                np.fmin.reduce(self.kind_m[:, list(spec.kind_columns)], axis=1)
                if spec.kind_columns
                else np.full(n, np.nan)
            )
        if spec.max_transit_m is not None:
            with np.errstate(invalid="ignore"):
                mask &= transit <= spec.max_transit_m
        for key in spec.inside:
            mask &= self.inside.get(key, np.zeros(n, dtype=bool))
        for key in spec.outside:
            mask &= ~self.overlaps.get(key, np.zeros(n, dtype=bool))
        if in_area is not None:
            mask &= in_area
        idx = np.flatnonzero(mask)
        columns: dict[str, Any] = {c: self.numbers[c][idx] for c in ("area_m2", "far_min", "far_max")}
        columns |= {"transit_m": transit[idx], "status": self.texts["status"].take(idx), "in_zone": self.in_zone[idx]}
        ops = NumpyOps()
        values = [np.broadcast_to(v, idx.shape) for v in criterion_values(spec.ranking, columns, ops)]
        total = score_of(spec.ranking, values, ops)
        scores = np.zeros(len(idx)) if total is None else np.broadcast_to(total, idx.shape)
        end = len(idx) if spec.limit is None else min(len(idx), spec.offset + spec.limit)
        page = _first_ranks(-scores, self.id_rank[idx], end)[spec.offset :]
        used = transit[idx[page]]
        return RankedPage(
            idx[page].tolist(),
            len(idx),
            np.stack([v[page] for v in values], axis=1).tolist() if values else [[] for _ in page.tolist()],
            scores[page].tolist(),
            [None if math.isnan(d) else d for d in used.tolist()],
        )


def _first_ranks(keys: np.ndarray, ties: np.ndarray, end: int) -> np.ndarray:
    """Positions of the ``end`` smallest keys in order (ties broken by ``ties``), without sorting all of them.

    Only the rows whose key is at most the ``end``-th smallest (that one's ties included) can rank before
    ``end``; a linear partition finds them and only they are sorted.
    """
    if 0 < end < len(keys):
        bound = np.partition(keys, end - 1)[end - 1]
        near = np.flatnonzero(keys <= bound)
        return near[np.lexsort((ties[near], keys[near]))][:end]
    return np.lexsort((ties, keys))[:end]
