"""Whole messages built in the tests: encodings, charsets, nesting, headers, HTML, attachments."""

from __future__ import annotations

import base64
import quopri

import pytest

from mail import attachment, b64, docx, message, multipart, part, pdf, zipped
from nolink import Config, scan_message
from nolink.config import LinksConfig

THAI_LINK = "เรียน ท่านผู้มีสิทธิ์ กรุณาตรวจสอบที่www.dopa.go.thค่ะ"
THAI_CLEAN = "เรียน ท่านผู้มีสิทธิ์ ตามหนังสือ มท ๐๘๒๓.๒/ว ๕๒๗ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ โทร. 0 2123 4567"


def urls(data: bytes, config: Config | None = None) -> list[str]:
    return [x.url for x in scan_message(data, config).findings]


def locations(data: bytes) -> list[str]:
    return [str(x.location) for x in scan_message(data).findings]


@pytest.mark.parametrize("charset", ["utf-8", "tis-620", "windows-874", "iso-8859-11", "utf-16"])
@pytest.mark.parametrize("cte", ["8bit", "base64", "quoted-printable", "binary"])
def test_every_encoding_and_charset(charset: str, cte: str) -> None:
    codec = {"windows-874": "cp874", "iso-8859-11": "iso8859_11"}.get(charset, charset)
    raw = THAI_LINK.encode(codec)
    body = b64(raw) if cte == "base64" else quopri.encodestring(raw) if cte == "quoted-printable" else raw
    data = message(body, f"text/plain; charset={charset}", cte)
    assert urls(data) == ["http://www.dopa.go.th"]
    clean = THAI_CLEAN.encode(codec)
    body = (
        b64(clean) if cte == "base64" else quopri.encodestring(clean) if cte == "quoted-printable" else clean
    )
    assert scan_message(message(body, f"text/plain; charset={charset}", cte)).verdict == "clean"


def test_unknown_and_wrong_charset() -> None:
    raw = THAI_LINK.encode("cp874")
    assert urls(message(raw, "text/plain; charset=x-no-such", "8bit")) == ["http://www.dopa.go.th"]
    found = scan_message(message(raw, "text/plain; charset=iso-8859-1", "8bit")).findings
    assert [x.text for x in found] == ["www.dopa.go.th"]


def test_quoted_printable_soft_break_inside_the_url() -> None:
    body = "ดูที่ https://www.dopa.go.th/ประกาศ".encode()
    qp = quopri.encodestring(body)  # one Thai character is 9 encoded bytes: the URL gets broken
    qp = qp.replace(b"dopa", b"do=\r\npa")
    assert urls(message(qp, "text/plain; charset=utf-8", "quoted-printable")) == [
        "https://www.dopa.go.th/ประกาศ"
    ]


def test_broken_base64_body() -> None:
    enc = base64.b64encode("ดูที่ https://evil.example.com/x".encode()).decode().rstrip("=")
    body = (enc[:10] + "!!\r\n" + enc[10:]).encode()
    assert urls(message(body, "text/plain; charset=utf-8", "base64")) == ["https://evil.example.com/x"]


def test_subject_split_across_encoded_words() -> None:
    subj = "=?UTF-8?B?4LiU4Li54LiX4Li14LmIIGh0dHBzOi8vZXhh?=\r\n =?UTF-8?Q?mple.com/a?="
    data = message("clean body", headers="X-Dummy: 1\r\n").replace(
        b"Subject: test", f"Subject: {subj}".encode()
    )
    found = scan_message(data).findings
    assert [(x.url, x.location.field, x.location.category) for x in found] == [
        ("https://example.com/a", "header Subject", "subject")
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('From: "www.evil.example.com" <a@example.go.th>\r\n', ["http://www.evil.example.com"]),
        (
            "Reply-To: =?UTF-8?Q?https=3A//evil.example.com?= <x@example.com>\r\n",
            ["https://evil.example.com"],
        ),
        (
            "List-Unsubscribe: <https://list.example.com/u?x=1>, <mailto:u@example.com>\r\n",
            ["https://list.example.com/u?x=1"],
        ),
        ("List-Archive: <http://archive.example.com/>\r\n", ["http://archive.example.com/"]),
        ("Content-Base: http://base.example.com/\r\n", ["http://base.example.com/"]),
        ("Received: from mx.example.com (mx.example.com [192.0.2.1]) by www.example.net\r\n", []),
        ("X-Mailer: http://mailer.example.com/\r\n", []),
        ("Cc: somchai@example.com, Somsri <somsri@example.co.th>\r\n", []),
    ],
)
def test_headers(header: str, expected: list[str]) -> None:
    assert urls(message("ข้อความ", headers=header)) == expected


