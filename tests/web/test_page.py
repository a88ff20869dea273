"""The web page as a planner and an investment officer use it, in Debian's headless chromium.

Figures come from the sample city's verification zone V (data/sample_gpkg/README.md): FX-SITE-01 is 64 公顷 with
9 公顷 in the red line FX-HX-01 (x 40 512 000–40 514 000, y 3 526 500–3 528 000); the development boundary
covers V up to x = 40 513 000; the farmland fixture FX-NT-01 is x 40 513 200–40 514 000, y 3 524 000–3 525 000.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from pyproj import Transformer

from sitecheck.settings import SAMPLE_CITY_DIR
from tests.web.browser import MONITOR, BrowserPage

FIXTURE_TXT = SAMPLE_CITY_DIR / "fixtures" / "site_zone40.txt"
TO_LONLAT = Transformer.from_crs("EPSG:4528", "EPSG:4326", always_xy=True)

# An L-shaped site in V written like ../shared/samples/hangzhou_pengbu_BR14.txt (GBK, CRLF, X = northing,
# Y = easting with the zone prefix, the first point repeated). Corners (x, y) in EPSG:4528, clockwise:
L_SITE = [
    (40_512_800, 3_524_600),
    (40_513_400, 3_524_600),
    (40_513_400, 3_524_200),
    (40_513_100, 3_524_200),
    (40_513_100, 3_524_400),
    (40_512_800, 3_524_400),
]
# 600 × 400 less 300 × 200 = 180 000 m²; farmland x ≥ 40 513 200: 200 × 400 = 80 000 m²; outside the development
# boundary (x ≥ 40 513 000): 100 × 200 + 300 × 400 = 140 000 m².
L_SITE_HA, L_FARMLAND_HA, L_OUTSIDE_HA = "18.0000", "8.0000", "14.0000"


def write_pengbu_txt(path: Path) -> Path:
    """Write the L-shaped site as a 部标 界址点坐标 TXT in the Hangzhou sample's style."""
    ring = [*L_SITE, L_SITE[0]]
    lines = [
        "[属性描述]",
        "格式版本号=1.01版本",
        "数据产生单位=示例市自然资源和规划局高新分局",
        "数据产生日期=2026-11-20",
        "坐标系=2000国家大地坐标系",
        "几度分带=3",
        "投影类型=高斯克吕格",
        "计量单位=米",
        "带号=40",
        "精度=3",
        "转换参数=0,0,0,0,0,0,0",
        "[地块坐标]",
        f"{len(ring)},{L_SITE_HA},1,高新单元G-07地块,面,,,,@",
        *(f"J{i:02d},1,{y:.3f},{x:.3f}" for i, (x, y) in enumerate(ring, start=1)),
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("gbk"))
    return path


def finding_row(page: Page, layer: str) -> str:
    """The text of a layer's row in the verdict table (figures and status)."""
    return page.locator(f"#findings tr.finding[data-layer='{layer}']").inner_text()


def rendered_count(page: Page, layer_id: str) -> int:
    """How many features of a style layer are drawn on the map now."""
    return int(page.evaluate("id => window.sitecheck.map.queryRenderedFeatures({layers: [id]}).length", layer_id))


def drop_file(page: Page, path: Path) -> None:
    """Drop a file on the upload area as a drag and drop from the desktop would."""
    transfer = page.evaluate_handle(
        """([name, data]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(data)], name, {type: 'text/plain'}));
            return transfer;
        }""",
        [path.name, list(path.read_bytes())],
    )
    page.locator("#dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#drop-file")).to_contain_text(path.name)


def upload_and_check(page: Page, path: Path, name: str, *, drop: bool = False) -> None:
    """Upload (or drop) a site file with a project name and wait for the verdict."""
    if drop:
        drop_file(page, path)
    else:
        page.locator("#site-file").set_input_files(str(path))
    page.get_by_label("项目名称").fill(name)
    page.get_by_role("button", name="开始审查").click()
    expect(page.locator("#verdict")).to_be_visible(timeout=60_000)


