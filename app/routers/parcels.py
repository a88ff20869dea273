"""Parcel search (按图索地), parcel detail and site suggestions (规划选址建议)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from app.deps import SettingsDep, StoreDep
from app.parcel_models import (
    Format,
    Link,
    ParcelDetail,
    ParcelSearchResult,
    SearchFilters,
    SearchOptions,
    SearchParams,
    SuggestBody,
    SuggestResult,
)
from app.responses import as_built
from sitecheck.parcels import (
    ParcelQuery,
    SuggestRequest,
    get_parcel,
    parcels_csv,
    parcels_geojson,
    search_options,
    search_parcels,
    suggest_sites,
)
from sitecheck.rules import RuleSet
from sitecheck.settings import Settings
from sitecheck.stores.base import Store

router = APIRouter(prefix="/v1/parcels", tags=["parcels"])
GEOJSON = "application/geo+json"
CSV_NAME = "地块检索结果.csv"
_FORMATS: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}, "text/csv": {}}, "description": "JSON, GeoJSON (f=geojson) or CSV (f=csv)"}
}


def get_rules(request: Request) -> RuleSet:
    """The rule set loaded in the lifespan."""
    rules: RuleSet = request.app.state.rules
    return rules


RulesDep = Annotated[RuleSet, Depends(get_rules)]
FormatQuery = Annotated[Format, Query(description="json (default), geojson or csv")]


@router.get(
    "",
    response_model=ParcelSearchResult,
    operation_id="listParcels",
    responses=_FORMATS,
    summary="Search parcels with query parameters (按图索地)",
)
def list_parcels(
    request: Request,
    params: Annotated[SearchParams, Depends()],
    store: StoreDep,
    rules: RulesDep,
    settings: SettingsDep,
    f: FormatQuery = "json",
) -> Any:
    """Search parcels: by default only those clean against every constraint and inside the development boundary."""
    return _answer(request, store, rules, settings, params.to_query(), f, body=None)


@router.post(
    "/search",
    response_model=ParcelSearchResult,
    operation_id="searchParcels",
    responses=_FORMATS,
    summary="Search parcels with a JSON body, optionally inside a drawn area",
)
def search(
    request: Request,
    body: SearchFilters,
    store: StoreDep,
    rules: RulesDep,
    settings: SettingsDep,
    f: FormatQuery = "json",
) -> Any:
    """Search parcels with the filters in the body; a drawn area (GeoJSON or WKT) limits where."""
    return _answer(request, store, rules, settings, body.to_query(), f, body=body.model_dump(exclude_defaults=True))


@router.post(
    "/suggest",
    response_model=SuggestResult,
    operation_id="suggestSites",
    summary="Suggest parcels or adjacent parcel groups for a project (规划选址建议)",
)
def suggest(body: SuggestBody, store: StoreDep, rules: RulesDep) -> Any:
    """The best parcels or groups of adjacent parcels for the required area, category and land use."""
    return as_built(suggest_sites(store, rules, SuggestRequest(**body.model_dump())))


@router.get(
    "/options",
    response_model=SearchOptions,
    operation_id="getParcelSearchOptions",
    summary="Values a search form can offer",
)
def options(store: StoreDep, rules: RulesDep) -> Any:
    """Districts, statuses, industries, parks, transit kinds, layers, ranking criteria and the land-use crosswalk."""
    return search_options(store, rules)


@router.get("/{parcel_id}", response_model=ParcelDetail, operation_id="getParcel", summary="One parcel in full")
def parcel(parcel_id: str, store: StoreDep, rules: RulesDep) -> Any:
    """A parcel's attributes, compliance per layer with versions, nearest transit and neighbours."""
    return as_built(get_parcel(store, rules, parcel_id))


def _answer(
    request: Request,
    store: Store,
    rules: RuleSet,
    settings: Settings,
    query: ParcelQuery,
    f: str,
    *,
    body: dict[str, Any] | None,
) -> Any:
    """Run the search in the asked format; JSON and GeoJSON pages carry self/next/prev links."""
    limits = settings.intake
    if f == "csv":
        disposition = f"attachment; filename=\"parcels.csv\"; filename*=UTF-8''{quote(CSV_NAME)}"
        return Response(
            parcels_csv(store, rules, query, limits=limits),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
    if f == "geojson":
        collection = parcels_geojson(store, rules, query, limits=limits)
        collection["links"] = [link.model_dump(exclude_none=True) for link in _links(request, collection, body)]
        return as_built(collection, GEOJSON)
    result = search_parcels(store, rules, query, limits=limits)
    return as_built(result | {"links": [link.model_dump() for link in _links(request, result, body)]})


def _links(request: Request, page: dict[str, Any], body: dict[str, Any] | None) -> list[Link]:
    """self, next and prev links: GET links change the offset; POST links carry the body with the new offset."""
    links = []
    for rel, offset in (("self", page["offset"]), ("next", page["next_offset"]), ("prev", page["prev_offset"])):
        if offset is None:
            continue
        if body is None:
            links.append(Link(rel=rel, href=str(request.url.include_query_params(offset=offset))))
        else:
            links.append(Link(rel=rel, href=str(request.url), method="POST", body=body | {"offset": offset}))
    return links
