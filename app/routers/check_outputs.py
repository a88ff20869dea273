"""A check's documents: the map PNG, the report (HTML, PDF) and 部标 TXT exports of the site and overlaps."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from app.deps import StoreDep
from sitecheck.documents import (
    check_map_png,
    check_overlaps_txt,
    check_report_html,
    check_report_pdf,
    check_site_txt,
)
from sitecheck.documents.txt_export import Encoding, Part

router = APIRouter(prefix="/v1/checks", tags=["checks"])

EncodingQuery = Annotated[
    Encoding, Query(description="gbk (GB18030-encoded, what desktop GIS tools expect) or utf-8")
]
TXT_CHARSETS = {"gbk": "GBK", "utf-8": "UTF-8"}


def _attachment(filename: str, *, inline: bool = False) -> dict[str, str]:
    """A Content-Disposition header with an RFC 5987 UTF-8 file name (and an ASCII fallback)."""
    kind = "inline" if inline else "attachment"
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return {"Content-Disposition": f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"}


@router.get(
    "/{check_id}/map.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    operation_id="getCheckMapPng",
    summary="Map of a check (项目范围与三条控制线叠加分析图), PNG 1600 x 1200",
)
def get_map_png(check_id: str, store: StoreDep) -> Response:
    """The site over the control layers with the overlaps highlighted, legend, scale bar and north arrow."""
    return Response(
        check_map_png(store, check_id), media_type="image/png", headers=_attachment(f"{check_id}-map.png", inline=True)
    )


@router.get(
    "/{check_id}/report.html",
    response_class=HTMLResponse,
    operation_id="getCheckReportHtml",
    summary="Report of a check (合规性审查报告), one self-contained HTML page",
)
def get_report_html(check_id: str, store: StoreDep) -> HTMLResponse:
    """Project facts, verdict, 三线协调 table, patches, review items, slope, map, versions, rules, check id."""
    return HTMLResponse(check_report_html(store, check_id))


@router.get(
    "/{check_id}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    operation_id="getCheckReportPdf",
    summary="Report of a check (合规性审查报告), A4 PDF with the font embedded",
)
def get_report_pdf(check_id: str, store: StoreDep) -> Response:
    """The same report as the HTML page, printable on A4."""
    return Response(
        check_report_pdf(store, check_id),
        media_type="application/pdf",
        headers=_attachment(f"合规性审查报告-{check_id}.pdf", inline=True),
    )


@router.get(
    "/{check_id}/site.txt",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    operation_id="getCheckSiteTxt",
    summary="The check's site as a Ministry coordinate TXT (部标 界址点坐标)",
)
def get_site_txt(check_id: str, store: StoreDep, encoding: EncodingQuery = "gbk") -> Response:
    """The normalised site in the analysis CRS (zone-prefixed easting), one parcel, to the millimetre."""
    return Response(
        check_site_txt(store, check_id, encoding=encoding),
        media_type=f"text/plain; charset={TXT_CHARSETS[encoding]}",
        headers=_attachment(f"{check_id}-site.txt"),
    )


@router.get(
    "/{check_id}/overlaps.txt",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    operation_id="getCheckOverlapsTxt",
    summary="The check's overlap pieces as a Ministry coordinate TXT (部标), one parcel per piece",
)
def get_overlaps_txt(
    check_id: str,
    store: StoreDep,
    layer: Annotated[str | None, Query(description="Layer key (default: every checked layer)", max_length=40)] = None,
    part: Annotated[Part, Query(description="overlap pieces, or the part of the site outside a zone")] = "overlap",
    encoding: EncodingQuery = "gbk",
) -> Response:
    """Each overlap piece with its feature id as 地块编号, or a zone's outside part with part=outside."""
    suffix = f"{layer}-{part}" if layer else part
    return Response(
        check_overlaps_txt(store, check_id, layer=layer, part=part, encoding=encoding),
        media_type=f"text/plain; charset={TXT_CHARSETS[encoding]}",
        headers=_attachment(f"{check_id}-{suffix}.txt"),
    )
