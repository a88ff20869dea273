"""Small read helpers for tests that look inside a store of either engine."""

from __future__ import annotations

from sqlalchemy import text

from sitecheck.stores.base import Store


def feature_names(store: Store, layer_key: str) -> list[str]:
    """Return the canonical names of a layer's current features in fid order."""
    version = store.current_versions()[layer_key].version
    if store.engine == "embedded":
        data = store.layer_data(layer_key, version)  # type: ignore[attr-defined]
        order = data.fids.argsort()
        return [str(n) for n in data.names[order]]
    schema = store.layer_schema  # type: ignore[attr-defined]
    with store.db.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text(f'SELECT "_name" FROM "{schema}"."{layer_key}_v{version}" ORDER BY "_fid"'))
        return [row[0] for row in rows]
