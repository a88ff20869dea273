"""Ministry coordinate TXT (部标 界址点坐标): decode text uploads, read parcels and rings, write the same style.

Point lines are ``点号,圈号,X,Y`` with X the northing and Y the easting (zone prefix in front). Rings end where
their first point repeats; holes and further parts are told apart by geometry, not by 圈号. See docs/intake.md.
"""

from __future__ import annotations

import codecs
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.errors import GEOSException
from shapely.geometry import GeometryCollection, LinearRing, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from sitecheck.errors import (
    CrsUnknown,
    EncodingUnknown,
    GeometryEmpty,
    GeometryInvalid,
    GeometryNotPolygonal,
    GeometryTooManyVertices,
    ParameterInvalid,
    TxtMalformed,
)
from sitecheck.intake.crs import GCJ02, crs_info, gk_epsg, zone_degrees
from sitecheck.intake.raw import IntakeWarning, RawSite
from sitecheck.settings import IntakeLimits

_FULLWIDTH = str.maketrans(
    {"【": "[", "】": "]", "，": ",", "＝": "=", "＠": "@", "．": ".", "－": "-", "＋": "+", "　": " ", "\ufeff": ""}
    | {chr(0xFF10 + d): str(d) for d in range(10)}
)
_SECTION_RE = re.compile(r"^\[\s*(.+?)\s*\]$")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# 0.0001 ha absolute plus 0.1 % relative: the declared area is rounded to 4 decimals and some tools compute it
# from differently rounded coordinates.
AREA_TOLERANCE_HA = 0.0001
AREA_TOLERANCE_REL = 0.001


