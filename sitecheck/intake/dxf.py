"""DXF reader: closed LWPOLYLINE/POLYLINE outlines from model space, bulges linearised, nesting makes holes.

DXF has no CRS: coordinates are returned as drawn (drawing units, normally metres in a projected CRS) and the
request must declare the CRS. CIRCLE, ARC, SPLINE, HATCH and block references (INSERT) are not read: in
cadastral drawings circles mark boundary points and hatches repeat the outline, so taking them would add
parts the surveyor never meant as the site. They are counted in ``meta["entity_counts"]``.
"""

from __future__ import annotations

import io
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import ezdxf.units
import shapely
from ezdxf import recover
from ezdxf.document import Drawing
from ezdxf.entities import DXFGraphic, LWPolyline, Polyline
from ezdxf.lldxf.const import VTX_SPLINE_FRAME_CONTROL_POINT
from ezdxf.lldxf.tagger import binary_tags_loader
from ezdxf.math import Vec3
from shapely.errors import GEOSException
from shapely.geometry import Polygon

from sitecheck.errors import FormatInvalid, GeometryEmpty, SitecheckError, UploadTooLarge
from sitecheck.intake.polygon_parts import ReadBudget, collect_polygons
from sitecheck.intake.raw import IntakeWarning, RawSite
from sitecheck.settings import IntakeLimits

# Largest distance between an arc and its chords, in drawing units (1 mm when the drawing is in metres):
# tight enough that a 50 m half-circle loses under 0.1 m² of area.
ARC_CHORD_TOLERANCE = 0.001
ARC_MIN_SEGMENTS_PER_QUARTER = 8
# A polyline whose last vertex repeats its first (within this distance) is closed, flag or not.
CLOSE_TOLERANCE = 1e-6

_BINARY_SENTINEL = b"AutoCAD Binary DXF"
_TEXT_DXF_START = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:999\s*\r?\n[^\n]*\n\s*)*0\s*\r?\n\s*SECTION\s")
_METRE_UNITS = {0, 6}  # unitless or metres
_Z_AXIS = Vec3(0, 0, 1)


@dataclass(frozen=True)
class _Ring:
    """A closed outline from one entity, in WCS x/y."""

    points: list[tuple[float, float]]
    layer: str
    handle: str


def read_dxf(data: bytes, *, limits: IntakeLimits, layers: Collection[str] | None = None) -> RawSite:
    """Read closed polylines of a DXF (text or binary) as polygons in drawing coordinates; crs is always None.

    ``layers`` restricts reading to those layer names (case-insensitive); None reads every layer.
    """
    if len(data) > limits.max_upload_bytes:
        raise UploadTooLarge(
            f"The DXF is {len(data)} bytes; the limit is {limits.max_upload_bytes}.",
            f"DXF 文件大小 {len(data)} 字节，超过上限 {limits.max_upload_bytes} 字节。",
            details={"size_bytes": len(data), "max_upload_bytes": limits.max_upload_bytes},
        )
    wanted = None if layers is None else {layer.casefold() for layer in layers}
    budget = ReadBudget(limits)
    warnings: list[IntakeWarning] = []
    try:
        doc, audit_errors = _load(data)
        entities = list(doc.modelspace())
        rings, skipped = _collect_rings(entities, wanted, budget)
        meta = _describe(doc, entities, rings, audit_errors)
    except (SitecheckError, MemoryError):
        raise
    except Exception as exc:
        # ezdxf is pure Python and, fed hostile bytes, fails in many ways beyond DXFStructureError;
        # any failure to understand the file is the uploader's malformed DXF, never a server fault.
        raise FormatInvalid(f"The DXF cannot be read: {exc!r}.", f"无法读取 DXF 文件：{exc!r}。") from exc
    warnings.extend(_skip_warnings(skipped))
    warnings.extend(_document_warnings(meta, audit_errors))
    if not rings:
        where_en = f" on layers {sorted(layers)}" if layers is not None else ""
        where_zh = f"（图层 {sorted(layers)}）" if layers is not None else ""
        raise GeometryEmpty(f"The DXF has no closed polyline{where_en}.", f"DXF 文件中没有闭合多段线{where_zh}。")
    polygons, duplicates = _assemble(rings)
    if duplicates:
        warnings.append(
            IntakeWarning(
                code="DXF_DUPLICATE_POLYLINE_IGNORED",
                message_en=f"{duplicates} closed polyline(s) repeat another one exactly and were ignored.",
                message_zh=f"已忽略 {duplicates} 条与其他多段线完全重合的闭合多段线。",
                location={"count": duplicates},
            )
        )
    meta["polygon_count"] = len(polygons)
    return RawSite(
        geometry=collect_polygons(polygons),
        source_format="dxf",
        crs=None,
        warnings=warnings,
        meta=meta,
    )


