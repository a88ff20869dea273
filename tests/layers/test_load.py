"""Loading layers into both engines: formats, encodings, CRS checks, repairs, versions, all-or-nothing."""

from __future__ import annotations

import struct
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import Point, box
from sqlalchemy import text

from layers.load import load_layer
from sitecheck import errors
from sitecheck.stores.base import LayerVersion, Store

CRS = "EPSG:4528"
X0, Y0 = 40_510_000.0, 3_524_000.0


def _eco_frame(n: int = 3, offset: float = 0.0) -> gpd.GeoDataFrame:
    """A small red-line layer with the sample configuration's field names."""
    return gpd.GeoDataFrame(
        {
            "HXBM": [f"HX-{i:03d}" for i in range(n)],
            "HXMC": [f"示例红线{i}" for i in range(n)],
            "HXLX": ["水源涵养"] * n,
            "MJ": [1.5 * i for i in range(n)],
            "GKCS": ["禁止开发"] * n,
        },
        geometry=[box(X0 + i * 200 + offset, Y0, X0 + i * 200 + 100 + offset, Y0 + 100) for i in range(n)],
        crs=CRS,
    )


def _write_gpkg(frame: gpd.GeoDataFrame, path: Path) -> Path:
    """Write a frame as a one-layer GeoPackage."""
    frame.to_file(path, layer="eco_redline", driver="GPKG")
    return path


def _load(store: Store, path: Path, **kwargs: Any) -> LayerVersion:
    """Load a file into the eco_redline layer as the test user."""
    return load_layer(store, "eco_redline", path, loaded_by="test", analysis_crs=CRS, **kwargs)


def _shapefile_zip(frame: gpd.GeoDataFrame, folder: Path, *, encoding: str, keep_cpg: bool, ldid: int | None) -> Path:
    """Write a zipped Shapefile in an encoding, optionally without .cpg and with a given dBASE code page byte."""
    shp = folder / "eco.shp"
    frame.to_file(shp, driver="ESRI Shapefile", encoding=encoding)
    if ldid is not None:
        dbf = shp.with_suffix(".dbf")
        content = bytearray(dbf.read_bytes())
        content[29] = ldid
        dbf.write_bytes(bytes(content))
    archive = folder / "eco.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.glob("eco.*"):
            if part.suffix == ".zip" or (part.suffix == ".cpg" and not keep_cpg):
                continue
            zf.write(part, part.name)
    return archive


def test_gpkg_load_creates_published_version(empty_store: Store, tmp_path: Path) -> None:
    """A GeoPackage load writes version 1 with count, extent, hash, loader and report, and publishes it."""
    version = _load(empty_store, _write_gpkg(_eco_frame(), tmp_path / "eco.gpkg"))
    current = empty_store.current_versions()["eco_redline"]
    assert current == version
    assert current.version == 1 and current.is_current
    assert current.feature_count == 3
    assert current.bbox == pytest.approx((X0, Y0, X0 + 500, Y0 + 100))
    assert len(current.sha256) == 64 and current.loaded_by == "test"
    assert current.report["read"] == 3 and current.report["written"] == 3 and current.report["repaired"] == 0
    assert current.report["seconds"] > 0
    assert [f.name for f in current.fields] == ["HXBM", "HXMC", "HXLX", "MJ", "GKCS"]


@pytest.mark.parametrize("keep_cpg, ldid", [(False, 0), (False, 0x4D), (True, 0)])
def test_gbk_shapefile_zip_keeps_chinese_text(empty_store: Store, tmp_path: Path, keep_cpg: bool, ldid: int) -> None:
    """A GBK .dbf keeps its Chinese text: from .cpg, from the dBASE code page, or by sniffing."""
    archive = _shapefile_zip(_eco_frame(), tmp_path, encoding="GBK", keep_cpg=keep_cpg, ldid=ldid)
    version = _load(empty_store, archive)
    assert version.report["encoding"] in ("GBK", "CP936", None) or keep_cpg
    assert _names(empty_store) == ["示例红线0", "示例红线1", "示例红线2"]


def test_utf8_shapefile_zip_with_cpg(empty_store: Store, tmp_path: Path) -> None:
    """A UTF-8 .dbf with a .cpg loads with its text intact."""
    archive = _shapefile_zip(_eco_frame(), tmp_path, encoding="UTF-8", keep_cpg=True, ldid=None)
    _load(empty_store, archive)
    assert _names(empty_store) == ["示例红线0", "示例红线1", "示例红线2"]


