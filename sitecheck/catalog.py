"""The layer catalogue as users see it: configuration joined with the version in force."""

from __future__ import annotations

from typing import Any

from sitecheck.stores.base import Store


def describe_layers(store: Store) -> list[dict[str, Any]]:
    """Return every configured layer with its current version, count, extent and load date."""
    current = store.current_versions()
    described = []
    for layer in store.catalog.layers:
        version = current.get(layer.key)
        described.append(
            {
                "key": layer.key,
                "name_zh": layer.name_zh,
                "name_en": layer.name_en,
                "role": layer.role,
                "geometry": layer.geometry if layer.is_vector else "raster",
                "color": layer.color,
                "reported_fields": list(layer.report),
                "version": version.version if version else None,
                "feature_count": version.feature_count if version else None,
                "bbox": list(version.bbox) if version and version.bbox else None,
                "loaded_at": version.loaded_at if version else None,
            }
        )
    return described
