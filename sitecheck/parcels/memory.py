"""The parcel index in memory, searched with numpy: the embedded engine's search (and the same semantics as SQL).

Filters are boolean masks over columns; text columns are category codes; criteria run through the numpy back
end of ``ranking``; the order is score descending, then parcel id in code-point order (as ``COLLATE "C"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from sitecheck.parcels.engine import Vocabulary
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.ranking import Categories, NumpyOps, criterion_values, score_of
from sitecheck.parcels.spec import SearchPage, SearchSpec

_NUMBERS = ("area_m2", "far_min", "far_max", "invest", "tax", "transit_m")
_TEXTS = ("status", "industry", "park", "district_code", "district_name", "land_use")


class MemoryIndex:
    """The parcel index of one state in memory: columns as numpy arrays, categories, flags and geometries."""

    def __init__(self, state: ParcelState, rows: list[dict[str, Any]], geometries: np.ndarray) -> None:
        self.token, self.state, self.rows, self.geometries = state.token, state, rows, geometries
        self.fids = np.asarray([r["fid"] for r in rows], dtype=np.int64)
        self.by_id = {r["parcel_id"]: i for i, r in enumerate(rows)}
        self.by_fid = {r["fid"]: i for i, r in enumerate(rows)}
        ids = [r["parcel_id"] for r in rows]
        self.id_rank = np.empty(len(rows), dtype=np.int64)
        self.id_rank[sorted(range(len(rows)), key=ids.__getitem__)] = np.arange(len(rows))
        self.numbers = {c: np.asarray([np.nan if r[c] is None else r[c] for r in rows], dtype=float) for c in _NUMBERS}
        self.texts = {c: Categories.of([r[c] for r in rows]) for c in _TEXTS}
        width = len(state.kinds())
        self.kind_m = np.asarray(
            [[np.nan if v is None else v for v in r["kind_m"]] for r in rows], dtype=float
        ).reshape(len(rows), width)
        self.clean = np.asarray([r["clean"] for r in rows], dtype=bool)
        self.in_zone = np.asarray([r["in_zone"] for r in rows], dtype=bool)
        keys = {k for r in rows for k in (*r["inside_layers"], *r["overlap_layers"])}
        self.inside = {k: np.asarray([k in r["inside_layers"] for r in rows], dtype=bool) for k in keys}
        self.overlaps = {k: np.asarray([k in r["overlap_layers"] for r in rows], dtype=bool) for k in keys}
        self.tree = shapely.STRtree(geometries)
        pairs = {(r["district_code"], r["district_name"]) for r in rows if r["district_code"]}
        self.vocabulary = Vocabulary(
            sorted(pairs), self.texts["status"].labels, self.texts["industry"].labels, self.texts["park"].labels
        )

    def search(self, spec: SearchSpec) -> SearchPage:
        """Filter, rank and page (the same semantics as the PostGIS engine's SQL)."""
        n = len(self.rows)
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
        if spec.area is not None:
            mask &= self._in_area(spec.area, spec.area_relation)
        idx = np.flatnonzero(mask)
        columns: dict[str, Any] = {c: self.numbers[c][idx] for c in ("area_m2", "far_min", "far_max")}
        columns |= {"transit_m": transit[idx], "status": self.texts["status"].take(idx), "in_zone": self.in_zone[idx]}
        ops = NumpyOps()
        values = [np.broadcast_to(v, idx.shape) for v in criterion_values(spec.ranking, columns, ops)]
        total = score_of(spec.ranking, values, ops)
        scores = np.zeros(len(idx)) if total is None else np.broadcast_to(total, idx.shape)
        order = np.lexsort((self.id_rank[idx], -scores))
        page = order[spec.offset : spec.offset + (spec.limit or len(order))]
        rows = []
        for j in page.tolist():
            row = dict(self.rows[idx[j]], transit_used=None if np.isnan(transit[idx[j]]) else float(transit[idx[j]]))
            if spec.with_geometry:
                row["geometry"] = self.geometries[idx[j]]
            rows.append(row)
        return SearchPage(
            self.state,
            len(idx),
            rows,
            [[float(v[j]) for v in values] for j in page.tolist()],
            [float(scores[j]) for j in page.tolist()],
        )

    def _in_area(self, area: Any, relation: str) -> np.ndarray:
        """Rows covered by (within) or sharing interior with (overlaps) a drawn area."""
        mask = np.zeros(len(self.rows), dtype=bool)
        if relation == "within":
            mask[self.tree.query(area, predicate="covers")] = True
        else:
            hits = self.tree.query(area, predicate="intersects")
            mask[hits[shapely.relate_pattern(self.geometries[hits], area, "T********")]] = True
        return mask
