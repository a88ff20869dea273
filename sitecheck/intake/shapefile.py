"""Zipped Shapefile reader: one .shp with its .shx/.dbf (and optional .prj/.cpg), read with pyogrio."""

from __future__ import annotations

import codecs
import math
import re
import struct
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.errors
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.errors import GEOSException
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import FormatInvalid, GeometryEmpty, GeometryNotPolygonal
from sitecheck.intake.archive import GuardedZip
from sitecheck.intake.polygon_parts import ReadBudget, collect_polygons
from sitecheck.intake.raw import IntakeWarning, RawSite
from sitecheck.settings import IntakeLimits

ATTRIBUTE_ROWS = 50
# PROJ's "equivalent, only the names differ": ESRI-flavoured .prj files name things differently from EPSG.
PRJ_MIN_CONFIDENCE = 70

# GDAL is told the .dbf is ISO-8859-1, which maps every byte to one code point; the text is then
# re-encoded to its original bytes and decoded here, so Python's codecs (not GDAL's build) decide.
_GDAL_PASSTHROUGH = "ISO-8859-1"
_SHP_FILE_CODE = 9994
_POLY_SHAPES = {3, 5, 13, 15, 23, 25, 31}  # (multi)polyline, polygon, multipatch: parts + points
_MULTIPOINT_SHAPES = {8, 18, 28}
_POINT_SHAPES = {1, 11, 21}
_CODEPAGE_RE = re.compile(r"^(?:ANSI\s*|CP)?(\d{3,5})$", re.IGNORECASE)
# GB2312 labels are routinely put on GBK data; GBK is a strict superset, so read it as GBK.
_CODEC_UPGRADES = {"gb2312": "gbk"}
_DETECTION_ORDER = ("utf-8", "gbk", "gb18030")
_PYOGRIO_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError)


def read_shapefile_zip(data: bytes, *, limits: IntakeLimits, encoding: str | None = None) -> RawSite:
    """Read a zipped Shapefile: polygons in the .prj's CRS (``EPSG:nnnn`` or None), unvalidated."""
    archive = GuardedZip(data, limits=limits)
    shp_name = _find_shp(archive.names)
    sidecars = _find_sidecars(archive.names, shp_name)
    budget = ReadBudget(limits)
    shp = archive.read(shp_name)
    shx = archive.read(sidecars["shx"])
    _count_shp_vertices(shp, shx, budget)
    warnings: list[IntakeWarning] = []
    dbf = archive.read(sidecars["dbf"])
    cpg = _decode_small_text(archive.read(sidecars["cpg"])) if "cpg" in sidecars else None
    codec, codec_source = _choose_codec(cpg, encoding, _dbf_text_bytes(dbf), warnings)
    crs, prj_meta = _identify_prj(archive.read(sidecars["prj"]) if "prj" in sidecars else None, warnings)
    with tempfile.TemporaryDirectory(prefix="sitecheck-shp-") as tmp:
        # Fixed file names: nothing the uploader named ever reaches the file system.
        shp_path = Path(tmp) / "site.shp"
        shp_path.write_bytes(shp)
        (Path(tmp) / "site.shx").write_bytes(shx)
        (Path(tmp) / "site.dbf").write_bytes(dbf)
        wkbs = _read_geometries(shp_path)
        fields, rows = _read_attributes(shp_path, codec)
    parts = _polygon_parts(wkbs, warnings)
    if not parts:
        raise GeometryEmpty("The Shapefile holds no polygon.", "Shapefile 中没有面要素。")
    meta: dict[str, Any] = {
        "feature_count": len(wkbs),
        "fields": fields,
        "attributes": rows,
        "attributes_truncated": len(wkbs) > len(rows),
        "encoding": codec,
        "encoding_source": codec_source,
        "files": sorted({shp_name, *sidecars.values()}),
        **prj_meta,
    }
    return RawSite(
        geometry=collect_polygons(parts),
        source_format="shapefile",
        crs=crs,
        warnings=warnings,
        meta=meta,
    )


def _find_shp(names: list[str]) -> str:
    """Return the archive's single .shp member; refuse none or several, naming them."""
    shps = [name for name in names if name.lower().endswith(".shp")]
    if not shps:
        raise FormatInvalid("The zip holds no .shp file.", "压缩包中没有 .shp 文件。")
    if len(shps) > 1:
        listed = ", ".join(shps)
        raise FormatInvalid(
            f"The zip holds {len(shps)} Shapefiles ({listed}); upload one site per zip.",
            f"压缩包中有 {len(shps)} 个 Shapefile（{listed}），每个压缩包只能包含一个地块图层。",
            details={"shapefiles": shps},
        )
    return shps[0]


