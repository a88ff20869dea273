"""One map (一张图): features of layers inside a bbox, and a stored check's map, as GeoJSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from app.deps import StoreDep
from app.onemap_models import CheckMapCollection, GeoJsonResponse, OverlayCollection
from sitecheck.onemap import checkmap, overlay
from sitecheck.onemap.geojson import GEOJSON_MEDIA_TYPE

router = APIRouter(tags=["onemap"])


@dataclass
class OverlayParams:
    """Query parameters of the overlay."""

    bbox: Annotated[str, Query(description="minx,miny,maxx,maxy in bbox-crs", examples=["120.1,31.8,120.2,31.9"])]
    bbox_crs: Annotated[
        str | None, Query(alias="bbox-crs", description="CRS84 (default, lon/lat) or the analysis CRS, e.g. EPSG:4528")
    ] = None
    layers: Annotated[
        str | None, Query(description="comma-separated layer keys; default: every loaded vector layer")
    ] = None
    zoom: Annotated[
        int | None, Query(ge=0, le=24, description="simplify to half a display pixel at this web-map zoom")
    ] = None
    limit: Annotated[
        int, Query(ge=1, le=overlay.MAX_LIMIT, description="most features per layer; more sets truncated")
    ] = overlay.DEFAULT_LIMIT
    crs: Annotated[str | None, Query(description="output CRS: CRS84 (default) or the analysis CRS")] = None


@dataclass
class CheckMapParams:
    """Query parameters of a check's map."""

    buffer_m: Annotated[
        float, Query(ge=0, le=checkmap.MAX_BUFFER_M, description="show layer features within this distance (m)")
    ] = checkmap.DEFAULT_BUFFER_M
    layers: Annotated[str | None, Query(description="comma-separated layer keys; default: every vector layer")] = None
    limit: Annotated[int, Query(ge=1, le=checkmap.MAX_LIMIT, description="most nearby features per layer")] = (
        checkmap.DEFAULT_LIMIT
    )
    crs: Annotated[str | None, Query(description="output CRS: CRS84 (default) or the analysis CRS")] = None


@router.get(
    "/v1/onemap",
    response_class=GeoJsonResponse,
    responses={200: {"model": OverlayCollection, "content": {GEOJSON_MEDIA_TYPE: {}}}},
    operation_id="getOverlay",
    summary="Features of layers inside a bbox (一张图叠加)",
)
def get_overlay(params: Annotated[OverlayParams, Depends()], store: StoreDep) -> Response:
    """Return the features of the named layers' current versions inside a bbox, tagged by layer."""
    return GeoJsonResponse(overlay.build_overlay(store, overlay.OverlayRequest(**asdict(params))))


@router.get(
    "/v1/checks/{check_id}/map",
    response_class=GeoJsonResponse,
    responses={200: {"model": CheckMapCollection, "content": {GEOJSON_MEDIA_TYPE: {}}}},
    operation_id="getCheckMap",
    summary="A check's one map: site, overlaps and nearby features",
)
def get_check_map(check_id: str, params: Annotated[CheckMapParams, Depends()], store: StoreDep) -> Response:
    """Return a stored check's map from the layer versions it used: site, overlap pieces, features around it."""
    return GeoJsonResponse(checkmap.build_check_map(store, check_id, checkmap.CheckMapRequest(**asdict(params))))
