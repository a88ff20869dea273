"""Reading layer source files (GeoPackage, zipped Shapefile, GeoJSON, FileGDB) in batches with pyogrio."""

from __future__ import annotations

import codecs
import hashlib
import itertools
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nanoarrow
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
    """A batch as read: source fids, WKB geometries and one numpy array per field.

    Geometries are bytes objects (None where missing); numbers come as numeric arrays (floats with NaN for null
    when a column has nulls), text and ISO date/time text as objects with None, list fields as arrays.
    """

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
    """Yield the source's features in batches through GDAL's Arrow stream (datetimes as ISO text).

    GDAL fills whole columns natively and outside the GIL, so reading overlaps validation and writing; the
    columns come out as the row reader gives them (see ``RawBatch``). Z and M are kept: the Arrow stream
    cannot drop them, preparation does.
    """
    names = [name for name, _ in info.fields]
    read = 0
    try:
        source = pyogrio.raw.open_arrow(
            info.gdal_path,
            layer=info.layer,
            encoding=info.encoding,
            batch_size=batch_size,
            return_fids=True,
            datetime_as_string=True,
        )
        with source as (meta, stream):
            fid_name = meta["fid_column"] or "OGC_FID"
            geometry_name = meta["geometry_name"] or "wkb_geometry"
            chunks = iter(nanoarrow.ArrayStream(stream))
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    return
                except RuntimeError as exc:  # the stream's own read errors
                    raise _unreadable(info, read, exc) from exc
                columns = {child.schema.name: child for child in chunk.iter_children()}
                if geometry_name not in columns:
                    raise LayerSourceUnreadable(
                        f"{info.path.name} has no geometry column", f"{info.path.name} 没有几何字段"
                    )
                fids = _numpy_column(columns[fid_name]).astype(np.int64, copy=False)
                read += len(fids)
                yield RawBatch(
                    fids=fids,
                    wkb=_binary_values(columns[geometry_name]),
                    fields={name: _numpy_column(columns[name]) for name in names},
                )
    except (DataSourceError, DataLayerError) as exc:
        raise _unreadable(info, read, exc) from exc


def _unreadable(info: SourceInfo, read: int, exc: Exception) -> LayerSourceUnreadable:
    """The refusal for a source GDAL fails to read, naming where it stopped."""
    return LayerSourceUnreadable(
        f"cannot read {info.path.name} after {read} features: {exc}", f"读取 {info.path.name} 失败：{exc}"
    )


_NUMERIC_TYPES = {
    nanoarrow.Type.INT8: np.int8,
    nanoarrow.Type.INT16: np.int16,
    nanoarrow.Type.INT32: np.int32,
    nanoarrow.Type.INT64: np.int64,
    nanoarrow.Type.UINT8: np.uint8,
    nanoarrow.Type.UINT16: np.uint16,
    nanoarrow.Type.UINT32: np.uint32,
    nanoarrow.Type.UINT64: np.uint64,
    nanoarrow.Type.FLOAT: np.float32,
    nanoarrow.Type.DOUBLE: np.float64,
}
_OFFSET_TYPES = {
    nanoarrow.Type.STRING: np.int32,
    nanoarrow.Type.LARGE_STRING: np.int64,
    nanoarrow.Type.BINARY: np.int32,
    nanoarrow.Type.LARGE_BINARY: np.int64,
}


def _numpy_column(array: nanoarrow.Array) -> np.ndarray:
    """Turn one Arrow column into numpy the way pyogrio's row reader gives it (see ``RawBatch``)."""
    kind = array.schema.type
    valid = _validity(array)
    if kind in _NUMERIC_TYPES or kind in (nanoarrow.Type.BOOL, nanoarrow.Type.DATE32):
        if kind == nanoarrow.Type.BOOL:
            bits = np.frombuffer(array.buffers[1], dtype=np.uint8)
            values: np.ndarray = np.unpackbits(bits, bitorder="little")[array.offset : array.offset + len(array)]
            values = values.astype(bool)
        else:
            dtype = np.int32 if kind == nanoarrow.Type.DATE32 else _NUMERIC_TYPES[kind]
            values = np.frombuffer(array.buffers[1], dtype=dtype)[array.offset : array.offset + len(array)].copy()
        if kind == nanoarrow.Type.DATE32:
            dates = values.astype("datetime64[D]").astype(str).astype(object)
            return _with_nulls(dates, valid)
        if valid is None:
            return values
        values = values.astype(np.float64)
        values[~valid] = np.nan
        return values
    if kind in (nanoarrow.Type.STRING, nanoarrow.Type.LARGE_STRING):
        return _with_nulls(_string_values(array), valid)
    if kind in _OFFSET_TYPES:
        return _binary_values(array)
    # Times as Python values, lists as arrays (the stored text of a list field stays what it was).
    items = (np.asarray(item) if isinstance(item, list) else item for item in array.to_pylist())
    return np.fromiter(items, dtype=object, count=len(array))


def _validity(array: nanoarrow.Array) -> np.ndarray | None:
    """Return which values are present, or None when all are."""
    bitmap = np.frombuffer(array.buffers[0], dtype=np.uint8)
    if len(bitmap) == 0:
        return None
    valid = np.unpackbits(bitmap, bitorder="little")[array.offset : array.offset + len(array)].astype(bool)
    return None if valid.all() else valid


def _with_nulls(values: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Put None where values are missing."""
    if valid is not None:
        values[~valid] = None
    return values


def _string_values(array: nanoarrow.Array) -> np.ndarray:
    """Decode a UTF-8 column into an object array of str with one decode for the whole column.

    The values are joined with NUL, which UTF-8 never produces otherwise; a column holding NUL itself is
    decoded value by value.
    """
    offsets, data = _offsets_and_data(array)
    if (data == 0).any():
        texts = [data[a:b].tobytes().decode("utf-8") for a, b in itertools.pairwise(offsets.tolist())]
    else:
        texts = np.insert(data, offsets[1:-1], 0).tobytes().decode("utf-8").split("\x00")
    return np.fromiter(texts, dtype=object, count=len(texts))


def _binary_values(array: nanoarrow.Array) -> np.ndarray:
    """Return a binary column (such as WKB) as an object array of bytes, None where missing."""
    offsets, data = _offsets_and_data(array)
    blob = data.tobytes()
    values = np.fromiter((blob[a:b] for a, b in itertools.pairwise(offsets.tolist())), dtype=object, count=len(array))
    return _with_nulls(values, _validity(array))


def _offsets_and_data(array: nanoarrow.Array) -> tuple[np.ndarray, np.ndarray]:
    """Return a variable-size column's offsets (rebased to 0) and the bytes they index."""
    storage = _OFFSET_TYPES.get(array.schema.type, np.int32)  # extension columns (WKB) are binary
    offsets = np.frombuffer(array.buffers[1], dtype=storage)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return (offsets - offsets[0]).astype(np.int64), data


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