def test_geojson_in_cgcs2000_is_transformed(empty_store: Store, tmp_path: Path) -> None:
    """A lon/lat GeoJSON is transformed into the analysis CRS; areas survive to 0.1 %."""
    frame = _eco_frame().to_crs("EPSG:4490")
    path = tmp_path / "eco.geojson"
    frame.to_file(path, driver="GeoJSON")
    version = _load(empty_store, path)
    assert version.source_crs == "EPSG:4490" and version.crs == CRS
    assert version.bbox == pytest.approx((X0, Y0, X0 + 500, Y0 + 100), abs=0.5)


def test_missing_crs_is_refused_unless_declared(empty_store: Store, tmp_path: Path) -> None:
    """A shapefile without .prj is refused; declaring --crs loads it; a contradicting --crs is refused."""
    archive = _shapefile_zip(
        _eco_frame().set_crs(None, allow_override=True), tmp_path, encoding="UTF-8", keep_cpg=True, ldid=None
    )
    with pytest.raises(errors.LayerCrsMissing, match="--crs"):
        _load(empty_store, archive)
    assert _load(empty_store, archive, crs="EPSG:4528").feature_count == 3
    with pytest.raises(errors.LayerCrsInvalid, match=r"EPSG:4528.*EPSG:4490"):
        _load(empty_store, _write_gpkg(_eco_frame(), tmp_path / "eco.gpkg"), crs="EPSG:4490")


def test_wrong_declared_crs_is_refused_by_extent(empty_store: Store, tmp_path: Path) -> None:
    """Coordinates declared in a CRS where they land outside China are refused, not stored far away."""
    frame = _eco_frame().set_crs(None, allow_override=True)
    archive = _shapefile_zip(frame, tmp_path, encoding="UTF-8", keep_cpg=True, ldid=None)
    with pytest.raises(errors.LayerCrsInvalid, match="not inside China"):
        _load(empty_store, archive, crs="EPSG:4547")
    assert "eco_redline" not in empty_store.current_versions()


def test_invalid_polygon_is_repaired_and_counted_empty_dropped(empty_store: Store, tmp_path: Path) -> None:
    """A bow-tie is repaired with the structure method and counted; an empty geometry is dropped."""
    frame = _eco_frame(3)
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])
    frame.loc[1, "geometry"] = bowtie
    frame.loc[2, "geometry"] = shapely.Polygon()
    version = _load(empty_store, _write_gpkg(frame, tmp_path / "eco.gpkg"))
    assert version.report["repaired"] == 1
    assert version.report["dropped"] == {"empty": 1}
    assert version.feature_count == 2


def test_field_types_and_nulls_survive(empty_store: Store, tmp_path: Path) -> None:
    """Integers, reals, booleans, text, dates and datetimes keep their values and NULLs; numeric ids read as
    "7" (not "7.0"), a missing id falls back to the source fid, and repeated ids are counted."""
    missing = np.array([False, True, False, False])
    columns = {
        "HXBM": np.array([7, 7, 9, 0]),
        "HXMC": np.array(["甲", "", "丙", "丁"], dtype=object),
        "HXLX": np.array(["水源涵养"] * 4, dtype=object),
        "MJ": np.array([1.5, 0.0, 2.5, 3.5]),
        "GKCS": np.array(["禁止开发"] * 4, dtype=object),
        "N": np.array([1, 0, 3, 4]),
        "B": np.array([True, False, False, True]),
        "D": np.array(["2024-01-02"] * 4, dtype="datetime64[D]"),
        "T": np.array(["2024-01-02T03:04:05"] * 4, dtype="datetime64[ms]"),
    }
    masks = [
        missing
        if name in ("HXMC", "MJ", "N", "B", "D")
        else np.array([False, False, False, True])
        if name == "HXBM"
        else None
        for name in columns
    ]
    path = tmp_path / "eco.gpkg"
    boxes = [box(X0 + i * 200, Y0, X0 + i * 200 + 100, Y0 + 100) for i in range(4)]
    pyogrio.raw.write(
        str(path),
        shapely.to_wkb(np.array(boxes)),
        list(columns.values()),
        list(columns),
        field_mask=masks,
        layer="eco_redline",
        driver="GPKG",
        geometry_type="Polygon",
        crs=CRS,
    )
    version = _load(empty_store, path)
    assert version.report["duplicate_ids"] == 1 and version.report["written"] == 4
    rows = _stored(empty_store)
    assert [r["_id"] for r in rows] == ["7", "7", "9", "fid:4"]
    assert [r["_name"] for r in rows] == ["甲", None, "丙", "丁"]
    assert [r["MJ"] for r in rows] == [1.5, None, 2.5, 3.5]
    assert [r["N"] for r in rows] == [1, None, 3, 4]
    assert [r["B"] for r in rows] == [True, None, False, True]
    assert [r["D"] for r in rows] == ["2024-01-02", None, "2024-01-02", "2024-01-02"]
    assert {r["T"] for r in rows} == {"2024-01-02T03:04:05"}


