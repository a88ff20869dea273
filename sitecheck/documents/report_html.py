"""The report as one self-contained HTML page (map inlined), laid out for A4 printing."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from sitecheck.documents.fonts import subset_woff
from sitecheck.documents.report import Report

TEMPLATE_DIR = Path(__file__).with_name("templates")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The Jinja2 environment: packaged templates, HTML autoescaping, undefined names are errors."""
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report_html(report: Report) -> str:
    """Render the report as HTML text (UTF-8): the map and a subset of the bundled font embedded as data URIs.

    The font is cut down to the characters the page uses (a first rendering tells which), so the page reads
    the same on a machine without any CJK font and stays small (about 100 kB per weight).
    """
    template = _environment().get_template("report.html.j2")
    text = template.render(report=report, map_base64="", fonts={})
    fonts = {
        weight: base64.b64encode(subset_woff(text, bold=weight == 700)).decode("ascii") for weight in (400, 700)
    }
    return template.render(report=report, map_base64=base64.b64encode(report.map_png).decode("ascii"), fonts=fonts)
