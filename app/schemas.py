"""Response models of the API: what goes out, and nothing internal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Health(BaseModel):
    """Liveness and the engine in use."""

    status: str = Field(examples=["ok"])
    engine: str = Field(examples=["embedded"])
    version: str


class LayerVersionPublic(BaseModel):
    """One version of a layer."""

    version: int
    source_name: str
    sha256: str
    feature_count: int
    source_crs: str
    crs: str
    bbox: list[float] | None
    loaded_at: datetime
    loaded_by: str
    published_at: datetime | None
    is_current: bool
    report: dict[str, Any]


class LayerPublic(BaseModel):
    """A configured layer with its current version (if loaded)."""

    key: str = Field(examples=["eco_redline"])
    name_zh: str = Field(examples=["生态保护红线"])
    name_en: str
    role: str = Field(examples=["constraint"])
    geometry: str
    color: str
    reported_fields: list[str]
    version: int | None
    feature_count: int | None
    bbox: list[float] | None
    loaded_at: datetime | None


class LayerList(BaseModel):
    """All configured layers."""

    engine: str
    crs: str
    layers: list[LayerPublic]


class LayerVersionList(BaseModel):
    """All versions of one layer, newest first."""

    layer: str
    versions: list[LayerVersionPublic]
