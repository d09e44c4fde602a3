"""Links in QR codes: image attachments, inline images, data: images in HTML."""

from __future__ import annotations

import base64

import pytest

from mail import attachment, message, multipart, part, qr_png
from nolink import Config, scan_message
from nolink.config import LinksConfig


def scanned(*parts: bytes, config: Config | None = None):  # type: ignore[no-untyped-def]
    body, ctype = multipart([part("ดูรายละเอียดในภาพ", "text/plain"), *parts])
    return scan_message(message(body, ctype), config)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_qr_code_in_an_image_attachment(fmt: str) -> None:
    r = scanned(
        attachment(
            qr_png("https://evil.example.com/pay", fmt=fmt), f"image/{fmt.lower()}", f"scan.{fmt.lower()}"
        )
    )
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://evil.example.com/pay")]
    assert r.findings[0].location.field == f"attachment scan.{fmt.lower()} › qr"
    assert r.findings[0].location.category == "attachment"


def test_qr_code_on_a_large_poster() -> None:
    r = scanned(attachment(qr_png("www.dopa.go.th/ลงทะเบียน", canvas=(1600, 1200)), "image/png", "poster.png"))
    assert [x.url for x in r.findings] == ["http://www.dopa.go.th/ลงทะเบียน"]


def test_inline_image_referenced_by_cid() -> None:
    html = part('<p>สแกน</p><img src="cid:qr1">', "text/html")
    img = part(
        base64.encodebytes(qr_png("https://inline.example.com/")),
        "image/png",
        "base64",
        "Content-ID: <qr1>\r\n",
    )
    body, ctype = multipart([html, img], "related")
    assert [x.kind for x in scan_message(message(body, ctype)).findings] == ["qr"]


def test_data_uri_image_in_html() -> None:
    src = "data:image/png;base64," + base64.b64encode(qr_png("https://data.example.com/")).decode()
    r = scan_message(message(f'<p>สแกน</p><img src="{src}">', "text/html; charset=utf-8"))
    assert [(x.kind, x.url, x.location.field) for x in r.findings] == [
        ("qr", "https://data.example.com/", "attr img src › qr")
    ]


@pytest.mark.parametrize(
    "text", ["เลขที่หนังสือ มท ๐๘๒๓.๒/ว ๕๒๗", "TEL:021234567", "MECARD:N:Somchai;TEL:021234567;;"]
)
def test_qr_code_without_a_link_is_clean(text: str) -> None:
    assert scanned(attachment(qr_png(text), "image/png", "code.png")).verdict == "clean"


def test_plain_image_is_clean_and_broken_image_unscannable() -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 30, 30)).save(buf, "PNG")
    assert scanned(attachment(buf.getvalue(), "image/png", "logo.png")).verdict == "clean"
    r = scanned(attachment(b"\x89PNG\r\n\x1a\nbroken", "image/png", "broken.png"))
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["unparseable"]


def test_image_above_the_pixel_limit_is_unscannable_not_decoded() -> None:
    cfg = Config(links=LinksConfig(max_image_pixels=10_000))
    r = scanned(
        attachment(qr_png("https://evil.example.com/", canvas=(400, 400)), "image/png", "big.png"), config=cfg
    )
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert any("above links.max_image_pixels" in x for x in r.unchecked)


def test_qr_scanning_can_be_switched_off() -> None:
    cfg = Config(links=LinksConfig(scan_qr=False))
    assert (
        scanned(attachment(qr_png("https://evil.example.com/"), "image/png", "scan.png"), config=cfg).verdict
        == "clean"
    )


def pdf417_png(text: str) -> bytes:
    """A PDF417 code (boarding passes, ID cards, invoices) on a white page, as a scanner gives it."""
    import io

    import zxingcpp
    from PIL import Image

    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.PDF417).to_image(scale=3)
    mv = memoryview(code)
    im = Image.frombytes("L", (mv.shape[1], mv.shape[0]), bytes(mv))
    page = Image.new("L", (im.width + 400, im.height + 300), 255)
    page.paste(im, (200, 150))
    buf = io.BytesIO()
    page.convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def test_pdf417_code_with_a_link() -> None:
    r = scanned(attachment(pdf417_png("https://evil.example.com/pay?ref=527"), "image/png", "invoice.png"))
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://evil.example.com/pay?ref=527")]


@pytest.mark.parametrize("text", ["0105548012345|1500.00|20260216", "1234567890123"])
def test_pdf417_code_of_numbers_is_clean(text: str) -> None:
    r = scanned(attachment(pdf417_png(text), "image/png", "invoice.png"))
    assert r.verdict == "clean", (r.findings, r.unchecked)
