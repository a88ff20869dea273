"""The check's map as a PNG (项目范围与三条控制线叠加分析图): site over the control layers, overlaps highlighted.

Drawn with Matplotlib's object API on the Agg canvas (no pyplot state), every glyph from the bundled font.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import shapely
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.patches import Polygon as PolygonPatch
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from sitecheck.areas import hectares, mu
from sitecheck.documents.fonts import bold_covers, font_path
from sitecheck.documents.mapdata import MapData, MapLayer
from sitecheck.intake.crs import crs_info, gk_zone_of

MAP_TITLE = "项目范围与三条控制线叠加分析图"
FIGURE_INCHES = (8.0, 6.0)
DPI = 200  # 1600 x 1200 px: sharp when pasted into an A4 report at full text width
MAP_BOX = (0.03, 0.085, 0.635, 0.80)  # left, bottom, width, height as figure fractions
PANEL_BOX = (0.69, 0.085, 0.29, 0.80)
MAP_ASPECT = (MAP_BOX[2] * FIGURE_INCHES[0]) / (MAP_BOX[3] * FIGURE_INCHES[1])
SITE_COLOR = "#0d3b9e"
HIGHLIGHT_EDGE = "#d50000"
SLIVER_COLOR = "#d500f9"
VERDICT_COLORS = {
    "non_compliant": "#c62828",
    "conditional": "#e65100",
    "needs_review": "#8d6e00",
    "compliant": "#2e7d32",
}
STATUS_COLORS = {
    "conflict": "#c62828",
    "conditional": "#e65100",
    "review": "#8d6e00",
    "pass": "#2e7d32",
    "not_applicable": "#616161",
}
# Zones highlight the part of the site outside them only when that decides (conflict or conditional);
# a review (e.g. an industrial project outside an industrial zone) is told in the panel and the report.
HIGHLIGHTED_ZONE_STATUSES = ("conflict", "conditional")
CHINA_TIME = timezone(timedelta(hours=8))

# Matplotlib keeps process-wide caches (fonts, text layout); one render at a time keeps them consistent.
_render_lock = threading.Lock()


def render_map_png(data: MapData) -> bytes:
    """Render the check's map as a PNG of 1600 x 1200 px (bytes)."""
    with _render_lock:
        figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        _draw(figure, data)
        buffer = io.BytesIO()
        figure.savefig(
            buffer, format="png", dpi=DPI, facecolor="white", metadata={"Title": MAP_TITLE, "Software": "sitecheck"}
        )
    return buffer.getvalue()


def _font(text: str, size: float, *, bold: bool = False) -> FontProperties:
    """The bundled font at a size; bold only when the bold subset has every character."""
    use_bold = bold and bold_covers(text)
    return FontProperties(fname=str(font_path(bold=use_bold)), size=size)


def _text(target: Figure | Axes, x: float, y: float, text: str, size: float, **kwargs: Any) -> Text:
    """Place a text with the bundled font; never parsed as mathtext."""
    bold = bool(kwargs.pop("bold", False))
    return target.text(x, y, text, fontproperties=_font(text, size, bold=bold), parse_math=False, **kwargs)


def _draw(figure: Figure, data: MapData) -> None:
    """Lay out title, map, legend panel and footer."""
    result = data.check.result
    project = result.get("project", {})
    _text(figure, 0.5, 0.958, MAP_TITLE, 17, bold=True, ha="center", va="center")
    name = _shorten(project.get("name") or "（未命名项目）", 36)
    subtitle = f"项目名称：{name}　　审查编号：{data.check.check_id}"
    _text(figure, 0.5, 0.915, subtitle, 9, ha="center", va="center", color="#333333")
    ax = figure.add_axes(MAP_BOX)
    _draw_map(ax, data)
    panel = figure.add_axes(PANEL_BOX)
    panel.set_axis_off()
    panel.set_xlim(0, 1)
    panel.set_ylim(0, 1)
    _draw_panel(panel, data)
    _draw_footer(figure, data)


