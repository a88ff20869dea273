"""A stored, accepted check as the documents need it: record, result, site geometry and pinned layer versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import ParameterInvalid, VersionNotFound
from sitecheck.stores.base import CheckRecord, LayerVersion, Store


@dataclass(frozen=True)
class StoredCheck:
    """An accepted check: its record, its result, and its normalised site in the analysis CRS (metres)."""

    record: CheckRecord
    result: dict[str, Any]
    site: BaseGeometry
    crs: str

    @property
    def check_id(self) -> str:
        """The check's id."""
        return self.record.id


def open_check(store: Store, check_id: str) -> StoredCheck:
    """Load a stored check; CheckNotFound for an unknown id, ParameterInvalid for a refused one (no site)."""
    record = store.get_check(check_id)
    if not record.accepted or record.geometry_wkb is None or record.result is None:
        code = (record.error or {}).get("code", "")
        raise ParameterInvalid(
            f"check {record.id} was refused ({code}): it has no site, so it has no map, report or TXT",
            f"审查 {record.id} 未受理（{code}），没有项目用地范围，无法生成图件、报告或坐标文件",
            details={"check_id": record.id, "refusal_code": code},
        )
    crs = str(record.result.get("site", {}).get("analysis_crs") or store.crs)
    return StoredCheck(record=record, result=record.result, site=shapely.from_wkb(record.geometry_wkb), crs=crs)


def pinned_versions(store: Store, check: StoredCheck) -> dict[str, LayerVersion]:
    """The vector layer versions the check used, in configuration order (layers no longer configured are left out)."""
    pinned: dict[str, LayerVersion] = {}
    for layer in store.catalog.vector_layers():
        key = layer.key
        reference = check.record.layer_versions.get(key)
        if not reference or "version" not in reference:
            continue
        number = int(reference["version"])
        match = [v for v in store.list_versions(key) if v.version == number]
        if not match:
            raise VersionNotFound(
                f"layer '{key}' no longer has version {number} used by check {check.check_id}",
                f"图层“{key}”已没有审查 {check.check_id} 所用的版本 {number}",
            )
        pinned[key] = match[0]
    return pinned
