"""Request and response models of the parcel API (按图索地, 规划选址建议)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from sitecheck.errors import ParameterInvalid
from sitecheck.parcels import ParcelQuery

Format = Literal["json", "geojson", "csv"]
EXAMPLE_AREA: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [[[120.09, 31.79], [120.15, 31.79], [120.15, 31.84], [120.09, 31.84], [120.09, 31.79]]],
}


class SearchFilters(BaseModel):
    """The filters and ranking of a parcel search (JSON body of POST /v1/parcels/search)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"area": EXAMPLE_AREA, "use": ["W"], "status": ["可招商"], "min_mu": 50}]},
    )

    district: list[str] = Field(default=[], description="行政区代码或名称 (XZQDM or XZQMC)")
    area: dict[str, Any] | str | None = Field(default=None, description="Drawn area: GeoJSON geometry/feature or WKT")
    area_crs: str | None = Field(default=None, description="CRS of the drawn area (detected when absent)")
    area_zone: int | None = Field(default=None, ge=13, le=45, description="Gauss-Krüger zone of the drawn area")
    area_relation: Literal["within", "overlaps"] = Field(default="within", description="Parcels inside or touching it")
    min_mu: float | None = Field(default=None, description="Smallest area, 亩")
    max_mu: float | None = Field(default=None, description="Largest area, 亩")
    min_m2: float | None = Field(default=None, description="Smallest area, m²")
    max_m2: float | None = Field(default=None, description="Largest area, m²")
    target_mu: float | None = Field(default=None, description="Wanted area for ranking, 亩 (default: mid of range)")
    target_m2: float | None = Field(default=None, description="Wanted area for ranking, m²")
    use: list[str] = Field(default=[], description="Land uses: 用地用海 (100101), GB 50137 (M2, W1), GB/T 21010 (0601)")
    status: list[str] = Field(default=[], description="供地状态: 可招商, 储备, 已出让")
    industry: list[str] = Field(default=[], description="产业定位")
    park: list[str] = Field(default=[], description="所属园区")
    min_far: float | None = Field(default=None, description="容积率上限 at least")
    max_far: float | None = Field(default=None, description="容积率下限 at most")
    far: float | None = Field(default=None, description="Wanted FAR (容积率) for ranking")
    min_invest: float | None = Field(default=None, description="投资强度 at least, 万元/亩")
    max_invest: float | None = Field(default=None, description="投资强度 at most, 万元/亩")
    min_tax: float | None = Field(default=None, description="亩均税收 at least, 万元/亩")
    max_tax: float | None = Field(default=None, description="亩均税收 at most, 万元/亩")
    max_transit_m: float | None = Field(default=None, description="Farthest from a transit stop, metres")
    transit_kind: list[str] = Field(default=[], description="Transit kinds measured (default: every stop kind)")
    inside: list[str] = Field(default=[], description="Layers the parcel must lie inside")
    outside: list[str] = Field(default=[], description="Layers the parcel must not overlap")
    include_nonclean: bool = Field(default=False, description="Also parcels with compliance problems")
    weights: dict[str, float] | None = Field(default=None, description="Ranking weights by criterion")
    limit: int | None = Field(default=None, description="Page size, 1–1000 (default 20)")
    offset: int = Field(default=0, description="Rows skipped")

    def to_query(self) -> ParcelQuery:
        """The domain query."""
        return ParcelQuery(**self.model_dump())