def _draw_map(ax: Axes, data: MapData) -> None:
    """Background layers, overlap highlights, the site, labels, scale bar and north arrow."""
    minx, miny, maxx, maxy = data.frame
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fbfbf8")
    for spine in ax.spines.values():
        spine.set_linewidth(1.2)
    zones = [layer for layer in data.layers if layer.role == "zone"]
    constraints = [layer for layer in data.layers if layer.role != "zone"]
    for layer in zones:
        _add(ax, layer.background, facecolor=_rgba(layer.color, 0.07), edgecolor=layer.color, linewidth=1.5,
             linestyle=_zone_dash(data, layer), zorder=2)
    for layer in constraints:
        _add(ax, layer.background, facecolor=_rgba(layer.color, 0.30), edgecolor=layer.color, linewidth=0.8,
             zorder=3)
    statuses = _statuses(data)
    for layer in zones:
        if layer.outside is not None and statuses.get(layer.key) in HIGHLIGHTED_ZONE_STATUSES:
            _add(ax, [layer.outside], facecolor="none", edgecolor=layer.color, linewidth=0, hatch="\\\\\\", zorder=6.5)
    for layer in constraints:
        if layer.pieces:
            shapes = [piece.geometry for piece in layer.pieces]
            _add(ax, shapes, facecolor=layer.color, edgecolor="none", linewidth=0, zorder=5)
            _add(ax, shapes, facecolor="none", edgecolor="white", linewidth=0, hatch="///", zorder=6)
            _add(ax, shapes, facecolor="none", edgecolor=HIGHLIGHT_EDGE, linewidth=1.6, zorder=7)
    for layer in data.layers:
        for x, y in layer.sliver_spots:
            ax.plot([x], [y], marker="o", markersize=16, markerfacecolor="none", markeredgecolor=SLIVER_COLOR,
                    markeredgewidth=2.2, zorder=10)
    halo = [patheffects.withStroke(linewidth=5.5, foreground="white")]
    _add(ax, [data.check.site], facecolor="none", edgecolor=SITE_COLOR, linewidth=2.6, zorder=8, path_effects=halo)
    _draw_labels(ax, data, statuses)
    _draw_scale_bar(ax, data.frame)
    _draw_north_arrow(ax)


def _draw_labels(ax: Axes, data: MapData, statuses: dict[str, str]) -> None:
    """Name and area of each highlight inside it, moved down where it would cover an earlier label."""
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    occupied = shapely.union_all([p.geometry for layer in data.layers if layer.role != "zone" for p in layer.pieces])
    findings = {finding["layer"]: finding for finding in data.check.result.get("layers", [])}
    placed: list[Bbox] = []
    for layer in data.layers:
        finding = findings.get(layer.key, {})
        # The figures are the stored result's, so that map, panel and report never differ.
        overlap_m2 = float((finding.get("overlap") or {}).get("area_m2", layer.overlap_m2))
        if layer.role != "zone" and layer.pieces:
            where: BaseGeometry = max(layer.pieces, key=lambda piece: piece.area_m2).geometry
            if all(piece.sliver for piece in layer.pieces):
                label = f"{layer.name_zh}细小重叠 {_area_text(overlap_m2)}\n疑似边界误差，需人工复核"
            else:
                label = f"占用{layer.name_zh}\n{_area_text(overlap_m2)}"
        elif layer.outside is not None and statuses.get(layer.key) in HIGHLIGHTED_ZONE_STATUSES:
            # Prefer the part of the area outside that no constraint overlap already labels.
            free = layer.outside.difference(occupied)
            where = free if free.area > 0.05 * layer.outside.area else layer.outside
            where = max(shapely.get_parts(where), key=lambda part: part.area)
            outside_m2 = float((finding.get("outside") or {}).get("area_m2", layer.outside.area))
            label = f"位于{layer.name_zh}外\n{_area_text(outside_m2)}"
        else:
            continue
        point = where.representative_point()
        offset = (0.0, 0.0)
        if layer.role != "zone" and all(piece.sliver for piece in layer.pieces):
            offset = (0.0, -0.07 * (data.frame[3] - data.frame[1]))  # below the review marker, not over it
        text = _text(ax, point.x + offset[0], point.y + offset[1], label, 8, bold=True, ha="center",
                     va="top" if offset[1] else "center", color="#1a1a1a", path_effects=halo, zorder=9)
        box = text.get_window_extent(renderer)
        metres_per_pixel = (data.frame[3] - data.frame[1]) / ax.get_window_extent(renderer).height
        for _ in range(12):
            if not any(box.overlaps(other) for other in placed):
                break
            x, y = text.get_position()
            text.set_position((x, y - box.height * 1.15 * metres_per_pixel))
            box = text.get_window_extent(renderer)
        placed.append(box)


