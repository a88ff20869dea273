"""What a check's map shows: the site, the overlap pieces per layer, and the control layers around the site.

Everything comes from the stored check and the layer versions it used (never the current ones), in the
analysis CRS (metres): the overlap pieces from ``store.overlaps(site)``, the background from
``store.overlaps(frame)`` with the frame a rectangle around the site.
"""

from __future__ import annotations

from dataclasses import dataclass

import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from sitecheck.check import CHECKED_ROLES
from sitecheck.documents.stored import StoredCheck, pinned_versions
from sitecheck.findings import is_sliver, polygonal_part
from sitecheck.rules import Thresholds
from sitecheck.stores.base import OverlapPiece, Store

Bounds = tuple[float, float, float, float]

# The frame leaves this share of the site's larger side around it (at least MIN_MARGIN_M) so that the
# boundaries the site crosses are visible in context.
MARGIN_SHARE = 0.45
MIN_MARGIN_M = 120.0
# Background outlines are simplified to a fraction of the frame width: far below one pixel of the PNG.
SIMPLIFY_SHARE = 1 / 4000
CLIP_PAD_SHARE = 0.02


@dataclass(frozen=True)
class MapPiece:
    """One feature's overlap with the site (analysis CRS), with its identity and planar area."""

    feature_id: str
    name: str | None
    geometry: Polygon | MultiPolygon
    area_m2: float
    sliver: bool


@dataclass(frozen=True)
class MapLayer:
    """A control layer on the map: its look, its features near the site, and what the site shares with it."""

    key: str
    name_zh: str
    role: str
    color: str
    version: int
    background: list[Polygon | MultiPolygon]
    pieces: list[MapPiece]
    outside: Polygon | MultiPolygon | None  # zones: the part of the site outside the zone
    sliver_spots: list[tuple[float, float]]  # where slivers (pieces or parts outside a zone) need manual review

    @property
    def overlap_m2(self) -> float:
        """Planar area of all overlap pieces together (m²)."""
        return sum(piece.area_m2 for piece in self.pieces)


@dataclass(frozen=True)
class MapData:
    """Everything the map renderer draws, in the analysis CRS."""

    check: StoredCheck
    frame: Bounds
    layers: list[MapLayer]


def map_frame(bounds: Bounds, aspect: float) -> Bounds:
    """A frame around a site's bounds with a margin, widened to the map's width/height aspect ratio."""
    minx, miny, maxx, maxy = bounds
    width, height = maxx - minx, maxy - miny
    margin = max(max(width, height) * MARGIN_SHARE, MIN_MARGIN_M)
    width, height = width + 2 * margin, height + 2 * margin
    if width / height < aspect:
        width = height * aspect
    else:
        height = width / aspect
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    return cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2


def build_map_data(store: Store, check: StoredCheck, *, aspect: float, background: bool = True) -> MapData:
    """Collect the site, the overlap pieces and (unless told not to) the background features of the control layers."""
    versions = {
        key: version
        for key, version in pinned_versions(store, check).items()
        if store.catalog.get(key).role in CHECKED_ROLES
    }
    frame = map_frame(check.site.bounds, aspect)
    on_site = store.overlaps(check.site, versions)
    # The background is clipped a little beyond the frame so that no clip edge is drawn as a boundary.
    pad = (frame[2] - frame[0]) * CLIP_PAD_SHARE
    clip = box(frame[0] - pad, frame[1] - pad, frame[2] + pad, frame[3] + pad)
    around = store.overlaps(clip, versions) if background else {key: [] for key in versions}
    thresholds = Thresholds(**check.result.get("thresholds", {}))
    tolerance = (frame[2] - frame[0]) * SIMPLIFY_SHARE
    layers = []
    for key, version in versions.items():
        layer = store.catalog.get(key)
        pieces = _pieces(on_site[key], thresholds)
        outside = None
        spots = [piece.geometry.representative_point() for piece in pieces if piece.sliver]
        if layer.role == "zone":
            inside = shapely.union_all([piece.geometry for piece in pieces]) if pieces else Polygon()
            outside = polygonal_part(check.site.difference(inside))
            parts = shapely.get_parts(outside) if outside is not None else []
            spots = [part.representative_point() for part in parts if is_sliver(part, thresholds)]
        layers.append(
            MapLayer(
                key=key,
                name_zh=layer.name_zh,
                role=layer.role,
                color=layer.color,
                version=version.version,
                background=_background(around[key], tolerance),
                pieces=pieces,
                outside=outside,
                sliver_spots=[(point.x, point.y) for point in spots],
            )
        )
    return MapData(check=check, frame=frame, layers=layers)


def _pieces(found: list[OverlapPiece], thresholds: Thresholds) -> list[MapPiece]:
    """The polygonal overlap pieces, measured and flagged as slivers like the check did."""
    pieces = []
    for piece in found:
        geometry = polygonal_part(piece.geometry)
        if geometry is None:
            continue
        pieces.append(
            MapPiece(
                feature_id=piece.feature_id,
                name=piece.name,
                geometry=geometry,
                area_m2=float(geometry.area),
                sliver=is_sliver(geometry, thresholds),
            )
        )
    return pieces


def _background(found: list[OverlapPiece], tolerance: float) -> list[Polygon | MultiPolygon]:
    """Features clipped to the frame, simplified below pixel size, polygonal parts only."""
    shapes = []
    for piece in found:
        geometry: BaseGeometry | None = polygonal_part(piece.geometry)
        if geometry is None:
            continue
        simplified = polygonal_part(geometry.simplify(tolerance, preserve_topology=True))
        if simplified is not None:
            shapes.append(simplified)
    return shapes