@dataclass
class SearchParams:
    """The filters of GET /v1/parcels as query parameters (lists repeat or use commas)."""

    district: Annotated[list[str] | None, Query(description="行政区代码或名称")] = None
    area: Annotated[str | None, Query(description="Drawn area as WKT or GeoJSON text")] = None
    area_crs: Annotated[str | None, Query(description="CRS of the drawn area")] = None
    area_relation: Annotated[Literal["within", "overlaps"], Query()] = "within"
    min_mu: Annotated[float | None, Query(description="Smallest area, 亩")] = None
    max_mu: Annotated[float | None, Query(description="Largest area, 亩")] = None
    min_m2: Annotated[float | None, Query(description="Smallest area, m²")] = None
    max_m2: Annotated[float | None, Query(description="Largest area, m²")] = None
    target_mu: Annotated[float | None, Query(description="Wanted area for ranking, 亩")] = None
    use: Annotated[list[str] | None, Query(description="Land uses (100101, M2, 0601, …)")] = None
    status: Annotated[list[str] | None, Query(description="可招商, 储备, 已出让")] = None
    industry: Annotated[list[str] | None, Query(description="产业定位")] = None
    park: Annotated[list[str] | None, Query(description="所属园区")] = None
    min_far: Annotated[float | None, Query(description="容积率上限 at least")] = None
    max_far: Annotated[float | None, Query(description="容积率下限 at most")] = None
    far: Annotated[float | None, Query(description="Wanted FAR for ranking")] = None
    min_invest: Annotated[float | None, Query(description="投资强度 at least, 万元/亩")] = None
    max_invest: Annotated[float | None, Query(description="投资强度 at most, 万元/亩")] = None
    min_tax: Annotated[float | None, Query(description="亩均税收 at least, 万元/亩")] = None
    max_tax: Annotated[float | None, Query(description="亩均税收 at most, 万元/亩")] = None
    max_transit_m: Annotated[float | None, Query(description="Farthest from a transit stop, metres")] = None
    transit_kind: Annotated[list[str] | None, Query(description="Transit kinds measured")] = None
    inside: Annotated[list[str] | None, Query(description="Layers the parcel must lie inside")] = None
    outside: Annotated[list[str] | None, Query(description="Layers the parcel must not overlap")] = None
    include_nonclean: Annotated[bool, Query(description="Also parcels with compliance problems")] = False
    weights: Annotated[str | None, Query(description="Ranking weights, e.g. area_fit:0.5,transit:0.3")] = None
    limit: Annotated[int | None, Query(description="Page size, 1–1000 (default 20)")] = None
    offset: Annotated[int, Query(description="Rows skipped")] = 0

    def to_query(self) -> ParcelQuery:
        """The domain query (comma lists split by the domain)."""
        values = {k: ([] if v is None and k in _LISTS else v) for k, v in self.__dict__.items()}
        values["weights"] = _weights(self.weights)
        return ParcelQuery(**values)


_LISTS = ("district", "use", "status", "industry", "park", "transit_kind", "inside", "outside")


def _weights(text: str | None) -> dict[str, float] | None:
    """Parse ``area_fit:0.5,transit:0.3`` (``=`` works too)."""
    if not text:
        return None
    weights = {}
    for part in text.split(","):
        key, _, value = part.replace("=", ":").partition(":")
        try:
            weights[key.strip()] = float(value)
        except ValueError as exc:
            raise ParameterInvalid(
                f"weights: {part!r} is not name:number", f"权重 {part!r} 应为 名称:数值", location={"field": "weights"}
            ) from exc
    return weights


class Link(BaseModel):
    """A link to this page or a neighbouring one (POST links carry the body to send)."""

    rel: str
    href: str
    method: str = "GET"
    body: dict[str, Any] | None = None


class Issue(BaseModel):
    """A compliance problem (blocking) or note (advisory) of a parcel."""

    model_config = ConfigDict(extra="allow")

    layer: str
    name_zh: str
    name_en: str
    status: str
    status_zh: str
    reason_zh: str | None
    reason_en: str | None


class Compliance(BaseModel):
    """A parcel's compliance summary from the precomputed figures."""

    clean: bool
    verdict: str
    verdict_zh: str
    statuses: dict[str, str]
    statuses_zh: dict[str, str]
    problems: list[Issue]
    notes: list[Issue]


class ScorePart(BaseModel):
    """One criterion's share of a score."""

    criterion: str
    name_zh: str
    name_en: str
    weight: float
    value: float
    contribution: float


class LandUse(BaseModel):
    """A 用地用海 code with its name and the project category it implies."""

    code: str | None
    name_zh: str | None
    category: str


class Place(BaseModel):
    """A district: code and name."""

    code: str
    name: str | None


class Stop(BaseModel):
    """The nearest transit stop."""

    id: str
    name: str | None
    kind: str | None
    distance_m: float


class ParcelItem(BaseModel):
    """One search result: figures, compliance, score breakdown and reasons."""

    rank: int
    id: str
    name: str | None
    land_use: LandUse
    status: str | None
    status_en: str | None
    area_m2: float
    area_ha: float
    area_mu: float
    area_recorded_m2: float | None
    far_min: float | None
    far_max: float | None
    invest_wan_per_mu: float | None
    tax_wan_per_mu: float | None
    park: str | None
    industry: str | None
    district: Place | None
    transit: Stop | None
    transit_m_ranked: float | None
    in_zone: bool
    compliance: Compliance
    score: float
    breakdown: list[ScorePart]
    reason_zh: str
    reason_en: str


