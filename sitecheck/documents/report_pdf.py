"""The report as an A4 PDF (ReportLab), the bundled font embedded, page numbers and the check id on every page."""

from __future__ import annotations

import io
import threading
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from sitecheck.documents.fonts import PDF_REGULAR, bold_covers, register_pdf_fonts
from sitecheck.documents.report import Fact, Report

MARGIN = 16 * mm
CONTENT_WIDTH = A4[0] - 2 * MARGIN
RULE_GREY = colors.HexColor("#b0b0b0")
HEAD_FILL = colors.HexColor("#eef1f5")
LABEL_FILL = colors.HexColor("#fafafa")
STATUS_COLORS = {
    "conflict": "#c62828",
    "conditional": "#e65100",
    "review": "#8d6e00",
    "pass": "#2e7d32",
    "not_applicable": "#616161",
}
VERDICT_COLORS = {
    "non_compliant": "#c62828",
    "conditional": "#e65100",
    "needs_review": "#8d6e00",
    "compliant": "#2e7d32",
}

# ReportLab keeps per-font subsetting state in module-level objects; one build at a time keeps it consistent.
_build_lock = threading.Lock()


class _Styles:
    """Paragraph styles of the report, all in the bundled font."""

    def __init__(self, regular: str, bold: str) -> None:
        self.regular, self.bold = regular, bold
        base = ParagraphStyle("base", fontName=regular, fontSize=9.5, leading=14, wordWrap="CJK")
        self.body = base
        self.title = ParagraphStyle("title", base, fontName=bold, fontSize=19, leading=26, alignment=TA_CENTER)
        self.subtitle = ParagraphStyle("subtitle", base, fontSize=11, leading=16, alignment=TA_CENTER,
                                       textColor=colors.HexColor("#555555"))
        self.ident = ParagraphStyle("ident", base, fontSize=8.5, alignment=TA_CENTER,
                                    textColor=colors.HexColor("#555555"))
        self.heading = ParagraphStyle("heading", base, fontName=bold, fontSize=12.5, leading=18, spaceBefore=10,
                                      spaceAfter=4, textColor=colors.HexColor("#0d3b9e"),
                                      keepWithNext=1)
        self.cell = ParagraphStyle("cell", base, fontSize=8.5, leading=11.5)
        self.small = ParagraphStyle("small", base, fontSize=7.5, leading=10, textColor=colors.HexColor("#555555"))
        self.number = ParagraphStyle("number", self.cell, alignment=TA_RIGHT)
        self.head = ParagraphStyle("head", self.cell, fontName=bold)
        self.note = ParagraphStyle("note", base, fontSize=8, leading=11, textColor=colors.HexColor("#555555"))
        self.caption = ParagraphStyle("caption", self.note, alignment=TA_CENTER)

    def font_for(self, text: str, *, bold: bool) -> str:
        """The bold font when asked and it has every character, else the regular one."""
        return self.bold if bold and bold_covers(text) else self.regular


def render_report_pdf(report: Report) -> bytes:
    """Render the report as an A4 PDF (bytes); the same report always gives the same bytes."""
    regular, bold = register_pdf_fonts()
    styles = _Styles(regular, bold)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
        title=f"{report.title} {report.check_id}",
        author="sitecheck",
        subject=f"{report.verdict_zh} — {report.check_id}",
        creator="sitecheck",
        invariant=1,
    )
    story = _story(report, styles)
    footer = _footer(report, regular)
    with _build_lock:
        document.build(story, canvasmaker=footer)
    return buffer.getvalue()