def _load(data: bytes) -> tuple[Drawing, int]:
    """Load a binary or text DXF from bytes (encoding from the header); return it and its audit error count."""
    if data.startswith(_BINARY_SENTINEL):
        doc = Drawing.load(binary_tags_loader(data))
        auditor = doc.audit()
    elif _TEXT_DXF_START.match(data):
        # recover.read detects the encoding ($DWGCODEPAGE, e.g. ANSI_936 for older Chinese drawings) and
        # repairs what CAD exporters commonly get wrong, instead of refusing the whole drawing.
        doc, auditor = recover.read(io.BytesIO(data))
    else:
        raise FormatInvalid("The upload is not a DXF file.", "上传文件不是 DXF 文件。")
    return doc, len(auditor.errors)


def _collect_rings(
    entities: Iterable[DXFGraphic], wanted: set[str] | None, budget: ReadBudget
) -> tuple[list[_Ring], Counter[str]]:
    """Return the closed outlines of model space and counts of what was skipped (open, degenerate)."""
    rings: list[_Ring] = []
    skipped: Counter[str] = Counter()
    for entity in entities:
        if not isinstance(entity, LWPolyline | Polyline):
            continue
        if wanted is not None and entity.dxf.layer.casefold() not in wanted:
            continue
        location = {"handle": entity.dxf.handle, "layer": entity.dxf.layer}
        vertices = _vertices(entity)
        if vertices is None:
            skipped["mesh"] += 1
            continue
        budget.add_vertices(len(vertices), location)
        closed = _is_closed_flag(entity)
        if not closed and len(vertices) > 2 and _same_point(vertices[0], vertices[-1]):
            closed = True
            vertices = vertices[:-1]
        if not closed:
            skipped["open"] += 1
            continue
        points = _to_wcs(entity, _linearise(vertices, budget, location))
        if len(set(points)) < 3:
            skipped["degenerate"] += 1
            continue
        budget.add_part(location)
        rings.append(_Ring(points=points, layer=entity.dxf.layer, handle=entity.dxf.handle))
    return rings, skipped


def _vertices(entity: LWPolyline | Polyline) -> list[tuple[float, float, float]] | None:
    """Return (x, y, bulge) per vertex (OCS for 2D outlines, WCS for 3D), or None for meshes."""
    if isinstance(entity, LWPolyline):
        return [(float(x), float(y), float(b)) for x, y, b in entity.get_points("xyb")]
    if entity.is_2d_polyline:
        return [
            (float(v.dxf.location.x), float(v.dxf.location.y), float(v.dxf.bulge))
            for v in entity.vertices
            if not v.dxf.flags & VTX_SPLINE_FRAME_CONTROL_POINT
        ]
    if entity.is_3d_polyline:
        # 3D polylines have no bulges; survey software exports boundaries with heights this way.
        return [
            (float(v.dxf.location.x), float(v.dxf.location.y), 0.0)
            for v in entity.vertices
            if not v.dxf.flags & VTX_SPLINE_FRAME_CONTROL_POINT
        ]
    return None


def _is_closed_flag(entity: LWPolyline | Polyline) -> bool:
    """Tell whether the entity carries the DXF "closed" flag."""
    return bool(entity.closed) if isinstance(entity, LWPolyline) else bool(entity.is_closed)