def test_upload_txt_shows_verdict_areas_and_overlaps(open_page: Callable[..., BrowserPage], tmp_path: Path) -> None:
    """Uploaded and dropped 部标 TXT files show the verdict, areas in 公顷 and 亩, overlaps on the map, downloads."""
    browser_page = open_page()
    page = browser_page.open()
    expect(page.locator("#layer-list li")).to_have_count(8)
    expect(page.locator("#layer-list")).to_contain_text("生态保护红线")
    browser_page.screenshot("01-start-1366x768")

    upload_and_check(page, FIXTURE_TXT, "校验选址项目")
    expect(page.locator("#verdict-badge")).to_have_text("不合规")
    expect(page.locator("#verdict-site")).to_contain_text("64.0000 公顷")
    expect(page.locator("#verdict-site")).to_contain_text("960.00 亩")
    red_line = finding_row(page, "eco_redline")
    assert "冲突" in red_line and "9.0000 公顷" in red_line and "135.00 亩" in red_line and "14.06%" in red_line
    assert "通过" in finding_row(page, "farmland")
    assert "0.0000 公顷" in finding_row(page, "dev_boundary")
    page.wait_for_function("() => window.sitecheck.map.queryRenderedFeatures({layers: ['check-overlap']}).length > 0")
    assert rendered_count(page, "check-site") > 0
    browser_page.wait_for_map()
    browser_page.screenshot("02-upload-fixture-verdict-1366x768")

    check_id = page.locator("#verdict-meta").inner_text().split()[1]
    assert check_id.startswith("chk_")
    for link, media_type in (("#dl-report", "application/pdf"), ("#dl-map", "image/png"), ("#dl-txt", "text/plain")):
        href = page.locator(link).get_attribute("href")
        assert href and check_id in href
        answer = page.request.get(browser_page.base_url + href)
        assert answer.status == 200 and answer.headers["content-type"].startswith(media_type)

    upload_and_check(page, write_pengbu_txt(tmp_path / "高新单元G-07.txt"), "高新单元G-07地块项目", drop=True)
    expect(page.locator("#verdict-badge")).to_have_text("不合规")
    expect(page.locator("#verdict-site")).to_contain_text(f"{L_SITE_HA} 公顷")
    expect(page.locator("#verdict-site")).to_contain_text("270.00 亩")
    farmland = finding_row(page, "farmland")
    assert "冲突" in farmland and f"{L_FARMLAND_HA} 公顷" in farmland and "120.00 亩" in farmland
    boundary = finding_row(page, "dev_boundary")
    assert "冲突" in boundary and f"{L_OUTSIDE_HA} 公顷" in boundary
    page.wait_for_function("() => window.sitecheck.map.queryRenderedFeatures({layers: ['check-outside']}).length > 0")
    browser_page.wait_for_map()
    browser_page.screenshot("03-upload-pengbu-style-verdict-1366x768")

    recent = page.locator("#recent-list li")
    expect(recent).to_have_count(2)
    recent.nth(1).get_by_role("button").click()
    expect(page.locator("#verdict-site")).to_contain_text("64.0000 公顷")


