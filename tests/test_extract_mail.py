"""Mail containers as whole messages: S/MIME, MHTML, iCalendar/vCard, and office files attached."""

from __future__ import annotations

import base64
import datetime
import zlib
from functools import cache
from pathlib import Path

import pytest

from mail import attachment, message, multipart, part
from nolink import scan_message
from nolink.extract import calendar, mhtml

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "office"
INNER_LINK = (
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    + "ลงทะเบียนที่ https://evil.example.com/reg".encode()
    + b"\r\n"
)
INNER_CLEAN = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "แจ้งกำหนดการประชุม".encode() + b"\r\n"


def urls(data: bytes) -> list[str]:
    return [x.url for x in scan_message(data).findings]


# -- S/MIME ---------------------------------------------------------------------------------------


@cache
def _signer():  # type: ignore[no-untyped-def]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "saraban@example.go.th")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def signed(content: bytes, detached: bool = False) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, key = _signer()
    opts = [pkcs7.PKCS7Options.DetachedSignature] if detached else []
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, opts)
    )


def smime_message(der: bytes, smime_type: str) -> bytes:
    return message(
        base64.encodebytes(der),
        f'application/pkcs7-mime; smime-type={smime_type}; name="smime.p7m"',
        "base64",
        'Content-Disposition: attachment; filename="smime.p7m"\r\n',
    )


def test_opaque_signed_message_is_unwrapped() -> None:
    assert urls(smime_message(signed(INNER_LINK), "signed-data")) == ["https://evil.example.com/reg"]


def test_opaque_signed_clean_message_is_clean() -> None:
    r = scan_message(smime_message(signed(INNER_CLEAN), "signed-data"))
    assert r.verdict == "clean" and not r.unscannable


def test_detached_signature_needs_nothing() -> None:
    sig = attachment(signed(INNER_CLEAN, detached=True), "application/pkcs7-signature", "smime.p7s")
    body, ctype = multipart([INNER_CLEAN, sig], "signed")
    assert scan_message(message(body, ctype + '; protocol="application/pkcs7-signature"')).verdict == "clean"
    body, ctype = multipart([INNER_LINK, sig], "signed")
    assert urls(message(body, ctype)) == ["https://evil.example.com/reg"]


def test_encrypted_smime_is_unscannable() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    cert, _ = _signer()
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(INNER_CLEAN)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [])
    )
    r = scan_message(smime_message(der, "enveloped-data"))
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["encrypted"]


def test_compressed_smime_is_inflated() -> None:
    from asn1crypto import cms

    info = cms.ContentInfo(
        {
            "content_type": "compressed_data",
            "content": cms.CompressedData(
                {
                    "version": "v0",
                    "compression_algorithm": {"algorithm": "zlib"},
                    "encap_content_info": {"content_type": "data", "content": zlib.compress(INNER_LINK)},
                }
            ),
        }
    )
    assert urls(smime_message(info.dump(), "compressed-data")) == ["https://evil.example.com/reg"]


def test_garbage_smime_is_unparseable() -> None:
    r = scan_message(smime_message(b"\x30\x03\x02\x01", "signed-data"))
    assert [u.reason for u in r.unscannable] == ["unparseable"]


# -- MHTML ------------------------------------------------------------------------------------------

WORD_MHT = (
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/related; boundary="----=_NextPart_01DA"\r\n\r\n'
    "------=_NextPart_01DA\r\n"
    "Content-Location: file:///C:/Users/clerk/Documents/letter.htm\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    'Content-Type: text/html; charset="windows-874"\r\n\r\n'
    '<html xmlns:o=3D"urn:schemas-microsoft-com:office:office" xmlns=3D"http://www.w3.org/TR/REC-html40">'
    '<head><link rel=3DFile-List href=3D"letter_files/filelist.xml"></head><body>'
    '<p>{text}</p><img src=3D"letter_files/image001.png"></body></html>\r\n'
    "------=_NextPart_01DA\r\n"
    "Content-Location: file:///C:/Users/clerk/Documents/letter_files/colorschememapping.xml\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "Content-Type: text/xml\r\n\r\n"
    '<?xml version=3D"1.0"?><a:clrMap xmlns:a=3D"http://schemas.openxmlformats.org/drawingml/2006/main" bg1=3D"lt1"/>\r\n'
    "------=_NextPart_01DA\r\n"
    "Content-Location: file:///C:/Users/clerk/Documents/letter_files/image001.png\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Type: image/png\r\n\r\n"
    "{png}\r\n"
    "------=_NextPart_01DA--\r\n"
)


