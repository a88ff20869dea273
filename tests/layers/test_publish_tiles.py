"""Publishing a version builds its stored Web-Mercator tile copy (PostGIS) before any tile is asked for."""

from __future__ import annotations

from sqlalchemy import func, select

from layers.load import load_layer
from layers.publish import rollback_recorded
from sitecheck.events import after_publish
from sitecheck.onemap.reader import feature_reader
from sitecheck.onemap.tilegrid import tiles_covering
from sitecheck.onemap.tiles import get_tile
from sitecheck.projection import transformer
from sitecheck.settings import SAMPLE_CITY_DIR
from sitecheck.stores.base import Store


def _tile_table(store: Store, version: int) -> str | None:
    """The qualified name of the version's tile copy when the database holds it, else None."""
    reader = feature_reader(store)
    name = reader._tables("eco_redline", version).tiles.name  # type: ignore[attr-defined]
    with store.db.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(select(func.to_regclass(f'{store.layer_schema}."{name}"'))).scalar()  # type: ignore[attr-defined]


def test_a_load_and_a_rollback_build_the_tile_copy(empty_store: Store) -> None:
    """PostGIS: after a load (and a rollback) the current version's copy exists already; the embedded engine says
    its copy is made in memory on the first tile, and both serve the same tile afterwards."""
    source = SAMPLE_CITY_DIR / "eco_redline.gpkg"
    for _ in range(2):
        load_layer(empty_store, "eco_redline", source, loaded_by="tests", analysis_crs=empty_store.crs)
    report = after_publish(empty_store, "eco_redline")["tiles"]
    if empty_store.engine == "postgis":
        assert report["status"] == "prepared" and report["version"] == 2
        assert _tile_table(empty_store, 1) is not None and _tile_table(empty_store, 2) is not None
    else:
        assert report == {"status": "on_first_tile"}
    rollback_recorded(empty_store, "eco_redline", 1, actor="tests")
    assert feature_reader(empty_store).current_version_number("eco_redline") == 1
    assert after_publish(empty_store, "slope")["tiles"] == {"status": "on_first_tile"}
    bbox = empty_store.current_versions()["eco_redline"].bbox
    assert bbox is not None
    centre = transformer(empty_store.crs, "EPSG:3857").transform((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2)
    ((x, y),) = tiles_covering((*centre, *centre), 12)
    assert get_tile(empty_store, "eco_redline", 1, 12, x, y).data
