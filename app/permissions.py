"""The one table of who may call which route (deny by default: a route missing here answers 403).

Each row: method, route path, the permission needed (None: public), and whether the route is heavy work
(counted against the cap on concurrent heavy requests).
"""

from __future__ import annotations

ROUTE_TABLE: list[tuple[str, str, str | None, bool]] = [
    # Public: liveness and the web page (it holds no data; its API calls carry the user's key).
    ("GET", "/health", None, False),
    ("GET", "/", None, False),
    # OpenAPI document and its pages.
    ("GET", "/openapi.json", "docs:read", False),
    ("GET", "/docs", "docs:read", False),
    # Layers: the catalogue and versions are readable by every role; loads and rollbacks are admin work.
    ("GET", "/v1/layers", "layers:read", False),
    ("GET", "/v1/layers/{layer_key}/versions", "layers:read", False),
    ("POST", "/v1/layers/{layer_key}/versions", "layers:write", True),
    ("POST", "/v1/layers/{layer_key}/rollback", "layers:write", True),
    # Checks and their outputs (reads are limited to the caller's organisation by the routes themselves).
    ("POST", "/v1/checks", "checks:create", True),
    ("GET", "/v1/checks/{check_id}", "checks:read", False),
    ("POST", "/v1/checks/{check_id}/rerun", "checks:create", True),
    ("GET", "/v1/checks/{check_id}/map", "checks:read", False),
    ("GET", "/v1/checks/{check_id}/map.png", "checks:read", True),
    ("GET", "/v1/checks/{check_id}/report.html", "checks:read", True),
    ("GET", "/v1/checks/{check_id}/report.pdf", "checks:read", True),
    ("GET", "/v1/checks/{check_id}/site.txt", "checks:read", False),
    ("GET", "/v1/checks/{check_id}/overlaps.txt", "checks:read", False),
    # Parcel search (按图索地).
    ("GET", "/v1/parcels", "parcels:read", False),
    ("POST", "/v1/parcels/search", "parcels:read", False),
    ("POST", "/v1/parcels/suggest", "parcels:read", True),
    ("GET", "/v1/parcels/options", "parcels:read", False),
    ("GET", "/v1/parcels/{parcel_id}", "parcels:read", False),
    # One map: GeoJSON, vector tiles, OGC API - Features.
    ("GET", "/v1/onemap", "layers:read", False),
    ("GET", "/v1/tiles/{layer}/tilejson.json", "layers:read", False),
    ("GET", "/v1/tiles/{layer}/{version}/{z}/{x}/{y}.mvt", "layers:read", False),
    ("GET", "/v1/tiles/{layer}/{z}/{x}/{y}.mvt", "layers:read", False),
    ("GET", "/ogc", "layers:read", False),
    ("GET", "/ogc/conformance", "layers:read", False),
    ("GET", "/ogc/collections", "layers:read", False),
    ("GET", "/ogc/collections/{collection_id}", "layers:read", False),
    ("GET", "/ogc/collections/{collection_id}/items", "layers:read", False),
    ("GET", "/ogc/collections/{collection_id}/items/{feature_id}", "layers:read", False),
    # Administration.
    ("POST", "/v1/admin/keys", "keys:manage", False),
    ("GET", "/v1/admin/keys", "keys:manage", False),
    ("DELETE", "/v1/admin/keys/{key_id}", "keys:manage", False),
    ("GET", "/v1/admin/audit", "audit:read", False),
]