def test_z_and_m_are_dropped(empty_store: Store, tmp_path: Path) -> None:
    """Polygons with Z, with M and plain ones are all stored as 2-D MultiPolygons with their areas."""
    ring = [(X0, Y0), (X0 + 100, Y0), (X0 + 100, Y0 + 100), (X0, Y0 + 100), (X0, Y0)]
    with_m = struct.pack("<BIII", 1, 2003, 1, len(ring)) + b"".join(struct.pack("<3d", x, y, 7.0) for x, y in ring)
    wkb = np.array(
        [
            shapely.to_wkb(shapely.Polygon([(x + 300, y, 5.0) for x, y in ring])),
            with_m,
            shapely.to_wkb(box(X0 + 600, Y0, X0 + 700, Y0 + 100)),
        ],
        dtype=object,
    )
    frame = _eco_frame(3)
    columns = [
        frame[name].to_numpy(dtype=object if name != "MJ" else float) for name in ("HXBM", "HXMC", "HXLX", "MJ", "GKCS")
    ]
    path = tmp_path / "eco.gpkg"
    pyogrio.raw.write(
        str(path),
        wkb,
        columns,
        ["HXBM", "HXMC", "HXLX", "MJ", "GKCS"],
        layer="eco_redline",
        driver="GPKG",
        geometry_type="Unknown",
        crs=CRS,
    )
    version = _load(empty_store, path)
    assert version.feature_count == 3 and version.report["repaired"] == 0
    rows = _stored(empty_store)
    assert [r["dims"] for r in rows] == [2, 2, 2]
    assert [r["area"] for r in rows] == pytest.approx([10_000.0] * 3)


def test_bad_row_leaves_served_version_unchanged(empty_store: Store, tmp_path: Path) -> None:
    """A load with a point among polygons is refused as a whole; version 1 stays current, unchanged."""
    first = _load(empty_store, _write_gpkg(_eco_frame(), tmp_path / "v1.gpkg"))
    frame = _eco_frame(5, offset=1000)
    frame.loc[3, "geometry"] = Point(X0, Y0)
    with pytest.raises(errors.LayerGeometryType, match="fid"):
        _load(empty_store, _write_gpkg(frame, tmp_path / "bad.gpkg"))
    assert empty_store.current_versions()["eco_redline"] == first
    assert [v.version for v in empty_store.list_versions("eco_redline")] == [1]
    assert _names(empty_store) == ["示例红线0", "示例红线1", "示例红线2"]


def test_refused_load_stops_every_loader_thread(empty_store: Store, tmp_path: Path) -> None:
    """A load refused several batches in stops its reading and validating threads before it returns."""
    frame = _eco_frame(12)
    frame.loc[9, "geometry"] = Point(X0, Y0)
    with pytest.raises(errors.LayerGeometryType, match="fid 10"):
        _load(empty_store, _write_gpkg(frame, tmp_path / "bad.gpkg"), batch_size=2)
    assert not [thread.name for thread in threading.enumerate() if thread.name == "layer-prefetch"]


def test_readers_never_see_a_half_written_version(empty_store: Store, tmp_path: Path) -> None:
    """While version 2 is being written, readers still see version 1 only; afterwards they see 2."""
    _load(empty_store, _write_gpkg(_eco_frame(), tmp_path / "v1.gpkg"))
    seen: list[tuple[int, list[int]]] = []

    def observe(written: int, total: int) -> None:
        current = empty_store.current_versions()["eco_redline"].version
        seen.append((current, [v.version for v in empty_store.list_versions("eco_redline")]))

    _load(empty_store, _write_gpkg(_eco_frame(7, offset=5000), tmp_path / "v2.gpkg"), progress=observe, batch_size=2)
    assert seen and all(entry == (1, [1]) for entry in seen)
    assert empty_store.current_versions()["eco_redline"].version == 2
    assert empty_store.current_versions()["eco_redline"].feature_count == 7


