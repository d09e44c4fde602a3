"""sniff: the format of a piece of content is decided by its bytes."""

from __future__ import annotations

import pytest

from mail import docx, message, pdf, qr_png, zipped
from nolink import scan_message
from nolink.extract import sniff


@pytest.mark.parametrize(
    ("data", "declared", "name", "fmt"),
    [
        (pdf(text="x"), "application/octet-stream", "scan.jpg", "pdf"),
        (b"\r\n\r\n" + pdf(text="x"), "text/plain", "", "pdf"),  # junk before the header, as readers allow
        (zipped({"a.txt": b"x"}), "application/pdf", "a.pdf", "zip"),
        (docx("x"), "application/zip", "a.zip", "office"),
        (qr_png("x"), "application/octet-stream", "", "image"),
        (qr_png("x"), "text/plain", "notes.txt", "image"),
        (b"<html><body>x</body></html>", "application/octet-stream", "", "html"),
        (b"<p>x</p>", "text/html; charset=utf-8", "", "html"),
        (b"a,b\r\n1,2", "text/csv", "", "text"),
        (b"BEGIN:VCALENDAR\r\nEND:VCALENDAR", "application/octet-stream", "", "calendar"),
        (b"{\\rtf1 hello}", "application/msword", "a.doc", "rtf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "application/octet-stream", "", "ole"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)), "audio/mpeg", "a.mp3", "media"),
        (bytes(range(256)) * 4, "application/octet-stream", "x.bin", "binary"),
        (b"From: a@example.com\r\n\r\nhi", "message/rfc822", "", "message"),
    ],
)
def test_sniff(data: bytes, declared: str, name: str, fmt: str) -> None:
    assert sniff(data, declared, name) == fmt


@pytest.mark.parametrize(
    "body",
    [
        "ID3 ดูที่ https://evil.example.com/x",  # looks like audio magic, is text
        "The header of a PDF file is %PDF-1.7; see https://evil.example.com/x",
        "OggS https://evil.example.com/x",
    ],
)
def test_text_that_starts_like_a_binary_format_is_still_read(body: str) -> None:
    r = scan_message(message(body))
    assert [x.url for x in r.findings] == ["https://evil.example.com/x"]
