"""The embedded engine: layer versions as GeoPackages, held in memory as Shapely STRtrees; records in SQLite."""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely
from pyogrio.errors import DataSourceError
from shapely.geometry.base import BaseGeometry

from sitecheck.access import ApiKey
from sitecheck.config import LayerCatalog
from sitecheck.errors import CheckNotFound, LayerEmpty, LayerValidationFailed, StoreUnavailable, VersionNotFound
from sitecheck.settings import Settings
from sitecheck.stores.base import (
    FEATURE_ID,
    FEATURE_KIND,
    FEATURE_NAME,
    FID,
    AuditEvent,
    CheckRecord,
    FeatureBatch,
    LayerVersion,
    OverlapPiece,
    VersionDraft,
    WriteObserver,
    iter_nonempty,
    null_mask,
)
from sitecheck.stores.sqlite_records import SqliteRecords
from sitecheck.subdivide import subdivide
from sitecheck.timeutil import utc_now

_GPKG_GEOMETRY_TYPES = {"polygon": "MultiPolygon", "line": "Unknown", "point": "Unknown", "any": "Unknown"}
_NUMPY_TYPES = {"text": object, "integer": np.int64, "real": np.float64, "boolean": np.bool_, "datetime": object}
_CACHED_VERSIONS = 24


@dataclass
class SubdividedPieces:
    """A layer's big polygons cut into small pieces: each piece's feature index, the pieces, their STRtree."""

    owners: np.ndarray
    geometries: np.ndarray
    tree: shapely.STRtree


@dataclass
class LayerData:
    """One layer version in memory: canonical columns, source fields, geometries and their STRtree."""

    version: LayerVersion
    fids: np.ndarray
    feature_ids: np.ndarray
    names: np.ndarray
    kinds: np.ndarray
    columns: dict[str, list[Any]]
    geometries: np.ndarray
    tree: shapely.STRtree
    pieces: SubdividedPieces | None = None

    def __len__(self) -> int:
        return len(self.fids)

    def attributes(self, index: int, fields: Iterable[str]) -> dict[str, Any]:
        """Return the named source fields of one feature."""
        return {name: self.columns[name][index] for name in fields if name in self.columns}


