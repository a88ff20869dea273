"""A check's documents over HTTP (map PNG, report HTML/PDF, 部标 TXT) and from `sitecheck check --report --map`."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from sitecheck.settings import SAMPLE_CITY_DIR, Settings

RED_LINE_WKT = "POLYGON((40511900 3526300,40512300 3526300,40512300 3526700,40511900 3526700,40511900 3526300))"
BOWTIE_WKT = "POLYGON((40511000 3524000, 40511100 3524100, 40511100 3524000, 40511000 3524100, 40511000 3524000))"
OUTPUTS = ("map.png", "report.html", "report.pdf", "site.txt", "overlaps.txt")
SITECHECK = [sys.executable, "-c", "from app.cli import main; main()"]


def _create(client: TestClient, wkt: str = RED_LINE_WKT, name: str = "接口测试项目") -> dict[str, Any]:
    """POST a check of a WKT site in EPSG:4528 and return the answer."""
    project = {"name": name, "category": "industrial", "land_use_code": "100101"}
    body = {"site": wkt, "crs": "EPSG:4528", "project": project}
    response = client.post("/v1/checks", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _pdf_text(pdf: bytes) -> tuple[PdfReader, str]:
    """The PDF and its text without whitespace."""
    reader = PdfReader(io.BytesIO(pdf))
    return reader, re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def test_map_png(client: TestClient) -> None:
    """GET map.png: a 1600 x 1200 PNG, inline, named after the check."""
    check_id = _create(client)["check_id"]
    response = client.get(f"/v1/checks/{check_id}/map.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline;") and check_id in response.headers[
        "content-disposition"
    ]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (1600, 1200)


def test_report_pdf_and_html(client: TestClient) -> None:
    """GET report.pdf (A4, the verdict and the red-line row) and report.html (same figures, map inline)."""
    check_id = _create(client)["check_id"]
    pdf = client.get(f"/v1/checks/{check_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''%E5%90%88%E8%A7%84%E6%80%A7" in pdf.headers["content-disposition"]  # 合规性…
    reader, text = _pdf_text(pdf.content)
    assert all(
        (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx((595.2756, 841.8898), abs=0.01)
        for page in reader.pages
    )
    assert "不合规" in text and "生态保护红线是6.000090.0037.50%冲突" in text and check_id in text
    html = client.get(f"/v1/checks/{check_id}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for expected in ("合规性审查报告", "不合规", "6.0000", "90.00", "37.50%", "data:image/png;base64,", check_id):
        assert expected in html.text


def test_site_txt_round_trips_through_the_check_api(client: TestClient) -> None:
    """site.txt uploaded as a new check gives back the same normalised geometry (same hash) and verdict."""
    first = _create(client)
    response = client.get(f"/v1/checks/{first['check_id']}/site.txt")
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain; charset=GBK"
    assert response.content.decode("gb18030").startswith("[属性描述]")
    again = client.post(
        "/v1/checks",
        files={"file": ("site.txt", response.content, "text/plain")},
        data={"name": "接口测试项目", "category": "industrial", "land_use_code": "100101"},
    )
    assert again.status_code == 200, again.text
    second = again.json()
    assert second["site"]["geometry_sha256"] == first["site"]["geometry_sha256"]
    assert second["site"]["source_format"] == "txt" and second["verdict"] == first["verdict"]
    assert second["warnings"] == []


def test_overlaps_txt_round_trips(client: TestClient) -> None:
    """overlaps.txt?layer=eco_redline holds the 60 000 m² piece; checked again it lies wholly in the red line."""
    check_id = _create(client)["check_id"]
    response = client.get(f"/v1/checks/{check_id}/overlaps.txt", params={"layer": "eco_redline", "encoding": "utf-8"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain; charset=UTF-8"
    assert "FX-HX-01" in response.text and "eco_redline-overlap" in response.headers["content-disposition"]
    again = client.post("/v1/checks", files={"file": ("pieces.txt", response.content, "text/plain")})
    assert again.status_code == 200, again.text
    result = again.json()
    assert result["site"]["area_m2"] == pytest.approx(60_000, abs=1e-6)
    eco = next(layer for layer in result["layers"] if layer["layer"] == "eco_redline")
    assert eco["share"] == pytest.approx(1.0)


def test_unknown_check_is_404_everywhere(client: TestClient) -> None:
    """Every document of an unknown check is a CHECK_NOT_FOUND problem."""
    for output in OUTPUTS:
        response = client.get(f"/v1/checks/chk_nosuchcheck0000000/{output}")
        assert response.status_code == 404, output
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "CHECK_NOT_FOUND"


def test_refused_check_has_no_documents(client: TestClient) -> None:
    """A refused check (invalid geometry) is stored but has no site: each document is a 422 that says so."""
    refused = client.post("/v1/checks", json={"site": BOWTIE_WKT, "crs": "EPSG:4528"})
    assert refused.status_code == 422
    check_id = refused.json()["details"]["check_id"]
    for output in OUTPUTS:
        response = client.get(f"/v1/checks/{check_id}/{output}")
        assert response.status_code == 422, output
        problem = response.json()
        assert problem["code"] == "PARAM_INVALID" and problem["details"]["refusal_code"] == "GEOM_INVALID"
        assert "未受理" in problem["detail_zh"]


def test_bad_txt_parameters_are_4xx(client: TestClient) -> None:
    """Unknown layer 404, bad encoding or part 422, a layer without overlap 422 GEOM_EMPTY."""
    check_id = _create(client)["check_id"]
    url = f"/v1/checks/{check_id}/overlaps.txt"
    assert client.get(url, params={"layer": "nope"}).json()["code"] == "LAYER_NOT_FOUND"
    assert client.get(url, params={"layer": "nope"}).status_code == 404
    for params in ({"encoding": "latin-1"}, {"part": "inside"}, {"layer": "x" * 41}):
        response = client.get(url, params=params)
        assert response.status_code == 422 and response.json()["code"] == "PARAM_INVALID", params
    assert client.get(f"/v1/checks/{check_id}/site.txt", params={"encoding": "big5"}).status_code == 422
    empty = client.get(url, params={"layer": "farmland"})
    assert empty.status_code == 422 and empty.json()["code"] == "GEOM_EMPTY"
    outside = client.get(url, params={"layer": "eco_redline", "part": "outside"})
    assert outside.status_code == 422 and outside.json()["location"] == {"field": "part"}


def _cli_env(settings: Settings) -> dict[str, str]:
    """Environment for the CLI to use a sample store (records are added; layers are left alone)."""
    env = {**os.environ, "COLUMNS": "250", "SITECHECK_DATA_DIR": str(settings.data_dir)}
    env.pop("SITECHECK_DATABASE_URL", None)
    if settings.database_url:
        env["SITECHECK_DATABASE_URL"] = settings.database_url
        env["SITECHECK_DB_SCHEMA"] = settings.db_schema
    return env


def test_cli_check_writes_report_and_map(engine: str, sample_settings: dict[str, Settings], tmp_path: Path) -> None:
    """`sitecheck check FILE --report out.pdf --map out.png` writes both; .html works; a .docx report is refused."""
    env = _cli_env(sample_settings[engine])
    site = str(SAMPLE_CITY_DIR / "fixtures" / "site_zone40.txt")
    pdf, png, html = tmp_path / "报告.pdf", tmp_path / "map.png", tmp_path / "report.html"
    done = subprocess.run(
        [*SITECHECK, "check", site, "--category", "public_service", "--report", str(pdf), "--map", str(png)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"已写出 {pdf}" in done.stdout and f"已写出 {png}" in done.stdout
    assert Image.open(png).size == (1600, 1200)
    reader, text = _pdf_text(pdf.read_bytes())
    assert float(reader.pages[0].mediabox.height) == pytest.approx(841.8898, abs=0.01)
    assert "64.0000公顷" in text and "生态保护红线是9.0000135.00" in text
    done = subprocess.run(
        [*SITECHECK, "check", site, "--json", "--report", str(html)], env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert '"verdict"' in done.stdout and "合规性审查报告" in html.read_text(encoding="utf-8")
    refused = subprocess.run(
        [*SITECHECK, "check", site, "--report", str(tmp_path / "out.docx")], env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and "PARAM_INVALID" in refused.stdout
    assert not (tmp_path / "out.docx").exists()
