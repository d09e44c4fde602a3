"""Archives: ZIP, 7z, tar, gzip, bzip2, xz, RAR, their combinations, encryption, depth, bombs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

import pytest

from mail import attachment, message, multipart, part, rar4, zipped
from nolink import Config, scan_message
from nolink.config import LinksConfig
from nolink.extract import sniff

LINK = "ดูรายละเอียดที่ https://inner.example.com/form".encode()


def scanned(data: bytes, name: str, ctype: str = "application/octet-stream", config: Config | None = None):  # type: ignore[no-untyped-def]
    body, mtype = multipart([part("เอกสารแนบ", "text/plain"), attachment(data, ctype, name)])
    return scan_message(message(body, mtype), config)


def tar(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seven(files: dict[str, bytes], password: str | None = None) -> bytes:
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", password=password) as z:
        if password:
            z.set_encrypted_header(True)
        for name, data in files.items():
            z.writestr(data, name)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "data", "name", "where"),
    [
        ("zip", zipped({"docs/a.txt": LINK}), "files.zip", "files.zip › docs/a.txt"),
        ("7z", seven({"docs/a.txt": LINK}), "files.7z", "files.7z › docs/a.txt"),
        ("tar", tar({"docs/a.txt": LINK}), "files.tar", "files.tar › docs/a.txt"),
        ("gzip", tar({"docs/a.txt": LINK}, "w:gz"), "files.tar.gz", "files.tar.gz › docs/a.txt"),
        ("bzip2", tar({"docs/a.txt": LINK}, "w:bz2"), "files.tar.bz2", "files.tar.bz2 › docs/a.txt"),
        ("xz", tar({"docs/a.txt": LINK}, "w:xz"), "files.tar.xz", "files.tar.xz › docs/a.txt"),
        ("gzip", gzip.compress(LINK), "a.txt.gz", "a.txt.gz"),
        ("bzip2", bz2.compress(LINK), "a.txt.bz2", "a.txt.bz2"),
        ("xz", lzma.compress(LINK), "a.txt.xz", "a.txt.xz"),
        ("rar", rar4({"docs/a.txt": LINK}), "files.rar", "files.rar › docs/a.txt"),
    ],
)
def test_every_archive_format_is_opened(fmt: str, data: bytes, name: str, where: str) -> None:
    assert sniff(data, "application/octet-stream", "data.bin") == fmt  # by the bytes, not the name
    r = scanned(data, name)
    assert [x.url for x in r.findings] == ["https://inner.example.com/form"]
    assert r.findings[0].location.field.split(" @")[0] == f"attachment {where}"


def test_combinations_nest() -> None:
    inner = zipped({"letter.txt": LINK})
    data = tar({"pack/inner.7z": seven({"x/inner.zip": inner})}, "w:gz")
    r = scanned(data, "all.tgz")
    assert [x.location.field for x in r.findings] == [
        "attachment all.tgz › pack/inner.7z › x/inner.zip › letter.txt"
    ]


def test_compressed_tar_is_one_level() -> None:
    cfg = Config(links=LinksConfig(max_archive_depth=1))
    assert scanned(tar({"a.txt": LINK}, "w:gz"), "a.tar.gz", config=cfg).verdict == "link"
    r = scanned(zipped({"b.zip": zipped({"a.txt": LINK})}), "a.zip", config=cfg)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["too_deep"]


def test_archived_mail_is_walked() -> None:
    eml = message("ตามลิงก์ www.eml-in-zip.example.com")
    r = scanned(zipped({"fwd.eml": eml}), "mail.zip")
    assert [x.url for x in r.findings] == ["http://www.eml-in-zip.example.com"]


def encrypted_zip() -> bytes:
    """A ZIP whose member carries the encryption flag (ZipCrypto), as `zip -e` writes it."""
    data = bytearray(zipped({"form.pdf": b"\x00" * 12 + b"ciphertext"}))
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    data[local + 6] |= 0x1  # general purpose flag bit 0: encrypted (zipfile cannot write ZipCrypto)
    data[central + 8] |= 0x1
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "name", "detail"),
    [
        (encrypted_zip(), "forms.zip", 'encrypted ZIP "forms.zip"'),
        (seven({"a.txt": LINK}, password="secret"), "forms.7z", 'encrypted 7z "forms.7z"'),
        (rar4({"a.txt": b"x" * 40}, encrypted=True), "forms.rar", 'encrypted RAR "forms.rar"'),
    ],
)
def test_encrypted_archives_are_unscannable(data: bytes, name: str, detail: str) -> None:
    r = scanned(data, name)
    assert r.verdict == "unscannable"
    assert [(u.reason, u.detail) for u in r.unscannable] == [("encrypted", detail)]


def test_zip_bomb_stops_at_the_byte_budget() -> None:
    member = b"\x00" * 19_000_000
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(40):
            z.writestr(f"part{i}.bin", member)
    r = scanned(buf.getvalue(), "bomb.zip")
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert "links.max_total_bytes" in r.unscannable[0].detail
    r = scanned(gzip.compress(member * 6), "bomb.gz")
    assert [u.reason for u in r.unscannable] == ["budget"]


def test_damaged_archives_are_unscannable() -> None:
    for data, name in (
        (b"PK\x03\x04" + b"\x00" * 40, "x.zip"),
        (b"7z\xbc\xaf\x27\x1c" + b"\x01" * 30, "x.7z"),
        (b"\x1f\x8b\x08\x00broken", "x.gz"),
    ):
        r = scanned(data, name)
        assert r.verdict == "unscannable", name
        assert [u.reason for u in r.unscannable] == ["unparseable"], name


def test_clean_archive_is_clean() -> None:
    assert scanned(seven({"a.txt": "ไม่มีลิงก์".encode(), "b.bin": bytes(range(256))}), "x.7z").verdict == "clean"


def test_time_budget_makes_the_rest_unscannable() -> None:
    # (about 0.7 s of scanning, 7x the budget: 30 files of plain Thai words took 0.3 s before
    # issue 12's faster scan and ~0.1 s after it, when the budget was no longer used up)
    files = {f"f{i}.txt": ("ข้อความ ๑๖ ก.พ. " * 20000).encode() for i in range(60)}
    cfg = Config(links=LinksConfig(max_scan_seconds=0.1))
    r = scanned(zipped(files), "many.zip", config=cfg)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert "links.max_scan_seconds" in r.unscannable[0].detail