def test_rollback_and_as_of(empty_store: Store, tmp_path: Path) -> None:
    """Rolling back republishes an old version; versions_as_of answers what was in force at a time."""
    _load(empty_store, _write_gpkg(_eco_frame(3), tmp_path / "v1.gpkg"))
    between = datetime.now(UTC)
    _load(empty_store, _write_gpkg(_eco_frame(4), tmp_path / "v2.gpkg"))
    after_second = datetime.now(UTC)
    restored = empty_store.rollback("eco_redline", 1, by="steward")
    assert restored.version == 1 and restored.is_current
    assert empty_store.current_versions()["eco_redline"].feature_count == 3
    assert empty_store.versions_as_of(between)["eco_redline"].version == 1
    assert empty_store.versions_as_of(after_second)["eco_redline"].version == 2
    assert "eco_redline" not in empty_store.versions_as_of(datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(errors.VersionNotFound):
        empty_store.rollback("eco_redline", 9, by="steward")


def test_missing_configured_field_is_refused(empty_store: Store, tmp_path: Path) -> None:
    """A source lacking a configured field is refused with the field named."""
    frame = _eco_frame().drop(columns=["GKCS"])
    with pytest.raises(errors.LayerFieldMissing, match="GKCS"):
        _load(empty_store, _write_gpkg(frame, tmp_path / "eco.gpkg"))


def test_unknown_layer_is_refused(empty_store: Store, tmp_path: Path) -> None:
    """Loading into a layer key that is not configured names the known keys."""
    with pytest.raises(errors.LayerNotFound, match="eco_redline"):
        load_layer(empty_store, "nope", tmp_path / "x.gpkg", loaded_by="t", analysis_crs=CRS)


def _stored(store: Store, layer_key: str = "eco_redline") -> list[dict[str, Any]]:
    """Return the current version's features by fid: canonical and source fields, coordinate dimension, area."""
    version = store.current_versions()[layer_key]
    if store.engine == "embedded":
        data = store.layer_data(layer_key, version.version)  # type: ignore[attr-defined]
        return [
            {
                "_fid": int(data.fids[i]),
                "_id": data.feature_ids[i],
                "_name": data.names[i],
                "_kind": data.kinds[i],
                **data.attributes(i, [f.name for f in version.fields]),
                "dims": int(shapely.get_coordinate_dimension(data.geometries[i])),
                "area": data.geometries[i].area,
            }
            for i in data.fids.argsort()
        ]
    table = f'"{store.layer_schema}"."{layer_key}_v{version.version}"'  # type: ignore[attr-defined]
    with store.db.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text(f'SELECT *, ST_CoordDim(geom) AS dims, ST_Area(geom) AS area FROM {table} ORDER BY "_fid"')
        )
        return [{key: value for key, value in row._mapping.items() if key != "geom"} for row in rows]


def _names(store: Store) -> list[str]:
    """Return the canonical names of the current eco_redline features, by fid."""
    from tests.helpers import feature_names

    return feature_names(store, "eco_redline")


_KILLED_LOADER = """
import sys, time
from pathlib import Path
from layers.load import load_layer
from sitecheck.settings import Settings
from sitecheck.stores import open_store

settings = Settings.model_validate_json(sys.argv[1])
store = open_store(settings)

def stall(written, total):
    print("WRITING", written, flush=True)
    time.sleep(60)

load_layer(store, "eco_redline", Path(sys.argv[2]), loaded_by="doomed", analysis_crs=settings.analysis_crs,
           progress=stall, batch_size=2)
"""


def test_killed_loader_leaves_served_version_unchanged(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A loader killed in the middle of writing leaves version 1 current and its rows intact; loads go on."""
    import signal
    import subprocess
    import sys

    from sitecheck.stores import open_store
    from tests.conftest import make_settings

    settings = make_settings(engine, tmp_path, request)
    store = open_store(settings)
    try:
        first = _load(store, _write_gpkg(_eco_frame(), tmp_path / "v1.gpkg"))
        doomed = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _KILLED_LOADER,
                settings.model_dump_json(),
                str(_write_gpkg(_eco_frame(9, offset=3000), tmp_path / "v2.gpkg")),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert doomed.stdout is not None
        assert doomed.stdout.readline().startswith("WRITING")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        assert store.current_versions()["eco_redline"] == first
        assert _names(store) == ["示例红线0", "示例红线1", "示例红线2"]
        assert [v.version for v in store.list_versions("eco_redline")] == [1]
        after = _load(store, _write_gpkg(_eco_frame(4, offset=6000), tmp_path / "v3.gpkg"))
        assert after.version == 2 and after.feature_count == 4
    finally:
        store.close()