def _area_text(area_m2: float) -> str:
    """An area for a map label: 公顷 with 4 decimals, or 平方米 below 100 m² where 公顷 would read as zero."""
    return f"{hectares(area_m2):.4f} 公顷" if area_m2 >= 100 else f"{area_m2:.2f} 平方米"


def _draw_scale_bar(ax: Axes, frame: tuple[float, float, float, float]) -> None:
    """A two-segment scale bar in metres (or kilometres) at the lower left of the map."""
    minx, miny, maxx, maxy = frame
    width, height = maxx - minx, maxy - miny
    length = _nice_length(width * 0.3)
    x0, y0 = minx + width * 0.04, miny + height * 0.05
    bar_h = height * 0.012
    ax.add_patch(Rectangle((x0 - width * 0.015, y0 - height * 0.025), length + width * 0.06, height * 0.085,
                           facecolor=(1, 1, 1, 0.85), edgecolor="none", zorder=10))
    half = length / 2
    ax.add_patch(Rectangle((x0, y0), half, bar_h, facecolor="black", edgecolor="black", linewidth=0.8, zorder=11))
    ax.add_patch(Rectangle((x0 + half, y0), half, bar_h, facecolor="white", edgecolor="black", linewidth=0.8,
                           zorder=11))
    unit, factor = ("千米", 1000.0) if length >= 1000 else ("米", 1.0)
    for offset, value in ((0.0, 0.0), (half, half), (length, length)):
        _text(ax, x0 + offset, y0 + bar_h * 1.6, f"{value / factor:g}", 7.5, ha="center", va="bottom", zorder=12)
    _text(ax, x0 + length + width * 0.012, y0 + bar_h / 2, unit, 7.5, ha="left", va="center", zorder=12)


def _nice_length(limit: float) -> float:
    """The largest 1, 2 or 5 x 10^n not above a limit (metres)."""
    exponent = math.floor(math.log10(limit))
    for step in (5, 2, 1):
        if step * 10**exponent <= limit:
            return float(step * 10**exponent)
    return float(10 ** (exponent - 1) * 5)


def _draw_north_arrow(ax: Axes) -> None:
    """A north arrow (grid north of the analysis CRS) at the upper right of the map."""
    cx, top, size = 0.93, 0.93, 0.075
    left = [(cx, top), (cx - size * 0.32, top - size), (cx, top - size * 0.72)]
    right = [(cx, top), (cx + size * 0.32, top - size), (cx, top - size * 0.72)]
    ax.add_patch(PolygonPatch(left, closed=True, transform=ax.transAxes, facecolor="black", edgecolor="black",
                              linewidth=0.8, zorder=12))
    ax.add_patch(PolygonPatch(right, closed=True, transform=ax.transAxes, facecolor="white", edgecolor="black",
                              linewidth=0.8, zorder=12))
    halo = [patheffects.withStroke(linewidth=3, foreground="white")]
    _text(ax, cx, top + 0.012, "北", 10, bold=True, ha="center", va="bottom", transform=ax.transAxes,
          path_effects=halo, zorder=12)


def _draw_panel(panel: Axes, data: MapData) -> None:
    """Legend (图例), verdict and per-layer figures beside the map, spaced to fit the panel."""
    result = data.check.result
    site = result.get("site", {})
    verdict = result.get("verdict", "")
    rows: list[tuple[float, Callable[[float], object]]] = [
        (0.065, lambda y: _text(panel, 0.0, y, "图　例", 11, bold=True, va="top")),
    ]
    for style, label in _legend_entries(data):
        rows.append((0.05, functools.partial(_legend_row, panel, style, label)))
    rows.append((0.035, lambda y: panel.plot([0, 1], [y - 0.012, y - 0.012], color="#9e9e9e", linewidth=0.6)))
    rows.append(
        (
            0.058,
            lambda y: _text(panel, 0.0, y, f"审查结论：{result.get('verdict_zh', '')}", 12, bold=True, va="top",
                            color=VERDICT_COLORS.get(verdict, "#333333")),
        )
    )
    area = f"项目用地 {site.get('area_ha', 0):.4f} 公顷（{site.get('area_mu', 0):.2f} 亩）"
    rows.append((0.05, lambda y: _text(panel, 0.0, y, area, 8, va="top")))
    for finding in result.get("layers", []):
        title = f"{finding.get('name_zh', '')}：{finding.get('status_zh', '')}"
        color = STATUS_COLORS.get(finding.get("status", ""), "#333333")
        rows.append((0.036, functools.partial(_panel_line, panel, 0.0, title, 8, True, color)))
        rows.append((0.042, functools.partial(_panel_line, panel, 0.06, _finding_line(finding), 7.5, False, "#333")))
    scale = min(1.0, 0.985 / sum(height for height, _ in rows))
    y = 0.985
    for height, draw in rows:
        draw(y)
        y -= height * scale


