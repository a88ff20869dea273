"""Preparing source features for storage: types, validity, 2-D, the analysis CRS, canonical fields."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from layers.source import RawBatch
from sitecheck.config import LayerConfig
from sitecheck.errors import LayerCrsInvalid, LayerGeometryType
from sitecheck.projection import CHINA_LAT, CHINA_LON, same_crs, transform_geometries, transformer
from sitecheck.stores.base import FeatureBatch, SourceField, null_mask

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
    geometries, changed = _as_2d(geometries)
    if layer.geometry == "polygon":
        geometries, keep, repaired = _repair_polygons(geometries, keep, report)
        geometries, changed = _as_multipolygons(geometries, changed | repaired)
    index = np.flatnonzero(keep)
    every = len(index) == len(geometries)
    geometries = geometries[index]
    changed = changed[index]
    if not same_crs(source_crs, analysis_crs):
        geometries = transform_geometries(geometries, source_crs, analysis_crs)
        changed = np.ones(len(changed), dtype=bool)
    bounds = _check_extent(geometries, layer.key, source_crs, analysis_crs)
    wkb = raw.wkb[index]
    if changed.any():
        wkb[changed] = shapely.to_wkb(geometries[changed])
    fids = raw.fids[index]
    values = [raw.fields[f.name] if every else raw.fields[f.name][index] for f in fields]
    by_name = {f.name: column for f, column in zip(fields, values, strict=True)}
    feature_ids = _feature_ids(_mapped(by_name, layer, "id"), fids)
    before = len(report.seen_ids)
    report.seen_ids.update(feature_ids.tolist())
    report.duplicate_ids += len(feature_ids) - (len(report.seen_ids) - before)
    report.written += len(feature_ids)
    return FeatureBatch(
        fids=fids,
        feature_ids=feature_ids,
        names=_text_column(_mapped(by_name, layer, "name"), len(fids)),
        kinds=_text_column(_mapped(by_name, layer, "kind"), len(fids)),
        values=values,
        geometries=geometries,
        wkb=wkb,
        bounds=bounds,
    )


def _check_extent(
    geometries: np.ndarray, layer_key: str, source_crs: str, analysis_crs: str
) -> tuple[float, float, float, float]:
    """Return the extent; refuse coordinates that are non-finite or fall outside China: a wrong CRS."""
    if len(geometries) == 0:
        return (math.inf, math.inf, -math.inf, -math.inf)
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
    minx, miny, maxx, maxy = bounds.tolist()
    return (minx, miny, maxx, maxy)


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


def _as_2d(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop Z and M ordinates; mark the geometries that had them changed."""
    flat = shapely.get_coordinate_dimension(geometries) > 2
    if not flat.any():
        return geometries, flat
    out = geometries.copy()
    out[flat] = shapely.force_2d(geometries[flat])
    return out, flat


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


def _mapped(by_name: dict[str, np.ndarray], layer: LayerConfig, canonical: str) -> np.ndarray | None:
    """Return the source column a canonical field (id, name, kind) is mapped to, if any."""
    name = layer.source_field(canonical)
    return None if name is None else by_name.get(name)


def _feature_ids(column: np.ndarray | None, fids: np.ndarray) -> np.ndarray:
    """Return canonical ids from the mapped id field (3.0 as "3"), falling back to "fid:<source fid>"."""
    ids = np.empty(len(fids), dtype=object)
    present = np.zeros(len(fids), dtype=bool)
    if column is not None:
        text = _as_text(column, whole_numbers=True)
        present = ~(null_mask(text) | np.equal(text, ""))
        ids[present] = text[present]
    if not present.all():
        ids[~present] = [f"fid:{fid}" for fid in fids[~present].tolist()]
    return ids


def _text_column(column: np.ndarray | None, size: int) -> np.ndarray:
    """Return a mapped field as text values (None where null or absent)."""
    if column is None:
        return np.full(size, None, dtype=object)
    return _as_text(column, whole_numbers=False)


def _as_text(column: np.ndarray, *, whole_numbers: bool) -> np.ndarray:
    """Return a column as an object array of str, None where null; ``whole_numbers`` writes 3.0 as "3"."""
    if column.dtype == object:
        return column  # text fields arrive as str or None
    nulls = null_mask(column)
    text = column.astype(str).astype(object)
    if whole_numbers and column.dtype.kind == "f":
        whole = ~nulls & (np.abs(column) < 2.0**63) & (column == np.floor(column))
        text[whole] = column[whole].astype(np.int64).astype(str)
    text[nulls] = None
    return text