def mht(text: str, png: bytes = b"") -> bytes:
    import quopri

    from mail import qr_png

    png = png or qr_png("เลขที่ มท ๐๓๐๙")
    qp = quopri.encodestring(text.encode("cp874")).decode()
    return WORD_MHT.replace("{text}", qp).replace("{png}", base64.encodebytes(png).decode()).encode()


def test_word_mht_with_only_its_own_locations_is_clean() -> None:
    data = mht("หนังสือแจ้งการประชุม")
    r = scan_message(message(b"see attached", "text/plain") + b"")
    body, ctype = multipart(
        [
            part("ดูเอกสารแนบ", "text/plain; charset=utf-8"),
            attachment(data, "application/octet-stream", "letter.mht"),
        ]
    )
    r = scan_message(message(body, ctype))
    assert r.verdict == "clean", [str(x) for x in r.findings]
    assert not mhtml.parse_mhtml(data).urls


def test_mht_declared_as_a_message_is_still_mhtml() -> None:
    """Outlook attaches a .mht as message/rfc822; inside a .msg or an archive it arrives as bytes
    with that declared type and is read as MHTML (its file:/// locations are no links)."""
    from nolink.extract import sniff

    assert sniff(mht("x"), "message/rfc822", "letter.mht") == "mhtml"
    assert sniff(mht("x"), "message/rfc822", "fwd.eml") == "message"


def test_link_in_mht_text_and_qr_in_its_picture() -> None:
    from mail import qr_png

    data = mht("ดูที่ www.dla.go.th/form", qr_png("https://qr.example.com/mht"))
    body, ctype = multipart(
        [
            part("ดูเอกสารแนบ", "text/plain; charset=utf-8"),
            attachment(data, "application/x-mimearchive", "letter.mht"),
        ]
    )
    assert sorted(urls(message(body, ctype))) == ["http://www.dla.go.th/form", "https://qr.example.com/mht"]


def test_mht_saved_from_the_web_resolves_relative_links() -> None:
    data = (
        b'Content-Type: multipart/related; boundary="b"\r\n\r\n--b\r\nContent-Location: https://news.example.com/a/page.html\r\n'
        b'Content-Type: text/html\r\n\r\n<a href="next.html">next</a>\r\n--b--\r\n'
    )
    e = mhtml.parse_mhtml(data)
    assert e.texts[0].base == "https://news.example.com/a/page.html"


# -- iCalendar and vCard -------------------------------------------------------------------------------

ICS = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\r\n"
    "BEGIN:VEVENT\r\nUID:040000008200E00074C5B7101A82E00800000000\r\nDTSTART:20260218T090000Z\r\n"
    "SUMMARY:ประชุมประจำเดือน\r\n"
    "DESCRIPTION:ห้องประชุม ๒ ชั้น ๓\\nลงทะเบียนที่ https://evil.exa\r\n mple.com/reg\\, ด่วน\r\n"
    'LOCATION;ALTREP="https://maps.example.com/room2":ห้อง ๒\r\n'
    "ORGANIZER;CN=สารบรรณ:mailto:saraban@example.go.th\r\n"
    "URL:https://event.example.com/e/1\r\n"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_icalendar_folded_url_parameters_and_url_property() -> None:
    e = calendar.parse(ICS.encode())
    assert [u.url for u in e.urls] == ["https://maps.example.com/room2", "https://event.example.com/e/1"]
    body, ctype = multipart(
        [
            part("นัดประชุม", "text/plain; charset=utf-8"),
            part(ICS, "text/calendar; method=REQUEST; charset=utf-8"),
        ],
        "alternative",
    )
    assert sorted(urls(message(body, ctype))) == [
        "https://event.example.com/e/1",
        "https://evil.example.com/reg",
        "https://maps.example.com/room2",
    ]


def test_outlook_html_description_is_read_as_html() -> None:
    alt = (
        'X-ALT-DESC;FMTTYPE=text/html:<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2//EN">\\n<html xmlns:o="urn:schemas-'
        '\r\n microsoft-com:office:office" xmlns="http://www.w3.org/TR/REC-html40"><body><p>ประชุม{link}</p></body></html>'
    )
    base = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:ประชุม\r\n{alt}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    clean = base.format(alt=alt.format(link="")).encode()
    linked = base.format(alt=alt.format(link='<a href="https://alt.example.com/">x</a>')).encode()
    for data, expect in ((clean, []), (linked, ["https://alt.example.com/"])):
        body, ctype = multipart(
            [part("นัด", "text/plain; charset=utf-8"), attachment(data, "text/calendar", "i.ics")]
        )
        assert urls(message(body, ctype)) == expect


def test_icalendar_without_links_is_clean() -> None:
    clean = "\r\n".join(
        line for line in ICS.split("\r\n") if not line.startswith(("LOCATION", "URL", "DESCRIPTION", " mple"))
    )
    body, ctype = multipart(
        [
            part("นัดประชุม", "text/plain; charset=utf-8"),
            attachment(clean.encode(), "text/calendar", "invite.ics"),
        ]
    )
    assert scan_message(message(body, ctype)).verdict == "clean"