class EmbeddedStore:
    """Layer versions as GeoPackages under ``data_dir/layers``, records in ``data_dir/records.sqlite``."""

    engine = "embedded"

    def __init__(self, settings: Settings, catalog: LayerCatalog) -> None:
        """Open (or create) the data directory and its records."""
        self.catalog = catalog
        self.crs = settings.analysis_crs
        self.data_dir = Path(settings.data_dir).resolve()
        self.layer_dir = self.data_dir / "layers"
        self.layer_dir.mkdir(parents=True, exist_ok=True)
        self.records = SqliteRecords(self.data_dir / "records.sqlite")
        self._cache: OrderedDict[tuple[str, int], LayerData] = OrderedDict()
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        """Drop cached layers and close the records."""
        with self._cache_lock:
            self._cache.clear()
        self.records.close()

    # --- versions ------------------------------------------------------------------------------------

    def current_versions(self) -> dict[str, LayerVersion]:
        """Return the version in force for every layer that has one."""
        return {v.layer_key: v for v, _ in self.records.versions() if v.is_current}

    def list_versions(self, layer_key: str) -> list[LayerVersion]:
        """Return every version of a layer, newest first."""
        self.catalog.get(layer_key)
        return [v for v, _ in self.records.versions(layer_key)]

    def versions_as_of(self, when: datetime) -> dict[str, LayerVersion]:
        """Return, per layer, the version whose publication was the last one at or before ``when``."""
        wanted = self.records.versions_as_of(when)
        return {v.layer_key: v for v, _ in self.records.versions() if wanted.get(v.layer_key) == v.version}

    def rollback(self, layer_key: str, version: int, *, by: str) -> LayerVersion:
        """Make an earlier version current again, recorded as a new publication."""
        self.catalog.get(layer_key)
        with self.records.transaction() as conn:
            known = conn.execute(
                "SELECT 1 FROM layer_version WHERE layer_key = ? AND version = ?", (layer_key, version)
            ).fetchone()
            if known is None:
                raise VersionNotFound(
                    f"layer '{layer_key}' has no version {version}", f"图层“{layer_key}”没有版本 {version}"
                )
            self.records.publish(conn, layer_key, version, by=by, action="rollback")
        return next(v for v in self.list_versions(layer_key) if v.version == version)

    # --- loading -------------------------------------------------------------------------------------

    def write_version(
        self,
        draft: VersionDraft,
        batches: Iterable[FeatureBatch],
        *,
        report: dict[str, Any],
        observer: WriteObserver | None = None,
    ) -> LayerVersion:
        """Write a GeoPackage under a temporary name, check it, then register and publish it at once."""
        self.catalog.get(draft.layer_key)
        folder = self.layer_dir / draft.layer_key
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".loading-{uuid.uuid4().hex}.gpkg"
        try:
            count, bbox = self._write_gpkg(temporary, draft, batches, observer)
            if count == 0:
                raise LayerEmpty(
                    f"layer '{draft.layer_key}': no features left after validation", "校验后没有可入库的要素"
                )
            self._validate_written(temporary, draft.layer_key, count)
            report["seconds"] = round(time.perf_counter() - draft.started, 3)
            with self.records.transaction() as conn:
                number = self.records.next_version(conn, draft.layer_key)
                final = folder / f"v{number}.gpkg"
                os.replace(temporary, final)
                version = LayerVersion(
                    layer_key=draft.layer_key,
                    version=number,
                    source_name=draft.source_name,
                    sha256=draft.sha256,
                    feature_count=count,
                    source_crs=draft.source_crs,
                    crs=draft.crs,
                    bbox=bbox,
                    loaded_at=utc_now(),
                    loaded_by=draft.loaded_by,
                    report=report,
                    fields=draft.fields,
                )
                self.records.insert_version(conn, version, str(final), draft.geometry)
                self.records.publish(conn, draft.layer_key, number, by=draft.loaded_by, action="load")
        finally:
            temporary.unlink(missing_ok=True)
        return next(v for v in self.list_versions(draft.layer_key) if v.version == number)

    def _write_gpkg(
        self,
        path: Path,
        draft: VersionDraft,
        batches: Iterable[FeatureBatch],
        observer: WriteObserver | None,
    ) -> tuple[int, tuple[float, float, float, float]]:
        """Append batches to a new GeoPackage; return count and extent."""
        names = [FID, FEATURE_ID, FEATURE_NAME, FEATURE_KIND, *(f.name for f in draft.fields)]
        subdivided = self.catalog.get(draft.layer_key).subdivide
        pieces: list[tuple[int, BaseGeometry]] = []
        count = 0
        bounds = [math.inf, math.inf, -math.inf, -math.inf]
        for batch in iter_nonempty(batches):
            columns: list[np.ndarray] = [
                np.asarray(batch.fids, dtype=np.int64),
                np.asarray(batch.feature_ids, dtype=object),
                np.asarray(batch.names, dtype=object),
                np.asarray(batch.kinds, dtype=object),
            ]
            masks: list[np.ndarray | None] = [None, None, None, None]
            for spec, values in zip(draft.fields, batch.values, strict=True):
                column, mask = _typed_column(values, spec.kind)
                columns.append(column)
                masks.append(mask)
            pyogrio.raw.write(
                str(path),
                batch.wkb,
                columns,
                names,
                field_mask=masks,
                layer=draft.layer_key,
                driver="GPKG",
                geometry_type=_GPKG_GEOMETRY_TYPES[draft.geometry],
                crs=self.crs,
                append=count > 0,
                layer_options={"SPATIAL_INDEX": "NO"},
            )
            count += len(batch)
            minx, miny, maxx, maxy = batch.bounds
            bounds = [min(bounds[0], minx), min(bounds[1], miny), max(bounds[2], maxx), max(bounds[3], maxy)]
            if subdivided:
                pieces.extend(
                    (int(fid), piece)
                    for fid, geometry in zip(batch.fids, batch.geometries, strict=True)
                    for piece in subdivide(geometry)
                )
            if observer is not None:
                observer(count)
        if pieces:
            pyogrio.raw.write(
                str(path),
                shapely.to_wkb(np.array([piece for _, piece in pieces], dtype=object)),
                [np.array([fid for fid, _ in pieces], dtype=np.int64)],
                [FID],
                layer=_pieces_layer(draft.layer_key),
                driver="GPKG",
                geometry_type="Polygon",
                crs=self.crs,
                layer_options={"SPATIAL_INDEX": "NO"},
            )
        return count, (bounds[0], bounds[1], bounds[2], bounds[3])

    def _validate_written(self, path: Path, layer_key: str, count: int) -> None:
        """Check that the written file holds the expected number of features."""
        written = pyogrio.read_info(str(path), layer=layer_key)["features"]
        if written != count:
            raise LayerValidationFailed(
                f"layer '{layer_key}': wrote {written} features, expected {count}",
                f"图层“{layer_key}”写入校验失败：要素数不一致",
            )

    # --- check records -------------------------------------------------------------------------------

    def save_check(self, record: CheckRecord) -> None:
        """Store a check record."""
        self.records.insert_check(record)

    def get_check(self, check_id: str) -> CheckRecord:
        """Return a stored check or raise CheckNotFound."""
        record = self.records.check(check_id)
        if record is None:
            raise CheckNotFound(f"no check with id {check_id!r}", f"没有编号为 {check_id!r} 的审查记录")
        return record

    # --- keys and audit ------------------------------------------------------------------------------

    def save_key(self, key: ApiKey) -> None:
        """Store a new API key record."""
        self.records.insert_key(key)

    def get_key(self, key_id: str) -> ApiKey | None:
        """Return a key record by its public id, or None."""
        found = self.records.keys(key_id)
        return found[0] if found else None

    def list_keys(self) -> list[ApiKey]:
        """Return every key record, newest first."""
        return self.records.keys()

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark a key revoked (the first revocation time stays)."""
        self.records.revoke_key(key_id, at)
        return self.get_key(key_id)

    def record_event(self, event: AuditEvent) -> None:
        """Append an audit event."""
        self.records.insert_event(event)

    def list_events(self, *, limit: int = 100, offset: int = 0, action: str | None = None) -> list[AuditEvent]:
        """Return audit events, newest first."""
        return self.records.events(limit=limit, offset=offset, action=action)

    # --- reading -------------------------------------------------------------------------------------

    def overlaps(self, site: BaseGeometry, versions: dict[str, LayerVersion]) -> dict[str, list[OverlapPiece]]:
        """Return, per layer version, the features intersecting the site and their intersections (fid order)."""
        shapely.prepare(site)
        found: dict[str, list[OverlapPiece]] = {}
        for key, version in versions.items():
            layer = self.catalog.get(key)
            data = self.layer_data(key, version.version)
            hits, intersections = _intersect(data, site)
            found[key] = [
                OverlapPiece(
                    fid=int(data.fids[i]),
                    feature_id=str(data.feature_ids[i]),
                    name=data.names[i],
                    kind=data.kinds[i],
                    attributes=data.attributes(int(i), layer.report),
                    geometry=geometry,
                )
                for i, geometry in zip(hits, intersections, strict=True)
            ]
        return found

    def overlaps_current(
        self, site: BaseGeometry, layer_keys: Iterable[str]
    ) -> tuple[dict[str, LayerVersion], dict[str, list[OverlapPiece]]]:
        """Current versions and the named layers' overlaps. A version's GeoPackage never changes once
        published, so the versions read first are the ones overlaid, whatever is published meanwhile."""
        versions = self.current_versions()
        return versions, self.overlaps(site, {key: versions[key] for key in layer_keys if key in versions})

    def layer_data(self, layer_key: str, version: int | None = None) -> LayerData:
        """Return a layer version in memory (the current one by default), reading its file once."""
        if version is not None:
            with self._cache_lock:
                cached = self._cache.get((layer_key, version))
            if cached is not None:
                return cached
        pairs = self.records.versions(layer_key)
        if version is None:
            current = [pair for pair in pairs if pair[0].is_current]
            if not current:
                raise VersionNotFound(f"layer '{layer_key}' has no published version", f"图层“{layer_key}”尚无发布版本")
            record, path = current[0]
        else:
            matches = [pair for pair in pairs if pair[0].version == version]
            if not matches:
                raise VersionNotFound(
                    f"layer '{layer_key}' has no version {version}", f"图层“{layer_key}”没有版本 {version}"
                )
            record, path = matches[0]
        key = (layer_key, record.version)
        with self._cache_lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        data = _read_layer_file(Path(path), record)
        with self._cache_lock:
            self._cache[key] = data
            while len(self._cache) > _CACHED_VERSIONS:
                self._cache.popitem(last=False)
        return data


def _pieces_layer(layer_key: str) -> str:
    """Name of the GeoPackage layer holding a version's subdivided pieces."""
    return f"{layer_key}__pieces"