def test_draw_polygon_across_the_red_line_is_a_conflict(open_page: Callable[..., BrowserPage]) -> None:
    """A polygon drawn by clicking on the map across FX-HX-01 is checked and the red line is a conflict."""
    browser_page = open_page()
    page = browser_page.open()
    corners = [(40_511_600, 3_527_400), (40_512_400, 3_527_400), (40_512_400, 3_526_900), (40_511_600, 3_526_900)]
    lonlat = [TO_LONLAT.transform(x, y) for x, y in corners]
    west, east = min(p[0] for p in lonlat), max(p[0] for p in lonlat)
    south, north = min(p[1] for p in lonlat), max(p[1] for p in lonlat)
    page.evaluate(
        """b => {
            const p = window.sitecheck.mapView.padding();  // keeps clear of the layer list
            const padding = {top: p.top + 80, bottom: p.bottom + 80, left: p.left + 80, right: p.right + 80};
            window.sitecheck.map.fitBounds(b, {padding, animate: false});
        }""",
        [[west, south], [east, north]],
    )
    browser_page.wait_for_map()

    page.get_by_role("radio", name="地图绘制").check()
    page.get_by_role("button", name="开始绘制").click()
    expect(page.locator("#draw-banner")).to_be_visible()
    box = page.locator("#map").bounding_box()
    assert box is not None
    for lon, lat in lonlat:
        point = page.evaluate("p => window.sitecheck.map.project(p)", [lon, lat])
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        page.wait_for_timeout(400)  # separate clicks, not a double-click
    expect(page.locator("#draw-status")).to_contain_text("4")
    browser_page.screenshot("04-drawing-1366x768")
    page.get_by_role("button", name="完成").click()
    expect(page.locator("#draw-status")).to_contain_text("可以开始审查")
    page.get_by_label("项目名称").fill("绘制选址")
    page.get_by_role("button", name="开始审查").click()
    expect(page.locator("#verdict")).to_be_visible(timeout=60_000)
    expect(page.locator("#verdict-badge")).to_have_text("不合规")
    assert "冲突" in finding_row(page, "eco_redline")
    page.wait_for_function("() => window.sitecheck.map.queryRenderedFeatures({layers: ['check-overlap']}).length > 0")
    browser_page.wait_for_map()
    browser_page.screenshot("05-drawn-site-conflict-1366x768")

    page.get_by_role("button", name="Switch to English").click()
    expect(page.locator("#verdict-badge")).to_have_text("Non-compliant")
    assert "conflict" in finding_row(page, "eco_redline")
    expect(page.get_by_role("tab", name="Find land investment officers")).to_be_visible()
    browser_page.screenshot("06-drawn-site-conflict-english-1366x768")
    page.get_by_role("button", name="切换到中文").click()
    expect(page.locator("#verdict-badge")).to_have_text("不合规")


def test_parcel_search_lists_results_on_the_list_and_the_map(open_page: Callable[..., BrowserPage]) -> None:
    """A parcel search shows ranked results in the list and on the map, kept in step; CSV export and detail work."""
    browser_page = open_page()
    page = browser_page.open()
    page.get_by_role("tab", name="按图索地").click()
    page.get_by_label("面积下限（亩）").fill("50")
    page.get_by_label("面积上限（亩）").fill("200")
    page.get_by_role("button", name="检索", exact=True).click()
    results = page.locator("#results-list li.result")
    expect(results).to_have_count(20, timeout=60_000)
    expect(page.locator("#results-count")).to_contain_text("共")
    first = results.first
    expect(first.locator(".reason")).to_contain_text("得分")
    expect(first.locator(".scorebar span").first).to_be_visible()
    page.wait_for_function("() => window.sitecheck.map.queryRenderedFeatures({layers: ['results-fill']}).length > 0")
    expect(page.locator(".rank-marker")).to_have_count(20)

    first.hover()
    first_id = first.get_attribute("data-id") or ""
    assert first_id
    assert page.evaluate("id => window.sitecheck.map.getFeatureState({source: 'results', id}).hover === true", first_id)
    first.get_by_role("button", name="定位").click()
    expect(first).to_have_class(re.compile(r"\bselected\b"))
    browser_page.wait_for_map()
    browser_page.screenshot("07-search-results-1366x768")

    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV").click()
    csv_path = download.value.path()
    assert csv_path is not None
    csv_text = Path(csv_path).read_text(encoding="utf-8-sig")
    assert first_id in csv_text and len(csv_text.splitlines()) > 20

    first.get_by_role("button", name="详情").click()
    expect(page.locator("#parcel-detail")).to_contain_text(first_id)
    expect(page.locator("#parcel-detail")).to_contain_text("生态保护红线")

    first.get_by_role("button", name="用此地块审查").click()
    expect(page.locator("#panel-planner")).to_be_visible()
    expect(page.locator("#verdict")).to_be_visible(timeout=60_000)
    expect(page.locator("#verdict-badge")).to_have_text("合规")
    expect(page.get_by_label("项目名称")).to_have_value(f"{first.locator('h3').inner_text()}（{first_id}）")