def test_trace_headers_can_be_added_by_config() -> None:
    cfg = Config(links=LinksConfig(headers=("Subject", "X-*")))
    assert urls(message("x", headers="X-Mailer: http://mailer.example.com/\r\n"), cfg) == [
        "http://mailer.example.com/"
    ]


def test_nested_parts_are_numbered() -> None:
    alt, alt_type = multipart(
        [part("plain, no link", "text/plain"), part('<a href="https://h.example.com/">x</a>', "text/html")],
        "alternative",
        "b1",
    )
    body, ctype = multipart(
        [part(alt, alt_type), attachment(b"see www.att.example.com", "text/plain", "a.txt")]
    )
    assert locations(message(body, ctype)) == [
        "1.2 text/html attr a href",
        "2 text/plain attachment a.txt @4",
    ]


def test_forwarded_message_rfc822() -> None:
    inner = message("ดูที่ dla.go.th ค่ะ").replace(b"Subject: test", b"Subject: www.inner-subject.example.com")
    body, ctype = multipart([part("see attached", "text/plain"), part(inner, "message/rfc822")])
    found = scan_message(message(body, ctype)).findings
    assert [(x.url, str(x.location)) for x in found] == [
        ("http://www.inner-subject.example.com", "2 header Subject @0"),
        ("http://dla.go.th", "2.1 text/plain body @6"),
    ]


def nested(depth: int, leaf: bytes) -> bytes:
    data = leaf
    for i in range(depth):
        body, ctype = multipart([data], "mixed", f"n{i}")
        data = part(body, ctype)
    return message(*multipart([data], "mixed", "top"))


def test_deep_nesting_finds_the_link_within_the_limit() -> None:
    r = scan_message(nested(60, part("https://deep.example.com/", "text/plain")))
    assert r.verdict == "link"
    assert r.findings[0].location.part.count(".") == 60  # 61 levels: the top and 60 nested


def test_nesting_beyond_the_limit_is_an_error_not_a_pass() -> None:
    r = scan_message(nested(120, part("clean text", "text/plain")))
    assert r.verdict == "error"
    assert "deeper than 100" in r.errors[0]
    cfg = Config(links=LinksConfig(max_depth=200))
    assert scan_message(nested(120, part("clean text", "text/plain")), cfg).verdict == "clean"


def test_html_part_cases() -> None:
    html = (
        '<html><body><p>เรียน ท่าน</p><a href="&#104;ttps://e1.example.com/">ที่นี่</a>'
        "<!-- http://comment.example.com/ --><a href='mailto:x@dopa.go.th'>mail</a>"
        '<img src="cid:logo"><p>ดูที่www.dopa.go.thค่ะ</p></body></html>'
    )
    data = message(quopri.encodestring(html.encode()), "text/html; charset=utf-8", "quoted-printable")
    assert urls(data) == ["https://e1.example.com/", "http://www.dopa.go.th"]


def test_html_in_windows_874() -> None:
    html = '<p>ดูที่ <a href="https://e.example.com/">ประกาศ</a></p>'.encode("cp874")
    assert urls(message(b64(html), "text/html; charset=windows-874", "base64")) == ["https://e.example.com/"]


