"""Text bodies as a client shows them: format=flowed, text/enriched, uuencoded blocks, AMP HTML."""

from __future__ import annotations

import binascii

from mail import message, multipart, part, qr_png
from nolink import scan_message
from nolink.extract import textbody


def urls(data: bytes) -> list[str]:
    return [x.url for x in scan_message(data).findings]


def test_flowed_delsp_joins_a_url_broken_by_soft_breaks() -> None:
    body = "ลงทะเบียนที่ https://evil.example.com/reg/ \r\nister?id=42 ภายในวันนี้\r\n"
    assert urls(message(body, "text/plain; charset=utf-8; format=flowed; delsp=yes")) == [
        "https://evil.example.com/reg/ister?id=42"
    ]
    # without delsp the soft break's space is a real space (RFC 3676): two words
    assert textbody.unflow("a \r\nb", False) == "a b"


def test_flowed_keeps_quote_depth_and_signature_and_unstuffs() -> None:
    text = "> quoted \r\n> more\r\n  stuffed\r\n-- \r\nsig"
    assert textbody.unflow(text, True) == "> quotedmore\n stuffed\n-- \nsig"


def test_flowed_clean_letter_stays_clean() -> None:
    body = "เรียน ผู้อำนวยการ \r\nตามที่ได้แจ้งไว้ \r\nขอบคุณ\r\n"
    assert (
        scan_message(message(body, "text/plain; charset=utf-8; format=flowed; delsp=yes")).verdict == "clean"
    )


def test_text_enriched_body() -> None:
    body = "<bold>ด่วน</bold> ดูที่ <color><param>red</param>www.dla.go.th/x</color>\r\n\r\nok <<tag>"
    assert urls(message(body, "text/enriched; charset=utf-8")) == ["http://www.dla.go.th/x"]
    assert textbody.enriched("a\nb\n\nc <<x> <param>www.p.example.com</param>") == "a b\nc <x> "


def test_uuencoded_block_in_a_text_body_is_a_child() -> None:
    png = qr_png("https://uu.example.com/")
    lines = [binascii.b2a_uu(png[i : i + 45]).decode() for i in range(0, len(png), 45)]
    body = "ดูรูปแนบ\r\n\r\nbegin 644 qr.png\r\n" + "".join(lines).replace("\n", "\r\n") + "`\r\nend\r\n"
    assert urls(message(body, "text/plain; charset=utf-8")) == ["https://uu.example.com/"]
    e = textbody.read(body, "text/plain")
    assert [c.name for c in e.children] == ["qr.png"] and e.children[0].data == png
    assert "begin 644" not in e.texts[0].text


def test_uuencoded_text_file_with_a_link() -> None:
    data = b"visit https://uutext.example.com/\n"
    body = "begin 600 note.txt\n" + binascii.b2a_uu(data).decode() + "`\nend\n"
    assert urls(message(body, "text/plain")) == ["https://uutext.example.com/"]


def test_uuencoded_clean_block_is_clean() -> None:
    body = "begin 644 hello.txt\n" + binascii.b2a_uu("สวัสดีครับ".encode()).decode() + "`\nend\n"
    assert scan_message(message(body, "text/plain")).verdict == "clean"


def test_amp_part_is_read_as_html() -> None:
    amp = '<!doctype html><html ⚡4email><body><a href="https://amp.example.com/x">เปิด</a></body></html>'
    body, ctype = multipart(
        [part("เปิดอีเมล", "text/plain; charset=utf-8"), part(amp, "text/x-amp-html; charset=utf-8")],
        "alternative",
    )
    r = scan_message(message(body, ctype))
    assert [(x.url, x.kind) for x in r.findings] == [("https://amp.example.com/x", "html_attr")]


def test_openpgp_encrypted_message_is_unscannable_signed_is_read() -> None:
    armored = (
        "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA8xZ3bQ3kmHFAQf/Xq0\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n"
    )
    body, ctype = multipart(
        [part("Version: 1", "application/pgp-encrypted"), part(armored, "application/octet-stream")],
        "encrypted",
    )
    r = scan_message(message(body, ctype + '; protocol="application/pgp-encrypted"'))
    assert r.verdict == "unscannable" and [u.reason for u in r.unscannable] == ["encrypted"]
    signed = "-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nประกาศ\r\n-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n"
    assert scan_message(message(signed, "text/plain; charset=utf-8")).verdict == "clean"
    assert urls(message(signed.replace("ประกาศ", "www.dla.go.th"), "text/plain; charset=utf-8")) == [
        "http://www.dla.go.th"
    ]