def _intersect(data: LayerData, site: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Return the indexes (fid order) of features intersecting the site and their intersections.

    Layers with big polygons are intersected piece by piece (a 100 000-vertex boundary costs ~5 ms whole,
    ~20 µs per piece) and the pieces re-assembled per feature.
    """
    if data.pieces is None:
        hits = data.tree.query(site, predicate="intersects")
        hits = hits[np.argsort(data.fids[hits], kind="stable")]
        return hits, shapely.intersection(data.geometries[hits], site)
    piece_hits = data.pieces.tree.query(site, predicate="intersects")
    owners = data.pieces.owners[piece_hits]
    cut = shapely.intersection(data.pieces.geometries[piece_hits], site)
    hits = np.unique(owners)
    hits = hits[np.argsort(data.fids[hits], kind="stable")]
    merged = np.array([shapely.union_all(cut[owners == owner]) for owner in hits], dtype=object)
    return hits, merged


def _typed_column(values: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Turn a prepared field column into a typed numpy column and a null mask for GeoPackage writing."""
    mask = null_mask(values)
    column: np.ndarray
    if kind in ("integer", "real", "boolean"):
        filler: Any = {"integer": 0, "real": 0.0, "boolean": False}[kind]
        column = np.where(mask, filler, values).astype(_NUMPY_TYPES[kind])
        return column, mask if mask.any() else None
    return np.asarray(values, dtype=object), mask if mask.any() else None


def _read_layer_file(path: Path, version: LayerVersion) -> LayerData:
    """Read a stored version's GeoPackage into memory and index it."""
    try:
        meta, _, wkb, field_data = pyogrio.raw.read(str(path), layer=version.layer_key)
    except DataSourceError as exc:
        raise StoreUnavailable(
            f"the file of layer '{version.layer_key}' version {version.version} is missing or unreadable",
            f"图层“{version.layer_key}”版本 {version.version} 的数据文件缺失或不可读",
        ) from exc
    by_name = dict(zip(meta["fields"].tolist(), field_data, strict=True))
    geometries = shapely.from_wkb(wkb)
    columns: dict[str, list[Any]] = {}
    for spec in version.fields:
        raw: np.ndarray = by_name[spec.name]
        columns[spec.name] = [_plain(v, spec.kind) for v in raw.tolist()]
    fids = np.asarray(by_name[FID], dtype=np.int64)
    return LayerData(
        version=version,
        fids=fids,
        feature_ids=np.asarray(by_name[FEATURE_ID], dtype=object),
        names=np.asarray(by_name[FEATURE_NAME], dtype=object),
        kinds=np.asarray(by_name[FEATURE_KIND], dtype=object),
        columns=columns,
        geometries=geometries,
        tree=shapely.STRtree(geometries),
        pieces=_read_pieces(path, version.layer_key, fids),
    )


def _read_pieces(path: Path, layer_key: str, fids: np.ndarray) -> SubdividedPieces | None:
    """Read a version's subdivided pieces, if it has them."""
    name = _pieces_layer(layer_key)
    if name not in {str(row[0]) for row in pyogrio.list_layers(str(path))}:
        return None
    _, _, wkb, (piece_fids,) = pyogrio.raw.read(str(path), layer=name)
    geometries = shapely.from_wkb(wkb)
    order = np.argsort(fids)
    owners = order[np.searchsorted(fids, piece_fids, sorter=order)]
    return SubdividedPieces(owners=owners, geometries=geometries, tree=shapely.STRtree(geometries))


def _plain(value: Any, kind: str) -> Any:
    """Normalise a value read back from a GeoPackage (NaN means null)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if kind == "integer" and isinstance(value, float):
        return int(value)
    return value
