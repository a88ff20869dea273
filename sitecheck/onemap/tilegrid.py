"""The Web-Mercator (EPSG:3857) XYZ tile grid: tile bounds, zoom limits and the per-zoom feature rules."""

from __future__ import annotations

import math

from sitecheck.errors import ParameterInvalid
from sitecheck.onemap.model import Bounds, TileSpec

WEB_MERCATOR = "EPSG:3857"
HALF_WORLD_M = 20037508.342789244  # half the width of the Web-Mercator square, metres
MAX_ZOOM = 24
TILEJSON_MINZOOM = 0
TILEJSON_MAXZOOM = 18  # beyond this clients over-zoom: z18 units are 4 cm
EXTENT = 4096  # tile units per side
BUFFER = 64  # tile units kept around the tile so that strokes and labels join across edges
DISPLAY_PIXELS = 256  # a tile drawn at 256 px: the pixel that decides whether a feature is visible
MAX_TILE_FEATURES = 10_000  # per layer and tile, largest features first (about 0.5-1 MB of MVT)
MERCATOR_M_PER_PIXEL_Z0 = 2 * HALF_WORLD_M / DISPLAY_PIXELS


def tile_spec(z: int, x: int, y: int) -> TileSpec:
    """Validate z/x/y (XYZ scheme, y from the north) and return the tile with its limits."""
    if not 0 <= z <= MAX_ZOOM:
        raise ParameterInvalid(
            f"zoom {z} is outside 0..{MAX_ZOOM}", f"缩放级别 {z} 超出 0..{MAX_ZOOM}", details={"z": z}
        )
    size = 1 << z
    if not (0 <= x < size and 0 <= y < size):
        raise ParameterInvalid(
            f"tile {z}/{x}/{y} does not exist: at zoom {z} x and y run from 0 to {size - 1}",
            f"瓦片 {z}/{x}/{y} 不存在：缩放级别 {z} 的 x、y 取值范围为 0..{size - 1}",
            details={"z": z, "x": x, "y": y},
        )
    return TileSpec(
        z=z,
        x=x,
        y=y,
        bounds=tile_bounds(z, x, y),
        extent=EXTENT,
        buffer=BUFFER,
        min_size_m=pixel_size_m(z),
        max_features=MAX_TILE_FEATURES,
    )


def tile_bounds(z: int, x: int, y: int) -> Bounds:
    """Return a tile's edges in Web-Mercator metres (minx, miny, maxx, maxy)."""
    width = 2 * HALF_WORLD_M / (1 << z)
    minx = -HALF_WORLD_M + x * width
    maxy = HALF_WORLD_M - y * width
    return (minx, maxy - width, minx + width, maxy)


def buffered_bounds(tile: TileSpec) -> Bounds:
    """Return the tile's edges widened by its buffer (what is clipped to), in Web-Mercator metres."""
    minx, miny, maxx, maxy = tile.bounds
    margin = (maxx - minx) * tile.buffer / tile.extent
    return (minx - margin, miny - margin, maxx + margin, maxy + margin)


def pixel_size_m(z: int) -> float:
    """Web-Mercator metres of one display pixel at a zoom (a 256-px tile): features below it are invisible."""
    return MERCATOR_M_PER_PIXEL_Z0 / (1 << z)


def ground_pixel_m(z: int, latitude: float) -> float:
    """Ground metres of one display pixel at a zoom and latitude (Web-Mercator scale shrinks with cos(lat))."""
    return pixel_size_m(z) * math.cos(math.radians(latitude))


def tiles_covering(bounds: Bounds, z: int) -> list[tuple[int, int]]:
    """Return the x/y of every tile at zoom z whose interior a Web-Mercator rectangle (or point) reaches."""
    minx, miny, maxx, maxy = bounds
    size = 1 << z
    width = 2 * HALF_WORLD_M / size

    def span(low: float, high: float) -> range:
        """Tile indices from an offset range along one axis."""
        # Edges that fall on a tile boundary (up to rounding) do not pull in the neighbouring tile.
        first = math.floor(low / width + 1e-9)
        last = max(first, math.ceil(high / width - 1e-9) - 1)
        return range(max(0, first), min(size - 1, last) + 1)

    columns = span(minx + HALF_WORLD_M, maxx + HALF_WORLD_M)
    rows = span(HALF_WORLD_M - maxy, HALF_WORLD_M - miny)
    return [(x, y) for x in columns for y in rows]