def _footer(report: Report, font: str) -> type[Canvas]:
    """A canvas class that writes 'check id · page n of m' at the foot of every page."""

    class NumberedCanvas(Canvas):
        """Defers page output until the page count is known."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Without this every page names Helvetica, a font the report never draws in.
            kwargs["initialFontName"] = kwargs.get("initialFontName") or font
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            """Write every page with its footer, then the file."""
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(font, 8)
                self.setFillColor(colors.HexColor("#666666"))
                self.drawString(MARGIN, 10 * mm, f"{report.title}　审查编号 {report.check_id}")
                self.drawRightString(A4[0] - MARGIN, 10 * mm, f"第 {number} 页 / 共 {total} 页")
                super().showPage()
            super().save()

    return NumberedCanvas


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (escaped: names come from users and source data)."""
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _story(report: Report, styles: _Styles) -> list[Flowable]:
    """The report's flowables, section by section."""
    title_style = ParagraphStyle("t", styles.title, fontName=styles.font_for(report.title, bold=True))
    story: list[Flowable] = [
        _p(report.title, title_style),
        _p(report.subtitle, styles.subtitle),
        Spacer(1, 2 * mm),
        _p(f"审查编号 {report.check_id} · 审查时间 {report.created_at}（北京时间）", styles.ident),
        Spacer(1, 3 * mm),
        _heading("一、项目基本情况", styles),
        _facts_table([*report.project, *report.site], styles),
        _heading("二、审查结论", styles),
        _verdict_box(report, styles),
        _heading("三、三线协调分析", styles),
        _coordination_table(report, styles),
        Spacer(1, 1.5 * mm),
        *[_p(note, styles.note) for note in report.notes],
        KeepTogether(
            [
                _heading("四、项目范围与三条控制线叠加分析图", styles),
                Image(io.BytesIO(report.map_png), width=CONTENT_WIDTH, height=CONTENT_WIDTH * 0.75),
                _p("图 1　项目范围与三条控制线叠加分析图", styles.caption),
            ]
        ),
        _heading("五、占用图斑明细", styles),
        _patch_table(report, styles) if report.patches else _p("项目用地与各控制线均无重叠图斑。", styles.body),
        _heading("六、需人工复核事项", styles),
        _facts_table(report.review, styles) if report.review else _p("无。", styles.body),
        _heading("七、坡度分析", styles),
        _facts_table(report.slope, styles) if report.slope else _p("未配置坡度数据。", styles.body),
        _heading("八、审查依据", styles),
        _p(f"规则集：{report.rule_set}", styles.body),
        Spacer(1, 1.5 * mm),
        _rules_table(report, styles),
        Spacer(1, 2 * mm),
        _facts_table(report.thresholds, styles),
        _heading("九、数据版本", styles),
        _versions_table(report, styles),
        _heading("十、追溯信息", styles),
        _facts_table(report.trace, styles),
        Spacer(1, 4 * mm),
        _p(
            f"本报告由 sitecheck 根据审查记录 {report.check_id} 生成；"
            "按该编号可调阅原始记录，并以相同图层版本重新审查复核。审查结论为辅助决策意见，以主管部门审查意见为准。",
            styles.note,
        ),
    ]
    return story


def _heading(text: str, styles: _Styles) -> Paragraph:
    """A section heading."""
    return _p(text, ParagraphStyle("h", styles.heading, fontName=styles.font_for(text, bold=True)))


def _table(rows: list[list[Flowable]], widths: list[float], *, header: bool, extra: list[Any] | None = None) -> Table:
    """A ruled table; the first row is a repeated header when asked."""
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style: list[Any] = [
        ("FONTNAME", (0, 0), (-1, -1), PDF_REGULAR),  # tables set a cell font even around paragraphs
        ("GRID", (0, 0), (-1, -1), 0.5, RULE_GREY),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEAD_FILL))
    table.setStyle(TableStyle(style + (extra or [])))
    return table


def _facts_table(facts: list[Fact], styles: _Styles) -> Table:
    """Two columns: label and value."""
    rows = [
        [_p(f.label, ParagraphStyle("l", styles.cell, fontName=styles.font_for(f.label, bold=True))),
         _p(f.value, styles.cell)]
        for f in facts
    ]
    return _table(rows, [CONTENT_WIDTH * 0.27, CONTENT_WIDTH * 0.73], header=False,
                  extra=[("BACKGROUND", (0, 0), (0, -1), LABEL_FILL)])


