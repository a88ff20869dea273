"""The records of precomputed parcel figures, as both engines store and read them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Stored figures are rounded once, in Python, so that both engines hold the same numbers: areas to the
# square centimetre and distances to the millimetre (GEOS and PostGIS agree far below that).
AREA_DIGITS = 2
DISTANCE_DIGITS = 3


def round_area(value: float) -> float:
    """Round an area in m² as stored (0.01 m²)."""
    return round(float(value), AREA_DIGITS) + 0.0


def round_distance(value: float) -> float:
    """Round a distance in metres as stored (1 mm)."""
    return round(float(value), DISTANCE_DIGITS) + 0.0


def number(value: Any) -> float | None:
    """A finite float from an attribute value, or None (text numbers are read; blanks and NaN are None)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def text(value: Any) -> str | None:
    """A stripped string from an attribute value, or None when blank."""
    if value is None:
        return None
    result = str(value).strip()
    return result or None


@dataclass
class ParcelBase:
    """The parcels of one version: fid order, canonical fields, source attributes and geometries (analysis CRS)."""

    version: int
    fids: np.ndarray
    ids: list[str]
    names: list[str | None]
    uses: list[str | None]
    attributes: list[dict[str, Any]]
    geometries: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Piece:
    """One parcel's overlap with one feature: the feature and either the intersection or ``covered``."""

    parcel_fid: int
    fid: int
    feature_id: str
    name: str | None
    kind: str | None
    attributes: dict[str, Any]
    covered: bool
    wkb: bytes | None


@dataclass(frozen=True)
class Nearest:
    """The nearest feature of one kind to one parcel (candidates from the engine, distance measured in Python)."""

    parcel_fid: int
    kind: str
    fid: int
    feature_id: str
    name: str | None
    wkb: bytes


@dataclass
class LayerRow:
    """One parcel against one polygonal layer: overlap, inside/overlapping flags and, for rule layers, status."""

    fid: int
    parcels_version: int
    layer_key: str
    layer_version: int
    rules_sha: str | None
    overlap_m2: float
    outside_m2: float | None
    inside: bool
    overlaps: bool
    status: str | None
    rule_id: str | None
    exception: str | None
    reason_zh: str | None
    reason_en: str | None
    features: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DistanceRow:
    """The nearest feature of one kind of a distance layer to one parcel."""

    fid: int
    parcels_version: int
    layer_key: str
    layer_version: int
    kind: str
    feature_fid: int
    feature_id: str
    feature_name: str | None
    distance_m: float


@dataclass
class IndexRow:
    """Everything a search filters, ranks and shows about one parcel."""

    fid: int
    parcel_id: str
    name: str | None
    land_use: str | None
    category: str
    status: str | None
    area_m2: float
    area_recorded_m2: float | None
    far_min: float | None
    far_max: float | None
    invest: float | None
    tax: float | None
    park: str | None
    industry: str | None
    district_code: str | None
    district_name: str | None
    transit_m: float | None
    transit_id: str | None
    transit_name: str | None
    transit_kind: str | None
    kind_m: list[float | None]
    clean: bool
    in_zone: bool
    verdict: str
    inside_layers: list[str]
    overlap_layers: list[str]
    statuses: dict[str, str]
    problems: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    attributes: dict[str, Any]
    versions: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Return the row as plain data (column name → value)."""
        return dict(self.__dict__)


INDEX_COLUMNS = tuple(IndexRow.__dataclass_fields__)
LAYER_COLUMNS = tuple(LayerRow.__dataclass_fields__)
DISTANCE_COLUMNS = tuple(DistanceRow.__dataclass_fields__)
