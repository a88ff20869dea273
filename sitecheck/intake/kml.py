"""KML and KMZ readers: Polygons (with holes, inside MultiGeometry) from Placemarks, parsed with defusedxml.

KML coordinates are WGS 84 longitude/latitude[/altitude] by definition (OGC KML 2.2, §6.2), so the CRS is
always ``EPSG:4326``; altitude is dropped. Nothing a KML references (NetworkLink, styles, images) is fetched.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from typing import Any, NoReturn
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException
from shapely.errors import GEOSException
from shapely.geometry import Polygon

from sitecheck.errors import FormatInvalid, GeometryEmpty, GeometryInvalid, GeometryNotPolygonal, UploadTooLarge
from sitecheck.intake.archive import GuardedZip
from sitecheck.intake.polygon_parts import ReadBudget, collect_polygons
from sitecheck.intake.raw import IntakeWarning, RawSite
from sitecheck.settings import IntakeLimits

KML_CRS = "EPSG:4326"
PLACEMARK_NAMES_MAX = 100
_GX_NAMESPACE = "http://www.google.com/kml/ext/2.2"
_NON_POLYGONAL = {"Point", "LineString", "LinearRing", "Model"}
# Encodings expat decodes itself; anything else (GBK, GB18030, Big5, ...) is transcoded to UTF-8 first.
_EXPAT_ENCODINGS = {"utf-8", "utf8", "utf-16", "utf16", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"}
_XML_DECLARATION = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# Some writers put spaces after the commas inside a tuple ("120.1, 30.2"); glue tuples back together.
_TUPLE_SPACING = re.compile(r"\s*,\s*")


def read_kml(data: bytes, *, limits: IntakeLimits) -> RawSite:
    """Read a KML document: its polygons in WGS 84 lon/lat (``EPSG:4326``), unvalidated."""
    _check_size(len(data), limits)
    return _read_document(data, limits, source_format="kml", meta={})


def read_kmz(data: bytes, *, limits: IntakeLimits) -> RawSite:
    """Read a KMZ (zip; doc.kml or the first .kml inside) through the zip guard, like read_kml."""
    archive = GuardedZip(data, limits=limits)
    member = _main_kml(archive.names)
    _check_size(archive.declared_size(member), limits)
    return _read_document(archive.read(member), limits, source_format="kmz", meta={"kmz_member": member})


def _check_size(size: int, limits: IntakeLimits) -> None:
    """Refuse a KML document larger than the upload limit (an XML tree costs ~10x its bytes in memory)."""
    if size > limits.max_upload_bytes:
        raise UploadTooLarge(
            f"The KML document is {size} bytes; the limit is {limits.max_upload_bytes}.",
            f"KML 文件大小 {size} 字节，超过上限 {limits.max_upload_bytes} 字节。",
            details={"size_bytes": size, "max_upload_bytes": limits.max_upload_bytes},
        )


def _main_kml(names: list[str]) -> str:
    """Return the KMZ's main document: ``doc.kml`` at the root, else the first .kml in archive order."""
    kmls = [name for name in names if name.lower().endswith(".kml")]
    if not kmls:
        raise FormatInvalid("The KMZ holds no .kml document.", "KMZ 压缩包中没有 .kml 文件。")
    return next((name for name in kmls if name.lower() == "doc.kml"), kmls[0])


def _read_document(data: bytes, limits: IntakeLimits, *, source_format: str, meta: dict[str, Any]) -> RawSite:
    """Parse the XML safely and collect every Polygon, in document order."""
    root = _parse_xml(data)
    budget = ReadBudget(limits)
    placemarks: list[str | None] = []
    parts: list[Polygon] = []
    ignored: Counter[str] = Counter()
    network_links = 0
    # An explicit stack, not recursion: nesting depth is the uploader's choice.
    stack: list[tuple[Element, int | None]] = [(root, None)]
    while stack:
        element, placemark = stack.pop()
        namespace, local = _split_tag(element)
        if namespace == _GX_NAMESPACE or not local:
            continue
        if local == "Placemark":
            placemark = len(placemarks)
            placemarks.append(_child_text(element, "name"))
        elif local == "Polygon":
            location = {"placemark_index": placemark, "polygon_index": len(parts)}
            budget.add_part(location)
            parts.append(_polygon(element, location, budget))
            continue
        elif local in _NON_POLYGONAL:
            ignored[local] += 1
            continue
        elif local == "NetworkLink":
            network_links += 1
            continue
        stack.extend((child, placemark) for child in reversed(element))
    warnings = _warnings(ignored, network_links)
    if not parts:
        _raise_no_polygons(ignored, network_links)
    meta = {
        **meta,
        "placemark_count": len(placemarks),
        "placemark_names": placemarks[:PLACEMARK_NAMES_MAX],
        "polygon_count": len(parts),
        "crs_note": "KML coordinates are WGS 84 longitude/latitude by definition (OGC KML 2.2).",
    }
    return RawSite(
        geometry=collect_polygons(parts),
        source_format=source_format,
        crs=KML_CRS,
        warnings=warnings,
        meta=meta,
    )


