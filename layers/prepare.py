"""Preparing source features for storage: types, validity, 2-D, the analysis CRS, canonical fields."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from layers.source import RawBatch
from sitecheck.config import LayerConfig
from sitecheck.errors import LayerCrsInvalid, LayerGeometryType
from sitecheck.projection import CHINA_LAT, CHINA_LON, same_crs, transform_geometries, transformer
from sitecheck.stores.base import FeatureBatch, SourceField

_POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)
_ALLOWED_TYPES = {
    "polygon": _POLYGONAL,
    "line": (shapely.GeometryType.LINESTRING, shapely.GeometryType.MULTILINESTRING),
    "point": (shapely.GeometryType.POINT, shapely.GeometryType.MULTIPOINT),
}


@dataclass
class PrepareReport:
    """Counts a load reports: read, repaired, dropped by reason, duplicate ids."""

    read: int = 0
    written: int = 0
    repaired: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    duplicate_ids: int = 0
    seen_ids: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        """Return the counts as JSON-ready data."""
        return {
            "read": self.read,
            "written": self.written,
            "repaired": self.repaired,
            "dropped": dict(self.dropped),
            "duplicate_ids": self.duplicate_ids,
        }


def prepare_batch(
    raw: RawBatch,
    *,
    layer: LayerConfig,
    fields: tuple[SourceField, ...],
    source_crs: str,
    analysis_crs: str,
    report: PrepareReport,
) -> FeatureBatch:
    """Validate and normalise one batch; wrong geometry types refuse the whole load."""
    report.read += len(raw.wkb)
    geometries = shapely.from_wkb(raw.wkb, on_invalid="ignore")
    keep = ~(shapely.is_missing(geometries) | shapely.is_empty(geometries))
    report.dropped["empty"] += int((~keep).sum())
    _check_types(geometries[keep], raw.fids[keep], layer)
    # Rows whose geometry is stored exactly as read keep the source WKB: no re-encoding on the hot path.
    changed = np.zeros(len(geometries), dtype=bool)
    if layer.geometry == "polygon":
        geometries, keep, changed = _repair_polygons(geometries, keep, report)
        geometries, changed = _as_multipolygons(geometries, changed)
    index = np.flatnonzero(keep)
    geometries = geometries[index]
    changed = changed[index]
    if not same_crs(source_crs, analysis_crs):
        geometries = transform_geometries(geometries, source_crs, analysis_crs)
        changed = np.ones(len(changed), dtype=bool)
    _check_extent(geometries, layer.key, source_crs, analysis_crs)
    wkb = np.asarray(raw.wkb, dtype=object)[index]
    if changed.any():
        wkb[changed] = shapely.to_wkb(geometries[changed])
    fids = raw.fids[index]
    values = [_column_values(raw.fields[f.name], index, len(raw.wkb)) for f in fields]
    by_name = {f.name: column for f, column in zip(fields, values, strict=True)}
    feature_ids = [_feature_id(by_name, layer.source_field("id"), int(fid), pos) for pos, fid in enumerate(fids)]
    duplicates = len(feature_ids) - len(set(feature_ids)) + len(report.seen_ids.intersection(feature_ids))
    report.duplicate_ids += duplicates
    report.seen_ids.update(feature_ids)
    report.written += len(feature_ids)
    return FeatureBatch(
        fids=fids,
        feature_ids=feature_ids,
        names=_text_column(by_name, layer.source_field("name"), len(fids)),
        kinds=_text_column(by_name, layer.source_field("kind"), len(fids)),
        values=values,
        geometries=geometries,
        wkb=wkb,
    )


def _check_extent(geometries: np.ndarray, layer_key: str, source_crs: str, analysis_crs: str) -> None:
    """Refuse coordinates that are non-finite or fall outside China once transformed: a wrong CRS."""
    if len(geometries) == 0:
        return
    bounds = shapely.total_bounds(geometries)
    lon, lat = transformer(analysis_crs, "EPSG:4490").transform(bounds[[0, 2]], bounds[[1, 3]])
    inside = np.isfinite(bounds).all() and np.isfinite([*lon, *lat]).all()
    inside = inside and CHINA_LON[0] <= min(lon) and max(lon) <= CHINA_LON[1]
    inside = inside and CHINA_LAT[0] <= min(lat) and max(lat) <= CHINA_LAT[1]
    if not inside:
        raise LayerCrsInvalid(
            f"layer '{layer_key}': read as {source_crs}, the features span {bounds.round(3).tolist()} in "
            f"{analysis_crs}, which is not inside China; check the declared CRS (zone prefix, axis order)",
            f"图层“{layer_key}”：按 {source_crs} 读取后范围不在中国境内，请核对坐标系（带号、坐标轴顺序）",
        )


def _check_types(geometries: np.ndarray, fids: np.ndarray, layer: LayerConfig) -> None:
    """Refuse a batch holding geometry types the layer's kind does not allow, naming the first offender."""
    allowed = _ALLOWED_TYPES.get(layer.geometry)
    if allowed is None or len(geometries) == 0:
        return
    types = shapely.get_type_id(geometries)
    wrong = ~np.isin(types, [int(t) for t in allowed])
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        found = shapely.GeometryType(int(types[first])).name
        raise LayerGeometryType(
            f"layer '{layer.key}' must be {layer.geometry}al but {int(wrong.sum())} features are not "
            f"(first: source fid {int(fids[first])}, a {found})",
            f"图层“{layer.key}”应为面要素，但有 {int(wrong.sum())} 个要素不是（首个：fid {int(fids[first])}，{found}）",
        )


