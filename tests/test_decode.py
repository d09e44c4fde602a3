from __future__ import annotations

import pytest

from nolink.decode import b64decode, codec_for, decode_bytes, header_text, qpdecode, transfer_decode

THAI = "เรียน ท่านผู้มีสิทธิ์ ดูที่ www.dopa.go.th และประกาศ"


@pytest.mark.parametrize(
    "raw",
    [
        b"aHR0cHM6Ly9leGFtcGxlLmNvbQ==",
        b"aHR0cHM6Ly9leGFtcGxlLmNvbQ",  # padding missing
        b"aHR0cHM6Ly9l\r\neGFtcGxlLmNvbQ==\r\n",
        b"aHR0c!HM6Ly9l*eGFt cGxl\tLmNvbQ==",  # stray characters
        b"aHR0cHM6Ly9leGFtcGxlLmNvbQ=x",  # junk after the padding
        b"aHR0cHM6Ly9leGFtcGxlLmNvbQA",  # one character too many: dropped
    ],
)
def test_base64_repairs(raw: bytes) -> None:
    assert b64decode(raw).startswith(b"https://example.com")


def test_quoted_printable_soft_break_inside_url() -> None:
    assert qpdecode(b"see https://exa=\r\nmple.com/a=3Db") == b"see https://example.com/a=b"
    assert qpdecode(b"broken =ZZ escape") == b"broken =ZZ escape"


def test_transfer_decode_unknown_is_identity() -> None:
    assert transfer_decode(b"abc", "x-unknown") == b"abc"
    assert transfer_decode(b"YWJj", " BASE64 ") == b"abc"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("tis-620", "tis_620"),
        ("TIS620", "tis_620"),
        ("windows-874", "cp874"),
        ("x-windows-874", "cp874"),
        ("iso-8859-11", "iso8859_11"),
        ("utf-8", "utf_8"),
        ("bogus", ""),
        ("", ""),
    ],
)
def test_charset_labels(label: str, codec: str) -> None:
    assert codec_for(label).replace("-", "_") == codec


@pytest.mark.parametrize("charset", ["utf-8", "tis-620", "windows-874", "iso-8859-11", "utf-16"])
def test_declared_charsets(charset: str) -> None:
    assert decode_bytes(THAI.encode(codec_for(charset)), charset) == THAI


@pytest.mark.parametrize("declared", [None, "bogus-charset", "iso-8859-1", "us-ascii", "windows-1252"])
def test_thai_with_missing_or_wrong_charset(declared: str | None) -> None:
    assert decode_bytes(THAI.encode("cp874"), declared) == THAI


def test_utf8_with_wrong_label_and_undecodable_bytes() -> None:
    assert decode_bytes(THAI.encode(), "us-ascii") == THAI
    junk = bytes(range(256)) * 4
    assert len(decode_bytes(junk, "utf-8")) > 0  # never raises


def test_header_url_split_across_encoded_words() -> None:
    v = "=?UTF-8?B?4LiU4Li54LiX4Li14LmIIGh0dHBzOi8vZXhh?=\r\n =?UTF-8?Q?mple.com?="
    assert header_text(v) == "ดูที่ https://example.com"


def test_header_tis620_and_malformed() -> None:
    enc = "=?TIS-620?B?" + __import__("base64").b64encode("ประกาศ".encode("tis-620")).decode() + "?="
    assert header_text(enc) == "ประกาศ"
    assert header_text("=?bogus?Q?abc?= plain") in ("abc plain", "=?bogus?Q?abc?= plain")
    assert header_text("=?UTF-8?B?not base64!!?=")  # never raises
