"""The report (合规性审查报告): its figures, the A4 PDF with the font embedded, and the HTML page."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from pypdf import PdfReader
from shapely.geometry import Polygon, box

from sitecheck.check import check_site
from sitecheck.documents import check_report, check_report_html, check_report_pdf
from sitecheck.intake import read_site_geometry
from sitecheck.rules import ProjectFacts, load_rules
from sitecheck.stores.base import Store

RULES = load_rules()
RED_LINE_SITE = box(40_511_900, 3_526_300, 40_512_300, 3_526_700)  # 60 000 m² of 160 000 m² in the red line
SLIVER_SITE = box(40_512_600, 3_526_300, 40_512_800, 3_526_500.004)  # 0.8 m² along the red-line edge
A4_POINTS = (595.2756, 841.8898)


def _check(store: Store, geometry: Polygon, name: str = "示例市智能制造产业园", category: str = "industrial") -> Any:
    """Run and store a check of a polygon in EPSG:4528."""
    site = read_site_geometry(geometry.wkt, crs="EPSG:4528")
    use = "100101" if category == "industrial" else None
    return check_site(store, site, ProjectFacts(name, "municipal", category, use), RULES)


def _pdf_text(pdf: bytes) -> tuple[PdfReader, str]:
    """The PDF and its text, whitespace removed (table cells break lines anywhere)."""
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"\s+", "", text)


def test_report_rows_for_a_red_line_conflict(sample_store: Store) -> None:
    """三线协调 rows: red line occupied 6.0000 公顷 / 90.00 亩 / 37.50 %, conflict; zones split inside/outside."""
    result = _check(sample_store, RED_LINE_SITE)
    report = check_report(sample_store, result["check_id"])
    rows = {row.name: row for row in report.coordination}
    assert list(rows) == [
        "生态保护红线",
        "永久基本农田",
        "城镇开发边界（区内）",
        "城镇开发边界（区外）",
        "产业区块（区内）",
        "产业区块（区外）",
    ]
    eco = rows["生态保护红线"]
    expected = ("是", "6.0000", "90.00", "37.50%", "冲突")
    assert (eco.occupied, eco.area_ha, eco.area_mu, eco.share, eco.status_zh) == expected
    assert "6.0000 公顷" in eco.reason
    farmland = rows["永久基本农田"]
    assert (farmland.occupied, farmland.area_ha, farmland.area_mu, farmland.share) == ("否", "0.0000", "0.00", "0.00%")
    inside, outside = rows["城镇开发边界（区内）"], rows["城镇开发边界（区外）"]
    assert (inside.occupied, inside.area_ha, inside.area_mu, inside.status) == ("是", "16.0000", "240.00", "pass")
    assert (outside.occupied, outside.area_ha, outside.sub) == ("否", "0.0000", True)
    assert report.verdict == "non_compliant" and report.verdict_zh == "不合规"
    assert report.verdict_summary.startswith("冲突：生态保护红线")
    patch = next(p for p in report.patches if p.feature_id == "FX-HX-01")
    assert (patch.area_m2, patch.area_ha, patch.area_mu, patch.share) == ("60,000.00", "6.0000", "90.00", "37.50%")
    assert "HXMC=校验生态红线" in patch.attributes
    assert {v.layer: v.version for v in report.versions}["生态保护红线"] == "v1"
    assert any("2022" in policy for rule in report.rules for policy in rule.policy)
    assert report.map_png.startswith(b"\x89PNG")


def test_pdf_is_a4_with_the_table_and_the_font_embedded(sample_store: Store) -> None:
    """The PDF: A4 pages, the verdict, the table rows and figures, policies, check id, Noto Sans SC embedded."""
    result = _check(sample_store, RED_LINE_SITE)
    pdf = check_report_pdf(sample_store, result["check_id"])
    assert pdf.startswith(b"%PDF")
    reader, text = _pdf_text(pdf)
    assert 2 <= len(reader.pages) <= 5
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(A4_POINTS, abs=0.01)
    for expected in (
        "建设项目选址合规性审查报告",
        "不合规",
        "三线协调分析",
        "生态保护红线是6.000090.0037.50%冲突",
        "永久基本农田否0.00000.000.00%通过",
        "城镇开发边界（区内）是16.0000240.00100.00%通过",
        "占用生态保护红线6.0000公顷（90.00亩",
        "FX-HX-01",
        "自然资发〔2022〕142号",
        "项目范围与三条控制线叠加分析图",
        result["check_id"],
        "第1页/共",
    ):
        assert expected in text, expected
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()  # type: ignore[index]
    }
    assert fonts and all("NotoSansSC" in name for name in fonts)
    images = [image for page in reader.pages for image in page.images]
    assert images and max(image.image.size[0] for image in images if image.image is not None) == 1600


def test_pdf_is_the_same_for_the_same_check(sample_store: Store) -> None:
    """A report is a deterministic rendering of the stored check."""
    result = _check(sample_store, RED_LINE_SITE)
    assert check_report_pdf(sample_store, result["check_id"]) == check_report_pdf(sample_store, result["check_id"])


def test_slivers_go_to_manual_review(sample_store: Store) -> None:
    """A 0.8 m² sliver is listed for manual review with its area and width, and the verdict says so."""
    result = _check(sample_store, SLIVER_SITE, category="public_service")
    report = check_report(sample_store, result["check_id"])
    assert report.verdict_zh == "需人工复核"
    review = " ".join(item.value for item in report.review)
    assert "FX-HX-01" in review and "细小重叠 0.80 平方米" in review and "需人工复核" in review
    patch = next(p for p in report.patches if p.feature_id == "FX-HX-01")
    assert patch.sliver and patch.area_m2 == "0.80"
    _, text = _pdf_text(check_report_pdf(sample_store, result["check_id"]))
    assert "需人工复核事项" in text and "细小重叠0.80平方米" in text


def test_html_report_is_self_contained_and_escaped(sample_store: Store) -> None:
    """The HTML page holds the same figures, the map inline, and a hostile project name as text."""
    result = _check(sample_store, RED_LINE_SITE, name="<script>alert(1)</script>园区")
    html = check_report_html(sample_store, result["check_id"])
    assert html.startswith("<!DOCTYPE html>") and 'lang="zh-CN"' in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;园区" in html
    assert "data:image/png;base64,iVBORw0KGgo" in html
    assert "@page { size: A4" in html
    faces = re.findall(r"font-weight: (\d+); font-style: normal;\s+src: url\(data:font/woff;base64,", html)
    assert faces == ["400", "700"]  # the bundled font, cut to the page's characters, so no system font is needed
    assert len(html) < 1_000_000
    for expected in ("不合规", "三线协调分析", "6.0000", "90.00", "37.50%", "FX-HX-01", result["check_id"]):
        assert expected in html, expected
    assert "自然资发〔2022〕142号" in html
