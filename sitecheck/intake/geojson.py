"""GeoJSON intake (RFC 7946): Geometry, Feature or FeatureCollection; depth and NaN refused before parsing."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

import numpy as np
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import (
    CrsUnknown,
    FormatInvalid,
    GeometryEmpty,
    GeometryInvalid,
    GeometryNonFinite,
    GeometryNotPolygonal,
    GeometryTooManyVertices,
    JsonTooDeep,
)
from sitecheck.intake.crs import parse_crs
from sitecheck.intake.raw import RawSite
from sitecheck.intake.txt import decode_text
from sitecheck.settings import IntakeLimits

# Unrolled-loop form: linear time even on long strings with many escapes.
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NON_FINITE_RE = re.compile(r"-?\b(?:NaN|Infinity)\b")
_NOT_POLYGONAL = ("Point", "MultiPoint", "LineString", "MultiLineString")
_NUMBER_TYPES = (int, float)

Location = dict[str, Any]


def _line_col(text: str, offset: int) -> Location:
    line = text.count("\n", 0, offset) + 1
    return {"line": line, "column": offset - (text.rfind("\n", 0, offset) + 1) + 1}


def check_json_text(text: str, limits: IntakeLimits) -> None:
    """Refuse nesting deeper than the limit and NaN/Infinity tokens by scanning the text, without recursion."""
    # Blank out string contents (same length, so offsets stay valid) so that brackets inside strings don't count.
    blanked = _STRING_RE.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)
    codes = np.frombuffer(blanked.encode("ascii", "replace"), dtype=np.uint8)
    opening = (codes == ord("[")) | (codes == ord("{"))
    # Work on bracket positions only: a 20 MB upload has far fewer brackets than bytes.
    positions = np.flatnonzero(opening | (codes == ord("]")) | (codes == ord("}")))
    depth = np.cumsum(np.where(opening[positions], 1, -1).astype(np.int32))
    if depth.size and int(depth.max()) > limits.max_json_depth:
        offset = int(positions[np.argmax(depth > limits.max_json_depth)])
        raise JsonTooDeep(
            f"The JSON nests deeper than {limits.max_json_depth} levels.",
            f"JSON 嵌套层数超过 {limits.max_json_depth} 层。",
            location=_line_col(text, offset),
            details={"limit": limits.max_json_depth},
        )
    # Substring tests are C-speed; the regex (for the position) runs only when a token may be there.
    bad = _NON_FINITE_RE.search(blanked) if "NaN" in blanked or "Infinity" in blanked else None
    if bad:
        _refuse_constant(bad.group(), _line_col(text, bad.start()))


def canonical_json(obj: Any, limits: IntakeLimits) -> bytes:
    """Sorted, compact UTF-8 JSON of an already-parsed body, checked like uploaded text (depth, NaN)."""
    try:
        text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except RecursionError as exc:  # a body built in code can nest deeper than any parser would allow
        raise JsonTooDeep(
            f"The JSON nests deeper than {limits.max_json_depth} levels.",
            f"JSON 嵌套层数超过 {limits.max_json_depth} 层。",
            details={"limit": limits.max_json_depth},
        ) from exc
    except (TypeError, ValueError) as exc:
        raise FormatInvalid(f"The body is not plain JSON data: {exc}.", f"请求体不是普通 JSON 数据：{exc}。") from exc
    check_json_text(text, limits)
    return text.encode("utf-8", "surrogatepass")


def _refuse_constant(token: str, location: Location | None = None) -> NoReturn:
    raise GeometryNonFinite(
        f"The JSON contains the non-finite number {token}.", f"JSON 中含有非有限数 {token}。", location=location
    )


def read_geojson(data: bytes, *, limits: IntakeLimits, encoding: str | None = None) -> RawSite:
    """Read GeoJSON bytes (UTF-8, or with a BOM) into polygons in the file's coordinates."""
    text, _ = decode_text(data, encoding)
    check_json_text(text, limits)
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise FormatInvalid(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}。",
            location={"line": exc.lineno, "column": exc.colno},
        ) from exc
    except RecursionError as exc:  # only reachable when the configured depth limit is very high
        raise JsonTooDeep("The JSON nests too deeply to parse.", "JSON 嵌套过深，无法解析。") from exc
    return read_geojson_object(obj, limits=limits)


def read_geojson_object(obj: Any, *, limits: IntakeLimits) -> RawSite:
    """Read a parsed GeoJSON object (Geometry, Feature, FeatureCollection) whose depth was checked.

    read_geojson checks the text before parsing; a body parsed elsewhere goes through canonical_json first.
    """
    if not isinstance(obj, dict):
        _invalid("GeoJSON must be a JSON object with a type.", "GeoJSON 必须是带 type 的 JSON 对象。", {})
    reader = _Reader(limits)
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            _invalid("A FeatureCollection needs a features array.", "FeatureCollection 缺少 features 数组。", {})
        if not features:
            raise GeometryEmpty("The FeatureCollection has no features.", "FeatureCollection 中没有要素。")
        geometry: BaseGeometry = GeometryCollection([reader.feature(f, {"feature": i}) for i, f in enumerate(features)])
    elif kind == "Feature":
        geometry = reader.feature(obj, {})
    else:
        geometry = reader.geometry(obj, {})
    meta = {"type": kind, "feature_count": len(obj.get("features") or []) if kind == "FeatureCollection" else 1}
    return RawSite(geometry, "geojson", crs=_legacy_crs(obj), meta=meta)


