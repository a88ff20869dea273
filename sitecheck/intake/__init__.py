"""Site intake: bytes or a JSON body in, one valid polygonal site in the analysis CRS out (or a domain error).

Steps: size limit → format (parameter, file name, content) → reader → polygon parts → vertex/part limits →
finite check → source CRS (request, file, detection; swapped axes, GCJ-02) → validity in the source coordinates →
checked transform (zone prefix, China, finite) → validity and repair (only on request) in metres → dissolve parts →
GEOS normal form and hashes. See docs/intake.md.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import io
import math
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import shapely
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

from sitecheck.errors import EncodingUnknown, FormatInvalid, FormatUnknown, ParameterInvalid, UploadTooLarge
from sitecheck.intake.crs import crs_info, parse_crs, resolve_source_crs, transform_checked
from sitecheck.intake.raw import IntakeWarning, RawSite
from sitecheck.intake.validate import (
    Locate,
    check_finite,
    check_limits,
    flatten_polygons,
    geometry_sha256,
    normalize_site,
    refuse_invalid,
    validate_parts,
)
from sitecheck.projection import transformer
from sitecheck.settings import IntakeLimits, get_settings

__all__ = ["FORMATS", "IntakeWarning", "RawSite", "Site", "detect_format", "read_site", "read_site_geometry"]

FORMATS = ("geojson", "wkt", "txt", "shapefile", "kml", "kmz", "dxf")
_FMT_ALIASES = {"json": "geojson", "ewkt": "wkt", "shp": "shapefile", "zip": "zip"} | {f: f for f in FORMATS}
_EXTENSIONS = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".wkt": "wkt",
    ".txt": "txt",
    ".zip": "zip",
    ".kml": "kml",
    ".kmz": "kmz",
    ".dxf": "dxf",
}
# Formats whose coordinates may be interpreted from their ranges; WKT must declare its CRS.
_CRS_REQUIRED = frozenset({"wkt"})
# Readers written elsewhere, imported only when needed so that intake works without them.
_EXTERNAL_READERS = {
    "shapefile": ("sitecheck.intake.shapefile", ("read_shapefile", "read_shapefile_zip")),
    "kml": ("sitecheck.intake.kml", ("read_kml",)),
    "kmz": ("sitecheck.intake.kml", ("read_kmz", "read_kml")),
    "dxf": ("sitecheck.intake.dxf", ("read_dxf",)),
}
_TXT_MARKERS = ("[属性描述]", "[地块坐标]", "【属性描述】", "【地块坐标】")
_WKT_RE = re.compile(
    r"^(?:SRID\s*=\s*\d+\s*;\s*)?(?:MULTI)?(?:POLYGON|POINT|LINESTRING)\b|^(?:SRID\s*=\s*\d+\s*;\s*)?"
    r"GEOMETRYCOLLECTION\b",
    re.I,
)
_DXF_RE = re.compile(r"^\s*0\s*\n\s*SECTION\s*\n")
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Site:
    """A validated site: normal-form geometry in the analysis CRS plus what was learnt on the way in."""

    geometry: Polygon | MultiPolygon
    source_format: str
    source_crs: str
    analysis_crs: str
    input_sha256: str
    geometry_sha256: str
    vertex_count: int
    part_count: int
    warnings: list[IntakeWarning] = field(default_factory=list)
    repair: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the geometry, as plain data."""
        return {
            "source_format": self.source_format,
            "source_crs": self.source_crs,
            "analysis_crs": self.analysis_crs,
            "input_sha256": self.input_sha256,
            "geometry_sha256": self.geometry_sha256,
            "vertex_count": self.vertex_count,
            "part_count": self.part_count,
            "warnings": [w.to_dict() for w in self.warnings],
            "repair": self.repair,
            "meta": self.meta,
        }