def _find_sidecars(names: list[str], shp_name: str) -> dict[str, str]:
    """Return ``{extension: member}`` for the .shp's companions (case-insensitive); .shx and .dbf required."""
    stem = shp_name[:-4].casefold()
    sidecars: dict[str, str] = {}
    for name in names:
        head, dot, ext = name.rpartition(".")
        if dot and head.casefold() == stem and ext.lower() in ("shx", "dbf", "prj", "cpg"):
            sidecars[ext.lower()] = name
    missing = [f"{shp_name[:-4]}.{ext}" for ext in ("shx", "dbf") if ext not in sidecars]
    if missing:
        listed = ", ".join(missing)
        raise FormatInvalid(
            f"The Shapefile is incomplete: {listed} missing.",
            f"Shapefile 不完整，缺少 {listed}。",
            details={"missing": missing},
        )
    return sidecars


def _count_shp_vertices(shp: bytes, shx: bytes, budget: ReadBudget) -> None:
    """Count features and points through the .shx index, as GDAL will read them, before it builds anything.

    The index, not a walk of the .shp, is what GDAL follows; a hostile .shx can point many entries at one
    huge record, and every one of those entries costs GDAL that record's points again.
    """
    for raw, what in ((shp, ".shp"), (shx, ".shx")):
        if len(raw) < 100 or struct.unpack_from(">i", raw, 0)[0] != _SHP_FILE_CODE:
            raise FormatInvalid(f"The {what} file has no valid Shapefile header.", f"{what} 文件头无效。")
    for index, entry in enumerate(range(100, len(shx) - 7, 8)):
        location = {"feature_index": index}
        budget.add_part(location)
        content = struct.unpack_from(">i", shx, entry)[0] * 2 + 8  # offsets are in 16-bit words
        if content < 100 or content + 4 > len(shp):
            continue  # GDAL reports the broken record itself
        (shape_type,) = struct.unpack_from("<i", shp, content)
        if shape_type in _POLY_SHAPES and content + 44 <= len(shp):
            budget.add_vertices(max(struct.unpack_from("<i", shp, content + 40)[0], 0), location)
        elif shape_type in _MULTIPOINT_SHAPES and content + 40 <= len(shp):
            budget.add_vertices(max(struct.unpack_from("<i", shp, content + 36)[0], 0), location)
        elif shape_type in _POINT_SHAPES:
            budget.add_vertices(1, location)


def _dbf_text_bytes(dbf: bytes) -> bytes:
    """Return the .dbf's field names and record bytes joined: the bytes whose encoding matters."""
    if len(dbf) < 32:
        return b""
    header_len = struct.unpack_from("<H", dbf, 8)[0]
    names = []
    for at in range(32, min(header_len, len(dbf)) - 31, 32):
        if dbf[at] == 0x0D:
            break
        names.append(dbf[at : at + 11].split(b"\x00", 1)[0])
    return b" ".join(names) + b" " + dbf[header_len:].rstrip(b"\x1a")


def _choose_codec(
    cpg: str | None, requested: str | None, sample: bytes, warnings: list[IntakeWarning]
) -> tuple[str, str]:
    """Return (Python codec, how it was chosen): .cpg, else ``requested``, else UTF-8 then GBK by trial."""
    declared, source = (cpg, "cpg") if cpg else (requested, "argument")
    if declared:
        codec = _codec_name(declared)
        if codec is not None and _decodes(sample, codec):
            return codec, source
        warnings.append(
            IntakeWarning(
                code="DBF_ENCODING_MISMATCH",
                message_en=f"The attributes are not '{declared}' (from the {source}); the encoding was detected.",
                message_zh=f"属性表不符合声明的编码“{declared}”（来自 {source}），已自动识别编码。",
            )
        )
    for codec in _DETECTION_ORDER:
        if _decodes(sample, codec):
            return codec, "detected"
    warnings.append(
        IntakeWarning(
            code="DBF_ENCODING_UNKNOWN",
            message_en="The attribute text is neither UTF-8 nor GBK; unreadable characters were replaced.",
            message_zh="属性表编码既非 UTF-8 也非 GBK，无法识别的字符已被替换。",
        )
    )
    return "gb18030", "fallback"


def _codec_name(label: str) -> str | None:
    """Return Python's codec name for a .cpg label or caller's name ('UTF-8', '936', 'ANSI 936'), or None."""
    label = label.strip()
    match = _CODEPAGE_RE.match(label)
    try:
        name = codecs.lookup(f"cp{match.group(1)}" if match else label).name
    except (LookupError, ValueError):  # ValueError: a NUL inside the label
        return None
    return _CODEC_UPGRADES.get(name, name)


