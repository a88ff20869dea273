"""Geometry validation and explicit repair for uploaded sites; never a silent fix, never a verdict on bad input."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from sitecheck.errors import (
    GeometryEmpty,
    GeometryInvalid,
    GeometryNonFinite,
    GeometryNotPolygonal,
    GeometryTooManyVertices,
    GeometryZeroArea,
    UploadTooLarge,
)
from sitecheck.intake.raw import IntakeWarning
from sitecheck.settings import IntakeLimits

ZERO_AREA_M2 = 1e-6
_REASON_RE = re.compile(r"^(?P<reason>[^\[]*)\[\s*(?P<x>\S+)\s+(?P<y>\S+)\s*\]\s*$")

# Turns a point in the checked coordinates into location fields (x, y, crs, and the other CRS's point).
Locate = Callable[[float, float], dict[str, Any]]


@dataclass
class ValidatedSite:
    """A valid polygonal site in the analysis CRS with the warnings and repair report produced on the way."""

    geometry: Polygon | MultiPolygon
    warnings: list[IntakeWarning] = field(default_factory=list)
    repair: dict[str, Any] | None = None


def flatten_polygons(geometry: BaseGeometry) -> list[Polygon]:
    """Flatten a geometry into its non-empty polygons; anything non-polygonal raises GeometryNotPolygonal."""
    parts: list[Polygon] = []
    stack: list[tuple[BaseGeometry, tuple[int, ...]]] = [(geometry, ())]
    while stack:
        geom, path = stack.pop()
        if isinstance(geom, Polygon):
            if not geom.is_empty:
                parts.append(geom)
        elif isinstance(geom, (MultiPolygon, GeometryCollection)):
            stack.extend((member, (*path, i)) for i, member in reversed(list(enumerate(geom.geoms))))
        elif not geom.is_empty:
            raise GeometryNotPolygonal(
                f"A site must be a Polygon or MultiPolygon; member {list(path) or 0} is a {geom.geom_type}.",
                f"用地范围必须是面（Polygon/MultiPolygon），第 {list(path) or 0} 个成员是 {geom.geom_type}。",
                location={"member": list(path), "type": geom.geom_type},
            )
    if not parts:
        raise GeometryEmpty("The upload holds no polygon.", "上传内容中没有任何面要素。")
    return parts


def check_limits(parts: Sequence[Polygon], limits: IntakeLimits) -> None:
    """Refuse more vertices or parts than the configured limits, before any expensive work."""
    vertices = int(shapely.get_num_coordinates(np.asarray(parts, dtype=object)).sum())
    if vertices > limits.max_vertices:
        raise GeometryTooManyVertices(
            f"The site has {vertices} vertices; at most {limits.max_vertices} are accepted.",
            f"用地范围共有 {vertices} 个顶点，超过上限 {limits.max_vertices}。",
            details={"vertices": vertices, "limit": limits.max_vertices},
        )
    if len(parts) > limits.max_parts:
        raise UploadTooLarge(
            f"The site has {len(parts)} polygon parts; at most {limits.max_parts} are accepted.",
            f"用地范围共有 {len(parts)} 个面，超过上限 {limits.max_parts}。",
            details={"parts": len(parts), "limit": limits.max_parts},
        )


def _json_number(value: float) -> float | str:
    return float(value) if math.isfinite(value) else str(value)


def check_finite(parts: Sequence[Polygon]) -> None:
    """Refuse NaN or infinite coordinates, naming the part, ring (0 = exterior) and vertex of the first one."""
    for p, part in enumerate(parts):
        for r, ring in enumerate([part.exterior, *part.interiors]):
            coords = np.asarray(ring.coords)
            bad = np.flatnonzero(~np.isfinite(coords).all(axis=1))
            if bad.size:
                v = int(bad[0])
                x, y = coords[v, 0], coords[v, 1]
                raise GeometryNonFinite(
                    f"Coordinate ({x}, {y}) of part {p}, ring {r}, vertex {v} is not a finite number.",
                    f"第 {p} 个面第 {r} 个环第 {v} 个顶点的坐标 ({x}, {y}) 不是有限数。",
                    location={"part": p, "ring": r, "vertex": v, "x": _json_number(x), "y": _json_number(y)},
                )


def _plain_location(x: float, y: float) -> dict[str, Any]:
    return {"x": _json_number(x), "y": _json_number(y)}


def _invalid_location(part: Polygon, index: int, locate: Locate) -> dict[str, Any]:
    reason = shapely.is_valid_reason(part)
    location: dict[str, Any] = {"part": index, "reason": reason}
    match = _REASON_RE.match(reason)
    if match:
        try:
            x, y = float(match["x"]), float(match["y"])
        except ValueError:
            return location
        location |= locate(x, y) if math.isfinite(x) and math.isfinite(y) else _plain_location(x, y)
    return location


def _check_part(
    part: Polygon, index: int, n_parts: int, *, repair: bool, locate: Locate, min_area: float
) -> list[Polygon] | None:
    """None for a valid part; for an invalid one its repaired pieces, or the refusal when repair is off."""
    if part.is_valid:
        return None
    location = _invalid_location(part, index, locate)
    # keep_collapsed=False drops flat pieces; "structure" unions shells and subtracts holes, so an overlap of
    # two shells never becomes a hole (the "linework" method would do that).
    made = shapely.make_valid(part, method="structure", keep_collapsed=False)
    pieces = [p for p in _polygons_of(made) if p.area > min_area]
    if not pieces and not (repair and n_parts > 1):
        # A part that collapses entirely is reported as what it is (no area) rather than as "invalid"; with
        # repair it is dropped like make_valid(keep_collapsed=False) drops it, as long as others remain.
        raise GeometryZeroArea(
            f"Part {index} encloses no area ({location['reason']}).",
            f"第 {index} 个面没有面积（{location['reason']}）。",
            location=location,
        )
    if not repair:
        raise GeometryInvalid(
            f"Part {index} is not a valid polygon: {location['reason']}. Fix the boundary or ask for repair=true.",
            f"第 {index} 个面无效：{location['reason']}。请修正边界，或请求自动修复（repair=true）。",
            location=location,
        )
    return pieces


def refuse_invalid(parts: Sequence[Polygon], *, repair: bool, locate: Locate | None = None) -> None:
    """Refuse invalid parts in the source coordinates, before any transform or range check (units unknown here)."""
    for i, part in enumerate(parts):
        _check_part(part, i, len(parts), repair=repair, locate=locate or _plain_location, min_area=0.0)


def validate_parts(parts: Sequence[Polygon], *, repair: bool, locate: Locate | None = None) -> ValidatedSite:
    """Check each part in metres (GEOS validity), repair with the structure method only when asked, dissolve."""
    fixed: list[Polygon] = []
    repaired: list[int] = []
    area_before = area_after = 0.0
    for i, part in enumerate(parts):
        pieces = _check_part(
            part, i, len(parts), repair=repair, locate=locate or _plain_location, min_area=ZERO_AREA_M2
        )
        if pieces is None:
            fixed.append(part)
            continue
        repaired.append(i)
        area_before += part.area
        area_after += sum(p.area for p in pieces)
        fixed.extend(pieces)
    warnings: list[IntakeWarning] = []
    report = None
    if repaired:
        report = {
            "method": "structure",
            "parts": repaired,
            "area_before_m2": round(area_before, 3),
            "area_after_m2": round(area_after, 3),
        }
        warnings.append(
            IntakeWarning(
                "GEOM_REPAIRED",
                f"{len(repaired)} invalid part(s) were repaired (structure method): area "
                f"{area_before:.3f} m² before, {area_after:.3f} m² after.",
                f"已按 structure 方法修复 {len(repaired)} 个无效面：修复前面积 {area_before:.3f} 平方米，"
                f"修复后 {area_after:.3f} 平方米。",
                location={"parts": repaired},
            )
        )
    if not fixed:
        raise GeometryZeroArea("No part of the site encloses any area.", "用地范围的各个面均无面积。")
    geometry, dissolved = _dissolve(fixed)
    warnings += dissolved
    if geometry.area < ZERO_AREA_M2:
        raise GeometryZeroArea(
            f"The site encloses {geometry.area:.9f} m²: no area.",
            f"用地范围面积为 {geometry.area:.9f} 平方米，无面积。",
        )
    return ValidatedSite(geometry, warnings, report)


def _polygons_of(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [] if geometry.is_empty else [geometry]
    if isinstance(geometry, (MultiPolygon, GeometryCollection)):
        return [p for g in geometry.geoms for p in _polygons_of(g)]
    return []


def _dissolve(parts: list[Polygon]) -> tuple[Polygon | MultiPolygon, list[IntakeWarning]]:
    """Union the parts; overlapping or edge-sharing parts are merged and reported (the site is their union)."""
    if len(parts) == 1:
        return parts[0], []
    summed = sum(p.area for p in parts)
    try:
        union = shapely.union_all(np.asarray(parts, dtype=object))
    except GEOSException as exc:
        raise GeometryInvalid(
            f"The polygon parts could not be combined: {exc}.",
            f"无法合并各个面：{exc}。",
            location={"parts": len(parts)},
        ) from exc
    pieces = _polygons_of(union)
    merged: Polygon | MultiPolygon = pieces[0] if len(pieces) == 1 else MultiPolygon(pieces)
    overlap = summed - merged.area
    if len(pieces) == len(parts) and overlap <= ZERO_AREA_M2:
        return merged, []
    return merged, [
        IntakeWarning(
            "PARTS_DISSOLVED",
            f"{len(parts)} polygon parts overlap or share edges and were merged into {len(pieces)}; "
            f"overlapping area {overlap:.3f} m² counted once.",
            f"{len(parts)} 个面相互重叠或共边，已合并为 {len(pieces)} 个；重叠面积 {overlap:.3f} 平方米只计一次。",
            location={"parts_before": len(parts), "parts_after": len(pieces), "overlap_m2": round(overlap, 3)},
        )
    ]


def normalize_site(geometry: Polygon | MultiPolygon) -> Polygon | MultiPolygon:
    """GEOS normal form: shells clockwise, holes counter-clockwise, rings and parts in a canonical order."""
    return cast(Polygon | MultiPolygon, shapely.normalize(geometry))


def geometry_sha256(geometry: BaseGeometry) -> str:
    """SHA-256 of the normalised little-endian 2D WKB with coordinates rounded to 1 mm (stable across formats)."""
    # + 0.0 turns -0.0 into 0.0 so that the bytes do not depend on the sign of a zero.
    rounded = shapely.normalize(shapely.transform(geometry, lambda c: np.round(c, 3) + 0.0))
    wkb = shapely.to_wkb(rounded, output_dimension=2, byte_order=1, include_srid=False)
    return hashlib.sha256(wkb).hexdigest()
