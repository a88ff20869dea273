"""The zip guard: bombs, traversal, lying headers and friends are refused before anything is inflated."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from sitecheck.errors import FormatInvalid, UploadTooLarge, ZipUnsafe
from sitecheck.intake.archive import GuardedZip, open_zip
from sitecheck.settings import IntakeLimits

LIMITS = IntakeLimits()
_CD_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"


def _zip(entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Build a zip archive in memory from ``{name: content}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _patch_u32(data: bytes, signature: bytes, field_offset: int, value: int) -> bytes:
    """Overwrite a 32-bit little-endian field of every header with ``signature``."""
    out = bytearray(data)
    at = out.find(signature)
    while at >= 0:
        struct.pack_into("<I", out, at + field_offset, value)
        at = out.find(signature, at + 4)
    return bytes(out)


def _rename_raw(data: bytes, placeholder: str, raw_name: bytes) -> bytes:
    """Replace an ASCII entry name by raw bytes of the same length (bit 11 stays unset): a legacy-encoded name."""
    assert len(placeholder.encode()) == len(raw_name)
    return data.replace(placeholder.encode(), raw_name)


def test_open_zip_returns_files_by_name() -> None:
    """A plain archive comes back as {name: bytes}, folders dropped, sub-folder paths kept."""
    data = _zip({"site/a.shp": b"shp", "site/": b"", "doc.kml": b"<kml/>"})
    assert open_zip(data, limits=LIMITS) == {"site/a.shp": b"shp", "doc.kml": b"<kml/>"}


def test_zip_bomb_refused_by_ratio_before_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """50 MB of zeros deflated to ~50 kB is refused from the directory alone: no entry is ever opened."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("zeros.dbf", "w") as entry,
    ):
        chunk = bytes(1024 * 1024)
        for _ in range(50):
            entry.write(chunk)
    data = buffer.getvalue()
    assert len(data) < 200_000

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("an entry was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_extraction)
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(data, limits=LIMITS)
    assert caught.value.code == "ZIP_UNSAFE"
    assert caught.value.details["reason"] == "ratio"
    assert caught.value.details["entry"] == "zeros.dbf"
    assert caught.value.details["ratio"] > 500


def test_small_repetitive_entries_are_not_ratio_checked() -> None:
    """A tiny blank-padded file compresses beyond 100x yet is harmless: only entries over 1 MiB are ratio-checked."""
    data = _zip({"a.dbf": b" " * 500_000})
    assert len(open_zip(data, limits=LIMITS)["a.dbf"]) == 500_000


@pytest.mark.parametrize(
    "name",
    ["../evil.shp", "site/../../evil.shp", "/etc/passwd", "C:/Windows/evil.shp", "c:evil.shp", "..\\evil.shp"],
)
def test_path_traversal_refused(name: str) -> None:
    """Absolute paths, drive letters and '..' (with / or \\ separators) are refused, naming the entry."""
    with pytest.raises(ZipUnsafe) as caught:
        open_zip(_zip({name: b"x"}), limits=LIMITS)
    assert caught.value.details["reason"] == "unsafe_path"
    assert "evil" in caught.value.message_en or "passwd" in caught.value.message_en


def test_backslash_separators_are_normalised() -> None:
    """Windows tools that write 'folder\\a.shp' get the same name as 'folder/a.shp'."""
    assert list(open_zip(_zip({"folder\\a.shp": b"x"}), limits=LIMITS)) == ["folder/a.shp"]


def test_too_many_entries_refused() -> None:
    """One entry more than max_zip_entries is refused from the end record, before the directory is parsed."""
    data = _zip({f"f{i}.txt": b"x" for i in range(LIMITS.max_zip_entries + 1)})
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(data, limits=LIMITS)
    assert caught.value.details["reason"] == "too_many_entries"
    assert caught.value.details["entries"] == LIMITS.max_zip_entries + 1


def test_lying_header_with_bad_crc_refused() -> None:
    """A directory claiming 1 000 bytes for 200 kB of data: reading stops at 1 000 and the mismatch is refused."""
    data = _zip({"a.txt": bytes(200_000)})
    data = _patch_u32(data, _LOCAL_SIG, 22, 1000)
    data = _patch_u32(data, _CD_SIG, 24, 1000)
    guarded = GuardedZip(data, limits=LIMITS)
    assert guarded.declared_size("a.txt") == 1000
    with pytest.raises(ZipUnsafe) as caught:
        guarded.read("a.txt")
    assert caught.value.details == {"entry": "a.txt", "reason": "header_mismatch"}


def test_lying_header_with_matching_crc_yields_only_declared_bytes() -> None:
    """Even with a forged CRC, never more than the declared size is inflated."""
    data = _zip({"a.txt": bytes(200_000)})
    forged_crc = zlib.crc32(bytes(1000))
    data = _patch_u32(data, _LOCAL_SIG, 22, 1000)
    data = _patch_u32(data, _CD_SIG, 24, 1000)
    data = _patch_u32(data, _LOCAL_SIG, 14, forged_crc)
    data = _patch_u32(data, _CD_SIG, 16, forged_crc)
    assert open_zip(data, limits=LIMITS) == {"a.txt": bytes(1000)}


def test_compressed_sizes_larger_than_archive_refused() -> None:
    """Inflated compressed-size fields (to fake a low ratio) are caught: they exceed the archive itself."""
    data = _patch_u32(_zip({"a.txt": b"x" * 100}), _CD_SIG, 20, 10_000_000)
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(data, limits=LIMITS)
    assert caught.value.details["reason"] == "header_mismatch"


def test_declared_size_over_limit_is_upload_too_large() -> None:
    """Entries whose declared total passes max_unzipped_bytes give UPLOAD_TOO_LARGE, unread."""
    limits = IntakeLimits(max_unzipped_bytes=1000)
    data = _zip({"a.txt": b"a" * 600, "b.txt": b"b" * 600}, method=zipfile.ZIP_STORED)
    with pytest.raises(UploadTooLarge) as caught:
        GuardedZip(data, limits=limits)
    assert caught.value.code == "UPLOAD_TOO_LARGE"


def test_upload_over_byte_limit_refused() -> None:
    """An archive larger than max_upload_bytes is refused before it is parsed."""
    with pytest.raises(UploadTooLarge):
        GuardedZip(_zip({"a.txt": b"x" * 5000}, method=zipfile.ZIP_STORED), limits=IntakeLimits(max_upload_bytes=1000))


def test_symlink_entry_refused() -> None:
    """A Unix symlink entry (mode 0o120777) is refused."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.shp")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(buffer.getvalue(), limits=LIMITS)
    assert caught.value.details == {"entry": "link.shp", "reason": "symlink"}


def test_encrypted_entry_refused() -> None:
    """An entry flagged as encrypted is refused (we hold no passwords and want none)."""
    data = bytearray(_zip({"a.shp": b"x"}))
    at = data.find(_CD_SIG)
    data[at + 8] |= 0x01
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(bytes(data), limits=LIMITS)
    assert caught.value.details["reason"] == "encrypted"


def test_nested_archive_refused() -> None:
    """A zip inside the zip is refused with a message saying to put the files in directly."""
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(_zip({"inner.zip": _zip({"a.shp": b"x"})}), limits=LIMITS)
    assert caught.value.details["reason"] == "nested_archive"
    assert "inner.zip" in caught.value.message_en


def test_bzip2_entry_refused() -> None:
    """Only stored and deflated entries are read; bzip2 is refused as unsupported."""
    with pytest.raises(FormatInvalid) as caught:
        GuardedZip(_zip({"a.txt": b"x" * 100}, method=zipfile.ZIP_BZIP2), limits=LIMITS)
    assert caught.value.details["compress_type"] == zipfile.ZIP_BZIP2


def test_duplicate_names_refused() -> None:
    """Two entries with one name (case-insensitively) are ambiguous and refused."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("a.shp", b"1")
        archive.writestr("a.shp", b"2")
    with pytest.raises(ZipUnsafe) as caught:
        GuardedZip(buffer.getvalue(), limits=LIMITS)
    assert caught.value.details["reason"] == "duplicate_name"


def test_gbk_entry_names_are_recovered() -> None:
    """A GBK name written without the UTF-8 flag (Windows zip tools in China) is decoded back to Chinese."""
    raw = "示例地块.kml".encode("gbk")
    data = _rename_raw(_zip({"ABCDEFGH.kml": b"<kml/>"}), "ABCDEFGH.kml", raw)
    assert GuardedZip(data, limits=LIMITS).names == ["示例地块.kml"]
    assert open_zip(data, limits=LIMITS) == {"示例地块.kml": b"<kml/>"}


def test_utf8_entry_names_without_flag_are_recovered() -> None:
    """A UTF-8 name written without the flag is decoded as UTF-8, not as GBK mojibake."""
    raw = "地块.shp".encode()
    data = _rename_raw(_zip({"ABCDEF.shp": b"x"}), "ABCDEF.shp", raw)
    assert GuardedZip(data, limits=LIMITS).names == ["地块.shp"]


def test_macos_debris_is_ignored() -> None:
    """__MACOSX/ resource forks and .DS_Store are checked but not listed."""
    data = _zip({"a.shp": b"x", "__MACOSX/._a.shp": b"junk", ".DS_Store": b"junk"})
    assert GuardedZip(data, limits=LIMITS).names == ["a.shp"]


def test_not_a_zip_is_format_invalid() -> None:
    """Bytes that are not a zip give FORMAT_INVALID, not a crash."""
    with pytest.raises(FormatInvalid) as caught:
        GuardedZip(b"this is not a zip archive", limits=LIMITS)
    assert caught.value.code == "FORMAT_INVALID"