def _legend_entries(data: MapData) -> list[tuple[dict[str, Any], str]]:
    """Legend swatch styles and labels: the site, each control layer, each highlighted overlap."""
    entries: list[tuple[dict[str, Any], str]] = [
        ({"facecolor": "none", "edgecolor": SITE_COLOR, "linewidth": 2.4}, "项目用地范围"),
    ]
    for layer in data.layers:
        if layer.role == "zone":
            style = {"facecolor": _rgba(layer.color, 0.07), "edgecolor": layer.color, "linewidth": 1.4,
                     "linestyle": _zone_dash(data, layer, legend=True)}
        else:
            style = {"facecolor": _rgba(layer.color, 0.30), "edgecolor": layer.color, "linewidth": 0.8}
        entries.append((style, layer.name_zh))
    statuses = _statuses(data)
    for layer in data.layers:
        if layer.role != "zone" and any(not piece.sliver for piece in layer.pieces):
            entries.append(({"facecolor": layer.color, "edgecolor": HIGHLIGHT_EDGE, "linewidth": 1.4,
                             "hatch": "///", "hatch_color": "white"}, f"占用{layer.name_zh}部分"))
        elif layer.outside is not None and statuses.get(layer.key) in HIGHLIGHTED_ZONE_STATUSES:
            entries.append(({"facecolor": "white", "edgecolor": layer.color, "linewidth": 0.8, "hatch": "\\\\\\",
                             "hatch_color": layer.color}, f"位于{layer.name_zh}外部分"))
    if any(layer.sliver_spots for layer in data.layers):
        entries.append(({"marker": SLIVER_COLOR}, "细小重叠（需人工复核）"))
    return entries


def _legend_row(panel: Axes, style: dict[str, Any], label: str, y: float) -> None:
    """One legend row: swatch and label."""
    _swatch(panel, 0.0, y - 0.03, style)
    _text(panel, 0.19, y - 0.014, label, 8.5, va="center")


def _panel_line(panel: Axes, x: float, text: str, size: float, bold: bool, color: str, y: float) -> None:
    """One line of text in the panel."""
    _text(panel, x, y, text, size, bold=bold, va="top", color=color)


def _zone_dash(data: MapData, layer: MapLayer, *, legend: bool = False) -> tuple[int, tuple[float, ...]]:
    """Dash pattern of a zone's boundary: dashed for the first zone layer, dash-dot for the others."""
    first = next(each.key for each in data.layers if each.role == "zone")
    if layer.key == first:
        return (0, (4, 2)) if legend else (0, (6, 3))
    return (0, (4, 1.5, 1, 1.5)) if legend else (0, (6, 2, 1.5, 2))


def _finding_line(finding: dict[str, Any]) -> str:
    """One line of figures for a layer's finding: overlap, area outside, or slope statistics."""
    if finding.get("role") == "raster":
        slope = finding.get("slope")
        if not slope:
            return "项目用地不在坡度数据范围内"
        return f"平均 {slope['mean_deg']:.1f}°，最大 {slope['max_deg']:.1f}°"
    if finding.get("status") == "not_applicable":
        return "不适用于本项目类别"
    if finding.get("role") == "zone":
        outside = finding.get("outside") or {}
        area_m2 = float(outside.get("area_m2", 0.0))
        if area_m2 <= 0:
            return "全部位于区内"
        return f"区外 {_area_with_mu(area_m2)}"
    overlap = finding.get("overlap") or {}
    area_m2 = float(overlap.get("area_m2", 0.0))
    if area_m2 <= 0:
        return "未占用"
    return f"占用 {_area_with_mu(area_m2)}"