def _decodes(sample: bytes, codec: str) -> bool:
    """Tell whether ``sample`` decodes strictly with ``codec``."""
    try:
        sample.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _decode_small_text(raw: bytes) -> str:
    """Decode a small sidecar text (.cpg, .prj): UTF-8, else GBK, else byte by byte."""
    for codec in ("utf-8-sig", "gbk"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def _identify_prj(raw: bytes | None, warnings: list[IntakeWarning]) -> tuple[str | None, dict[str, Any]]:
    """Return the .prj's EPSG code (``EPSG:nnnn``) or None, and facts for meta."""
    if raw is None:
        return None, {"prj": None}
    text = _decode_small_text(raw).strip()
    name = None
    code = None
    try:
        # from_wkt only: a .prj must not be able to name a URL, a file or a PROJ pipeline.
        crs = CRS.from_wkt(text)
        name = crs.name
        code = crs.to_epsg(min_confidence=PRJ_MIN_CONFIDENCE)
    except CRSError:
        pass
    if code is None:
        warnings.append(
            IntakeWarning(
                code="PRJ_UNRECOGNISED",
                message_en=f"The .prj ({name or 'unparseable'}) matches no EPSG coordinate system; ignored.",
                message_zh=f".prj 文件（{name or '无法解析'}）无法对应到 EPSG 坐标系，已忽略。",
            )
        )
        return None, {"prj": text[:4000], "prj_name": name}
    return f"EPSG:{code}", {"prj": text[:4000], "prj_name": name}


def _read_geometries(shp_path: Path) -> list[bytes | None]:
    """Return every feature's WKB (None for a null shape), attributes skipped."""
    try:
        _meta, _fids, wkbs, _fields = ogr_read(shp_path, encoding=_GDAL_PASSTHROUGH, columns=[])
    except _PYOGRIO_ERRORS as exc:
        raise FormatInvalid(f"The Shapefile cannot be read: {exc}.", f"无法读取 Shapefile：{exc}。") from exc
    return [] if wkbs is None else list(wkbs)


def _read_attributes(shp_path: Path, codec: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the field names and the first ATTRIBUTE_ROWS rows, text decoded with ``codec``."""
    try:
        meta, _fids, _geoms, columns = ogr_read(
            shp_path, encoding=_GDAL_PASSTHROUGH, read_geometry=False, max_features=ATTRIBUTE_ROWS
        )
    except _PYOGRIO_ERRORS as exc:
        raise FormatInvalid(
            f"The Shapefile's attributes cannot be read: {exc}.", f"无法读取 Shapefile 属性表：{exc}。"
        ) from exc
    fields = [_redecode(str(name), codec) for name in meta["fields"]]
    is_date = [ogr_type == "OFTDate" for ogr_type in meta["ogr_types"]]
    count = len(columns[0]) if columns else 0
    rows = [
        {
            field: _plain_value(column[row], codec, date_only)
            for field, column, date_only in zip(fields, columns, is_date, strict=True)
        }
        for row in range(count)
    ]
    return fields, rows


def _redecode(text: str, codec: str) -> str:
    """Turn text GDAL decoded as ISO-8859-1 back into its bytes and decode those with ``codec``."""
    return text.encode("latin-1", errors="replace").decode(codec, errors="replace")


def _plain_value(value: Any, codec: str, date_only: bool) -> Any:
    """Return an attribute value as JSON-friendly Python data (text decoded, NaN and NaT as None)."""
    if isinstance(value, str):
        return _redecode(value, codec)
    if isinstance(value, np.datetime64):
        value = None if np.isnat(value) else value.astype("datetime64[ms]").item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime) and date_only:
        return value.date().isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _polygon_parts(wkbs: list[bytes | None], warnings: list[IntakeWarning]) -> list[Polygon]:
    """Return the polygons of every feature, Z/M dropped; refuse a non-polygonal feature by index."""
    parts: list[Polygon] = []
    nulls = 0
    for index, wkb in enumerate(wkbs):
        geometry = _from_wkb(wkb, index)
        if geometry is None or geometry.is_empty:
            nulls += 1
            continue
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            raise GeometryNotPolygonal(
                f"Feature {index} (0-based) is a {geometry.geom_type}; a site must be polygons.",
                f"第 {index} 个要素（从 0 计）为 {geometry.geom_type}，地块必须为面。",
                location={"feature_index": index},
            )
        parts.extend(shapely.get_parts(shapely.force_2d(geometry)).tolist())
    if nulls:
        warnings.append(
            IntakeWarning(
                code="SHP_NULL_GEOMETRY_IGNORED",
                message_en=f"{nulls} feature(s) without geometry were ignored.",
                message_zh=f"已忽略 {nulls} 个无几何图形的要素。",
                location={"features": nulls},
            )
        )
    return parts


def _from_wkb(wkb: bytes | None, index: int) -> BaseGeometry | None:
    """Build one feature's geometry from GDAL's WKB, refusing bytes GEOS cannot read."""
    if wkb is None:
        return None
    try:
        geometry: BaseGeometry = shapely.from_wkb(wkb)
    except GEOSException as exc:
        raise FormatInvalid(
            f"Feature {index} (0-based) has an unreadable geometry: {exc}.",
            f"第 {index} 个要素（从 0 计）的几何图形无法读取：{exc}。",
            location={"feature_index": index},
        ) from exc
    return geometry
