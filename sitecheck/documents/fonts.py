"""The bundled CJK font (Noto Sans SC subsets, SIL OFL 1.1): paths, coverage, and registration with ReportLab.

Maps and reports draw every glyph from these files, never from system fonts. See fonts/README.md.
"""

from __future__ import annotations

import io
import threading
from functools import lru_cache
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

FONT_DIR = Path(__file__).with_name("fonts")
REGULAR_FONT = FONT_DIR / "NotoSansSC-Regular-subset.ttf"
BOLD_FONT = FONT_DIR / "NotoSansSC-Bold-subset.ttf"
FONT_LICENCE = FONT_DIR / "OFL.txt"
PDF_REGULAR = "NotoSansSC"
PDF_BOLD = "NotoSansSC-Bold"

_register_lock = threading.Lock()


def font_path(*, bold: bool = False) -> Path:
    """Path of the bundled regular or bold font file."""
    return BOLD_FONT if bold else REGULAR_FONT


@lru_cache(maxsize=2)
def covered_codepoints(path: Path) -> frozenset[int]:
    """Code points a font file has glyphs for (read once)."""
    font = TTFont(path, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def bold_covers(text: str) -> bool:
    """True when the bold subset has every character of a text (else the text is set in the regular weight)."""
    covered = covered_codepoints(BOLD_FONT)
    return all(ord(char) in covered or char.isspace() for char in text)


def subset_woff(text: str, *, bold: bool = False) -> bytes:
    """The bundled font cut down to the characters of a text, as WOFF: for embedding in an HTML page."""
    font = TTFont(font_path(bold=bold), lazy=True)
    try:
        options = subset.Options()
        options.flavor = "woff"  # zlib-compressed; WOFF2 would need the brotli extension
        options.name_IDs = ["*"]  # keep the copyright and licence records with the embedded copy
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        font.flavor = "woff"
        buffer = io.BytesIO()
        font.save(buffer)
    finally:
        font.close()
    return buffer.getvalue()


def register_pdf_fonts() -> tuple[str, str]:
    """Register the bundled fonts with ReportLab once; return the (regular, bold) font names."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont

    with _register_lock:
        registered = set(pdfmetrics.getRegisteredFontNames())
        if PDF_REGULAR not in registered:
            pdfmetrics.registerFont(ReportLabFont(PDF_REGULAR, str(REGULAR_FONT)))
        if PDF_BOLD not in registered:
            pdfmetrics.registerFont(ReportLabFont(PDF_BOLD, str(BOLD_FONT)))
    return PDF_REGULAR, PDF_BOLD