def test_pdf_annotation_and_text() -> None:
    body, ctype = multipart(
        [
            part("ดูไฟล์แนบ", "text/plain"),
            attachment(pdf(uri="https://pdf.example.com/a"), "application/pdf", "a.pdf"),
        ]
    )
    assert urls(message(body, ctype)) == ["https://pdf.example.com/a"]
    body, ctype = multipart(
        [attachment(pdf(text="visit www.pdftext.example.com"), "application/pdf", "b.pdf")]
    )
    found = scan_message(message(body, ctype)).findings
    assert [x.url for x in found] == ["http://www.pdftext.example.com"]
    assert found[0].location.field == "attachment b.pdf › page 1"


def test_clean_pdf_is_clean() -> None:
    body, ctype = multipart([attachment(pdf(text="no links here 1.2.3"), "application/pdf", "c.pdf")])
    assert scan_message(message(body, ctype)).verdict == "clean"


def test_docx_relationship_and_text() -> None:
    body, ctype = multipart(
        [attachment(docx(link="https://docx.example.com/"), "application/octet-stream", "a.docx")]
    )
    assert urls(message(body, ctype)) == ["https://docx.example.com/"]
    body, ctype = multipart(
        [attachment(docx(text="ดูที่www.dopa.go.thค่ะ"), "application/octet-stream", "b.docx")]
    )
    assert urls(message(body, ctype)) == ["http://www.dopa.go.th"]


def test_zip_members_are_opened() -> None:
    z = zipped({"notes/readme.txt": "ดูที่ https://zip.example.com/".encode(), "img.bin": bytes(range(256))})
    body, ctype = multipart([attachment(z, "application/zip", "files.zip")])
    found = scan_message(message(body, ctype)).findings
    assert [x.url for x in found] == ["https://zip.example.com/"]
    assert "files.zip › notes/readme.txt" in found[0].location.field


def test_zip_depth_is_bounded() -> None:
    z = zipped({"a.txt": b"https://inner.example.com/"})
    for i in range(5):
        z = zipped({f"layer{i}.zip": z})
    body, ctype = multipart([attachment(z, "application/zip", "deep.zip")])
    r = scan_message(message(body, ctype))
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["too_deep"]
    assert any("nested deeper" in x for x in r.unchecked)


@pytest.mark.parametrize(
    ("data", "ctype", "name"),
    [
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nURL:https://cal.example.com/e\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "text/calendar",
            "invite.ics",
        ),
        (b"BEGIN:VCARD\r\nURL:https://card.example.com/\r\nEND:VCARD\r\n", "text/vcard", "card.vcf"),
        (b"[InternetShortcut]\r\nURL=https://short.example.com/\r\n", "application/octet-stream", "open.url"),
        (b"name,site\r\nsomchai,https://csv.example.com/\r\n", "text/csv", "list.csv"),
    ],
)
def test_text_like_attachments(data: bytes, ctype: str, name: str) -> None:
    body, ct = multipart([part("ดูไฟล์แนบ", "text/plain"), attachment(data, ctype, name)])
    assert len(urls(message(body, ct))) == 1


def test_attachment_file_names() -> None:
    body, ctype = multipart([attachment(b"\x00\x01", "application/octet-stream", "report.zip")])
    assert scan_message(message(body, ctype)).verdict == "clean"
    body, ctype = multipart(
        [attachment(b"\x00\x01", "application/octet-stream", "go to www.evil.example.com.pdf")]
    )
    assert scan_message(message(body, ctype)).verdict == "link"


def test_attachments_can_be_switched_off() -> None:
    body, ctype = multipart([attachment(pdf(uri="https://pdf.example.com/a"), "application/pdf", "a.pdf")])
    assert (
        scan_message(message(body, ctype), Config(links=LinksConfig(scan_attachments=False))).verdict
        == "clean"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\xff garbage",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nno end",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all https://nb.example.com/",
        b'Content-Type: text/plain; charset="\r\n\r\nbad params',
        b"Subject: =?UTF-8?B?\xff\xfe?=\r\nContent-Type: text/html\r\n\r\n<a href=",
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
    ],
)
def test_malformed_input_gets_a_verdict(data: bytes) -> None:
    r = scan_message(data)
    assert r.verdict in ("clean", "link", "error")