def read_site(
    data: bytes,
    *,
    filename: str | None = None,
    fmt: str | None = None,
    crs: str | None = None,
    zone: int | None = None,
    repair: bool = False,
    analysis_crs: str = "EPSG:4528",
    limits: IntakeLimits | None = None,
    encoding: str | None = None,
) -> Site:
    """Read an uploaded site boundary (any supported format) into a valid site in the analysis CRS (metres)."""
    limits = limits or get_settings().intake
    _check_size(len(data), limits)
    explicit, analysis = _check_parameters(crs, zone, analysis_crs)
    fmt_name = detect_format(data, filename=filename, fmt=fmt)
    raw = _read_raw(fmt_name, data, limits=limits, encoding=encoding, zone=zone, crs=explicit)
    return _finish(
        raw,
        hashlib.sha256(data).hexdigest(),
        explicit=explicit,
        zone=zone,
        repair=repair,
        analysis_crs=analysis,
        limits=limits,
    )


def read_site_geometry(
    obj: dict[str, Any] | str,
    *,
    crs: str | None = None,
    zone: int | None = None,
    repair: bool = False,
    analysis_crs: str = "EPSG:4528",
    limits: IntakeLimits | None = None,
) -> Site:
    """Read a site from a JSON body: a parsed GeoJSON object, or GeoJSON/WKT text; same checks as read_site."""
    from sitecheck.intake.geojson import canonical_json, read_geojson, read_geojson_object
    from sitecheck.intake.wkt import read_wkt_text

    limits = limits or get_settings().intake
    explicit, analysis = _check_parameters(crs, zone, analysis_crs)
    if isinstance(obj, str):
        encoded = obj.encode("utf-8", "surrogatepass")
        _check_size(len(encoded), limits)
        is_json = obj.lstrip().startswith("{")
        raw = read_geojson(encoded, limits=limits) if is_json else read_wkt_text(obj, limits=limits)
    elif isinstance(obj, dict):
        encoded = canonical_json(obj, limits)
        _check_size(len(encoded), limits)
        raw = read_geojson_object(obj, limits=limits)
    else:
        raise ParameterInvalid(
            "The geometry must be a GeoJSON object or WKT text.", "几何应为 GeoJSON 对象或 WKT 文本。"
        )
    return _finish(
        raw,
        hashlib.sha256(encoded).hexdigest(),
        explicit=explicit,
        zone=zone,
        repair=repair,
        analysis_crs=analysis,
        limits=limits,
    )


def _check_size(size: int, limits: IntakeLimits) -> None:
    if size > limits.max_upload_bytes:
        raise UploadTooLarge(
            f"The upload has {size} bytes; at most {limits.max_upload_bytes} are accepted.",
            f"上传内容为 {size} 字节，超过上限 {limits.max_upload_bytes} 字节。",
            details={"size_bytes": size, "limit_bytes": limits.max_upload_bytes},
        )


def _check_parameters(crs: str | None, zone: int | None, analysis_crs: str) -> tuple[str | None, str]:
    """Parse the request's CRS and zone and the deployment's analysis CRS (projected, in metres)."""
    explicit = parse_crs(crs) if crs else None
    if zone is not None and not (13 <= zone <= 23 or 25 <= zone <= 45):
        raise ParameterInvalid(
            f"zone={zone} is not a Gauss-Krüger zone of China (3-degree 25–45, 6-degree 13–23).",
            f"带号 {zone} 不是中国范围的高斯-克吕格带号（3 度带 25–45，6 度带 13–23）。",
            details={"zone": zone},
        )
    analysis = parse_crs(analysis_crs)
    info = crs_info(analysis) if analysis.startswith("EPSG:") else None
    if info is None or not info.is_projected or info.axis_info[0].unit_name != "metre":
        raise ParameterInvalid(
            f"The analysis CRS {analysis_crs} must be projected in metres.",
            f"分析坐标系 {analysis_crs} 必须是以米为单位的投影坐标系。",
        )
    return explicit, analysis


