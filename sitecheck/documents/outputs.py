"""The documents of a stored check, one call each: map PNG, report HTML and PDF, site and overlap TXT."""

from __future__ import annotations

from pathlib import Path

from sitecheck.documents.mapdata import build_map_data
from sitecheck.documents.png import MAP_ASPECT, render_map_png
from sitecheck.documents.report import Report, build_report
from sitecheck.documents.report_html import render_report_html
from sitecheck.documents.report_pdf import render_report_pdf
from sitecheck.documents.stored import StoredCheck, open_check
from sitecheck.documents.txt_export import Encoding, Part, overlaps_txt, site_txt
from sitecheck.errors import ParameterInvalid
from sitecheck.stores.base import Store

REPORT_SUFFIXES = (".pdf", ".html", ".htm")


def check_map_png(store: Store, check_id: str) -> bytes:
    """The map of a stored check (项目范围与三条控制线叠加分析图) as PNG bytes."""
    return _map_png(store, open_check(store, check_id))


def check_report(store: Store, check_id: str) -> Report:
    """The report of a stored check as data, its map rendered."""
    check = open_check(store, check_id)
    return build_report(check, _map_png(store, check))


def check_report_html(store: Store, check_id: str) -> str:
    """The report (合规性审查报告) of a stored check as one self-contained HTML page."""
    return render_report_html(check_report(store, check_id))


def check_report_pdf(store: Store, check_id: str) -> bytes:
    """The report (合规性审查报告) of a stored check as an A4 PDF."""
    return render_report_pdf(check_report(store, check_id))


def check_site_txt(store: Store, check_id: str, *, encoding: Encoding = "gbk") -> bytes:
    """The normalised site of a stored check as a Ministry coordinate TXT."""
    return site_txt(open_check(store, check_id), encoding=encoding)


def check_overlaps_txt(
    store: Store, check_id: str, *, layer: str | None = None, part: Part = "overlap", encoding: Encoding = "gbk"
) -> bytes:
    """The overlap pieces (or a zone's outside part) of a stored check as a Ministry coordinate TXT."""
    return overlaps_txt(store, open_check(store, check_id), layer=layer, part=part, encoding=encoding)


def report_format(path: Path) -> str:
    """'pdf' or 'html' from a report file name; ParameterInvalid for anything else."""
    suffix = path.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ParameterInvalid(
            f"the report file must end in .pdf or .html, not {path.name!r}",
            f"报告文件名应以 .pdf 或 .html 结尾，而非 {path.name!r}",
            location={"field": "report"},
        )
    return "pdf" if suffix == ".pdf" else "html"


def write_check_documents(
    store: Store, check_id: str, *, report: Path | None = None, map_png: Path | None = None
) -> list[Path]:
    """Write a stored check's report (.pdf or .html) and/or map (.png) to files; return the paths written."""
    report_kind = report_format(report) if report is not None else None
    check = open_check(store, check_id)
    png = _map_png(store, check)
    written = []
    if map_png is not None:
        map_png.write_bytes(png)
        written.append(map_png)
    if report is not None:
        built = build_report(check, png)
        if report_kind == "pdf":
            report.write_bytes(render_report_pdf(built))
        else:
            report.write_text(render_report_html(built), encoding="utf-8")
        written.append(report)
    return written


def _map_png(store: Store, check: StoredCheck) -> bytes:
    """Collect a check's map data and render it."""
    return render_map_png(build_map_data(store, check, aspect=MAP_ASPECT))
