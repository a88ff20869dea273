"""WKT and EWKT (``SRID=4490;POLYGON(...)``) intake; WKT carries no CRS, so one must be declared."""

from __future__ import annotations

import re

import numpy as np
import shapely
from shapely.errors import GEOSException

from sitecheck.errors import FormatInvalid, GeometryInvalid, GeometryTooManyVertices
from sitecheck.intake.crs import parse_crs
from sitecheck.intake.raw import RawSite
from sitecheck.intake.txt import decode_text
from sitecheck.settings import IntakeLimits

_EWKT_RE = re.compile(r"^\s*SRID\s*=\s*(\d+)\s*;(.*)$", re.S | re.I)


def read_wkt(data: bytes, *, limits: IntakeLimits, encoding: str | None = None) -> RawSite:
    """Read WKT or EWKT bytes; the SRID of EWKT becomes the declared CRS."""
    text, _ = decode_text(data, encoding)
    return read_wkt_text(text, limits=limits)


def read_wkt_text(text: str, *, limits: IntakeLimits) -> RawSite:
    """Parse WKT or EWKT text with GEOS; parse errors name the GEOS message, unclosed rings are geometry faults."""
    # Every vertex but a ring's first is preceded by at most one comma, so more commas than the vertex limit
    # means too many vertices: refuse before GEOS parses a huge text.
    if text.count(",") > limits.max_vertices:
        raise GeometryTooManyVertices(
            f"The WKT has more than {limits.max_vertices} vertices.",
            f"WKT 顶点数超过上限 {limits.max_vertices}。",
            details={"limit": limits.max_vertices},
        )
    crs = None
    match = _EWKT_RE.match(text)
    if match:
        crs = parse_crs(f"EPSG:{match.group(1)}")
        text = match.group(2)
    try:
        with np.errstate(invalid="ignore"):
            geometry = shapely.from_wkt(text.strip())
    except GEOSException as exc:
        message = str(exc)
        if "closed linestring" in message:
            raise GeometryInvalid(
                f"A ring is not closed (its first point is not repeated): {message}",
                f"环未闭合（首点未重复）：{message}",
                location={"reason": message},
            ) from exc
        raise FormatInvalid(
            f"Not valid WKT: {message}", f"不是有效的 WKT：{message}", location={"reason": message}
        ) from exc
    if geometry is None:
        raise FormatInvalid("The WKT text is empty.", "WKT 文本为空。")
    return RawSite(geometry, "wkt", crs=crs, meta={"srid": int(crs.split(":")[1]) if crs else None})
