"""What a parcel search asks for: the caller's query, and the checked plan both engines execute."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels.layout import ParcelState
from sitecheck.parcels.ranking import Ranking

AREA_RELATIONS = ("within", "overlaps")
DEFAULT_LIMIT = 20
MAX_LIMIT = 1_000
EXPORT_MAX = 50_000
MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class ParcelQuery:
    """A parcel search as the caller states it (HTTP query, JSON body or command line); nothing checked yet."""

    district: list[str] = field(default_factory=list)
    area: dict[str, Any] | str | None = None
    area_crs: str | None = None
    area_zone: int | None = None
    area_relation: str = "within"
    min_mu: float | None = None
    max_mu: float | None = None
    min_m2: float | None = None
    max_m2: float | None = None
    target_mu: float | None = None
    target_m2: float | None = None
    use: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    industry: list[str] = field(default_factory=list)
    park: list[str] = field(default_factory=list)
    min_far: float | None = None
    max_far: float | None = None
    far: float | None = None
    min_invest: float | None = None
    max_invest: float | None = None
    min_tax: float | None = None
    max_tax: float | None = None
    max_transit_m: float | None = None
    transit_kind: list[str] = field(default_factory=list)
    inside: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    include_nonclean: bool = False
    weights: dict[str, float] | None = None
    limit: int | None = None
    offset: int = 0

    def echo(self) -> dict[str, Any]:
        """The query's given values (drawn area reduced to a flag), for the response and next links."""
        out = {k: v for k, v in self.__dict__.items() if v not in (None, [], {}, False) and k != "area"}
        if self.area is not None:
            out["area"] = True
        return out


@dataclass(frozen=True)
class Range:
    """A bound on one numeric index column: ``column op value`` (a missing value never passes)."""

    column: str
    op: str  # ">=" | "<="
    value: float


@dataclass(frozen=True)
class SearchSpec:
    """A checked search: filters in index terms, the ranking, and the page; what both engines execute."""

    include_nonclean: bool
    districts: tuple[str, ...]
    area: BaseGeometry | None
    area_relation: str
    ranges: tuple[Range, ...]
    use_prefixes: tuple[str, ...]
    statuses: tuple[str, ...]
    industries: tuple[str, ...]
    parks: tuple[str, ...]
    max_transit_m: float | None
    kind_columns: tuple[int, ...] | None
    inside: tuple[str, ...]
    outside: tuple[str, ...]
    ranking: Ranking
    limit: int | None
    offset: int
    with_geometry: bool = False
    relation_keys: tuple[str, ...] = ()  # polygonal layers in configuration order (bit positions of masks)


@dataclass
class SearchPage:
    """One page of results: the state it was computed from, the total, rows, criterion values and scores."""

    state: ParcelState
    total: int
    rows: list[dict[str, Any]]
    values: list[list[float]]
    scores: list[float]


def checked_number(name: str, value: float | None, *, positive: bool = False) -> float | None:
    """A finite number ≥ 0 (> 0 when ``positive``), or None; anything else is refused naming the field."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        bound = "> 0" if positive else "≥ 0"
        raise ParameterInvalid(
            f"{name} must be a finite number {bound}, not {value!r}",
            f"参数 {name} 须为{'大于' if positive else '不小于'} 0 的有限数",
            location={"field": name},
        )
    return float(value)


def one_of(name_mu: str, mu_value: float | None, name_m2: str, m2_value: float | None) -> float | None:
    """An area given in 亩 or in m² (not both), in m²."""
    mu_value, m2_value = checked_number(name_mu, mu_value), checked_number(name_m2, m2_value)
    if mu_value is not None and m2_value is not None:
        raise ParameterInvalid(
            f"give {name_mu} or {name_m2}, not both",
            f"{name_mu} 与 {name_m2} 只能给出其一",
            location={"field": name_m2},
        )
    return mu_value * 2000 / 3 if mu_value is not None else m2_value


def ordered(name: str, low: float | None, high: float | None) -> None:
    """Refuse a range whose lower bound exceeds its upper bound."""
    if low is not None and high is not None and low > high:
        raise ParameterInvalid(
            f"{name}: the lower bound {low:g} exceeds the upper bound {high:g}",
            f"{name}：下限 {low:g} 大于上限 {high:g}",
            location={"field": name},
        )


def known_values(name: str, given: list[str], known: list[str], *, label_zh: str) -> tuple[str, ...]:
    """Split comma lists, drop repeats, and refuse values outside the known ones (naming them and the known)."""
    values: list[str] = []
    for item in given:
        for part in item.replace("，", ",").split(","):
            if part.strip() and part.strip() not in values:
                values.append(part.strip())
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ParameterInvalid(
            f"unknown {name} {unknown}; known: {known}",
            f"未知的{label_zh} {unknown}，可选：{known}",
            location={"field": name},
            details={"unknown": unknown, "known": known},
        )
    return tuple(values)


def page_limit(limit: int | None, *, export: bool) -> int | None:
    """The page size: 1–1000 (default 20); an export without a limit takes every match (up to 50 000)."""
    if limit is None:
        return EXPORT_MAX if export else DEFAULT_LIMIT
    top = EXPORT_MAX if export else MAX_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= top:
        raise ParameterInvalid(
            f"limit must be between 1 and {top}, not {limit!r}",
            f"limit 须在 1 到 {top} 之间",
            location={"field": "limit"},
        )
    return limit


def page_offset(offset: int) -> int:
    """A checked offset (0 to 1 000 000)."""
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise ParameterInvalid(
            f"offset must be between 0 and {MAX_OFFSET}, not {offset!r}",
            f"offset 须在 0 到 {MAX_OFFSET} 之间",
            location={"field": "offset"},
        )
    return offset