def decode_text(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode an upload: the given encoding, else BOM (UTF-8/16/32), BOM-less UTF-16, UTF-8, GBK, GB18030."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise ParameterInvalid(f"Unknown encoding {encoding!r}.", f"未知的编码 {encoding!r}。") from exc
        candidates = [encoding]
    else:
        candidates = [codec for bom, codec in _BOMS if data.startswith(bom)][:1]
        candidates = candidates or [*_utf16_without_bom(data), "utf-8", "gbk", "gb18030"]
    for codec in candidates:
        try:
            return data.decode(codec).lstrip("\ufeff"), codec
        except UnicodeDecodeError:
            continue
    raise EncodingUnknown(
        f"The text is not valid in {', '.join(candidates)}; pass encoding= if it is another encoding.",
        f"文本无法按 {', '.join(candidates)} 解码；如为其他编码请传入 encoding 参数。",
    )


def _utf16_without_bom(data: bytes) -> list[str]:
    sample = data[:512]
    half = len(sample) // 2
    if half < 2:
        return []
    zeros_even, zeros_odd = sample[0::2].count(0), sample[1::2].count(0)
    if zeros_odd > 0.3 * half and zeros_even < 0.05 * half:
        return ["utf-16-le"]
    if zeros_even > 0.3 * half and zeros_odd < 0.05 * half:
        return ["utf-16-be"]
    return []


@dataclass
class _Parcel:
    """A parcel line and its point lines, columns kept as written (col3 = X, col4 = Y)."""

    line: int
    fields: list[str]
    lines: list[int] = field(default_factory=list)
    ring_nos: list[int] = field(default_factory=list)
    col3: list[float] = field(default_factory=list)
    col4: list[float] = field(default_factory=list)


@dataclass
class _Ring:
    ring_no: int
    first_line: int
    last_line: int
    coords: NDArray[np.float64]  # easting, northing; closed


def _malformed(line_no: int, text: str, en: str, zh: str) -> TxtMalformed:
    return TxtMalformed(
        f"Line {line_no}: {en}", f"第 {line_no} 行：{zh}", location={"line": line_no}, details={"text": text[:120]}
    )


def _number(value: str, line_no: int, text: str, what: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    # float() also takes "nan", "inf" and "1_000"; none of them is a surveyed coordinate.
    if not math.isfinite(number) or "_" in value:
        raise _malformed(line_no, text, f"{what} {value!r} is not a number.", f"{what} {value!r} 不是数字。")
    return number


def _parse_lines(text: str, limits: IntakeLimits) -> tuple[dict[str, tuple[str, int]], list[_Parcel]]:
    """Split the file into header key/values (with line numbers) and parcels with their point lines."""
    header: dict[str, tuple[str, int]] = {}
    parcels: list[_Parcel] = []
    section = ""
    n_points = 0
    for line_no, raw_line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        line = raw_line.strip()
        if not line.isascii():
            line = line.translate(_FULLWIDTH).strip()
        if not line:
            continue
        marker = _SECTION_RE.match(line) if line[0] == "[" else None
        if marker:
            section = marker.group(1).replace(" ", "")
            continue
        if section == "属性描述" or (section == "" and "=" in line and not line.endswith("@")):
            key, _, value = line.partition("=")
            header[key.replace(" ", "")] = (value.strip(), line_no)
            continue
        if section not in ("", "地块坐标"):
            continue  # other sections (some tools add their own) carry nothing we need
        if line.endswith("@"):
            parcels.append(_parse_parcel_line(line, line_no))
            continue
        fields = [f.strip() for f in line.split(",")]
        while len(fields) > 4 and not fields[-1]:
            fields.pop()
        if len(fields) != 4:
            raise _malformed(
                line_no,
                line,
                f"expected a point line 点号,圈号,X,Y (4 fields) or a parcel line ending in @, "
                f"found {len(fields)} field(s).",
                f"应为界址点行 点号,圈号,X,Y（4 个字段）或以 @ 结尾的地块行，实际 {len(fields)} 个字段。",
            )
        if not parcels:
            raise _malformed(
                line_no,
                line,
                "a point line comes before any parcel line (…,@).",
                "界址点行出现在任何地块行（以 @ 结尾）之前。",
            )
        if not fields[1].isdigit():
            raise _malformed(line_no, line, f"圈号 {fields[1]!r} is not an integer.", f"圈号 {fields[1]!r} 不是整数。")
        n_points += 1
        if n_points > limits.max_vertices:
            raise GeometryTooManyVertices(
                f"Line {line_no}: more than {limits.max_vertices} points.",
                f"第 {line_no} 行：界址点超过上限 {limits.max_vertices} 个。",
                location={"line": line_no},
                details={"limit": limits.max_vertices},
            )
        parcel = parcels[-1]
        parcel.lines.append(line_no)
        parcel.ring_nos.append(int(fields[1]))
        parcel.col3.append(_number(fields[2], line_no, line, "X"))
        parcel.col4.append(_number(fields[3], line_no, line, "Y"))
    for parcel in parcels:
        if not parcel.lines:
            raise _malformed(parcel.line, "", "the parcel has no point lines.", "该地块没有界址点。")
    return header, parcels


def _parse_parcel_line(line: str, line_no: int) -> _Parcel:
    fields = [f.strip() for f in line[:-1].rstrip().rstrip(",").split(",")]
    if len(fields) < 2 or not fields[0].isdigit():
        raise _malformed(
            line_no,
            line,
            "a parcel line must start with 界址点数 (an integer) and 地块面积.",
            "地块行应以 界址点数（整数）和 地块面积 开头。",
        )
    if fields[1]:
        _number(fields[1], line_no, line, "地块面积")
    return _Parcel(line_no, fields)


def _digit_class(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """2 for a prefixed easting (8 digits), 1 for 7 digits (a northing), 0 for fewer (an unprefixed easting)."""
    magnitude = np.abs(values)
    return np.where(magnitude >= 1e7, 2, np.where(magnitude >= 1e6, 1, 0))


def _axis_order(lines: NDArray[np.int64], col3: NDArray[np.float64], col4: NDArray[np.float64]) -> bool:
    """Decide once per file whether column 3 holds the easting (swapped); mixed orders are malformed."""
    c3, c4 = _digit_class(col3), _digit_class(col4)
    # A prefixed easting beats everything; otherwise the 7-digit value is the northing; equal classes say nothing.
    swapped = np.where((c3 == 2) | (c4 == 2), c3 == 2, c3 == 0)
    decided = np.flatnonzero(c3 != c4)
    if not decided.size:
        return False
    first = decided[0]
    conflicts = decided[swapped[decided] != swapped[first]]
    if conflicts.size:
        line, first_line = int(lines[conflicts[0]]), int(lines[first])
        raise _malformed(
            line,
            "",
            f"X and Y are in the opposite order to line {first_line}.",
            f"X、Y 的顺序与第 {first_line} 行相反。",
        )
    return bool(swapped[first])


def _zone_prefix(lines: NDArray[np.int64], eastings: NDArray[np.float64]) -> int | None:
    """The zone prefix shared by every easting, None when the eastings carry none; mixtures are malformed."""
    prefixes = np.where(eastings >= 1e7, np.floor(eastings / 1e6), -1).astype(np.int64)
    differing = np.flatnonzero(prefixes != prefixes[0])
    if differing.size:
        k = int(differing[0])
        seen, first = (int(prefixes[k]), int(prefixes[0]))
        raise _malformed(
            int(lines[k]),
            "",
            f"the easting's zone prefix ({seen if seen >= 0 else 'none'}) differs from line {int(lines[0])} "
            f"({first if first >= 0 else 'none'}).",
            f"东坐标的带号前缀与第 {int(lines[0])} 行不同。",
        )
    return int(prefixes[0]) if prefixes[0] >= 0 else None


def _datum_of(text: str) -> str | None:
    t = text.upper().replace(" ", "")
    if not t:
        return None
    if "2000" in t or "CGCS" in t:
        return "cgcs2000"
    if "西安" in t or "XIAN" in t or re.search(r"(?<!\d)(19)?80(?!\d)", t):
        return "xian80"
    if "北京" in t or "BEIJING" in t or re.search(r"(?<!\d)(19)?54(?!\d)", t):
        return "beijing54"
    return "other"


def _header_crs(
    header: dict[str, tuple[str, int]], prefix: int | None, zone: int | None
) -> tuple[str, list[IntakeWarning]]:
    """The EPSG code the header and the eastings describe (CGCS2000 Gauss-Krüger only)."""
    warnings: list[IntakeWarning] = []
    datum_text = header.get("坐标系", ("", 0))[0]
    datum = _datum_of(datum_text)
    if datum in ("xian80", "beijing54"):
        raise CrsUnknown(
            f"The file's 坐标系 is {datum_text!r}: reaching CGCS2000 needs a local transformation-parameter set "
            "(转换参数), which is not applied here. Convert the file to CGCS2000, or pass crs= if the coordinates "
            "are in fact CGCS2000.",
            f"文件坐标系为 {datum_text!r}：转换到 2000 国家大地坐标系需要当地转换参数，本服务不做此转换。请先转换为 "
            "CGCS2000；如坐标实际为 CGCS2000，请传入 crs 参数。",
            location={"line": header["坐标系"][1]},
        )
    if datum == "other":
        raise CrsUnknown(
            f"Unknown 坐标系 {datum_text!r}; pass crs= (EPSG code).",
            f"无法识别的坐标系 {datum_text!r}，请传入 crs 参数。",
            location={"line": header["坐标系"][1]},
        )
    if datum is None:
        warnings.append(
            IntakeWarning(
                "TXT_CRS_ASSUMED",
                "The file names no 坐标系; CGCS2000 was assumed.",
                "文件未注明坐标系，按 2000 国家大地坐标系处理。",
            )
        )
    for key, accepted, what in (
        ("投影类型", ("高斯", "GAUSS", "GK", "克吕格"), "Gauss-Krüger"),
        ("计量单位", ("米", "M", "METRE", "METER"), "metres"),
    ):
        value, line_no = header.get(key, ("", 0))
        if value and not any(a in value.upper() for a in accepted):
            raise CrsUnknown(
                f"{key}={value!r} is not supported (only {what}); pass crs=.",
                f"不支持 {key}={value!r}（仅支持{what}），请传入 crs 参数。",
                location={"line": line_no},
            )
    header_zone = _header_int(header, "带号")
    degrees = _header_int(header, "几度分带")
    if prefix is not None:
        if zone is not None and zone != prefix:
            raise ParameterInvalid(
                f"zone={zone} was given but the eastings carry the zone prefix {prefix}.",
                f"请求的带号为 {zone}，但东坐标的带号前缀为 {prefix}。",
            )
        if header_zone is not None and header_zone != prefix:
            warnings.append(
                IntakeWarning(
                    "TXT_ZONE_MISMATCH",
                    f"带号={header_zone} in the header, but the eastings carry {prefix}; used {prefix}.",
                    f"文件头 带号={header_zone}，但东坐标带号前缀为 {prefix}，已按 {prefix} 处理。",
                    location={"line": header["带号"][1]},
                )
            )
        zone_no = prefix
    else:
        chosen = zone if zone is not None else header_zone
        if chosen is None:
            raise CrsUnknown(
                "The eastings carry no zone prefix and the file has no 带号: pass zone= or crs=.",
                "东坐标不带带号前缀，文件也未注明带号：请传入 zone（带号）或 crs 参数。",
            )
        zone_no = chosen
    if degrees is not None and degrees != zone_degrees(zone_no):
        raise CrsUnknown(
            f"几度分带={degrees} does not fit zone {zone_no} (3-degree zones 25–45, 6-degree 13–23).",
            f"几度分带={degrees} 与带号 {zone_no} 不符（3 度带 25–45，6 度带 13–23）。",
            location={"line": header["几度分带"][1]},
        )
    return gk_epsg(zone_no, degrees=degrees or zone_degrees(zone_no) or 3, prefixed=prefix is not None), warnings


def _source_crs(
    header: dict[str, tuple[str, int]],
    prefix: int | None,
    zone: int | None,
    crs: str | None,
    warnings: list[IntakeWarning],
) -> str | None:
    """The header's CRS; with an explicit crs the header only yields a CRS_OVERRIDDEN warning when it disagrees."""
    if crs is None:
        source_crs, crs_warnings = _header_crs(header, prefix, zone)
        warnings += crs_warnings
        return source_crs
    try:
        header_crs: str | None = _header_crs(header, prefix, zone)[0]
    except (CrsUnknown, ParameterInvalid, TxtMalformed):
        header_crs = None  # the caller's crs is what makes such a file usable at all
    said = header.get("坐标系", ("", 0))[0]
    if header_crs != crs and (header_crs is not None or said):
        described = header_crs or f"坐标系={said}"
        warnings.append(
            IntakeWarning(
                "CRS_OVERRIDDEN",
                f"The file header describes {described}; the coordinates were read as {crs} as requested.",
                f"文件头描述的坐标系为 {described}，已按请求的 {crs} 解读坐标。",
            )
        )
    return None


def _header_int(header: dict[str, tuple[str, int]], key: str) -> int | None:
    value, line_no = header.get(key, ("", 0))
    digits = re.match(r"^\s*(\d+)", value)
    if value and not digits:
        raise _malformed(line_no, value, f"{key} {value!r} is not a number.", f"{key} {value!r} 不是数字。")
    return int(digits.group(1)) if digits else None


def _rings(parcel: _Parcel, index: int, swapped: bool) -> list[_Ring]:
    """Cut a parcel's points into rings, each ending where its first point repeats, within one 圈号 run."""
    lines = np.asarray(parcel.lines)
    ring_nos = np.asarray(parcel.ring_nos)
    col3, col4 = np.asarray(parcel.col3), np.asarray(parcel.col4)
    xy = np.column_stack([col3, col4] if swapped else [col4, col3])
    run_ends = [*(np.flatnonzero(np.diff(ring_nos)) + 1).tolist(), len(xy)]
    rings: list[_Ring] = []
    start = 0
    while start < len(xy):
        end = next(e for e in run_ends if e > start)
        close = _closing_index(xy, start, end)
        if close is None:
            raise _unclosed(int(ring_nos[start]), int(lines[start]), int(lines[end - 1]), xy[end - 1], index)
        if close == start + 2:
            line = int(lines[close])
            raise GeometryInvalid(
                f"Line {line}: ring 圈号 {ring_nos[start]} closes after fewer than 3 distinct points.",
                f"第 {line} 行：圈号 {ring_nos[start]} 的环不足 3 个不同的点即闭合。",
                location={"line": line, "parcel": index, "ring": int(ring_nos[start])},
            )
        rings.append(_Ring(int(ring_nos[start]), int(lines[start]), int(lines[close]), xy[start : close + 1]))
        start = close + 1
    return rings


def _closing_index(xy: NDArray[np.float64], start: int, end: int) -> int | None:
    """Index of the first repeat of xy[start] in [start + 2, end), searched in growing windows (linear time)."""
    # start + 1 is skipped: a first point written twice in a row is a duplicate vertex, not a closed ring.
    low, width = start + 2, 64
    while low < end:
        high = min(end, low + width)
        hits = np.flatnonzero((xy[low:high] == xy[start]).all(axis=1))
        if hits.size:
            return low + int(hits[0])
        low, width = high, width * 4
    return None


def _unclosed(
    ring_no: int, first_line: int, last_line: int, last: NDArray[np.float64], parcel_index: int
) -> GeometryInvalid:
    return GeometryInvalid(
        f"Line {last_line}: ring 圈号 {ring_no} starting on line {first_line} does not close "
        "(its first point is not repeated).",
        f"第 {last_line} 行：自第 {first_line} 行开始的圈号 {ring_no} 的环未闭合（未重复首点）。",
        location={
            "line": last_line,
            "ring_start_line": first_line,
            "parcel": parcel_index,
            "ring": ring_no,
            "x": float(last[0]),
            "y": float(last[1]),
        },
    )


def _assemble(rings: list[_Ring]) -> list[Polygon]:
    """Build polygons by nesting: a ring inside an odd number of rings is a hole of the smallest one around it."""
    shells = [Polygon(r.coords) for r in rings]
    if len(shells) == 1:
        return shells
    areas = shapely.area(np.asarray(shells, dtype=object))
    try:
        inner, outer = shapely.STRtree(shells).query(shells, predicate="covered_by")
    except GEOSException:
        return shells  # crossing rings: leave them as parts, validation reports where they cross
    containers: dict[int, list[int]] = {i: [] for i in range(len(shells))}
    for i, j in zip(inner.tolist(), outer.tolist(), strict=True):
        if i != j and (areas[j] > areas[i] or (areas[j] == areas[i] and j < i)):
            containers[i].append(j)
    holes: dict[int, list[int]] = {i: [] for i in range(len(shells))}
    outers = []
    for i, around in containers.items():
        if len(around) % 2 == 0:
            outers.append(i)
        else:
            holes[min(around, key=lambda j: areas[j])].append(i)
    return [Polygon(rings[i].coords, [rings[h].coords for h in holes[i]]) for i in outers]


def read_txt(
    data: bytes, *, limits: IntakeLimits, encoding: str | None = None, zone: int | None = None, crs: str | None = None
) -> RawSite:
    """Read a Ministry coordinate TXT into easting/northing polygons with the header's CRS and parcel facts."""
    text, used_encoding = decode_text(data, encoding)
    header, parcels = _parse_lines(text, limits)
    if not parcels:
        raise GeometryEmpty("No parcel (地块) was found in the file.", "文件中没有找到地块。")
    lines = np.concatenate([p.lines for p in parcels])
    col3 = np.concatenate([p.col3 for p in parcels])
    col4 = np.concatenate([p.col4 for p in parcels])
    swapped = _axis_order(lines, col3, col4)
    warnings: list[IntakeWarning] = []
    if swapped:
        warnings.append(
            IntakeWarning(
                "AXES_SWAPPED",
                "Column 3 holds the easting and column 4 the northing (the standard is X = northing "
                "first); the columns were swapped.",
                "第 3 列为东坐标、第 4 列为北坐标（标准为 X=北坐标在前），已交换。",
            )
        )
    prefix = _zone_prefix(lines, col3 if swapped else col4)
    source_crs = _source_crs(header, prefix, zone, crs, warnings)
    metric = crs is None or (crs != GCJ02 and crs_info(crs).is_projected)
    polygons: list[Polygon] = []
    parcel_meta: list[dict[str, Any]] = []
    for index, parcel in enumerate(parcels):
        shape = parcel.fields[4] if len(parcel.fields) > 4 else ""
        if shape in ("点", "线"):
            raise GeometryNotPolygonal(
                f"Line {parcel.line}: the parcel is recorded as {shape}, not 面.",
                f"第 {parcel.line} 行：地块图形属性为“{shape}”而非“面”。",
                location={"line": parcel.line, "parcel": index},
            )
        rings = _rings(parcel, index, swapped)
        parts = _assemble(rings)
        polygons += parts
        facts = _parcel_facts(parcel, index, parts, len(rings), metric, warnings)
        parcel_meta.append(facts)
    meta: dict[str, Any] = {
        "encoding": used_encoding,
        "header": {key: value for key, (value, _) in header.items()},
        "axes": "easting_first" if swapped else "northing_first",
        "zone_prefix": prefix,
        "parcels": parcel_meta,
    }
    geometry: BaseGeometry = polygons[0] if len(polygons) == 1 else GeometryCollection(polygons)
    return RawSite(geometry, "txt", crs=source_crs, warnings=warnings, meta=meta)


def _parcel_facts(
    parcel: _Parcel, index: int, parts: list[Polygon], n_rings: int, metric: bool, warnings: list[IntakeWarning]
) -> dict[str, Any]:
    """Check 界址点数 and 地块面积 against the coordinates (warnings) and return the parcel's facts for meta."""
    names = ("point_count_declared", "area_ha_declared", "id", "name", "shape", "sheet", "use", "land_class")
    facts: dict[str, Any] = dict(zip(names, parcel.fields, strict=False))
    facts |= {"line": parcel.line, "extra_fields": parcel.fields[len(names) :], "rings": n_rings, "parts": len(parts)}
    declared_points = int(parcel.fields[0])
    facts["point_count_declared"] = declared_points
    facts["point_count"] = len(parcel.lines)
    if declared_points != len(parcel.lines):
        warnings.append(
            IntakeWarning(
                "TXT_POINT_COUNT_MISMATCH",
                f"Line {parcel.line}: 界址点数 says {declared_points} but the parcel has "
                f"{len(parcel.lines)} point lines (closing points included).",
                f"第 {parcel.line} 行：界址点数为 {declared_points}，实际有 {len(parcel.lines)} 个界址点（含闭合点）。",
                location={"line": parcel.line, "parcel": index},
            )
        )
    declared_area = float(parcel.fields[1]) if parcel.fields[1] else None
    facts["area_ha_declared"] = declared_area
    computed = sum(p.area for p in parts) / 10_000 if metric else None
    facts["area_ha_computed"] = round(computed, 6) if computed is not None else None
    tolerance = AREA_TOLERANCE_HA + AREA_TOLERANCE_REL * (computed or 0.0)
    if declared_area is not None and computed is not None and abs(declared_area - computed) > tolerance:
        warnings.append(
            IntakeWarning(
                "TXT_AREA_MISMATCH",
                f"Line {parcel.line}: 地块面积 says {declared_area} ha but the coordinates "
                f"enclose {computed:.4f} ha (planar).",
                f"第 {parcel.line} 行：地块面积为 {declared_area} 公顷，按坐标计算为 {computed:.4f} 公顷（平面）。",
                location={"line": parcel.line, "parcel": index},
            )
        )
    return facts


def write_txt(
    geometry: BaseGeometry,
    *,
    zone: int,
    crs_name: str = "2000国家大地坐标系",
    parcel_name: str = "",
    parcel_id: str = "1",
    precision: int = 3,
    degrees: int = 3,
    newline: str = "\r\n",
) -> str:
    """Write a polygon in a CGCS2000 Gauss-Krüger zone (easting with or without prefix) as a Ministry TXT."""
    parts = [geometry] if isinstance(geometry, Polygon) else list(getattr(geometry, "geoms", []))
    if not all(isinstance(p, Polygon) for p in parts):
        raise GeometryNotPolygonal("Only polygons can be written as a Ministry TXT.", "只有面可以写成部标 TXT。")
    parts = [p for p in parts if not p.is_empty]
    if not parts:
        raise GeometryEmpty("Nothing to write: the geometry is empty.", "几何为空，无可写入内容。")
    gk_epsg(zone, degrees=degrees, prefixed=True)  # refuses zones outside China's bands
    offset = zone * 1_000_000

    def prefixed(ring: LinearRing) -> list[tuple[float, float]]:
        out = []
        for x, y in ring.coords:
            if x < 1e7:
                x += offset
            elif int(x // 1e6) != zone:
                raise ParameterInvalid(
                    f"Easting {x} carries a zone prefix other than {zone}.", f"东坐标 {x} 的带号前缀不是 {zone}。"
                )
            out.append((round(x, precision), round(y, precision)))
        return out

    rings: list[list[tuple[float, float]]] = []
    polys = []
    for part in parts:
        oriented = orient(part, sign=-1.0)  # clockwise outer rings as the Ministry files draw them
        shell, holes = prefixed(oriented.exterior), [prefixed(h) for h in oriented.interiors]
        rings += [shell, *holes]
        polys.append(Polygon(shell, holes))
    area_ha = MultiPolygon(polys).area / 10_000
    lines = [
        "[属性描述]",
        "格式版本号=1.01版本",
        f"坐标系={crs_name}",
        f"几度分带={degrees}",
        "投影类型=高斯克吕格",
        "计量单位=米",
        f"带号={zone}",
        f"精度={10**-precision:.{precision}f}",
        "转换参数=,,,,,,",
        "[地块坐标]",
        f"{sum(len(r) for r in rings)},{area_ha:.4f},{parcel_id},{parcel_name},面,,,,@",
    ]
    number = 0
    for ring_no, ring in enumerate(rings, start=1):
        first = number + 1
        for k, (x, y) in enumerate(ring):
            closing = k == len(ring) - 1
            number += 0 if closing else 1
            lines.append(f"J{first if closing else number},{ring_no},{y:.{precision}f},{x:.{precision}f}")
    return newline.join(lines) + newline
