"""Outlook's containers: .msg files (built with tests/cfb.py) and TNEF winmail.dat (built here),
with compressed RTF bodies, HTML bodies and attachments, as unit and whole-message tests."""

from __future__ import annotations

import struct

import pytest

import cfb
from mail import attachment, message, multipart, part, qr_png
from nolink import scan_message
from nolink.extract import msg, ole, rtf, tnef

# MS-OXRTFCP's example: "{\rtf1\ansi\ansicpg1252\pard hello world}\r\n" compressed
SPEC_EXAMPLE = bytes.fromhex(
    "2d0000002b0000004c5a4675f1c5c7a703000a007263706731323542320af32068656c090020627705b06c647d0a800fa0"
)


def lzfu(raw: bytes) -> bytes:
    """Compressed RTF with literals only, ended by the end-of-stream reference."""
    body = bytearray()
    for i in range(0, len(raw) - len(raw) % 8, 8):
        body += b"\x00" + raw[i : i + 8]
    tail = raw[len(raw) - len(raw) % 8 :]
    end = ((207 + len(raw)) % 4096) << 4
    body += bytes([1 << len(tail)]) + tail + struct.pack(">H", end)
    return struct.pack("<IIII", len(body) + 12, len(raw), 0x75465A4C, 0) + bytes(body)


def utf16(s: str) -> bytes:
    return s.encode("utf-16-le")


def test_compressed_rtf_spec_example() -> None:
    assert rtf.decompress(SPEC_EXAMPLE) == b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"


def test_compressed_rtf_literals_and_stored() -> None:
    raw = b"{\\rtf1 https://evil.example.com/x}"
    assert rtf.decompress(lzfu(raw)) == raw
    stored = struct.pack("<IIII", len(raw) + 12, len(raw), 0x414C454D, 0) + raw
    assert rtf.decompress(stored) == raw
    with pytest.raises(rtf.CompressedRtfError):
        rtf.decompress(struct.pack("<IIII", 12, 10**9, 0x75465A4C, 0))


# -- .msg ------------------------------------------------------------------------------------------


def msg_file(
    subject: str = "แจ้งการประชุม",
    body: str = "เรียน ท่านผู้อำนวยการ",
    html: bytes = b"",
    rtf_body: bytes = b"",
    attachments: list[dict[str, bytes]] | None = None,
) -> bytes:
    streams = {
        "__properties_version1.0": b"\x00" * 32,
        "__substg1.0_0037001F": utf16(subject),
        "__substg1.0_1000001F": utf16(body),
    }
    if html:
        streams["__substg1.0_10130102"] = html
    if rtf_body:
        streams["__substg1.0_10090102"] = lzfu(rtf_body)
    for i, a in enumerate(attachments or []):
        prefix = f"__attach_version1.0_#{i:08X}/"
        for k, v in a.items():
            streams[prefix + k] = v
    return cfb.build(streams)


def urls(data: bytes) -> list[str]:
    return sorted(x.url for x in scan_message(data).findings)


def with_attachment(data: bytes, name: str, ctype: str = "application/vnd.ms-outlook") -> bytes:
    body, ctype = multipart([part("ส่งต่อ", "text/plain; charset=utf-8"), attachment(data, ctype, name)])
    return message(body, ctype)


def test_msg_is_told_from_office_and_read() -> None:
    data = msg_file(body="ดูที่ www.dla.go.th/news")
    e = ole.parse(data)
    assert [t.where for t in e.texts] == ["subject", "body"]
    assert urls(with_attachment(data, "fwd.msg")) == ["http://www.dla.go.th/news"]


def test_msg_without_links_is_clean() -> None:
    r = scan_message(with_attachment(msg_file(), "clean.msg", "application/octet-stream"))
    assert r.verdict == "clean" and not r.unscannable


def test_msg_html_and_rtf_bodies() -> None:
    data = msg_file(
        html=b'<html><body><a href="https://html.example.com/">x</a></body></html>',
        rtf_body=b'{\\rtf1{\\field{\\*\\fldinst HYPERLINK "https://rtf.example.com/"}{\\fldrslt y}}}',
    )
    assert urls(with_attachment(data, "a.msg")) == ["https://html.example.com/", "https://rtf.example.com/"]


def test_msg_attachments_and_attached_message() -> None:
    inner = {
        "__substg1.0_3707001F": utf16("qr.png"),
        "__substg1.0_37010102": qr_png("https://qr.example.com/msg"),
    }
    nested = {
        "__substg1.0_3701000D/__properties_version1.0": b"\x00" * 24,
        "__substg1.0_3701000D/__substg1.0_0037001F": utf16("inner"),
        "__substg1.0_3701000D/__substg1.0_1000001F": utf16("https://nested.example.com/"),
    }
    data = msg_file(attachments=[inner, nested])
    e = msg.parse(data)
    assert [(c.name, c.where) for c in e.children] == [("qr.png", "attachment 1")]
    assert ("attachment 2 › message › body", "https://nested.example.com/") in [
        (t.where, t.text) for t in e.texts
    ]
    assert urls(with_attachment(data, "a.msg")) == [
        "https://nested.example.com/",
        "https://qr.example.com/msg",
    ]


