"""Parcel results as GeoJSON (RFC 7946, CGCS2000 lon/lat) and as CSV that Excel opens (UTF-8 with BOM)."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from sitecheck.intake.crs import CGCS2000_GEOGRAPHIC, transform_coords_many

LONLAT_DECIMALS = 7  # about 1 cm
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "排名"),
    ("id", "地块编号"),
    ("name", "地块名称"),
    ("land_use_code", "用地性质代码"),
    ("land_use_name", "用地性质"),
    ("status", "供地状态"),
    ("area_m2", "面积（平方米）"),
    ("area_ha", "面积（公顷）"),
    ("area_mu", "面积（亩）"),
    ("far_min", "容积率下限"),
    ("far_max", "容积率上限"),
    ("invest_wan_per_mu", "投资强度（万元/亩）"),
    ("tax_wan_per_mu", "亩均税收（万元/亩）"),
    ("park", "所属园区"),
    ("industry", "产业定位"),
    ("district_code", "行政区代码"),
    ("district_name", "行政区"),
    ("transit_name", "最近交通站点"),
    ("transit_kind", "站点类型"),
    ("transit_m", "距交通站点（米）"),
    ("clean", "合规（无冲突）"),
    ("verdict_zh", "审查结论"),
    ("problems", "存在问题"),
    ("score", "综合得分"),
    ("reason_zh", "排序理由"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def lonlat(geometry: BaseGeometry, crs: str) -> dict[str, Any]:
    """A geometry in the analysis CRS as a GeoJSON geometry in CGCS2000 lon/lat (≈ WGS84), 7 decimals."""
    return lonlat_many(np.asarray([geometry], dtype=object), crs)[0]


def lonlat_many(geometries: np.ndarray, crs: str) -> list[dict[str, Any]]:
    """Many geometries to GeoJSON geometries in CGCS2000 lon/lat with one PROJ call."""
    moved = transform_coords_many(geometries, crs, CGCS2000_GEOGRAPHIC)
    rounded = shapely.transform(moved, lambda c: np.round(c, LONLAT_DECIMALS))
    return [mapping(g) for g in rounded]


def flat_row(item: dict[str, Any]) -> dict[str, Any]:
    """The flat properties of one result (the CSV columns and GeoJSON properties)."""
    compliance = item["compliance"]
    district, transit = item.get("district") or {}, item.get("transit") or {}
    problems = "；".join(f"{p['name_zh']}{p['status_zh']}" for p in compliance["problems"])
    return {
        "rank": item["rank"],
        "id": item["id"],
        "name": item["name"],
        "land_use_code": item["land_use"]["code"],
        "land_use_name": item["land_use"]["name_zh"],
        "status": item["status"],
        "area_m2": item["area_m2"],
        "area_ha": item["area_ha"],
        "area_mu": item["area_mu"],
        "far_min": item["far_min"],
        "far_max": item["far_max"],
        "invest_wan_per_mu": item["invest_wan_per_mu"],
        "tax_wan_per_mu": item["tax_wan_per_mu"],
        "park": item["park"],
        "industry": item["industry"],
        "district_code": district.get("code"),
        "district_name": district.get("name"),
        "transit_name": transit.get("name"),
        "transit_kind": transit.get("kind"),
        "transit_m": transit.get("distance_m"),
        "clean": compliance["clean"],
        "verdict": compliance["verdict"],
        "verdict_zh": compliance["verdict_zh"],
        "problems": problems,
        "score": item["score"],
        "reason_zh": item["reason_zh"],
        "reason_en": item["reason_en"],
    }


def feature_collection(result: dict[str, Any], geometries: list[BaseGeometry], crs: str) -> dict[str, Any]:
    """A search result as a FeatureCollection: flat properties, lon/lat geometry, totals as foreign members."""
    shapes = lonlat_many(np.asarray(geometries, dtype=object), crs) if geometries else []
    features = [
        {"type": "Feature", "id": item["id"], "geometry": shape, "properties": flat_row(item)}
        for item, shape in zip(result["items"], shapes, strict=True)
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": result["total"],
        "numberReturned": len(features),
        "limit": result["limit"],
        "offset": result["offset"],
        "next_offset": result["next_offset"],
        "prev_offset": result["prev_offset"],
        "ranking": result["ranking"],
        "layer_versions": result["layer_versions"],
    }


def csv_bytes(result: dict[str, Any]) -> bytes:
    """A search result as CSV: UTF-8 with BOM, Chinese headers, CRLF rows; text cells safe from formula injection."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([label for _, label in CSV_COLUMNS])
    for item in result["items"]:
        row = flat_row(item)
        writer.writerow([_cell(row[key]) for key, _ in CSV_COLUMNS])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    """A CSV cell: booleans as 是/否, blanks empty, text that a spreadsheet would run as a formula quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