def _same_point(a: tuple[float, float, float], b: tuple[float, float, float]) -> bool:
    """Tell whether two vertices coincide within CLOSE_TOLERANCE."""
    return math.hypot(a[0] - b[0], a[1] - b[1]) <= CLOSE_TOLERANCE


def _linearise(
    vertices: list[tuple[float, float, float]], budget: ReadBudget, location: dict[str, Any]
) -> list[tuple[float, float]]:
    """Return the closed outline's points with every bulge replaced by points on its true arc."""
    points: list[tuple[float, float]] = []
    for index, (x, y, bulge) in enumerate(vertices):
        nx, ny, _ = vertices[(index + 1) % len(vertices)]
        points.append((x, y))
        points.extend(_arc_points((x, y), (nx, ny), bulge, budget, location))
    return points


def _arc_points(
    start: tuple[float, float],
    end: tuple[float, float],
    bulge: float,
    budget: ReadBudget,
    location: dict[str, Any],
) -> list[tuple[float, float]]:
    """Return the points strictly between ``start`` and ``end`` on the arc of ``bulge`` (tan of sweep/4).

    Points lie on the circle itself, so the chord error is at most ARC_CHORD_TOLERANCE; ezdxf's own
    flattening goes through cubic Béziers, which already stray ~2.7e-4 × radius (1.4 cm at 50 m) from the arc.
    """
    dx, dy = end[0] - start[0], end[1] - start[1]
    chord = math.hypot(dx, dy)
    if bulge == 0 or chord == 0 or not all(map(math.isfinite, (bulge, chord, *start))):
        return []
    sweep = 4 * math.atan(bulge)  # signed: positive is counter-clockwise
    radius = chord / (2 * abs(math.sin(sweep / 2)))
    if not math.isfinite(radius):
        return []
    # Centre: on the chord's left normal for |bulge| < 1, right for > 1 (more than a half circle).
    # (1/b − b)/4 is (1 − b²)/(4b) without squaring: stays finite for absurd bulges like 1e200.
    offset = chord * (1 / bulge - bulge) / 4
    cx = (start[0] + end[0]) / 2 - dy / chord * offset
    cy = (start[1] + end[1]) / 2 + dx / chord * offset
    step_max = 2 * math.asin(min(1.0, math.sqrt(ARC_CHORD_TOLERANCE / (2 * radius))))
    wanted = max(abs(sweep) / (math.pi / 2) * ARC_MIN_SEGMENTS_PER_QUARTER, 1.0)
    if step_max > 0:
        wanted = max(wanted, abs(sweep) / step_max)
    # Capped before ceil(): a near-infinite segment count must trip the budget, not overflow.
    segments = math.ceil(min(wanted, budget.remaining_vertices() + 2))
    budget.add_vertices(segments - 1, location)
    start_angle = math.atan2(start[1] - cy, start[0] - cx)
    return [
        (
            cx + radius * math.cos(start_angle + sweep * k / segments),
            cy + radius * math.sin(start_angle + sweep * k / segments),
        )
        for k in range(1, segments)
    ]