def test_vcard_21_quoted_printable_with_soft_breaks_and_charset() -> None:
    note = "ติดต่อ www.dopa.go.th/contact".encode("cp874")
    qp = "".join(f"={b:02X}" for b in note)
    qp = qp[:40] + "=\r\n" + qp[40:]
    vcf = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=WINDOWS-874:Somchai\r\n"
        f"NOTE;CHARSET=WINDOWS-874;ENCODING=QUOTED-PRINTABLE:{qp}\r\n"
        "TEL;WORK:021234567\r\nEMAIL;INTERNET:somchai@example.go.th\r\nEND:VCARD\r\n"
    )
    e = calendar.parse(vcf.encode())
    assert any("www.dopa.go.th/contact" in t.text for t in e.texts)
    body, ctype = multipart(
        [part("นามบัตร", "text/plain; charset=utf-8"), attachment(vcf.encode(), "text/x-vcard", "somchai.vcf")]
    )
    assert urls(message(body, ctype)) == ["http://www.dopa.go.th/contact"]


def test_vcard_photo_is_a_picture_and_url_a_link() -> None:
    from mail import qr_png

    photo = base64.b64encode(qr_png("https://photo.example.com/")).decode()
    folded = "\r\n ".join(photo[i : i + 70] for i in range(0, len(photo), 70))
    vcf = f"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Somchai\r\nPHOTO;ENCODING=b;TYPE=PNG:{folded}\r\nitem1.URL:https://home.example.com/\r\nEND:VCARD\r\n"
    e = calendar.parse(vcf.encode())
    assert len(e.images) == 1 and [u.url for u in e.urls] == ["https://home.example.com/"]
    body, ctype = multipart(
        [part("นามบัตร", "text/plain; charset=utf-8"), attachment(vcf.encode(), "text/vcard", "c.vcf")]
    )
    assert sorted(urls(message(body, ctype))) == ["https://home.example.com/", "https://photo.example.com/"]


def test_plain_vcard_is_clean() -> None:
    vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:สมชาย ใจดี\r\nORG:กรมการปกครอง\r\nTEL:02-123-4567\r\nEMAIL:somchai@dopa.go.th\r\nEND:VCARD\r\n"
    body, ctype = multipart(
        [part("นามบัตร", "text/plain; charset=utf-8"), attachment(vcf.encode(), "text/vcard", "c.vcf")]
    )
    assert scan_message(message(body, ctype)).verdict == "clean"


# -- office files as attachments of whole messages -----------------------------------------------------------


@pytest.mark.parametrize(
    "name,declared",
    [
        ("letter-logo.odt", "application/vnd.oasis.opendocument.text"),
        ("letter-logo.docx", "application/octet-stream"),
        ("letter-logo.doc", "application/msword"),
        ("sheet-clean.xls", "application/vnd.ms-excel"),
    ],
)
def test_clean_office_attachments_are_clean(name: str, declared: str) -> None:
    body, ctype = multipart(
        [
            part("ส่งหนังสือ", "text/plain; charset=utf-8"),
            attachment((FIXTURES / name).read_bytes(), declared, name),
        ]
    )
    r = scan_message(message(body, ctype))
    assert r.verdict == "clean", ([str(x) for x in r.findings], r.unscannable)


@pytest.mark.parametrize(
    "name,url",
    [
        ("letter-link.doc", "https://evil.example.com/pay"),
        ("letter-link.rtf", "https://evil.example.com/pay"),
        ("sheet-link.xls", "https://evil.example.com/pay"),
        ("letter-qr.docx", "https://qr.example.com/form"),
        ("letter-qr.odt", "https://qr.example.com/form"),
        ("letter-qr.doc", "https://qr.example.com/form"),
    ],
)
def test_office_attachments_with_links(name: str, url: str) -> None:
    body, ctype = multipart(
        [
            part("ส่งหนังสือ", "text/plain; charset=utf-8"),
            attachment((FIXTURES / name).read_bytes(), "application/octet-stream", name),
        ]
    )
    assert url in urls(message(body, ctype))


def _mht_as_body(data: bytes, extra_top: str = "") -> bytes:
    """A Word .mht sent as the message itself: its MIME headers become the message's."""
    return (
        "From: Saraban <saraban@example.go.th>\r\nTo: somchai@example.com\r\nSubject: letter\r\n" + extra_top
    ).encode() + data