def test_encrypted_office_in_ole_is_unscannable() -> None:
    data = cfb.build(
        {"EncryptionInfo": b"\x04\x00\x04\x00" + b"\x00" * 60, "EncryptedPackage": b"\x00" * 100}
    )
    r = scan_message(with_attachment(data, "secret.docx", "application/octet-stream"))
    assert r.verdict == "unscannable" and [u.reason for u in r.unscannable] == ["encrypted"]


def test_ppt_records_and_encrypted_ppt() -> None:
    atom = lambda t, d: struct.pack("<HHI", 0, t, len(d)) + d  # noqa: E731
    container = lambda t, d: struct.pack("<HHI", 0x000F, t, len(d)) + d  # noqa: E731
    doc = container(
        0x03E8, atom(0x0FA0, utf16("สไลด์ dopa.go.th")) + atom(0x0FBA, utf16("https://x.example.com/h"))
    )
    e = ole.parse(cfb.build({"PowerPoint Document": doc, "Current User": b"\x00" * 20}))
    assert "dopa.go.th" in e.texts[0].text and "https://x.example.com/h" in e.texts[0].text
    enc = cfb.build({"PowerPoint Document": doc, "EncryptedSummary": b"\x00" * 10})
    assert [u.reason for u in ole.parse(enc).unscannable] == ["encrypted"]


def test_xls_filepass_is_encrypted() -> None:
    book = struct.pack("<HH", 0x0809, 4) + b"\x00" * 4 + struct.pack("<HH", 0x002F, 2) + b"\x01\x00"
    assert [u.reason for u in ole.parse(cfb.build({"Workbook": book})).unscannable] == ["encrypted"]


def test_package_object_inside_ole_is_a_child() -> None:
    native = b"report.txt\x00C:\\report.txt\x00" + b"\x00\x00\x03\x00" + struct.pack("<I", 4) + b"tmp\x00"
    payload = b"https://ole10.example.com/"
    native = struct.pack("<IH", 0, 2) + native + struct.pack("<I", len(payload)) + payload
    e = ole.parse(cfb.build({"\x01Ole10Native": native, "\x01CompObj": b"\x00" * 20}))
    assert [(c.name, c.data) for c in e.children] == [("report.txt", payload)]


# -- TNEF -------------------------------------------------------------------------------------------


def attr(level: int, tag: int, value: bytes) -> bytes:
    return struct.pack("<BII", level, tag, len(value)) + value + struct.pack("<H", sum(value) & 0xFFFF)


def prop_var(ptype: int, pid: int, value: bytes) -> bytes:
    return struct.pack("<HHII", ptype, pid, 1, len(value)) + value + b"\x00" * (-len(value) % 4)


def props(*items: bytes) -> bytes:
    return struct.pack("<I", len(items)) + b"".join(items)


def tnef_stream(
    body: bytes = "เรียน ท่าน".encode("cp874"),
    mapi: bytes = b"",
    files: list[tuple[str, bytes]] | None = None,
    objects: list[bytes] | None = None,
) -> bytes:
    out = struct.pack("<IH", tnef.SIGNATURE, 0x1234)
    out += attr(1, 0x00089006, b"\x00\x00\x01\x00")
    out += attr(1, 0x00069007, struct.pack("<II", 874, 0))
    out += attr(1, 0x00018004, "แจ้ง".encode("cp874") + b"\x00")
    out += attr(1, 0x0002800C, body)
    if mapi:
        out += attr(1, 0x00069003, mapi)
    for name, data in files or []:
        out += attr(2, 0x00069002, b"\x01\x00" + b"\x00" * 12)
        out += attr(2, 0x00018010, name.encode("cp874") + b"\x00")
        out += attr(2, 0x0006800F, data)
        out += attr(2, 0x00069005, props(prop_var(0x001F, 0x3707, utf16(name) + b"\x00\x00")))
    for obj in objects or []:
        out += attr(2, 0x00069002, b"\x05\x00" + b"\x00" * 12)
        out += attr(2, 0x00069005, props(prop_var(0x000D, 0x3701, b"\x07\x03\x02\x00" + b"\x00" * 12 + obj)))
    return out