def _repair_polygons(
    geometries: np.ndarray, keep: np.ndarray, report: PrepareReport
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Repair invalid polygons with the structure method (never turning an overlap into a hole), count it."""
    geometries = geometries.copy()
    keep = keep.copy()
    invalid = keep & ~shapely.is_valid(geometries)
    for i in np.flatnonzero(invalid):
        fixed = shapely.make_valid(geometries[i], method="structure", keep_collapsed=False)
        polygons = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6) and not p.is_empty]
        if not polygons:
            keep[i] = False
            report.dropped["collapsed_on_repair"] += 1
            continue
        geometries[i] = shapely.union_all(polygons)
        report.repaired += 1
    return geometries, keep, invalid


def _as_multipolygons(geometries: np.ndarray, changed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Promote polygons to MultiPolygons so a layer has one geometry type; mark them changed."""
    single = shapely.get_type_id(geometries) == int(shapely.GeometryType.POLYGON)
    if not single.any():
        return geometries, changed
    out = geometries.copy()
    out[single] = shapely.multipolygons(geometries[single][:, np.newaxis])
    return out, changed | single


def _column_values(column: np.ndarray, index: np.ndarray, size: int) -> list[Any]:
    """Return the kept values of a field as plain Python values; NaN (GDAL's null for reals) becomes None."""
    selected = column if len(index) == size else column[index]
    values: list[Any] = selected.tolist()
    if selected.dtype.kind == "f" and np.isnan(selected).any():
        values = [None if v != v else v for v in values]
    return values


def _feature_id(by_name: dict[str, list[Any]], field_name: str | None, fid: int, pos: int) -> str:
    """Return a feature's canonical id from its mapped field, falling back to the source fid."""
    if field_name is not None and field_name in by_name:
        value = by_name[field_name][pos]
        if value is not None and value != "":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return str(value)
    return f"fid:{fid}"


def _text_column(by_name: dict[str, list[Any]], field_name: str | None, size: int) -> list[str | None]:
    """Return a mapped field as text values (None where absent)."""
    if field_name is None or field_name not in by_name:
        return [None] * size
    return [None if v is None else str(v) for v in by_name[field_name]]