def test_missing_final_boundary_still_scanned() -> None:
    data = message(
        b"--x\r\nContent-Type: text/plain\r\n\r\nsee https://mfb.example.com/",
        'multipart/mixed; boundary="x"',
    )
    assert urls(data) == ["https://mfb.example.com/"]


def test_wrong_declared_boundary_is_recovered() -> None:
    body = b"--used\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    body += b64(b'<a href="https://wb.example.com/">x</a>') + b"--used--\r\n"
    assert urls(message(body, 'multipart/alternative; boundary="declared"')) == ["https://wb.example.com/"]


# --- attached messages in every transfer encoding (issue 9 review) --------------------------------


def _forwarded(cte: str, inner: bytes) -> bytes:
    encoded = {
        "base64": b64(inner),
        "quoted-printable": quopri.encodestring(inner),
    }.get(cte, inner)
    body, ctype = multipart([part("see attached", "text/plain"), part(encoded, "message/rfc822", cte)])
    return message(body, ctype)


@pytest.mark.parametrize("cte", ["7bit", "8bit", "binary", "base64", "quoted-printable"])
def test_forwarded_message_in_every_transfer_encoding(cte: str) -> None:
    """Python's parser reads a message/rfc822 body as a message before decoding it: base64 or
    quoted-printable must be decoded first, or the forwarded link passes as clean."""
    inner = message("ดูที่ https://fwd.example.com/login ค่ะ=").replace(
        b"Subject: test", b"Subject: www.inner-subject.example.com"
    )
    result = scan_message(_forwarded(cte, inner))
    assert [(x.url, str(x.location)) for x in result.findings] == [
        ("http://www.inner-subject.example.com", "2 header Subject @0"),
        ("https://fwd.example.com/login", "2.1 text/plain body @6"),
    ]
    assert not result.errors and not result.unscannable


def test_forwarded_message_that_cannot_be_decoded_is_unscannable() -> None:
    body, ctype = multipart(
        [
            part("see attached", "text/plain"),
            part("@@@@ not base64 at all @@@@\r\n", "message/rfc822", "base64"),
        ]
    )
    result = scan_message(message(body, ctype))
    assert result.verdict == "unscannable"
    assert result.unscannable and result.unscannable[0].location.part == "2"


def test_clean_forwarded_base64_message_is_clean() -> None:
    result = scan_message(_forwarded("base64", message("เรียน ท่าน ไม่มีลิงก์")))
    assert result.verdict == "clean"


def test_message_partial_is_unscannable() -> None:
    """A piece of a message cannot be reassembled from one mail: never clean; the piece is still
    searched."""
    for text, verdict in (
        ("the first piece, no link", "unscannable"),
        ("see https://piece.example.com/", "link"),
    ):
        inner = message(text)
        body, ctype = multipart(
            [
                part("pieces", "text/plain"),
                part(inner, 'message/partial; id="x@example.com"; number=1; total=2'),
            ]
        )
        result = scan_message(message(body, ctype))
        assert result.verdict == verdict
        assert [u.location.part for u in result.unscannable] == ["2"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ('access-type=URL; URL="https://ext.example.com/file.pdf"', "https://ext.example.com/file.pdf"),
        (
            'access-type=anon-ftp; site="ftp.example.org"; directory="pub"; name="a.pdf"',
            "ftp://ftp.example.org/pub/a.pdf",
        ),
    ],
)
def test_message_external_body_target_is_a_link(params: str, expected: str) -> None:
    phantom = b"Content-Type: application/pdf\r\n\r\n"
    body, ctype = multipart([part("see", "text/plain"), part(phantom, f"message/external-body; {params}")])
    result = scan_message(message(body, ctype))
    assert [(x.url, x.location.part) for x in result.findings] == [(expected, "2")]


def test_message_external_body_that_cannot_be_followed_is_unscannable() -> None:
    phantom = b"Content-Type: application/pdf\r\n\r\n"
    body, ctype = multipart(
        [part("see", "text/plain"), part(phantom, 'message/external-body; access-type=local-file; name="/x"')]
    )
    result = scan_message(message(body, ctype))
    assert result.verdict == "unscannable" and [u.location.part for u in result.unscannable] == ["2"]