def test_tnef_bodies_and_attachments() -> None:
    mapi = props(
        struct.pack("<HHI", 0x0003, 0x0E07, 1),  # a fixed-size property first
        prop_var(
            0x0102,
            0x1009,
            lzfu(b'{\\rtf1{\\field{\\*\\fldinst HYPERLINK "https://rtf.example.com/t"}{\\fldrslt x}}}'),
        ),
        prop_var(0x0102, 0x1013, b'<a href="https://html.example.com/t">y</a>'),
    )
    data = tnef_stream(
        body="ดูที่ www.dla.go.th/t".encode("cp874"),
        mapi=mapi,
        files=[
            ("แบบฟอร์ม.txt", b"https://file.example.com/f"),
            ("qr.png", qr_png("https://qr.example.com/t")),
        ],
    )
    e = tnef.parse(data)
    assert [c.name for c in e.children] == ["แบบฟอร์ม.txt", "qr.png"]
    assert e.texts[0].text == "แจ้ง"
    assert urls(with_attachment(data, "winmail.dat", "application/ms-tnef")) == [
        "http://www.dla.go.th/t",
        "https://file.example.com/f",
        "https://html.example.com/t",
        "https://qr.example.com/t",
        "https://rtf.example.com/t",
    ]


def test_tnef_attached_message() -> None:
    inner = tnef_stream(body=b"https://inner.example.com/")
    e = tnef.parse(tnef_stream(objects=[inner]))
    assert ("attachment 1 › message › body", "https://inner.example.com/") in [
        (t.where, t.text) for t in e.texts
    ]


def test_tnef_without_links_is_clean() -> None:
    data = tnef_stream(files=[("หนังสือ.txt", "กำหนดการ".encode())])
    r = scan_message(with_attachment(data, "winmail.dat", "application/ms-tnef"))
    assert r.verdict == "clean" and not r.unscannable


def test_damaged_tnef_is_unscannable() -> None:
    data = tnef_stream()[:-7]
    r = scan_message(with_attachment(data, "winmail.dat", "application/ms-tnef"))
    assert r.verdict == "unscannable" and [u.reason for u in r.unscannable] == ["unparseable"]


def biff(rtype: int, body: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(body)) + body


def test_xls_shared_string_split_over_a_continue_record() -> None:
    """Excel continues long string tables in CONTINUE records; a URL straddling the boundary (with
    the new option byte there, switching 8-bit to UTF-16) is read whole."""
    first = "ลงทะเบียน"
    url = "https://evil.example.com/straddle"
    s1 = struct.pack("<HB", len(first), 1) + utf16(first)
    s2_head = struct.pack("<HB", len(url), 0) + url[:12].encode("latin-1")
    sst = struct.pack("<II", 2, 2) + s1 + s2_head
    cont = b"\x01" + utf16(url[12:])
    book = biff(0x0809, b"\x00" * 4) + biff(0x00FC, sst) + biff(0x003C, cont) + biff(0x000A, b"")
    e = ole.parse(cfb.build({"Workbook": book}))
    assert first in e.texts[0].text and url in e.texts[0].text
    assert ole.sst_strings([sst, cont]) == [first, url]


def test_word_document_embedded_in_an_ole_file_is_read() -> None:
    import io
    from pathlib import Path

    import olefile

    doc = olefile.OleFileIO(
        io.BytesIO((Path(__file__).parent / "fixtures/office/letter-link.doc").read_bytes())
    )
    streams = {
        f"ObjectPool/_1/{'/'.join(e)}": doc.openstream(e).read()
        for e in doc.listdir()
        if not e[0].startswith("\x05")
    }
    doc.close()
    host = cfb.build({"Workbook": biff(0x0809, b"\x00" * 4) + biff(0x000A, b""), **streams})
    assert [u.url for u in ole.parse(host).urls] == ["https://evil.example.com/pay"]


@pytest.mark.parametrize("stream", ["VisioDocument", "Quill/QuillSub/CONTENTS"])
def test_visio_and_publisher_are_unsupported_not_clean(stream: str) -> None:
    e = ole.parse(cfb.build({stream: b"\x00" * 64}))
    assert [u.reason for u in e.unscannable] == ["unsupported"]


def test_ole_file_of_no_document_kind_is_nothing() -> None:
    assert ole.parse(cfb.build({"Catalog": b"\x00" * 64})) == ole.Out().done()


def test_cloud_attachment_by_reference_is_a_link() -> None:
    cloud = {
        "__substg1.0_3707001F": utf16("รายงาน.docx"),
        "__substg1.0_370D001F": utf16("https://contoso-my.sharepoint.com/personal/x/รายงาน.docx"),
    }
    local = {"__substg1.0_3707001F": utf16("a.doc"), "__substg1.0_370D001F": utf16("C:\\Users\\clerk\\a.doc")}
    e = msg.parse(msg_file(attachments=[cloud, local]))
    assert [(u.url, u.where) for u in e.urls] == [
        ("https://contoso-my.sharepoint.com/personal/x/รายงาน.docx", "attachment 1 › reference")
    ]
    t = tnef.parse(
        tnef_stream(objects=[])
        + attr(2, 0x00069002, b"\x07\x00" + b"\x00" * 12)
        + attr(
            2, 0x00069005, props(prop_var(0x001F, 0x370D, utf16("https://cloud.example.com/f") + b"\x00\x00"))
        )
    )
    assert [u.url for u in t.urls] == ["https://cloud.example.com/f"]