def _to_wcs(entity: LWPolyline | Polyline, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Map 2D outline points from the entity's OCS to world x/y (mirrored or tilted drawings)."""
    if isinstance(entity, Polyline) and entity.is_3d_polyline:
        return points
    if Vec3(entity.dxf.extrusion).isclose(_Z_AXIS):
        return points
    elevation = entity.dxf.elevation
    z = float(elevation) if isinstance(entity, LWPolyline) else float(Vec3(elevation).z)
    ocs = entity.ocs()
    return [(p.x, p.y) for p in ocs.points_to_wcs(Vec3(x, y, z) for x, y in points)]


def _assemble(rings: list[_Ring]) -> tuple[list[Polygon], int]:
    """Turn outlines into polygons by containment (even depth: shell, odd: hole of its parent); drop repeats."""
    shells: list[Polygon] = []
    seen: set[bytes] = set()
    duplicates = 0
    for ring in rings:
        shell = Polygon(ring.points)
        key = shapely.to_wkb(shapely.normalize(shell))
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        shells.append(shell)
    containers: list[list[int]] = [[] for _ in shells]
    try:
        inner, outer = shapely.STRtree(shells).query(shells, predicate="covered_by")
    except GEOSException:
        # Self-intersecting outlines can defeat the predicate; keep them as separate shells and let the
        # pipeline's validation name the fault and its location.
        return shells, duplicates
    for i, j in zip(inner.tolist(), outer.tolist(), strict=True):
        if i != j:
            containers[i].append(j)
    depth = [len(found) for found in containers]
    holes: dict[int, list[int]] = {}
    for index, found in enumerate(containers):
        parents = [j for j in found if depth[j] == depth[index] - 1]
        if depth[index] % 2 == 1 and parents:
            parent = min(parents, key=lambda j: shells[j].area)
            holes.setdefault(parent, []).append(index)
            depth[index] = -1  # mark as used as a hole
    polygons = [
        Polygon(shell.exterior.coords, [shells[h].exterior.coords for h in holes.get(index, [])])
        for index, shell in enumerate(shells)
        if depth[index] >= 0
    ]
    return polygons, duplicates


def _describe(doc: Drawing, entities: list[DXFGraphic], rings: list[_Ring], audit_errors: int) -> dict[str, Any]:
    """Return the drawing facts for meta: layers, entity counts, units, version, encoding."""
    units = int(doc.header.get("$INSUNITS", 0) or 0)
    return {
        # Entities may name layers missing from the table (CAD tools create them on load): list both.
        "layers": sorted({layer.dxf.name for layer in doc.layers} | {entity.dxf.layer for entity in entities}),
        "polygon_layers": dict(Counter(ring.layer for ring in rings)),
        "entity_counts": dict(Counter(entity.dxftype() for entity in entities)),
        "closed_polylines": len(rings),
        "insunits": units,
        "units": ezdxf.units.unit_name(units),
        "dxf_version": doc.dxfversion,
        "encoding": doc.encoding,
        "audit_errors": audit_errors,
    }


def _skip_warnings(skipped: Counter[str]) -> list[IntakeWarning]:
    """Return warnings for open, degenerate and mesh polylines that were not used."""
    texts = {
        "open": (
            "DXF_OPEN_POLYLINE_IGNORED",
            "{n} open polyline(s) were ignored; only closed outlines form the site.",
            "已忽略 {n} 条未闭合多段线，只有闭合的边界构成地块。",
        ),
        "degenerate": (
            "DXF_DEGENERATE_POLYLINE_IGNORED",
            "{n} closed polyline(s) with fewer than 3 distinct points were ignored.",
            "已忽略 {n} 条不同顶点少于 3 个的闭合多段线。",
        ),
        "mesh": (
            "DXF_MESH_IGNORED",
            "{n} polyface/polygon-mesh polyline(s) were ignored.",
            "已忽略 {n} 个多面网格多段线。",
        ),
    }
    return [
        IntakeWarning(
            code=code, message_en=en.format(n=count), message_zh=zh.format(n=count), location={"count": count}
        )
        for kind, (code, en, zh) in texts.items()
        if (count := skipped[kind])
    ]


def _document_warnings(meta: dict[str, Any], audit_errors: int) -> list[IntakeWarning]:
    """Return warnings about the drawing as a whole: units other than metres, unrepaired structure errors."""
    warnings: list[IntakeWarning] = []
    if meta["insunits"] not in _METRE_UNITS:
        warnings.append(
            IntakeWarning(
                code="DXF_UNITS_NOT_METRES",
                message_en=f"The drawing declares units of {meta['units']}; coordinates are used as drawn, unscaled.",
                message_zh=f"图纸声明的单位为 {meta['units']}，坐标按原值使用，未作换算。",
            )
        )
    if audit_errors:
        warnings.append(
            IntakeWarning(
                code="DXF_STRUCTURE_ERRORS",
                message_en=f"The DXF has {audit_errors} unrepaired structural error(s); check the outline.",
                message_zh=f"DXF 文件有 {audit_errors} 处无法修复的结构错误，请核对边界。",
            )
        )
    return warnings