def detect_format(data: bytes, *, filename: str | None = None, fmt: str | None = None) -> str:
    """Name the upload's format from fmt, else the file extension, else the content; unknown → FormatUnknown."""
    if fmt:
        name = _FMT_ALIASES.get(fmt.strip().lower())
        if name is None:
            raise FormatUnknown(
                f"Unknown format {fmt!r}; supported: {', '.join(FORMATS)}.",
                f"未知的格式 {fmt!r}；支持：{', '.join(FORMATS)}。",
                details={"fmt": fmt},
            )
        return _zip_kind(data) if name == "zip" else name
    suffix = PurePath(filename).suffix.lower() if filename else ""
    if suffix == ".shp":
        raise FormatUnknown(
            "A bare .shp cannot be read: upload the .shp, .shx, .dbf and .prj together as one .zip.",
            "单独的 .shp 无法读取：请将 .shp、.shx、.dbf、.prj 一起压缩为 .zip 上传。",
        )
    by_extension = _EXTENSIONS.get(suffix)
    if by_extension == "zip":
        return _zip_kind(data)
    if by_extension == "txt":
        # A .txt may as well hold WKT or GeoJSON; the Ministry format is the default.
        return _sniff(data) or "txt"
    return by_extension or _sniff(data) or _unknown(filename)


def _unknown(filename: str | None) -> str:
    raise FormatUnknown(
        f"The format of {filename or 'the upload'} was not recognised; supported: {', '.join(FORMATS)}.",
        f"无法识别 {filename or '上传内容'} 的格式；支持：{', '.join(FORMATS)}。",
    )


def _sniff(data: bytes) -> str | None:
    """Recognise a format from the first bytes."""
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if data.startswith(b"AutoCAD Binary DXF"):
        return "dxf"
    head = _sniff_text(data[:_SNIFF_BYTES])
    text = head.lstrip()
    # JSON and WKT announce themselves in the first character/word; a TXT marker inside them (a property value)
    # must not win.
    if text.startswith("{"):
        return "geojson"
    if _WKT_RE.match(text):
        return "wkt"
    if any(marker in head for marker in _TXT_MARKERS) or re.search(r",\s*@\s*$", head, re.M):
        return "txt"
    if "<kml" in head[:2048].lower():
        return "kml"
    if _DXF_RE.match(head.replace("\r\n", "\n")):
        return "dxf"
    return None


def _sniff_text(head: bytes) -> str:
    """Decode the start of an upload leniently, for sniffing only (a multi-byte character may be cut)."""
    from sitecheck.intake.txt import decode_text

    for cut in range(4):
        try:
            return decode_text(head[: len(head) - cut] if cut else head)[0]
        except EncodingUnknown:
            continue
    return head.decode("gb18030", "replace")