def _verdict_box(report: Report, styles: _Styles) -> Table:
    """The verdict in its colour, with the layers behind it."""
    color = VERDICT_COLORS.get(report.verdict, "#333333")
    verdict = ParagraphStyle("verdict", styles.body, fontName=styles.font_for(report.verdict_zh, bold=True),
                             fontSize=15, leading=20, textColor=colors.HexColor(color))
    box = Table([[_p(report.verdict_zh, verdict), _p(report.verdict_summary, styles.body)]],
                colWidths=[CONTENT_WIDTH * 0.25, CONTENT_WIDTH * 0.75])
    box.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), PDF_REGULAR),
        ("BOX", (0, 0), (-1, -1), 1.5, colors.HexColor(color)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return box


def _head_row(labels: list[str], styles: _Styles) -> list[Flowable]:
    """A header row in the bold face."""
    return [
        _p(label, ParagraphStyle("hd", styles.head, fontName=styles.font_for(label, bold=True))) for label in labels
    ]


def _status(text: str, status: str, styles: _Styles) -> Paragraph:
    """A status in its colour."""
    color = STATUS_COLORS.get(status, "#333333")
    style = ParagraphStyle(
        "st", styles.cell, fontName=styles.font_for(text, bold=True), textColor=colors.HexColor(color)
    )
    return _p(text, style)


def _coordination_table(report: Report, styles: _Styles) -> Table:
    """The 三线协调 table: 是否占用, 面积 in 公顷 and 亩, share of the site, status and reason per layer."""
    labels = ["控制线 / 图层", "是否占用", "面积\n（公顷）", "面积\n（亩）", "占项目用\n地比例", "审查结果", "说明"]
    rows = [_head_row(labels, styles)]
    extra: list[Any] = []
    for index, row in enumerate(report.coordination, start=1):
        name = ParagraphStyle("nm", styles.cell, leftIndent=8 if row.sub else 0)
        rows.append([
            _p(row.name, name),
            _p(row.occupied, styles.cell),
            _p(row.area_ha, styles.number),
            _p(row.area_mu, styles.number),
            _p(row.share, styles.number),
            _status(row.status_zh, row.status, styles),
            _p(row.reason, styles.small),
        ])
        if row.sub:
            extra.append(("BACKGROUND", (0, index), (4, index), colors.HexColor("#f7f7f7")))
    widths = [37 * mm, 15 * mm, 18 * mm, 16 * mm, 16 * mm, 16 * mm]
    return _table(rows, [*widths, CONTENT_WIDTH - sum(widths)], header=True, extra=extra)


def _patch_table(report: Report, styles: _Styles) -> Table:
    """The overlapping patches with their areas (planar and ellipsoidal), shares and attributes."""
    rows = [_head_row(["图层", "图斑编号", "名称 / 类型", "面积\n（平方米）", "面积\n（公顷）", "面积\n（亩）",
                       "椭球面积\n（公顷）", "占项目用\n地比例", "平均宽度\n（米）"], styles)]
    for patch in report.patches:
        name = patch.name + (f" / {patch.kind}" if patch.kind else "")
        ident = patch.feature_id + ("\n（细小重叠）" if patch.sliver else "")
        cell: list[Flowable] = [_p(name, styles.cell)]
        if patch.attributes:
            cell.append(_p(patch.attributes, styles.small))
        rows.append([
            _p(patch.layer, styles.cell),
            _p(ident, styles.cell),
            cell,
            _p(patch.area_m2, styles.number),
            _p(patch.area_ha, styles.number),
            _p(patch.area_mu, styles.number),
            _p(patch.ellipsoidal_ha, styles.number),
            _p(patch.share, styles.number),
            _p(patch.mean_width_m, styles.number),
        ])
    widths = [22 * mm, 20 * mm, 0.0, 20 * mm, 16 * mm, 14 * mm, 16 * mm, 15 * mm, 15 * mm]
    widths[2] = CONTENT_WIDTH - sum(widths)
    return _table(rows, widths, header=True)


def _rules_table(report: Report, styles: _Styles) -> Table:
    """Each layer's deciding rule, exception and policy references."""
    rows = [_head_row(["图层", "规则", "适用例外", "政策依据"], styles)]
    for rule in report.rules:
        rows.append([
            _p(rule.layer, styles.cell),
            _p(rule.rule_id, styles.small),
            _p(rule.exception, styles.small),
            _p("\n".join(rule.policy), styles.small),
        ])
    widths = [22 * mm, 46 * mm, 30 * mm]
    return _table(rows, [*widths, CONTENT_WIDTH - sum(widths)], header=True)


def _versions_table(report: Report, styles: _Styles) -> Table:
    """The layer versions used, with source file and hash."""
    rows = [_head_row(["图层", "版本", "来源文件", "SHA-256（前 16 位）"], styles)]
    for version in report.versions:
        rows.append([
            _p(version.layer, styles.cell),
            _p(version.version, styles.cell),
            _p(version.source, styles.cell),
            _p(version.sha256, styles.cell),
        ])
    widths = [34 * mm, 18 * mm, 60 * mm]
    return _table(rows, [*widths, CONTENT_WIDTH - sum(widths)], header=True)
