"""Explainable ranking: named criteria, each a score in [0, 1], combined with visible weights.

A criterion is written once as an expression over a few columns in the operations of ``Ops``, evaluated on numpy
arrays: the in-memory index both engines search (``memory``) and the options of site suggestions. The expressions
use only IEEE-exact operations (+ − × ÷, abs, min, max, comparisons) in a fixed order, so equal figures give
bit-identical scores and the same order on either engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from sitecheck.areas import MU_PER_M2
from sitecheck.errors import ParameterInvalid

E = TypeVar("E")
STATUS_SCORES: dict[str, float] = {"可招商": 1.0, "储备": 0.5, "已出让": 0.0}
STATUS_EN = {"可招商": "available", "储备": "in reserve", "已出让": "already granted"}
TRANSIT_REFERENCE_M = 5_000.0
POINT_REFERENCE_M = 10_000.0


class Ops(Protocol[E]):
    """The operations criteria are written in; one implementation per back end."""

    def const(self, value: float) -> E:
        """A fixed constant."""
        ...

    def param(self, name: str, value: float) -> E:
        """A request-dependent constant, bound by name."""
        ...

    def abs(self, x: E) -> E:
        """Absolute value."""
        ...

    def clip01(self, x: E) -> E:
        """Clip into [0, 1]."""
        ...

    def at_least(self, x: E, floor: float) -> E:
        """max(x, floor)."""
        ...

    def present(self, columns: list[E], then: E, otherwise: float) -> E:
        """``then`` where no column is missing, else ``otherwise``."""
        ...

    def lookup(self, x: E, mapping: Mapping[str, float], default: float) -> E:
        """Map text values to numbers."""
        ...

    def flag(self, x: E) -> E:
        """1.0 where true, else 0.0."""
        ...


@dataclass(frozen=True)
class RankParams:
    """What the request says that criteria measure against."""

    target_area_m2: float | None = None
    far: float | None = None
    transit_reference_m: float = TRANSIT_REFERENCE_M
    point_reference_m: float = POINT_REFERENCE_M
    has_point: bool = False


@dataclass(frozen=True)
class Criterion(Generic[E]):
    """A named ranking criterion: its labels, default weight, when it applies and its formula."""

    key: str
    name_zh: str
    name_en: str
    formula: str
    inactive: Callable[[RankParams], str | None]
    expr: Callable[[Mapping[str, Any], Ops[Any], RankParams], Any]


def _area_fit(c: Mapping[str, Any], o: Ops[Any], p: RankParams) -> Any:
    """Closeness of the area to the wanted area."""
    t = o.param("target_area_m2", p.target_area_m2 or 1.0)
    return o.present([c["area_m2"]], o.clip01(o.const(1.0) - o.abs(c["area_m2"] - t) / t), 0.0)


def _transit(c: Mapping[str, Any], o: Ops[Any], p: RankParams) -> Any:
    """Nearness of the nearest stop, relative to the reference distance."""
    r = o.param("transit_reference_m", p.transit_reference_m)
    return o.present([c["transit_m"]], o.clip01(o.const(1.0) - c["transit_m"] / r), 0.0)


def _far_fit(c: Mapping[str, Any], o: Ops[Any], p: RankParams) -> Any:
    """Whether the wanted FAR lies in the parcel's range, less by the gap."""
    f = o.param("far", p.far or 1.0)
    gap = o.at_least(c["far_min"] - f, 0.0) + o.at_least(f - c["far_max"], 0.0)
    return o.present([c["far_min"], c["far_max"]], o.clip01(o.const(1.0) - gap / f), 0.0)


def _proximity(c: Mapping[str, Any], o: Ops[Any], p: RankParams) -> Any:
    """Nearness to the given point, relative to the reference distance."""
    r = o.param("point_reference_m", p.point_reference_m)
    return o.present([c["point_m"]], o.clip01(o.const(1.0) - c["point_m"] / r), 0.0)


_ALL: tuple[Criterion[Any], ...] = (
    Criterion(
        "area_fit",
        "面积匹配",
        "area fit",
        "max(0, 1 − |面积 − 需求面积| / 需求面积)",
        lambda p: None if p.target_area_m2 else "no target area (give min/max or target area)",
        _area_fit,
    ),
    Criterion(
        "transit", "交通便利", "transit access", "max(0, 1 − 距最近交通站点 / 参考距离)", lambda p: None, _transit
    ),
    Criterion(
        "far_fit",
        "容积率匹配",
        "FAR fit",
        "1 when the wanted FAR lies in [下限, 上限], less by the gap / FAR",
        lambda p: None if p.far else "no wanted FAR (give far)",
        _far_fit,
    ),
    Criterion(
        "status",
        "供地状态",
        "supply status",
        "可招商 1, 储备 0.5, 已出让 0",
        lambda p: None,
        lambda c, o, p: o.lookup(c["status"], STATUS_SCORES, 0.0),
    ),
    Criterion(
        "in_zone",
        "位于产业区块",
        "inside an industrial zone",
        "1 inside an industrial zone, else 0",
        lambda p: None,
        lambda c, o, p: o.flag(c["in_zone"]),
    ),
    Criterion(
        "proximity",
        "靠近指定位置",
        "near the given point",
        "max(0, 1 − 距指定点 / 参考距离)",
        lambda p: None if p.has_point else "no point given",
        _proximity,
    ),
    Criterion(
        "unity",
        "整宗供地",
        "single holding",
        "1 / 地块宗数 (one parcel 1, two 0.5, …)",
        lambda p: None,
        lambda c, o, p: c["unity"],
    ),
)
CRITERIA: dict[str, Criterion[Any]] = {c.key: c for c in _ALL}
SEARCH_WEIGHTS = {"area_fit": 0.35, "transit": 0.25, "far_fit": 0.15, "status": 0.15, "in_zone": 0.10}
SUGGEST_WEIGHTS = {
    "area_fit": 0.30,
    "transit": 0.15,
    "far_fit": 0.10,
    "status": 0.10,
    "in_zone": 0.10,
    "proximity": 0.15,
    "unity": 0.10,
}