def _zip_kind(data: bytes) -> str:
    """A zip holding a .kml is a KMZ, one holding a .shp a zipped Shapefile."""
    try:
        names = [n.lower() for n in zipfile.ZipFile(io.BytesIO(data)).namelist()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatInvalid(f"The zip archive cannot be opened: {exc}.", f"无法打开 zip 压缩包：{exc}。") from exc
    if any(n.endswith(".kml") for n in names):
        return "kmz"
    if any(n.endswith(".shp") for n in names):
        return "shapefile"
    raise FormatUnknown(
        f"The zip holds neither a .shp nor a .kml (entries: {', '.join(names[:10])}).",
        f"zip 压缩包中既没有 .shp 也没有 .kml（内容：{', '.join(names[:10])}）。",
    )


def _read_raw(
    fmt: str, data: bytes, *, limits: IntakeLimits, encoding: str | None, zone: int | None, crs: str | None
) -> RawSite:
    """Run the reader of one format."""
    if fmt == "geojson":
        from sitecheck.intake.geojson import read_geojson

        return read_geojson(data, limits=limits, encoding=encoding)
    if fmt == "wkt":
        from sitecheck.intake.wkt import read_wkt

        return read_wkt(data, limits=limits, encoding=encoding)
    if fmt == "txt":
        from sitecheck.intake.txt import read_txt

        return read_txt(data, limits=limits, encoding=encoding, zone=zone, crs=crs)
    return _external_reader(fmt, limits=limits, encoding=encoding)(data)


def _external_reader(fmt: str, *, limits: IntakeLimits, encoding: str | None) -> Callable[[bytes], RawSite]:
    """The reader written in another module, called with ``encoding`` only when its signature takes it."""
    module_name, names = _EXTERNAL_READERS[fmt]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        module = None
    for name in names:
        reader = getattr(module, name, None)
        if callable(reader):
            kwargs: dict[str, Any] = {"limits": limits}
            if encoding is not None and "encoding" in inspect.signature(reader).parameters:
                kwargs["encoding"] = encoding
            return functools.partial(reader, **kwargs)
    raise FormatUnknown(
        f"Reading {fmt} is not available in this installation.",
        f"当前安装不支持读取 {fmt} 格式。",
        details={"fmt": fmt},
    )


def _locators(source_crs: str, analysis_crs: str) -> tuple[Locate, Locate]:
    """Location fields for a point given in the source or in the analysis CRS: the source point first."""
    forward = transformer(source_crs, analysis_crs)
    back = transformer(analysis_crs, source_crs)

    def fields(sx: float, sy: float, ax: float, ay: float) -> dict[str, Any]:
        out: dict[str, Any] = {"x": float(sx), "y": float(sy), "crs": source_crs}
        if math.isfinite(ax) and math.isfinite(ay):
            out["analysis"] = {"x": float(ax), "y": float(ay), "crs": analysis_crs}
        return out

    def at_source(x: float, y: float) -> dict[str, Any]:
        return fields(x, y, *forward.transform(x, y, errcheck=False))

    def at_analysis(x: float, y: float) -> dict[str, Any]:
        return fields(*back.transform(x, y, errcheck=False), x, y)

    return at_source, at_analysis


def _finish(
    raw: RawSite,
    input_sha256: str,
    *,
    explicit: str | None,
    zone: int | None,
    repair: bool,
    analysis_crs: str,
    limits: IntakeLimits,
) -> Site:
    """Turn a reader's result into a validated site in the analysis CRS."""
    parts = flatten_polygons(shapely.force_2d(raw.geometry))
    check_limits(parts, limits)
    check_finite(parts)
    resolved = resolve_source_crs(
        GeometryCollection(parts),
        explicit=explicit,
        declared=raw.crs,
        zone=zone,
        allow_detection=raw.source_format not in _CRS_REQUIRED,
    )
    source_crs = resolved.crs
    at_source, at_analysis = _locators(source_crs, analysis_crs)
    # A broken shape is broken in any CRS: say so (in the user's own coordinates) before any range complaint.
    refuse_invalid(list(getattr(resolved.geometry, "geoms", [])), repair=repair, locate=at_source)
    transformed = transform_checked(resolved.geometry, source_crs, analysis_crs)
    validated = validate_parts(
        [p for p in getattr(transformed, "geoms", [transformed]) if isinstance(p, Polygon)],
        repair=repair,
        locate=at_analysis,
    )
    geometry = normalize_site(validated.geometry)
    return Site(
        geometry=geometry,
        source_format=raw.source_format,
        source_crs=source_crs,
        analysis_crs=analysis_crs,
        input_sha256=input_sha256,
        geometry_sha256=geometry_sha256(geometry),
        vertex_count=int(shapely.get_num_coordinates(geometry)),
        part_count=len(geometry.geoms) if isinstance(geometry, MultiPolygon) else 1,
        warnings=[*raw.warnings, *resolved.warnings, *validated.warnings],
        repair=validated.repair,
        meta=raw.meta | {"declared_crs": raw.crs, "requested_crs": explicit},
    )