def _legacy_crs(obj: dict[str, Any]) -> str | None:
    """Honour the pre-RFC 7946 ``crs`` member (named CRS or EPSG code); RFC 7946 files have none."""
    member = obj.get("crs")
    if member is None:
        return None
    props = member.get("properties") if isinstance(member, dict) else None
    name = props.get("name") or props.get("code") if isinstance(props, dict) else None
    if isinstance(member, dict) and member.get("type") == "EPSG" and name is not None:
        name = f"EPSG:{name}"
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise CrsUnknown("The GeoJSON crs member names no CRS.", "GeoJSON 的 crs 成员未给出坐标系名称。")
    return parse_crs(str(name))


def _where(location: Location) -> str:
    return ", ".join(f"{k} {v}" for k, v in location.items()) or "top level"


def _invalid(en: str, zh: str, location: Location) -> NoReturn:
    raise FormatInvalid(f"{en} ({_where(location)})", f"{zh}（{_where(location)}）", location=location or None)


class _Reader:
    """Walks GeoJSON objects, counting vertices against the limit and reporting where each fault is."""

    def __init__(self, limits: IntakeLimits) -> None:
        self.limits = limits
        self.vertices = 0

    def feature(self, feature: Any, loc: Location) -> BaseGeometry:
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            _invalid("Expected a Feature object.", "此处应为 Feature 对象。", loc)
        geometry = feature.get("geometry")
        if geometry is None:
            raise GeometryEmpty(
                f"The feature has no geometry ({_where(loc)}).",
                f"要素没有几何（{_where(loc)}）。",
                location=loc or None,
            )
        return self.geometry(geometry, loc)

    def geometry(self, geometry: Any, loc: Location) -> BaseGeometry:
        if not isinstance(geometry, dict):
            _invalid("Expected a GeoJSON geometry object.", "此处应为 GeoJSON 几何对象。", loc)
        kind = geometry.get("type")
        if kind == "Polygon":
            return self.polygon(geometry.get("coordinates"), loc)
        if kind == "MultiPolygon":
            coords = self._array(geometry.get("coordinates"), loc)
            polys = [self.polygon(c, loc | {"polygon": k}) for k, c in enumerate(coords)]
            return MultiPolygon([p for p in polys if not p.is_empty])
        if kind == "GeometryCollection":
            members = self._array(geometry.get("geometries"), loc)
            return GeometryCollection([self.geometry(m, loc | {"member": k}) for k, m in enumerate(members)])
        if kind in _NOT_POLYGONAL:
            raise GeometryNotPolygonal(
                f"A site must be a Polygon or MultiPolygon; found a {kind} ({_where(loc)}).",
                f"用地范围必须是面（Polygon/MultiPolygon），此处为 {kind}（{_where(loc)}）。",
                location=loc | {"type": kind},
            )
        _invalid(f"Unknown GeoJSON type {kind!r}.", f"未知的 GeoJSON 类型 {kind!r}。", loc)

    def _array(self, value: Any, loc: Location) -> list[Any]:
        if not isinstance(value, list):
            _invalid("Expected an array of coordinates.", "此处应为坐标数组。", loc)
        return value

    def polygon(self, coords: Any, loc: Location) -> Polygon:
        rings = [self.ring(r, loc | {"ring": k}) for k, r in enumerate(self._array(coords, loc))]
        return Polygon(rings[0], rings[1:]) if rings else Polygon()

    def ring(self, coords: Any, loc: Location) -> np.ndarray:
        positions = self._array(coords, loc)
        self.vertices += len(positions)
        if self.vertices > self.limits.max_vertices:
            raise GeometryTooManyVertices(
                f"More than {self.limits.max_vertices} vertices.",
                f"顶点数超过上限 {self.limits.max_vertices}。",
                location=loc,
                details={"limit": self.limits.max_vertices},
            )
        for k, pos in enumerate(positions):
            if (
                not isinstance(pos, list)
                or len(pos) < 2
                or type(pos[0]) not in _NUMBER_TYPES
                or type(pos[1]) not in _NUMBER_TYPES
            ):
                _invalid(
                    "A position must be an array of at least two numbers.",
                    "坐标点应为至少两个数字的数组。",
                    loc | {"vertex": k},
                )
        try:
            ring = np.array(positions, dtype=float).reshape(len(positions), -1)[:, :2]
        except ValueError:  # ragged: some positions carry z or m values
            ring = np.array([pos[:2] for pos in positions], dtype=float).reshape(-1, 2)
        finite = np.isfinite(ring).all(axis=1)
        if not finite.all():
            k = int(np.argmin(finite))
            raise GeometryNonFinite(
                f"Coordinate {ring[k].tolist()} is not finite ({_where(loc)}, vertex {k}).",
                f"坐标 {ring[k].tolist()} 不是有限数（{_where(loc)}，第 {k} 个顶点）。",
                location=loc | {"vertex": k, "x": str(ring[k, 0]), "y": str(ring[k, 1])},
            )
        if len(ring) < 4:
            raise GeometryInvalid(
                f"A ring needs at least 4 positions (first repeated last); found {len(ring)} ({_where(loc)}).",
                f"环至少需要 4 个坐标（首尾相同），实际 {len(ring)} 个（{_where(loc)}）。",
                location=loc | _xy(ring[0]),
            )
        if not np.array_equal(ring[0], ring[-1]):
            raise GeometryInvalid(
                f"The ring is not closed: first position {ring[0].tolist()} differs from last {ring[-1].tolist()} "
                f"({_where(loc)}); RFC 7946 rings repeat their first position.",
                f"环未闭合：首点 {ring[0].tolist()} 与末点 {ring[-1].tolist()} 不同（{_where(loc)}）。",
                location=loc | _xy(ring[-1]),
            )
        return ring


def _xy(point: np.ndarray) -> Location:
    x, y = float(point[0]), float(point[1])
    return {"x": x if math.isfinite(x) else str(x), "y": y if math.isfinite(y) else str(y)}
