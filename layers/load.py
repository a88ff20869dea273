"""Loading a layer: read the source, prepare it, and have the store write and publish a new version."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from layers.pipeline import prefetch
from layers.prepare import PrepareReport, prepare_batch
from layers.source import file_sha256, inspect_source, read_batches, resolve_crs
from sitecheck.config import LayerConfig
from sitecheck.errors import LayerFieldMissing, LayerGeometryType, LayerSourceUnreadable
from sitecheck.events import after_publish
from sitecheck.projection import crs_name
from sitecheck.stores.base import RESERVED_COLUMNS, FeatureBatch, LayerVersion, SourceField, Store, VersionDraft

ProgressCallback = Callable[[int, int], None]


def load_layer(
    store: Store,
    layer_key: str,
    path: Path,
    *,
    crs: str | None = None,
    encoding: str | None = None,
    loaded_by: str,
    analysis_crs: str,
    progress: ProgressCallback | None = None,
    batch_size: int = 20_000,
) -> LayerVersion:
    """Load one source file as a new version of a layer; all or nothing, published on success."""
    started = time.perf_counter()
    layer = store.catalog.get(layer_key)
    if not layer.is_vector:
        raise LayerGeometryType(
            f"layer '{layer_key}' is a raster layer; it is read from its configured file", "栅格图层无需入库"
        )
    info = inspect_source(Path(path), encoding=encoding)
    source_crs = resolve_crs(info, crs)
    fields = _source_fields(layer, info.fields)
    report = PrepareReport()
    load_report: dict[str, Any] = {"encoding": info.encoding, "source_crs": source_crs}

    # Three stages in three threads: GDAL reads the next batch, Shapely validates the one before, and the store
    # encodes and writes the one before that. GDAL's reading, Shapely's validity checks, numpy's encoding and
    # libpq's sending release the GIL, so the stages share the two cores.
    def batches() -> Iterator[FeatureBatch]:
        for raw in prefetch(read_batches(info, batch_size=batch_size)):
            yield prepare_batch(
                raw, layer=layer, fields=fields, source_crs=source_crs, analysis_crs=analysis_crs, report=report
            )
            load_report.update(report.to_dict())

    draft = VersionDraft(
        layer_key=layer_key,
        source_name=Path(path).name,
        sha256=file_sha256(Path(path)),
        source_crs=source_crs,
        crs=crs_name(analysis_crs),
        loaded_by=loaded_by,
        fields=fields,
        geometry=layer.geometry,
        started=started,
    )
    observer = (lambda written: progress(written, info.feature_count)) if progress else None
    version = store.write_version(draft, prefetch(batches()), report=load_report, observer=observer)
    after_publish(store, layer_key)
    return version


def load_configured_layers(
    store: Store, *, loaded_by: str, analysis_crs: str, only_missing: bool = True
) -> list[LayerVersion]:
    """Load every configured vector layer from its configured source (by default only layers with no version)."""
    current = store.current_versions()
    loaded = []
    for layer in store.catalog.vector_layers():
        if only_missing and layer.key in current:
            continue
        if layer.source is None:
            raise LayerSourceUnreadable(
                f"layer '{layer.key}' has no configured source", f"图层“{layer.key}”未配置数据源"
            )
        loaded.append(load_layer(store, layer.key, layer.source, loaded_by=loaded_by, analysis_crs=analysis_crs))
    return loaded


def _source_fields(layer: LayerConfig, available: tuple[tuple[str, str], ...]) -> tuple[SourceField, ...]:
    """Keep every source field; refuse when a mapped or reported field is missing or a name is reserved."""
    names = {name for name, _ in available}
    wanted = set(layer.fields.values()) | set(layer.report)
    missing = sorted(wanted - names)
    if missing:
        raise LayerFieldMissing(
            f"layer '{layer.key}': the source lacks configured fields {missing} (it has {sorted(names)})",
            f"图层“{layer.key}”：数据源缺少配置的字段 {missing}",
        )
    clashes = sorted(names & set(RESERVED_COLUMNS))
    if clashes:
        raise LayerFieldMissing(
            f"layer '{layer.key}': source fields {clashes} clash with reserved column names",
            f"图层“{layer.key}”：字段 {clashes} 与保留字段冲突",
        )
    return tuple(SourceField(name, kind) for name, kind in available)
