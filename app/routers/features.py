"""OGC API – Features (Part 1 core + GeoJSON) under /ogc: landing page, conformance, collections, items.

OGC asks for 400 on an invalid parameter where the rest of the API answers 422: routes here use OgcRoute,
which re-issues the same problem+json with status 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from app.deps import StoreDep
from app.onemap_models import Collection, Collections, Conformance, GeoJsonResponse, ItemsCollection, LandingPage
from sitecheck import errors
from sitecheck.onemap import ogc
from sitecheck.onemap.geojson import GEOJSON_MEDIA_TYPE

_FORMATS = {None, "json", "geojson"}


class OgcRoute(APIRoute):
    """A route whose invalid-parameter answers (422 elsewhere) go out as 400, as OGC API – Features requires."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: render parameter errors with the app's handlers, then set status 400."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            """Run the route; answer parameter errors with 400."""
            try:
                return await handler(request)
            except (RequestValidationError, errors.InputError) as exc:
                render = request.app.exception_handlers[
                    RequestValidationError if isinstance(exc, RequestValidationError) else errors.SitecheckError
                ]
                answer = await render(request, exc)
                body = json.loads(bytes(answer.body)) | {"status": 400}
                return JSONResponse(body, status_code=400, media_type="application/problem+json")

        return route


router = APIRouter(prefix="/ogc", tags=["ogc-features"], route_class=OgcRoute)


def _urls(request: Request) -> ogc.ServiceUrls:
    """The service's absolute root and OGC root as the client reached them."""
    root = str(request.base_url).rstrip("/")
    return ogc.ServiceUrls(root=root, ogc=f"{root}/ogc")


def _check_format(f: str | None) -> None:
    """Only JSON encodings are offered."""
    if f not in _FORMATS:
        raise errors.ParameterInvalid(f"f={f!r} is not offered: use f=json", f"不支持 f={f!r}：请使用 f=json")


FormatQuery = Annotated[str | None, Query(description="json (the only encoding)")]


@router.get("", response_model=LandingPage, operation_id="getLandingPage")
def get_landing_page(request: Request, f: FormatQuery = None) -> Any:
    """The landing page: links to the API definition, conformance and collections."""
    _check_format(f)
    return ogc.landing_page(_urls(request))


@router.get("/conformance", response_model=Conformance, operation_id="getConformance")
def get_conformance(f: FormatQuery = None) -> Any:
    """The conformance classes implemented: core, GeoJSON, OpenAPI 3.0."""
    _check_format(f)
    return ogc.conformance()


@router.get("/collections", response_model=Collections, operation_id="getCollections")
def get_collections(request: Request, store: StoreDep, f: FormatQuery = None) -> Any:
    """Every loaded vector layer as a collection."""
    _check_format(f)
    return ogc.list_collections(store, _urls(request))


@router.get("/collections/{collection_id}", response_model=Collection, operation_id="describeCollection")
def describe_collection(collection_id: str, request: Request, store: StoreDep, f: FormatQuery = None) -> Any:
    """One collection: the layer's current version, its extent in CRS84 and its links."""
    _check_format(f)
    return ogc.describe_collection(store, collection_id, _urls(request))


@router.get(
    "/collections/{collection_id}/items",
    response_class=GeoJsonResponse,
    responses={200: {"model": ItemsCollection, "content": {GEOJSON_MEDIA_TYPE: {}}}},
    operation_id="getFeatures",
)
def get_features(
    collection_id: str,
    request: Request,
    store: StoreDep,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy (CRS84 unless bbox-crs)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS84 or the analysis CRS")] = None,
    limit: Annotated[int, Query(ge=1, description=f"page size (at most {ogc.MAX_LIMIT})")] = ogc.DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="items to skip")] = 0,
    datetime: Annotated[str | None, Query(description="accepted; layers carry no time, so every item matches")] = None,
    f: FormatQuery = None,
) -> Response:
    """A page of a collection's items; any reported field is an equality filter (``?DLBM=0101``)."""
    _check_format(f)
    filters = {k: v for k, v in request.query_params.items() if k not in ogc.RESERVED_PARAMETERS}
    items = ogc.ItemsRequest(bbox=bbox, bbox_crs=bbox_crs, limit=limit, offset=offset, filters=filters)
    return GeoJsonResponse(ogc.get_items(store, collection_id, items, _urls(request)))


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=GeoJsonResponse,
    responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}},
    operation_id="getFeature",
)
def get_feature(
    collection_id: str, feature_id: str, request: Request, store: StoreDep, f: FormatQuery = None
) -> Response:
    """One item by id (the stored fid)."""
    _check_format(f)
    return GeoJsonResponse(ogc.get_item(store, collection_id, feature_id, _urls(request)))
