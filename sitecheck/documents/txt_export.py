"""A check's site and overlap pieces as Ministry coordinate TXT (部标 界址点坐标), readable by sitecheck.intake.

Coordinates are written in the analysis CRS (a CGCS2000 Gauss-Krüger zone, easting with the zone prefix) to
the millimetre. The site is one parcel; overlap pieces are one parcel each, numbered by feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shapely.geometry import MultiPolygon, Polygon

from sitecheck.check import CHECKED_ROLES
from sitecheck.documents.mapdata import MapLayer, build_map_data
from sitecheck.documents.stored import StoredCheck
from sitecheck.errors import GeometryEmpty, ParameterInvalid
from sitecheck.intake.crs import gk_zone_of, zone_degrees
from sitecheck.intake.txt import write_txt
from sitecheck.stores.base import Store

Encoding = Literal["gbk", "utf-8"]
Part = Literal["overlap", "outside"]
PARCELS_SECTION = "[地块坐标]"
NEWLINE = "\r\n"
# A parcel line is comma-separated and ends in '@'; the reader also reads the full-width forms as those.
_FIELD_BREAKERS = re.compile(r"[,，@＠\r\n]")


@dataclass(frozen=True)
class TxtParcel:
    """One parcel to write: its id, name and polygonal geometry in the analysis CRS."""

    parcel_id: str
    name: str
    geometry: Polygon | MultiPolygon


def site_txt(check: StoredCheck, *, encoding: Encoding = "gbk") -> bytes:
    """The check's normalised site as a one-parcel TXT (parcel id = check id, name = project name)."""
    name = str(check.result.get("project", {}).get("name") or "")
    site = check.site
    if not isinstance(site, Polygon | MultiPolygon):
        raise GeometryEmpty(f"check {check.check_id} has no polygonal site", f"审查 {check.check_id} 没有面状用地范围")
    return encode_txt(write_parcels([TxtParcel(check.check_id, name, site)], check.crs), encoding)


def overlaps_txt(
    store: Store,
    check: StoredCheck,
    *,
    layer: str | None = None,
    part: Part = "overlap",
    encoding: Encoding = "gbk",
) -> bytes:
    """Overlap pieces of the check (one layer or all checked layers) as a TXT with one parcel per piece.

    ``part="outside"`` writes, for a zone layer, the part of the site outside the zone instead.
    """
    if layer is not None:
        configured = store.catalog.get(layer)  # LayerNotFound for an unknown key
        if configured.role not in CHECKED_ROLES:
            raise ParameterInvalid(
                f"layer '{layer}' is not a constraint or zone layer: a check has no overlap with it",
                f"图层“{layer}”不是约束或分区图层，审查不计算与其的重叠",
                location={"field": "layer"},
            )
        if part == "outside" and configured.role != "zone":
            raise ParameterInvalid(
                f"part=outside needs a zone layer; '{layer}' is a {configured.role} layer",
                f"part=outside 仅适用于分区图层，“{layer}”不是分区图层",
                location={"field": "part"},
            )
    data = build_map_data(store, check, aspect=1.0, background=False)
    chosen = [each for each in data.layers if layer is None or each.key == layer]
    parcels = [parcel for each in chosen for parcel in _layer_parcels(each, part)]
    if not parcels:
        what = f"layer '{layer}'" if layer else "any checked layer"
        what_zh = f"图层“{layer}”" if layer else "各审查图层"
        where, where_zh = ("outside", "之外的部分") if part == "outside" else ("overlap", "的重叠")
        raise GeometryEmpty(
            f"check {check.check_id} has no {where} with {what}: nothing to export",
            f"审查 {check.check_id} 与{what_zh}没有{where_zh}，无可导出的坐标",
            details={"check_id": check.check_id, "layer": layer, "part": part},
        )
    return encode_txt(write_parcels(parcels, check.crs), encoding)


def _layer_parcels(layer: MapLayer, part: Part) -> list[TxtParcel]:
    """The parcels of one layer: each overlap piece, or the part of the site outside a zone."""
    if part == "outside":
        if layer.role != "zone" or layer.outside is None:
            return []
        return [TxtParcel(f"{layer.key}-outside", f"位于{layer.name_zh}外", layer.outside)]
    return [
        TxtParcel(piece.feature_id, f"{layer.name_zh} {piece.name or ''}".strip(), piece.geometry)
        for piece in layer.pieces
    ]


def write_parcels(parcels: list[TxtParcel], crs: str) -> str:
    """Write parcels in a CGCS2000 Gauss-Krüger CRS as one TXT: one header, then each parcel with its points."""
    zone_info = gk_zone_of(crs)
    if zone_info is None:
        raise ParameterInvalid(
            f"TXT export needs a CGCS2000 Gauss-Krüger analysis CRS, not {crs}",
            f"部标 TXT 导出要求分析坐标系为 2000 国家大地坐标系高斯-克吕格投影，当前为 {crs}",
        )
    zone, _ = zone_info
    degrees = zone_degrees(zone) or 3
    texts = [
        write_txt(
            parcel.geometry,
            zone=zone,
            degrees=degrees,
            parcel_id=_field(parcel.parcel_id),
            parcel_name=_field(parcel.name),
            newline=NEWLINE,
        )
        for parcel in parcels
    ]
    header, marker, _ = texts[0].partition(PARCELS_SECTION + NEWLINE)
    return header + marker + "".join(text.partition(marker)[2] for text in texts)


def encode_txt(text: str, encoding: Encoding) -> bytes:
    """Encode a TXT: GBK (as GB18030, its superset, so no character is lost) or UTF-8 without BOM."""
    if encoding == "utf-8":
        return text.encode("utf-8")
    return text.encode("gb18030")


def _field(value: str) -> str:
    """A value safe inside a parcel line (no separators, no end marker)."""
    return _FIELD_BREAKERS.sub(" ", value).strip()