@dataclass(frozen=True)
class Ranking:
    """The weights as asked, the criteria in force with their normalised weights, and the parameters."""

    weights: dict[str, float]
    applied: tuple[tuple[str, float], ...]
    inactive: dict[str, str]
    params: RankParams

    def describe(self) -> dict[str, Any]:
        """The ranking as echoed in every response: weights, applied weights, criteria and parameters."""
        return {
            "weights": self.weights,
            "applied_weights": dict(self.applied),
            "inactive": self.inactive,
            "criteria": [
                {
                    "key": key,
                    "name_zh": CRITERIA[key].name_zh,
                    "name_en": CRITERIA[key].name_en,
                    "formula": CRITERIA[key].formula,
                }
                for key in self.weights
            ],
            "target_area_m2": self.params.target_area_m2,
            "target_area_mu": None if self.params.target_area_m2 is None else self.params.target_area_m2 * MU_PER_M2,
            "far": self.params.far,
            "transit_reference_m": self.params.transit_reference_m,
        }


def make_ranking(defaults: dict[str, float], asked: Mapping[str, float] | None, params: RankParams) -> Ranking:
    """Merge asked weights over the defaults, refuse unknown or negative ones, normalise over active criteria."""
    weights = dict(defaults)
    for key, value in (asked or {}).items():
        if key not in defaults:
            raise ParameterInvalid(
                f"unknown ranking criterion {key!r}; known: {sorted(defaults)}",
                f"未知的排序指标 {key!r}，可用：{sorted(defaults)}",
                location={"field": "weights"},
            )
        if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
            raise ParameterInvalid(
                f"weight of {key!r} must be a finite number ≥ 0, not {value!r}",
                f"指标 {key!r} 的权重须为不小于 0 的有限数",
                location={"field": "weights"},
            )
        weights[key] = float(value)
    inactive = {key: why for key in weights if (why := CRITERIA[key].inactive(params))}
    active = [(key, w) for key, w in weights.items() if key not in inactive and w > 0]
    total = sum(w for _, w in active)
    applied = tuple((key, w / total) for key, w in active) if total > 0 else ()
    return Ranking(weights, applied, inactive, params)


def criterion_values(ranking: Ranking, columns: Mapping[str, Any], ops: Ops[E]) -> list[E]:
    """Each applied criterion's value, in applied order."""
    return [CRITERIA[key].expr(columns, ops, ranking.params) for key, _ in ranking.applied]


def score_of(ranking: Ranking, values: list[E], ops: Ops[E]) -> E | None:
    """Σ weight × value, summed left to right in applied order (None when no criterion applies)."""
    total: E | None = None
    for (key, weight), value in zip(ranking.applied, values, strict=True):
        term = ops.param(f"w_{key}", weight) * value  # type: ignore[operator]
        total = term if total is None else total + term
    return total


class NumpyOps:
    """Criteria evaluated on numpy arrays (NaN is a missing value)."""

    def const(self, value: float) -> Any:
        """A float64 scalar."""
        return np.float64(value)

    def param(self, name: str, value: float) -> Any:
        """A request-dependent float64 scalar."""
        return np.float64(value)

    def abs(self, x: Any) -> Any:
        """Absolute value."""
        return np.abs(x)

    def clip01(self, x: Any) -> Any:
        """Clip into [0, 1] (as GREATEST(LEAST(x, 1), 0))."""
        return np.maximum(np.minimum(x, 1.0), 0.0)

    def at_least(self, x: Any, floor: float) -> Any:
        """max(x, floor)."""
        return np.maximum(x, floor)

    def present(self, columns: list[Any], then: Any, otherwise: float) -> Any:
        """``then`` where every column has a value, else ``otherwise``."""
        mask = np.logical_and.reduce([~np.isnan(np.asarray(c, dtype=float)) for c in columns])
        with np.errstate(invalid="ignore"):
            return np.where(mask, then, otherwise)

    def lookup(self, x: Any, mapping: Mapping[str, float], default: float) -> Any:
        """Map category codes (a ``Categories``) or plain values to numbers."""
        if isinstance(x, Categories):
            table = np.asarray([mapping.get(c, default) for c in x.labels] + [default], dtype=float)
            return table[x.codes]
        return np.asarray([mapping.get(v, default) for v in x], dtype=float)

    def flag(self, x: Any) -> Any:
        """1.0 where true, else 0.0."""
        return np.where(np.asarray(x, dtype=bool), 1.0, 0.0)


@dataclass(frozen=True)
class Categories:
    """A text column as integer codes into its distinct labels (code −1: missing)."""

    codes: np.ndarray
    labels: list[str]

    @classmethod
    def of(cls, values: list[Any]) -> Categories:
        """Encode a list of values (None is missing)."""
        labels = sorted({v for v in values if v is not None})
        index = {label: i for i, label in enumerate(labels)}
        return cls(np.asarray([index.get(v, -1) for v in values], dtype=np.int64), labels)

    def isin(self, wanted: set[str] | tuple[str, ...]) -> np.ndarray:
        """Boolean mask of the rows whose label is one of ``wanted``."""
        table = np.asarray([label in wanted for label in self.labels] + [False], dtype=bool)
        return table[self.codes]

    def take(self, rows: np.ndarray) -> Categories:
        """The categories of a subset of rows."""
        return Categories(self.codes[rows], self.labels)