def _area_with_mu(area_m2: float) -> str:
    """公顷 and 亩 for a panel line, or 平方米 for a piece too small to show in 公顷."""
    if area_m2 < 100:
        return f"{area_m2:.2f} 平方米（细小重叠）"
    return f"{hectares(area_m2):.4f} 公顷（{mu(area_m2):.2f} 亩）"


def _draw_footer(figure: Figure, data: MapData) -> None:
    """CRS, layer versions and check time under the map."""
    versions = "、".join(f"{layer.name_zh} v{layer.version}" for layer in data.layers)
    created = _china_time(data.check.result.get("created_at"))
    _text(figure, 0.03, 0.047, f"坐标系：{crs_label(data.check.crs)}　　数据版本：{versions}", 7,
          va="center", color="#424242")
    _text(figure, 0.03, 0.022, f"审查时间：{created}（北京时间）　　面积为分析坐标系平面面积　　制图：sitecheck", 7,
          va="center", color="#424242")


def crs_label(crs: str) -> str:
    """A Chinese name for the analysis CRS (CGCS2000 Gauss-Krüger zones spelled out), with its code."""
    zone = gk_zone_of(crs)
    if zone is not None:
        number, _ = zone
        degrees = 3 if number >= 25 else 6
        return f"2000国家大地坐标系 {degrees}度带高斯-克吕格投影 第{number}带（{crs}）"
    return f"{crs_info(crs).name}（{crs}）"


def _china_time(value: str | None) -> str:
    """An ISO timestamp shown in China Standard Time to the minute ('-' when absent)."""
    if not value:
        return "-"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _statuses(data: MapData) -> dict[str, str]:
    """Each checked layer's status in the stored result."""
    return {finding["layer"]: finding.get("status", "") for finding in data.check.result.get("layers", [])}


def _swatch(panel: Axes, x: float, y: float, style: dict[str, Any]) -> None:
    """A legend swatch: a filled rectangle, then its hatch in its own colour."""
    style = dict(style)
    if "marker" in style:
        panel.plot([x + 0.07], [y + 0.016], marker="o", markersize=9, markerfacecolor="none",
                   markeredgecolor=style["marker"], markeredgewidth=1.8)
        return
    hatch, hatch_color = style.pop("hatch", None), style.pop("hatch_color", None)
    panel.add_patch(Rectangle((x, y), 0.14, 0.032, **style))
    if hatch:
        panel.add_patch(Rectangle((x, y), 0.14, 0.032, facecolor="none", edgecolor=hatch_color, linewidth=0,
                                  hatch=hatch))


def _add(ax: Axes, shapes: Iterable[Polygon | MultiPolygon], **style: Any) -> None:
    """Add polygons as one compound path patch (holes kept by ring orientation)."""
    path = _compound_path(shapes)
    if path is not None:
        ax.add_patch(PathPatch(path, **style))


def _compound_path(shapes: Iterable[Polygon | MultiPolygon]) -> Path | None:
    """One Matplotlib path for many polygons: exteriors counter-clockwise, holes clockwise."""
    vertices: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for shape in shapes:
        for polygon in shapely.get_parts(shape):
            if polygon.is_empty or not isinstance(polygon, Polygon):
                continue
            oriented = orient(polygon, sign=1.0)
            for ring in (oriented.exterior, *oriented.interiors):
                coords = np.asarray(ring.coords)[:, :2]
                ring_codes = np.full(len(coords), Path.LINETO, dtype=Path.code_type)
                ring_codes[0], ring_codes[-1] = Path.MOVETO, Path.CLOSEPOLY
                vertices.append(coords)
                codes.append(ring_codes)
    if not vertices:
        return None
    return Path(np.concatenate(vertices), np.concatenate(codes))


def _rgba(color: str, alpha: float) -> tuple[float, float, float, float]:
    """A configured colour (hex or name) with an alpha, as an RGBA tuple."""
    return to_rgba(color, alpha)


def _shorten(text: str, limit: int) -> str:
    """Cut a text to a number of characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
