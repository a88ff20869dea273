"""The store interface both engines implement, and the records that cross it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from shapely.geometry.base import BaseGeometry

from sitecheck.access import ApiKey, AuditEvent
from sitecheck.config import LayerCatalog

# Canonical columns every stored layer version has beside the source's own fields. The leading
# underscore keeps them apart from source field names (a source field may well be called "name").
FID = "_fid"
FEATURE_ID = "_id"
FEATURE_NAME = "_name"
FEATURE_KIND = "_kind"
RESERVED_COLUMNS = (FID, FEATURE_ID, FEATURE_NAME, FEATURE_KIND, "geom")


@dataclass(frozen=True)
class SourceField:
    """A source attribute kept with every feature: its name and storage type."""

    name: str
    kind: str  # "text" | "integer" | "real" | "boolean" | "datetime"


@dataclass
class FeatureBatch:
    """Prepared features ready to write: valid, 2-D, in the analysis CRS.

    Every column is a numpy array aligned with ``fids``. ``feature_ids`` holds str, ``names`` and ``kinds``
    str or None; ``values`` holds one array per source field (aligned with the version's ``fields``) as read:
    text as objects with None for null, numbers as int/float/bool arrays where NaN stands for null (see
    ``null_mask``). ``geometries`` are Shapely geometries, ``wkb`` the same geometries as 2-D ISO WKB (the
    source's own bytes where nothing changed) and ``bounds`` their extent (minx, miny, maxx, maxy).
    """

    fids: np.ndarray
    feature_ids: np.ndarray
    names: np.ndarray
    kinds: np.ndarray
    values: list[np.ndarray]
    geometries: np.ndarray
    wkb: np.ndarray
    bounds: tuple[float, float, float, float]

    def __len__(self) -> int:
        return len(self.feature_ids)


def null_mask(column: np.ndarray) -> np.ndarray:
    """Return where a prepared column is null: None in object arrays, NaN in float arrays."""
    if column.dtype == object:
        return np.fromiter((value is None for value in column.tolist()), dtype=bool, count=len(column))
    if column.dtype.kind == "f":
        return np.isnan(column)
    return np.zeros(len(column), dtype=bool)


@dataclass(frozen=True)
class VersionDraft:
    """What a load knows about a new version before its features are written."""

    layer_key: str
    source_name: str
    sha256: str
    source_crs: str
    crs: str
    loaded_by: str
    fields: tuple[SourceField, ...]
    geometry: str  # "polygon" | "line" | "point" | "any"
    started: float = field(default_factory=time.perf_counter)  # when the load began, for its report


@dataclass(frozen=True)
class LayerVersion:
    """One loaded version of a layer, as recorded by the store."""

    layer_key: str
    version: int
    source_name: str
    sha256: str
    feature_count: int
    source_crs: str
    crs: str
    bbox: tuple[float, float, float, float] | None
    loaded_at: datetime
    loaded_by: str
    report: dict[str, Any] = field(default_factory=dict)
    fields: tuple[SourceField, ...] = ()
    is_current: bool = False
    published_at: datetime | None = None

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> LayerVersion:
        """Build a version from a stored record whose values are already decoded (times, JSON, arrays)."""
        return cls(
            layer_key=row["layer_key"],
            version=row["version"],
            source_name=row["source_name"],
            sha256=row["sha256"],
            feature_count=row["feature_count"],
            source_crs=row["source_crs"],
            crs=row["crs"],
            bbox=tuple(row["bbox"]) if row["bbox"] else None,
            loaded_at=row["loaded_at"],
            loaded_by=row["loaded_by"],
            report=row["report"],
            fields=tuple(SourceField(f["name"], f["kind"]) for f in row["fields"]),
            is_current=bool(row["is_current"]),
            published_at=row["published_at"],
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the version as JSON-ready data."""
        return {
            "layer": self.layer_key,
            "version": self.version,
            "source_name": self.source_name,
            "sha256": self.sha256,
            "feature_count": self.feature_count,
            "source_crs": self.source_crs,
            "crs": self.crs,
            "bbox": list(self.bbox) if self.bbox else None,
            "loaded_at": self.loaded_at.isoformat(),
            "loaded_by": self.loaded_by,
            "report": self.report,
            "is_current": self.is_current,
            "published_at": self.published_at.isoformat() if self.published_at else None,
        }


@dataclass(frozen=True)
class OverlapPiece:
    """One feature's overlap with a site: the feature's identity, reported fields, and the intersection."""

    fid: int
    feature_id: str
    name: str | None
    kind: str | None
    attributes: dict[str, Any]
    geometry: BaseGeometry


@dataclass
class CheckRecord:
    """A stored check, accepted or refused: who, when, what came in, what it was checked against, the answer."""

    id: str
    created_at: datetime
    created_by: str
    accepted: bool
    input_sha256: str | None
    geometry_sha256: str | None
    geometry_wkb: bytes | None
    parameters: dict[str, Any]
    layer_versions: dict[str, Any]
    rule_set: dict[str, Any]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    rerun_of: str | None = None
    organisation: str | None = None


class WriteObserver(Protocol):
    """Receives progress from a store while it writes a version (features written so far)."""

    def __call__(self, written: int) -> None: ...


class Store(Protocol):
    """What every engine offers. Later issues extend it with overlay and query methods."""

    engine: str
    catalog: LayerCatalog
    crs: str

    def current_versions(self) -> dict[str, LayerVersion]:
        """Return the version in force for every layer that has one."""
        ...

    def versions_as_of(self, when: datetime) -> dict[str, LayerVersion]:
        """Return, per layer, the version that was in force at ``when`` (layers without one are absent)."""
        ...

    def list_versions(self, layer_key: str) -> list[LayerVersion]:
        """Return every version of a layer, newest first."""
        ...

    def write_version(
        self,
        draft: VersionDraft,
        batches: Iterable[FeatureBatch],
        *,
        report: dict[str, Any],
        observer: WriteObserver | None = None,
    ) -> LayerVersion:
        """Write a new version completely, validate it, and publish it in one step; all or nothing.

        ``report`` is filled in by the loader while the batches are consumed and stored with the version.
        """
        ...

    def rollback(self, layer_key: str, version: int, *, by: str) -> LayerVersion:
        """Make an earlier version current again (recorded as a new publication)."""
        ...

    def overlaps(self, site: BaseGeometry, versions: dict[str, LayerVersion]) -> dict[str, list[OverlapPiece]]:
        """Return, per layer version given, the features intersecting the site and their intersections (fid order)."""
        ...

    def overlaps_current(
        self, site: BaseGeometry, layer_keys: Iterable[str]
    ) -> tuple[dict[str, LayerVersion], dict[str, list[OverlapPiece]]]:
        """Return the current versions of every layer and, for the named layers that have one, their overlaps,
        both as of one moment: a publication can never fall between choosing the versions and reading them."""
        ...

    def save_check(self, record: CheckRecord) -> None:
        """Store a check record (never updated afterwards)."""
        ...

    def get_check(self, check_id: str) -> CheckRecord:
        """Return a stored check or raise CheckNotFound."""
        ...

    def save_key(self, key: ApiKey) -> None:
        """Store a new API key record (the secret's hash only)."""
        ...

    def get_key(self, key_id: str) -> ApiKey | None:
        """Return a key record by its public id, or None."""
        ...

    def list_keys(self) -> list[ApiKey]:
        """Return every key record, newest first."""
        ...

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark a key revoked (once); return the updated record, or None if unknown."""
        ...

    def record_event(self, event: AuditEvent) -> None:
        """Append an audit event."""
        ...

    def list_events(self, *, limit: int = 100, offset: int = 0, action: str | None = None) -> list[AuditEvent]:
        """Return audit events, newest first."""
        ...

    def close(self) -> None:
        """Release connections and caches."""
        ...


def iter_nonempty(batches: Iterable[FeatureBatch]) -> Iterator[FeatureBatch]:
    """Yield only batches that hold at least one feature."""
    for batch in batches:
        if len(batch):
            yield batch