def _parse_xml(data: bytes) -> Element:
    """Parse KML bytes, refusing DTDs, entities and external references (XXE, billion laughs)."""
    data = _to_expat_encoding(data)
    try:
        root: Element = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise FormatInvalid(
            "XML entities are not allowed (the document declares a DTD or entities).",
            "不允许使用 XML 实体（文件中声明了 DTD 或实体）。",
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        raise FormatInvalid(
            f"The KML is not well-formed XML: {exc}.",
            f"KML 不是格式正确的 XML：{exc}。",
            location={"line": line, "column": column},
        ) from exc
    except ValueError as exc:
        raise FormatInvalid(f"The KML cannot be parsed: {exc}.", f"无法解析 KML：{exc}。") from exc
    return root


def _to_expat_encoding(data: bytes) -> bytes:
    """Transcode a document declaring an encoding expat lacks (GBK, ...) to UTF-8, declaration rewritten."""
    match = _XML_DECLARATION.match(data)
    if match is None:
        return data
    declared = match.group(1).decode("ascii")
    if declared.lower() in _EXPAT_ENCODINGS:
        return data
    try:
        text = data[match.end(1) :].decode(codecs.lookup(declared).name)
    except (LookupError, UnicodeDecodeError) as exc:
        raise FormatInvalid(
            f"The KML declares encoding '{declared}' but cannot be decoded with it.",
            f"KML 声明的编码“{declared}”无法解码该文件。",
        ) from exc
    return data[: match.start(1)] + b"UTF-8" + text.encode("utf-8")


def _split_tag(element: Element) -> tuple[str, str]:
    """Return (namespace, local name) of an element; comments and processing instructions give ('', '')."""
    tag = element.tag
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _children(element: Element, local: str) -> list[Element]:
    """Return the direct children named ``local`` in any namespace except gx."""
    return [child for child in element if _split_tag(child)[1] == local and _split_tag(child)[0] != _GX_NAMESPACE]


def _child_text(element: Element, local: str) -> str | None:
    """Return the stripped text of the first child named ``local``, or None."""
    found = _children(element, local)
    text = found[0].text if found else None
    return text.strip() if text else None


def _polygon(element: Element, location: dict[str, Any], budget: ReadBudget) -> Polygon:
    """Build one Polygon (no validation) from outerBoundaryIs and innerBoundaryIs LinearRings."""
    outer = [ring for boundary in _children(element, "outerBoundaryIs") for ring in _children(boundary, "LinearRing")]
    if len(outer) != 1:
        raise FormatInvalid(
            f"A Polygon needs exactly one outer LinearRing; this one has {len(outer)}.",
            f"Polygon 必须有且仅有一个外边界 LinearRing，此处有 {len(outer)} 个。",
            location=location,
        )
    # Several LinearRings in one innerBoundaryIs are accepted: Google Earth writes and reads them.
    inner = [ring for boundary in _children(element, "innerBoundaryIs") for ring in _children(boundary, "LinearRing")]
    shell = _ring_coordinates(outer[0], {**location, "ring": "outer"}, budget)
    holes = [
        _ring_coordinates(ring, {**location, "ring": f"inner {number}"}, budget)
        for number, ring in enumerate(inner, start=1)
    ]
    try:
        return Polygon(shell, holes)
    except (ValueError, GEOSException) as exc:
        raise GeometryInvalid(
            f"A ring has too few points to form a polygon: {exc}.",
            f"边界环的点数不足，无法构成面：{exc}。",
            location=location,
        ) from exc


def _ring_coordinates(ring: Element, location: dict[str, Any], budget: ReadBudget) -> list[tuple[float, float]]:
    """Return a LinearRing's (lon, lat) tuples; altitude dropped, vertices counted before parsing."""
    text = _child_text(ring, "coordinates") or ""
    tokens = _TUPLE_SPACING.sub(",", text).split()
    budget.add_vertices(len(tokens), location)
    points: list[tuple[float, float]] = []
    for index, token in enumerate(tokens):
        values = token.split(",")
        try:
            if len(values) not in (2, 3):
                raise ValueError(token)
            points.append((float(values[0]), float(values[1])))
        except ValueError as exc:
            raise FormatInvalid(
                f"Coordinate tuple {index} '{token[:40]}' is not lon,lat[,alt].",
                f"第 {index} 个坐标“{token[:40]}”不是 经度,纬度[,高程] 格式。",
                location={**location, "vertex_index": index},
            ) from exc
    return points


def _warnings(ignored: Counter[str], network_links: int) -> list[IntakeWarning]:
    """Return warnings for the ignored non-polygonal geometries and unfollowed network links."""
    warnings: list[IntakeWarning] = []
    if ignored:
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(ignored.items()))
        warnings.append(
            IntakeWarning(
                code="KML_NON_POLYGONAL_IGNORED",
                message_en=f"Non-polygonal geometries were ignored: {listed}.",
                message_zh=f"已忽略非面几何：{listed}。",
                location=dict(ignored),
            )
        )
    if network_links:
        warnings.append(
            IntakeWarning(
                code="KML_NETWORK_LINK_IGNORED",
                message_en=f"{network_links} NetworkLink(s) were not followed; only inline geometry is read.",
                message_zh=f"未读取 {network_links} 个网络链接（NetworkLink），仅读取文件内的图形。",
            )
        )
    return warnings


def _raise_no_polygons(ignored: Counter[str], network_links: int) -> NoReturn:
    """Raise the right error for a KML without polygons: only points/lines, or nothing at all."""
    if ignored:
        listed = ", ".join(f"{count} {kind}" for kind, count in sorted(ignored.items()))
        raise GeometryNotPolygonal(
            f"The KML holds no polygon, only {listed}; a site must be a polygon.",
            f"KML 中没有面，只有 {listed}；地块必须为面。",
            details=dict(ignored),
        )
    hint_en = " (NetworkLinks are not followed)" if network_links else ""
    hint_zh = "（不读取网络链接）" if network_links else ""
    raise GeometryEmpty(f"The KML holds no geometry{hint_en}.", f"KML 中没有几何图形{hint_zh}。")