def test_word_mht_sent_as_the_message_body_is_clean() -> None:
    """Its parts' Content-Location file:///C:/… is the sender's disk: neither that header nor the
    relative img src / link href resolved against it is a link (README "What counts as a link")."""
    for top in ("", "Content-Location: file:///C:/Users/clerk/Documents/letter.mht\r\n"):
        r = scan_message(_mht_as_body(mht("หนังสือแจ้งการประชุม"), top))
        assert r.verdict == "clean", [str(x) for x in r.findings]


@pytest.mark.parametrize(
    "location",
    [
        "file:///C:/Users/clerk/letter.htm",
        "file://C:/Users/clerk/letter.htm",
        "file://localhost/home/c/l.htm",
    ],
)
def test_relative_links_under_a_local_disk_base_are_no_links(location: str) -> None:
    html = '<p>x</p><img src="letter_files/image001.png"><a href="../other.htm">o</a>'
    body, ctype = multipart(
        [part(html, "text/html; charset=utf-8", extra=f"Content-Location: {location}\r\n")], "related"
    )
    r = scan_message(message(body, ctype, headers=f"Content-Location: {location}\r\n"))
    assert r.verdict == "clean", [str(x) for x in r.findings]


def test_local_disk_base_keeps_absolute_and_other_host_links() -> None:
    html = (
        '<img src="letter_files/image001.png"><a href="https://www.evil.example.com/login">x</a>'
        '<a href="www.bare.example.com">z</a>'
        '<a href="file://fileserver.example.com/share/a.doc">y</a>'
    )
    loc = "Content-Location: file:///C:/Users/clerk/letter.htm\r\n"
    body, ctype = multipart([part(html, "text/html; charset=utf-8", extra=loc)], "related")
    r = scan_message(
        message(body, ctype, headers="Content-Location: file://fileserver.example.com/share/\r\n")
    )
    urls = [x.url for x in r.findings]
    assert "https://www.evil.example.com/login" in urls
    assert "http://www.bare.example.com" in urls  # a client takes a bare www. name for the web
    assert any(u.startswith("file://fileserver.example.com/share") for u in urls)
    assert not any(u.lower().startswith("file:///") or "letter_files" in u for u in urls), urls


def test_word_mht_as_a_7bit_forwarded_message_is_clean() -> None:
    body, ctype = multipart(
        [part("ดูเอกสารแนบ", "text/plain; charset=utf-8"), part(mht("หนังสือแจ้งการประชุม"), "message/rfc822")]
    )
    r = scan_message(message(body, ctype))
    assert r.verdict == "clean", [str(x) for x in r.findings]


def test_word_mht_as_a_base64_forwarded_message_is_clean_and_its_links_found() -> None:
    """Outlook sends a .mht as message/rfc822, often base64: decoded, then read as MHTML."""
    from mail import b64

    for text, verdict in (("หนังสือแจ้งการประชุม", "clean"), ("ดูที่ https://mht.example.com/x", "link")):
        p = part(
            b64(mht(text)),
            "message/rfc822",
            "base64",
            'Content-Disposition: attachment; filename="letter.mht"\r\n',
        )
        body, ctype = multipart([part("ดูเอกสารแนบ", "text/plain; charset=utf-8"), p])
        r = scan_message(message(body, ctype))
        assert r.verdict == verdict, [str(x) for x in r.findings]


# -- issue 19: an attachment name in raw UTF-8 (RFC 6532) ------------------------------------------


def raw_named_attachment(name: bytes, filename_param: bool = True) -> bytes:
    from mail import pdf

    body = base64.encodebytes(pdf(text="visit www.pdftext.example.com"))
    disposition = b'Content-Disposition: attachment; filename="' + name + b'"\r\n' if filename_param else b""
    return (
        b"From: a@example.com\r\nTo: b@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        b'--b\r\nContent-Type: application/pdf; name="' + name + b'"\r\n' + disposition + b""
        b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"\r\n--b--\r\n"
    )


@pytest.mark.parametrize(
    ("name", "filename_param"),
    [
        ("แบบฟอร์ม.pdf".encode(), True),  # RFC 6532: UTF-8 as it is, no encoded-word
        ("แบบฟอร์ม.pdf".encode(), False),  # only Content-Type's name=
        ("แบบฟอร์ม.pdf".encode("tis-620"), True),  # an older client's raw Thai code page
        (b"=?utf-8?b?" + base64.b64encode("แบบฟอร์ม.pdf".encode()) + b"?=", True),  # RFC 2047 as before
    ],
)
def test_attachment_name_in_raw_8bit_is_shown_as_sent(name: bytes, filename_param: bool) -> None:
    r = scan_message(raw_named_attachment(name, filename_param))
    assert [str(x.location).split(" › ")[0] for x in r.findings] == [
        "2 application/pdf attachment แบบฟอร์ม.pdf"
    ]
