"""The zip guard: every archive upload (zipped Shapefile, KMZ) is checked here before a byte is inflated.

Checks made from the central directory, before extraction: entry count, declared sizes, per-entry and
overall compression ratio, unsafe names (absolute, drive letters, ``..``, NUL), symlinks, encryption,
unsupported compression methods, duplicate names and nested archives. While reading, an entry is never
inflated past its declared size, so a header that lies about the size cannot turn into a bomb.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

from sitecheck.errors import FormatInvalid, UploadTooLarge, ZipUnsafe
from sitecheck.settings import IntakeLimits

# Entries smaller than this are not ratio-checked: tiny, repetitive files (.cpg, blank .dbf padding)
# compress far beyond any sane ratio yet cannot expand into anything dangerous.
RATIO_FLOOR_BYTES = 1024 * 1024

# Only stored and deflated entries are read: Python inflates bzip2/LZMA chunks without an output bound,
# so a small bzip2 chunk could expand to gigabytes before the size cut-off applies.
_SUPPORTED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})

# We never open archives inside archives; refusing them keeps recursion bombs out by construction.
_ARCHIVE_SUFFIXES = (".zip", ".kmz", ".rar", ".7z", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".zst")

_READ_CHUNK = 64 * 1024
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_EOCD_SIG = b"PK\x05\x06"
_EOCD64_LOCATOR_SIG = b"PK\x06\x07"
_EOCD64_SIG = b"PK\x06\x06"
# Bytes of a central-directory record we allow per entry (46 fixed + name + extras + comment), generous.
_CD_BYTES_PER_ENTRY = 4096

# What the standard library raises on a damaged archive; all of it means "not a readable zip".
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    IndexError,
    KeyError,
    OverflowError,
)


@dataclass(frozen=True)
class _Member:
    """One readable file of the archive: its decoded, normalised name and its central-directory record."""

    name: str
    info: zipfile.ZipInfo


class GuardedZip:
    """A zip archive that passed the safety checks; members are read with their declared size enforced."""

    def __init__(self, data: bytes, *, limits: IntakeLimits) -> None:
        if len(data) > limits.max_upload_bytes:
            raise UploadTooLarge(
                f"The archive is {len(data)} bytes; the limit is {limits.max_upload_bytes}.",
                f"压缩包大小 {len(data)} 字节，超过上限 {limits.max_upload_bytes} 字节。",
                details={"size_bytes": len(data), "max_upload_bytes": limits.max_upload_bytes},
            )
        _check_directory_size(data, limits)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except _ZIP_ERRORS as exc:
            raise FormatInvalid(
                f"The upload is not a readable zip archive: {exc}.",
                f"上传文件不是可读取的 zip 压缩包：{exc}。",
            ) from exc
        self._limits = limits
        self._members = _check_entries(infos, len(data), limits)
        self._by_name = {member.name: member for member in self._members}
        self._read_bytes = 0

    @property
    def names(self) -> list[str]:
        """Return the readable files (decoded names, ``/``-separated), skipping folders and macOS debris."""
        return [member.name for member in self._members]

    def declared_size(self, name: str) -> int:
        """Return the uncompressed size the archive declares for member ``name`` (bytes)."""
        return self._by_name[name].info.file_size

    def read(self, name: str) -> bytes:
        """Return the bytes of member ``name``, refusing an entry that inflates beyond its declared size."""
        member = self._by_name[name]
        declared = member.info.file_size
        chunks: list[bytes] = []
        got = 0
        try:
            with self._zip.open(member.info) as handle:
                while chunk := handle.read(_READ_CHUNK):
                    got += len(chunk)
                    # zipfile itself stops at the declared size today; this guard does not rely on that.
                    if got > declared:
                        raise ZipUnsafe(
                            f"Entry '{name}' inflates beyond its declared size of {declared} bytes.",
                            f"压缩包条目“{name}”解压后超过其声明的大小 {declared} 字节。",
                            details={"entry": name, "reason": "size_exceeds_header"},
                        )
                    chunks.append(chunk)
        except zipfile.BadZipFile as exc:
            # A CRC or local-header mismatch: the entry is not what the directory says it is.
            raise ZipUnsafe(
                f"Entry '{name}' does not match its header ({exc}).",
                f"压缩包条目“{name}”与其头信息不符（{exc}）。",
                details={"entry": name, "reason": "header_mismatch"},
            ) from exc
        except _ZIP_ERRORS as exc:
            raise FormatInvalid(
                f"Entry '{name}' of the archive is corrupt: {exc}.", f"压缩包条目“{name}”已损坏：{exc}。"
            ) from exc
        # Declared sizes were capped up front; this also bounds a caller reading members repeatedly.
        self._read_bytes += got
        if self._read_bytes > self._limits.max_unzipped_bytes:
            raise UploadTooLarge(
                f"The archive expands beyond {self._limits.max_unzipped_bytes} bytes.",
                f"压缩包解压后超过 {self._limits.max_unzipped_bytes} 字节。",
                details={"max_unzipped_bytes": self._limits.max_unzipped_bytes},
            )
        return b"".join(chunks)

    def read_all(self) -> dict[str, bytes]:
        """Return every readable member as ``{name: bytes}``."""
        return {name: self.read(name) for name in self.names}


def open_zip(data: bytes, *, limits: IntakeLimits) -> dict[str, bytes]:
    """Check a zip upload against ``limits`` and return its files as ``{name: bytes}`` (names decoded)."""
    return GuardedZip(data, limits=limits).read_all()


def _decode_entry_name(info: zipfile.ZipInfo) -> str:
    """Return the entry's name, recovering UTF-8 or GBK names that zipfile decoded as cp437 (bit 11 unset)."""
    name = info.orig_filename
    if info.flag_bits & 0x800:
        return name
    raw = name.encode("cp437")
    if raw.isascii():
        return name
    # Windows zip tools in China write GBK names without the UTF-8 flag; some others write UTF-8 without
    # it. UTF-8 is tried first because GBK would also "decode" most UTF-8 byte strings, into nonsense.
    for encoding in ("utf-8", "gbk"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return name


def _check_directory_size(data: bytes, limits: IntakeLimits) -> None:
    """Refuse an archive whose end record announces too many entries or a huge central directory.

    zipfile parses the whole central directory into objects before we can count; this reads the end
    record first so a directory of a million entries is refused without being parsed.
    """
    tail_start = max(0, len(data) - (65535 + 22))
    at = data.rfind(_EOCD_SIG, tail_start)
    if at < 0 or at + 22 > len(data):
        return  # zipfile will report the archive as unreadable
    entries, cd_size = struct.unpack_from("<HI", data, at + 10)
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and at >= 20 and data[at - 20 : at - 16] == _EOCD64_LOCATOR_SIG:
        (eocd64_at,) = struct.unpack_from("<Q", data, at - 12)
        if eocd64_at + 56 <= len(data) and data[eocd64_at : eocd64_at + 4] == _EOCD64_SIG:
            entries, cd_size = struct.unpack_from("<QQ", data, eocd64_at + 32)
    if entries > limits.max_zip_entries:
        raise _too_many_entries(entries, limits)
    if cd_size > limits.max_zip_entries * _CD_BYTES_PER_ENTRY:
        raise ZipUnsafe(
            f"The archive's directory is {cd_size} bytes, too large for {limits.max_zip_entries} entries.",
            f"压缩包目录大小 {cd_size} 字节，超出 {limits.max_zip_entries} 个条目的合理范围。",
            details={"reason": "directory_too_large", "directory_bytes": cd_size},
        )


def _too_many_entries(count: int, limits: IntakeLimits) -> ZipUnsafe:
    """Build the error for an archive with more entries than allowed."""
    return ZipUnsafe(
        f"The archive has {count} entries; at most {limits.max_zip_entries} are allowed.",
        f"压缩包含 {count} 个条目，最多允许 {limits.max_zip_entries} 个。",
        details={"reason": "too_many_entries", "entries": count, "max_zip_entries": limits.max_zip_entries},
    )


def _check_entries(infos: list[zipfile.ZipInfo], archive_bytes: int, limits: IntakeLimits) -> list[_Member]:
    """Apply every per-entry and whole-archive check; return the members worth reading."""
    if len(infos) > limits.max_zip_entries:
        raise _too_many_entries(len(infos), limits)
    members: list[_Member] = []
    seen: set[str] = set()
    total_size = 0
    total_compressed = 0
    for info in infos:
        name = _safe_name(info)
        _check_entry_kind(info, name)
        _check_entry_size(info, name, limits)
        total_size += info.file_size
        total_compressed += info.compress_size
        if total_size > limits.max_unzipped_bytes:
            raise UploadTooLarge(
                f"The archive declares over {limits.max_unzipped_bytes} bytes uncompressed (the limit).",
                f"压缩包声明的解压大小超过上限 {limits.max_unzipped_bytes} 字节。",
                details={"max_unzipped_bytes": limits.max_unzipped_bytes},
            )
        key = name.casefold()
        if key in seen:
            # Two entries with one name: which one a tool extracts differs; refuse the ambiguity.
            raise _unsafe(name, "duplicate_name", "the name occurs twice", "条目名称重复")
        seen.add(key)
        if not info.is_dir() and not _is_os_debris(name):
            members.append(_Member(name=name, info=info))
    if total_compressed > archive_bytes:
        # Compressed sizes larger than the archive itself are a lie meant to lower the apparent ratio.
        raise ZipUnsafe(
            f"The entries declare {total_compressed} compressed bytes in a {archive_bytes}-byte archive.",
            f"压缩包条目声明的压缩大小（{total_compressed} 字节）超过压缩包本身（{archive_bytes} 字节）。",
            details={"reason": "header_mismatch"},
        )
    _check_ratio(total_size, total_compressed, None, limits)
    return members


def _safe_name(info: zipfile.ZipInfo) -> str:
    """Return the entry's normalised name, refusing names that could escape an extraction folder."""
    raw_name = _decode_entry_name(info)
    if "\x00" in raw_name:
        raise _unsafe(raw_name, "unsafe_path", "the name contains a NUL byte", "名称含有空字符")
    # Some Windows tools write backslashes as separators; treat them as such so "..\\x" is caught too.
    name = raw_name.replace("\\", "/")
    if name.startswith("/") or _DRIVE_RE.match(name):
        raise _unsafe(raw_name, "unsafe_path", "the path is absolute", "路径为绝对路径")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _unsafe(
            raw_name,
            "unsafe_path",
            "the path climbs out of the archive ('..')",
            "路径含有“..”，指向压缩包之外",
        )
    if not parts:
        raise _unsafe(raw_name, "unsafe_path", "the name is empty", "名称为空")
    return "/".join(parts) + ("/" if name.endswith("/") else "")


def _check_entry_kind(info: zipfile.ZipInfo, name: str) -> None:
    """Refuse symlinks, encrypted entries, unsupported compression and nested archives."""
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _unsafe(name, "symlink", "it is a symbolic link", "该条目为符号链接")
    if info.flag_bits & 0x1:
        raise _unsafe(name, "encrypted", "it is encrypted", "该条目已加密")
    if info.compress_type not in _SUPPORTED_METHODS:
        raise FormatInvalid(
            f"Entry '{name}' uses compression method {info.compress_type}; only stored and deflate are read.",
            f"压缩包条目“{name}”使用了不支持的压缩方法 {info.compress_type}（仅支持 stored 与 deflated）。",
            details={"entry": name, "compress_type": info.compress_type},
        )
    if name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise _unsafe(
            name,
            "nested_archive",
            "archives inside archives are not opened; put the files directly in the zip",
            "不支持压缩包内嵌套压缩包，请将文件直接放入压缩包",
        )


def _check_entry_size(info: zipfile.ZipInfo, name: str, limits: IntakeLimits) -> None:
    """Refuse an entry whose declared size or compression ratio is beyond the limits."""
    if info.file_size > limits.max_unzipped_bytes:
        raise UploadTooLarge(
            f"Entry '{name}' declares {info.file_size} bytes; the limit is {limits.max_unzipped_bytes}.",
            f"压缩包条目“{name}”声明大小 {info.file_size} 字节，超过上限 {limits.max_unzipped_bytes}。",
            details={"entry": name, "max_unzipped_bytes": limits.max_unzipped_bytes},
        )
    _check_ratio(info.file_size, info.compress_size, name, limits)


def _check_ratio(expanded: int, compressed: int, name: str | None, limits: IntakeLimits) -> None:
    """Refuse an entry (``name``) or the whole archive (None) that expands beyond ``max_zip_ratio``."""
    ratio = expanded / max(compressed, 1)
    if expanded <= RATIO_FLOOR_BYTES or ratio <= limits.max_zip_ratio:
        return
    what_en = f"Entry '{name}'" if name else "The archive"
    what_zh = f"压缩包条目“{name}”" if name else "压缩包"
    raise ZipUnsafe(
        f"{what_en} expands {ratio:.0f}-fold; at most {limits.max_zip_ratio:g} is allowed (zip bomb).",
        f"{what_zh}解压倍数 {ratio:.0f}，超过上限 {limits.max_zip_ratio:g}（疑似压缩炸弹）。",
        details={
            "entry": name,
            "reason": "ratio",
            "ratio": round(ratio, 1),
            "max_zip_ratio": limits.max_zip_ratio,
        },
    )


def _is_os_debris(name: str) -> bool:
    """Tell whether an entry is operating-system clutter (macOS resource forks, Thumbs.db) to be ignored."""
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base in {".DS_Store", "Thumbs.db"}


def _unsafe(name: str, reason: str, why_en: str, why_zh: str) -> ZipUnsafe:
    """Build a ZipUnsafe error naming the entry and the reason."""
    return ZipUnsafe(
        f"Unsafe archive entry '{name}': {why_en}.",
        f"压缩包条目“{name}”不安全：{why_zh}。",
        details={"entry": name, "reason": reason},
    )
