"""Documents of a stored check: the map PNG, the report (HTML and A4 PDF) and 部标 TXT exports.

Everything is drawn from the stored check and the layer versions it used, with the bundled CJK font.
See docs/documents.md.
"""

from sitecheck.documents.outputs import (
    check_map_png,
    check_overlaps_txt,
    check_report,
    check_report_html,
    check_report_pdf,
    check_site_txt,
    report_format,
    write_check_documents,
)

__all__ = [
    "check_map_png",
    "check_overlaps_txt",
    "check_report",
    "check_report_html",
    "check_report_pdf",
    "check_site_txt",
    "report_format",
    "write_check_documents",
]