class ParcelSearchResult(BaseModel):
    """A page of parcels with the total, links, the ranking in force and the layer versions used."""

    engine: str
    total: int
    limit: int
    offset: int
    count: int
    next_offset: int | None
    prev_offset: int | None
    links: list[Link]
    items: list[ParcelItem]
    ranking: dict[str, Any]
    query: dict[str, Any]
    use_codes: list[dict[str, Any]]
    default_filter: str | None
    layer_versions: dict[str, int]
    computed_at: str
    crs: str


class ParcelDetail(BaseModel):
    """Everything about one parcel: attributes, compliance per layer with versions, transit, neighbours."""

    engine: str
    id: str
    name: str | None
    land_use: LandUse
    status: str | None
    status_en: str | None
    area_m2: float
    area_ha: float
    area_mu: float
    area_recorded_m2: float | None
    far_min: float | None
    far_max: float | None
    invest_wan_per_mu: float | None
    tax_wan_per_mu: float | None
    park: str | None
    industry: str | None
    district: Place | None
    attributes: dict[str, Any]
    compliance: dict[str, Any]
    transit: dict[str, Any]
    neighbours: list[dict[str, Any]]
    neighbour_radius_m: float
    adjacent_gap_m: float
    geometry: dict[str, Any]
    bbox: list[float]
    crs: str
    parcels_version: int
    layer_versions: dict[str, int]
    computed_at: str


class SuggestBody(BaseModel):
    """A project looking for a site (规划选址建议)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"area_mu": 150, "category": "industrial", "land_use_code": "M2"}]},
    )

    area_mu: float | None = Field(default=None, description="Required area, 亩")
    area_m2: float | None = Field(default=None, description="Required area, m²")
    max_excess: float = Field(default=0.3, description="Accepted excess over the required area (0.3 = 30 %)")
    name: str = Field(default="", max_length=200)
    category: str = Field(default="industrial", description="Project category (rules.toml)")
    level: str = Field(default="municipal", description="national/provincial/municipal/county/other")
    land_use_code: str | None = Field(default=None, max_length=40, description="100101, M2, 0601, …")
    far: float | None = Field(default=None, description="Wanted FAR for ranking")
    district: list[str] = Field(default=[], description="Preferred districts (code or name)")
    point: dict[str, Any] | list[float] | None = Field(default=None, description="Preferred point (GeoJSON or [x, y])")
    point_crs: str | None = Field(default=None, description="CRS of the point (detected when absent)")
    zone: int | None = Field(default=None, ge=13, le=45)
    max_point_distance_m: float | None = Field(default=None, description="Farthest from the point, metres")
    status: list[str] = Field(default=["可招商"], description="Supply statuses considered")
    max_group_size: int = Field(default=3, description="Most parcels in one suggestion (1–4)")
    max_gap_m: float = Field(default=50.0, description="Largest gap between grouped parcels, metres (≤ 200)")
    limit: int = Field(default=5, description="Suggestions returned (1–20)")
    weights: dict[str, float] | None = Field(default=None, description="Ranking weights by criterion")


class SuggestOption(BaseModel):
    """One suggested parcel or group of adjacent parcels, with its check under the project's facts."""

    rank: int
    kind: Literal["parcel", "group"]
    parcel_ids: list[str]
    parcels: list[dict[str, Any]]
    area_m2: float
    area_ha: float
    area_mu: float
    max_gap_m: float
    point_distance_m: float | None
    score: float
    breakdown: list[ScorePart]
    reason_zh: str
    reason_en: str
    check: dict[str, Any]
    geometry: dict[str, Any]


class SuggestResult(BaseModel):
    """Site suggestions: the required area, the ranking used and the best non-overlapping options."""

    engine: str
    required_area_m2: float
    required_area_mu: float
    acceptable_max_m2: float
    project: dict[str, Any]
    ranking: dict[str, Any]
    options: list[SuggestOption]
    candidates: int
    groups_considered: int
    use_codes: list[dict[str, Any]]
    layer_versions: dict[str, int] | None = None
    note_zh: str | None = None
    note_en: str | None = None


class SearchOptions(BaseModel):
    """What a search form can offer, from the current figures."""

    engine: str
    districts: list[dict[str, Any]]
    statuses: list[str]
    industries: list[str]
    parks: list[str]
    transit_kinds: list[dict[str, Any]]
    layers: list[dict[str, Any]]
    criteria: list[dict[str, Any]]
    default_weights: dict[str, float]
    land_use_crosswalk: list[dict[str, Any]]
    layer_versions: dict[str, int]