def test_errors_in_plain_words_and_pasted_coordinates(open_page: Callable[..., BrowserPage], tmp_path: Path) -> None:
    """A refused file shows the API's explanation and where the fault is; pasted WKT is checked once a CRS is set."""
    browser_page = open_page()
    browser_page.watch.allow_console("status of 422")  # chromium's own note of the refused upload
    page = browser_page.open()
    broken = tmp_path / "坏坐标.txt"
    text = FIXTURE_TXT.read_bytes().decode("gbk").replace("J3,1,", "J3,1,abc", 1)
    broken.write_bytes(text.encode("gbk"))
    page.locator("#site-file").set_input_files(str(broken))
    page.get_by_role("button", name="开始审查").click()
    error = page.locator("#check-error")
    expect(error).to_be_visible(timeout=30_000)
    expect(error).to_contain_text("未能完成")
    expect(error).to_contain_text("第")
    assert "422" not in error.inner_text()
    browser_page.screenshot("08-refused-upload-1366x768")

    # Pasted WKT has no coordinate system: the service says so, the page opens the coordinate options.
    page.get_by_role("radio", name="粘贴坐标").check()
    page.get_by_label("坐标文本（GeoJSON、WKT 或部标 TXT）").fill(
        "POLYGON((40510100 3525100, 40510400 3525100, 40510400 3525300, 40510100 3525300, 40510100 3525100))"
    )
    page.get_by_role("button", name="开始审查").click()
    expect(error).to_contain_text("CRS_UNKNOWN")
    expect(page.get_by_label("坐标系", exact=True)).to_be_visible()
    page.get_by_label("坐标系", exact=True).select_option("EPSG:4528")
    page.get_by_role("button", name="开始审查").click()
    expect(page.locator("#verdict-badge")).to_have_text("合规", timeout=30_000)
    expect(page.locator("#verdict-site")).to_contain_text("6.0000 公顷")
    expect(error).to_be_hidden()


def test_large_monitor_layout_and_keyboard_labels(open_page: Callable[..., BrowserPage]) -> None:
    """At 1920×1080 the page shows panel and map side by side; every control has a label and tabs use the keyboard."""
    browser_page = open_page(MONITOR)
    page = browser_page.open()
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter(el => el.offsetParent !== null || el.type === 'file')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.textContent || '').trim())
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []
    page.get_by_role("tab", name="选址合规审查").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="按图索地")).to_be_focused()
    expect(page.locator("#panel-investor")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#panel-planner")).to_be_visible()
    page.get_by_role("button", name="API 密钥").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    panel, map_box = page.locator("#panel").bounding_box(), page.locator("#map").bounding_box()
    assert panel and map_box and map_box["width"] > 1300 and panel["x"] + panel["width"] <= map_box["x"] + 1
    upload_and_check(page, FIXTURE_TXT, "校验选址项目")
    page.wait_for_function("() => window.sitecheck.map.queryRenderedFeatures({layers: ['check-overlap']}).length > 0")
    browser_page.wait_for_map()
    browser_page.screenshot("09-verdict-1920x1080")
    page.get_by_role("tab", name="按图索地").click()
    page.get_by_role("button", name="检索", exact=True).click()
    expect(page.locator("#results-list li.result").first).to_be_visible(timeout=60_000)
    browser_page.wait_for_map()
    browser_page.screenshot("10-search-1920x1080")
