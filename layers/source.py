"""Reading layer source files (GeoPackage, zipped Shapefile, GeoJSON, FileGDB) in batches with pyogrio."""

from __future__ import annotations

import codecs
import hashlib
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
from pyogrio.errors import DataLayerError, DataSourceError

from sitecheck.errors import LayerCrsInvalid, LayerCrsMissing, LayerSourceUnreadable
from sitecheck.projection import crs_name

_FIELD_KINDS = {
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "int64": "integer",
    "uint8": "integer",
    "float32": "real",
    "float64": "real",
    "bool": "boolean",
    "object": "text",
}


@dataclass(frozen=True)
class SourceInfo:
    """What a source file declares: the GDAL path, layer, CRS, fields, count and encoding."""

    path: Path
    gdal_path: str
    layer: str | int | None
    crs: str | None
    fields: tuple[tuple[str, str], ...]  # (name, kind)
    feature_count: int
    geometry_type: str | None
    encoding: str | None


@dataclass
class RawBatch:
    """A batch as read: source fids, WKB geometries and one numpy array per field."""

    fids: np.ndarray
    wkb: np.ndarray
    fields: dict[str, np.ndarray]


def file_sha256(path: Path) -> str:
    """Hash a source file (or every file of a directory source such as a FileGDB, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def inspect_source(path: Path, *, encoding: str | None = None, layer: str | None = None) -> SourceInfo:
    """Open a source file and describe it; refuse what GDAL cannot read."""
    if not path.exists():
        raise LayerSourceUnreadable(f"{path} does not exist", f"文件 {path} 不存在")
    gdal_path = str(path)
    if path.suffix.lower() == ".zip":
        gdal_path = f"/vsizip/{path}"
        if encoding is None:
            encoding = _zipped_dbf_encoding(path)
    elif path.suffix.lower() == ".shp" and encoding is None:
        encoding = _dbf_encoding_beside(path)
    try:
        info = pyogrio.read_info(gdal_path, layer=layer, encoding=encoding)
    except (DataSourceError, DataLayerError) as exc:
        raise LayerSourceUnreadable(f"cannot read {path.name}: {exc}", f"无法读取 {path.name}：{exc}") from exc
    fields = tuple(
        (str(name), _FIELD_KINDS.get(str(dtype), "datetime" if "datetime" in str(dtype) else "text"))
        for name, dtype in zip(info["fields"], info["dtypes"], strict=True)
    )
    return SourceInfo(
        path=path,
        gdal_path=gdal_path,
        layer=layer,
        crs=crs_name(info["crs"]) if info["crs"] else None,
        fields=fields,
        feature_count=int(info["features"]),
        geometry_type=info["geometry_type"],
        encoding=encoding or info.get("encoding"),
    )


def resolve_crs(info: SourceInfo, declared: str | None) -> str:
    """Return the source CRS: the declared one must agree with the file's; one of them must exist."""
    if declared is not None:
        declared = crs_name(declared)
        if info.crs is not None and info.crs != declared:
            raise LayerCrsInvalid(
                f"{info.path.name} declares {info.crs} but the load says {declared}; refusing to guess",
                f"{info.path.name} 自带坐标系 {info.crs}，与指定的 {declared} 不一致，拒绝入库",
            )
        return declared
    if info.crs is None:
        raise LayerCrsMissing(
            f"{info.path.name} declares no CRS; give one with --crs EPSG:nnnn",
            f"{info.path.name} 未声明坐标系，请用 --crs EPSG:nnnn 指定",
        )
    return info.crs


def read_batches(info: SourceInfo, batch_size: int = 50_000) -> Iterator[RawBatch]:
    """Yield the source's features in batches (2-D, datetimes as ISO text)."""
    names = [name for name, _ in info.fields]
    for start in range(0, max(info.feature_count, 1), batch_size):
        try:
            meta, fids, wkb, data = pyogrio.raw.read(
                info.gdal_path,
                layer=info.layer,
                encoding=info.encoding,
                force_2d=True,
                skip_features=start,
                max_features=batch_size,
                return_fids=True,
                datetime_as_string=True,
            )
        except (DataSourceError, DataLayerError) as exc:
            raise LayerSourceUnreadable(
                f"cannot read {info.path.name} at feature {start}: {exc}", f"读取 {info.path.name} 失败：{exc}"
            ) from exc
        if len(wkb) == 0:
            return
        fields = dict(zip(meta["fields"].tolist(), data, strict=True))
        yield RawBatch(
            fids=np.asarray(fids, dtype=np.int64),
            wkb=wkb,
            fields={name: fields[name] for name in names},
        )


def _zipped_dbf_encoding(path: Path) -> str | None:
    """Pick the .dbf encoding inside a zip: the .cpg, else the dBASE code page, else sniff the records."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            cpg = next((name for name in members if name.lower().endswith(".cpg")), None)
            if cpg is not None:
                return _cpg_encoding(archive.read(cpg))
            dbf = next((name for name in members if name.lower().endswith(".dbf")), None)
            return _sniff_dbf(archive.read(dbf)) if dbf else None
    except zipfile.BadZipFile as exc:
        raise LayerSourceUnreadable(f"{path.name} is not a valid zip file", f"{path.name} 不是有效的 zip 文件") from exc


def _dbf_encoding_beside(path: Path) -> str | None:
    """Pick the encoding of a loose shapefile's .dbf the same way as for a zipped one."""
    for suffix in (".cpg", ".CPG"):
        if path.with_suffix(suffix).exists():
            return _cpg_encoding(path.with_suffix(suffix).read_bytes())
    for suffix in (".dbf", ".DBF"):
        if path.with_suffix(suffix).exists():
            return _sniff_dbf(path.with_suffix(suffix).read_bytes())
    return None


def _cpg_encoding(content: bytes) -> str:
    """Read a .cpg file: code page numbers and names as ArcGIS and QGIS write them ("936", "GBK", "UTF-8")."""
    name = content.decode("ascii", errors="ignore").strip().upper()
    if name.isdigit():
        name = {"65001": "UTF-8", "936": "GBK", "950": "BIG5"}.get(name, f"CP{name}")
    if name in ("GB2312", "CP936"):
        name = "GBK"
    try:
        codecs.lookup(name)
    except LookupError as exc:
        raise LayerSourceUnreadable(
            f"the .cpg names an unknown encoding {name!r}; give --encoding",
            f".cpg 中的编码 {name!r} 无法识别，请用 --encoding 指定",
        ) from exc
    return name


# dBASE language driver ids that name a Chinese code page.
_LDID_ENCODINGS = {0x4D: "GBK", 0x7A: "GBK", 0x4F: "BIG5", 0x78: "BIG5"}


def _sniff_dbf(content: bytes) -> str | None:
    """Return the .dbf's encoding from its language driver id, or by trying UTF-8 on its records."""
    if len(content) < 32:
        return None
    ldid = content[29]
    if ldid in _LDID_ENCODINGS:
        return _LDID_ENCODINGS[ldid]
    header_length = struct.unpack("<H", content[8:10])[0]
    records = content[header_length:]
    try:
        records.decode("utf-8")
    except UnicodeDecodeError:
        # Chinese .dbf files without a .cpg are, in practice, GBK.
        return "GBK"
    return "UTF-8"
