"""Request and response models of the check API (合规性审查)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["pass", "conflict", "conditional", "review", "not_applicable"]
Verdict = Literal["compliant", "conditional", "needs_review", "non_compliant"]

EXAMPLE_SITE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [
            [120.11880, 31.81060],
            [120.12720, 31.81060],
            [120.12720, 31.81780],
            [120.11880, 31.81780],
            [120.11880, 31.81060],
        ]
    ],
}


class ProjectIn(BaseModel):
    """Project facts that select rule exceptions."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=200, examples=["示例智能制造产业园项目"])
    level: str = Field(
        default="municipal", examples=["municipal"], description="national/provincial/municipal/county/other"
    )
    category: str = Field(
        default="industrial",
        examples=["industrial"],
        description="industrial, warehouse_logistics, commercial, residential, public_service, "
        "linear_infrastructure, energy, water, mining, military, tourism, other",
    )
    land_use_code: str | None = Field(default=None, max_length=12, examples=["100101"], description="用地用海分类代码")


class CheckRequest(BaseModel):
    """A check with the site in the JSON body: a GeoJSON object, or GeoJSON/WKT text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "site": EXAMPLE_SITE,
                    "project": {"name": "示例项目", "category": "industrial", "land_use_code": "100101"},
                }
            ]
        },
    )

    site: dict[str, Any] | str = Field(description="GeoJSON Geometry/Feature/FeatureCollection, or WKT/EWKT text")
    crs: str | None = Field(default=None, examples=["EPSG:4490"], description="CRS of the coordinates (WKT needs one)")
    zone: int | None = Field(default=None, ge=13, le=45, description="Gauss-Krüger zone (带号) when not in the data")
    repair: bool = Field(
        default=False, description="Repair invalid geometry with the structure method instead of refusing"
    )
    project: ProjectIn = Field(default_factory=ProjectIn)
    as_of: datetime | date | None = Field(default=None, description="Check against the layer versions in force then")
    include_geometry: bool = Field(default=False, description="Return overlap geometries (GeoJSON, analysis CRS)")


class Areas(BaseModel):
    """Areas: planar in the analysis CRS and ellipsoidal (CGCS2000), in m², 公顷 and 亩."""

    model_config = ConfigDict(extra="allow")

    area_m2: float
    area_ha: float
    area_mu: float
    ellipsoidal_area_m2: float
    ellipsoidal_area_ha: float
    ellipsoidal_area_mu: float


class RuleOut(BaseModel):
    """The rule that decided a layer's status, why, and under which policy."""

    id: str | None
    exception: str | None
    reason_zh: str
    reason_en: str
    policy: list[str]


class FeatureOverlap(BaseModel):
    """One overlapping feature with its own overlap area."""

    id: str
    name: str | None
    kind: str | None
    attributes: dict[str, Any]
    overlap: Areas
    share: float
    mean_width_m: float
    sliver: bool
    geometry: dict[str, Any] | None = None


class LayerFinding(BaseModel):
    """The finding for one layer."""

    layer: str
    name_zh: str
    name_en: str
    role: str
    version: int | str
    status: Status
    status_zh: str
    rule: RuleOut
    overlap: Areas | None = None
    share: float | None = None
    outside: dict[str, Any] | None = None
    feature_count: int | None = None
    sliver_count: int | None = None
    outside_sliver_count: int | None = None
    features: list[FeatureOverlap] = []
    slope: dict[str, Any] | None = None


class Warning_(BaseModel):
    """Something the planner should know that did not stop the check."""

    code: str
    message_en: str
    message_zh: str
    location: dict[str, Any] | None = None


class CheckResult(BaseModel):
    """A check's answer: verdict, per-layer findings, the versions and rules used."""

    check_id: str
    created_at: datetime
    engine: str
    verdict: Verdict
    verdict_zh: str
    project: dict[str, Any]
    site: dict[str, Any]
    layers: list[LayerFinding]
    context: list[dict[str, Any]]
    warnings: list[Warning_]
    thresholds: dict[str, float]
    layer_versions: dict[str, dict[str, Any]]
    rule_set: dict[str, Any]
    as_of: datetime | None
    rerun_of: str | None
    elapsed_ms: float


class CheckRecordOut(BaseModel):
    """A stored check as the audit trail holds it: accepted with its result, or refused with its error."""

    id: str
    created_at: datetime
    created_by: str
    accepted: bool
    input_sha256: str | None
    geometry_sha256: str | None
    parameters: dict[str, Any]
    layer_versions: dict[str, Any]
    rule_set: dict[str, Any]
    result: CheckResult | None
    error: dict[str, Any] | None
    rerun_of: str | None
    organisation: str | None = None
