"""Vector tiles (MVT, Web Mercator) per layer version, the unversioned alias, and TileJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import RedirectResponse, Response

from app.deps import StoreDep
from app.onemap_models import TileJson
from sitecheck.onemap import tiles

router = APIRouter(prefix="/v1/tiles", tags=["tiles"])

IMMUTABLE = "public, max-age=31536000, immutable"  # a versioned tile never changes
REVALIDATE = "no-cache"  # the current version may change at any moment


class MvtResponse(Response):
    """A Mapbox Vector Tile body."""

    media_type = tiles.MVT_MEDIA_TYPE


@router.get("/{layer}/tilejson.json", response_model=TileJson, operation_id="getTileJson")
def get_tilejson(layer: str, request: Request, store: StoreDep, response: Response) -> Any:
    """Return the layer's TileJSON; its tile URL names the current version."""
    template = str(request.url_for("get_tile", layer=layer, version="{version}", z="{z}", x="{x}", y="{y}"))
    response.headers["Cache-Control"] = REVALIDATE
    return tiles.tilejson(store, layer, template)


@router.get(
    "/{layer}/{version}/{z}/{x}/{y}.mvt",
    response_class=MvtResponse,
    responses={200: {"content": {tiles.MVT_MEDIA_TYPE: {}}}, 304: {"description": "the client's copy is current"}},
    operation_id="getTile",
)
def get_tile(
    layer: str,
    version: int,
    z: int,
    x: int,
    y: int,
    store: StoreDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """Return one tile of a layer version (immutable: ETag and a year-long cache)."""
    answer = tiles.get_tile(store, layer, version, z, x, y, if_none_match=if_none_match)
    headers = {"ETag": answer.etag, "Cache-Control": IMMUTABLE}
    if answer.data is None:
        return Response(status_code=304, headers=headers)
    if answer.truncated:
        headers["X-Tile-Truncated"] = "true"
    return MvtResponse(answer.data, headers=headers)


@router.get(
    "/{layer}/{z}/{x}/{y}.mvt",
    response_class=RedirectResponse,
    status_code=307,
    responses={307: {"description": "redirect to the tile of the current version"}},
    operation_id="redirectTile",
)
def redirect_tile(layer: str, z: int, x: int, y: int, request: Request, store: StoreDep) -> RedirectResponse:
    """Redirect to the same tile of the layer's current version (never cached)."""
    version = tiles.current_tile_version(store, layer, z, x, y)
    # The versioned URL is this one with the version before z/x/y: cheaper than a url_for over every route,
    # and right under any mount or proxy prefix.
    layer_path = request.url.path.rsplit("/", 3)[0]
    target = request.url.replace(path=f"{layer_path}/{version}/{z}/{x}/{y}.mvt", query="")
    return RedirectResponse(str(target), status_code=307, headers={"Cache-Control": REVALIDATE})
