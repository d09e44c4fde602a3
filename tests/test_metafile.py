"""EMF and WMF pictures (extract/metafile.py): QR codes drawn as vector records or carried as
bitmaps, inside DOCX, XLSX, PPTX and RTF, as a citizen's Office program would show them; logos stay
clean; what cannot be read is unscannable, never silently clean."""

from __future__ import annotations

import binascii
import gzip
import io
import struct
import zipfile

import pytest

import metafiles as mf
from mail import attachment, message, multipart, part
from nolink import Config, scan_message
from nolink.config import LinksConfig
from nolink.extract import metafile, office, rtf
from nolink.extract.base import Budget
from nolink.extract.registry import sniff
from nolink.links.images import read_codes

URL = "https://evil.example.com/pay"
NO_OCR = Config(links=LinksConfig(ocr=False))

PICTURES = {
    "EMF rectangles": lambda: mf.emf_qr_rectangles(URL),
    "EMF polypolygon path": lambda: mf.emf_qr_polypolygon(URL),
    "EMF bitmap": lambda: mf.emf_qr_bitmap(URL),
    "EMF region": lambda: mf.emf_qr_region(URL),
    "WMF rectangles": lambda: mf.wmf_qr_rectangles(URL),
    "WMF rectangles, no placeable header": lambda: mf.wmf_qr_rectangles(URL, placeable=False),
    "WMF bitmap": lambda: mf.wmf_qr_bitmap(URL),
}


def codes(data: bytes) -> list[str]:
    from PIL import Image

    out = []
    for im in metafile.extract(data, "", "", Budget()).images:
        out += read_codes(im.image if im.image is not None else Image.open(io.BytesIO(im.data)).convert("L"))
    return out


@pytest.mark.parametrize("kind", list(PICTURES))
def test_qr_code_in_a_metafile_is_read(kind: str) -> None:
    data = PICTURES[kind]()
    assert sniff(data, "", "") == "metafile"
    assert codes(data) == [URL]


def ooxml(picture: str, data: bytes, doc: tuple[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        z.writestr(*doc)
        z.writestr(picture, data)
    return buf.getvalue()


DOCS = {
    "docx": ("word/media/image1.emf", ("word/document.xml", "<w:document><w:body><w:p><w:r><w:t>ประกาศ</w:t></w:r></w:p></w:body></w:document>")),
    "xlsx": ("xl/media/image1.emf", ("xl/sharedStrings.xml", "<sst><si><t>ยอดชำระ</t></si></sst>")),
    "pptx": ("ppt/media/image1.wmf", ("ppt/slides/slide1.xml", "<p:sld><a:t>สแกนเพื่อชำระ</a:t></p:sld>")),
}  # fmt: skip


def scanned(data: bytes, name: str, config: Config = NO_OCR):  # type: ignore[no-untyped-def]
    body, ctype = multipart(
        [part("ดูเอกสารแนบ", "text/plain"), attachment(data, "application/octet-stream", name)]
    )
    return scan_message(message(body, ctype), config)


@pytest.mark.parametrize("ext", list(DOCS))
@pytest.mark.parametrize("kind", ["EMF rectangles", "EMF bitmap", "WMF rectangles"])
def test_qr_code_in_a_metafile_inside_an_office_document(ext: str, kind: str) -> None:
    picture, doc = DOCS[ext]
    r = scanned(ooxml(picture, PICTURES[kind](), doc), f"form.{ext}")
    assert [(x.kind, x.url) for x in r.findings] == [("qr", URL)]
    assert picture in str(r.findings[0].location)
    assert r.verdict == "link"


def test_gzipped_metafile_emz_in_a_presentation() -> None:
    doc = ("ppt/slides/slide1.xml", "<p:sld/>")
    r = scanned(ooxml("ppt/media/image1.emz", gzip.compress(mf.emf_qr_polypolygon(URL)), doc), "a.pptx")
    assert [x.url for x in r.findings] == [URL]


def rtf_with(data: bytes, kind: str) -> bytes:
    hexed = binascii.hexlify(data)
    lines = b"\n".join(hexed[i : i + 128] for i in range(0, len(hexed), 128))
    return (
        rb"{\rtf1\ansi\ansicpg874{\fonttbl{\f0 Tahoma;}}\f0 \u3611?\par "
        + rb"{\*\shppict{\pict\picw400\pich400\picwgoal2400\pichgoal2400\%s " % kind.encode()
        + lines
        + rb"}}\par}"
    )


@pytest.mark.parametrize(
    ("kind", "picture"),
    [
        ("emfblip", lambda: mf.emf_qr_rectangles(URL)),
        ("emfblip", lambda: mf.emf_qr_bitmap(URL)),
        ("wmetafile8", lambda: mf.wmf_qr_rectangles(URL, placeable=False)),
        ("wmetafile8", lambda: mf.wmf_qr_bitmap(URL, placeable=False)),
    ],
)
def test_qr_code_in_a_metafile_inside_rtf(kind: str, picture) -> None:  # type: ignore[no-untyped-def]
    e = rtf.parse(rtf_with(picture(), kind))
    assert [c.where.endswith("picture 1") for c in e.children] == [True] and not e.images
    r = scanned(rtf_with(picture(), kind), "letter.rtf")
    assert [(x.kind, x.url) for x in r.findings] == [("qr", URL)]


def test_text_in_a_metafile_is_read() -> None:
    r = scanned(
        ooxml(*DOCS["docx"][:1], mf.emf_text("ลงทะเบียนที่ www.dla-refund.com/form"), DOCS["docx"][1]), "a.docx"
    )
    assert [x.url for x in r.findings] == ["http://www.dla-refund.com/form"]


@pytest.mark.parametrize("ext", list(DOCS))
def test_an_emf_logo_stays_clean_with_ocr_on(ext: str) -> None:
    picture, doc = DOCS[ext]
    r = scanned(ooxml(picture.replace(".wmf", ".emf"), mf.emf_logo(), doc), f"letter.{ext}", Config())
    assert r.verdict == "clean", (r.findings, r.unchecked)


def test_a_qr_code_of_numbers_in_a_metafile_is_clean() -> None:
    picture, doc = DOCS["docx"]
    r = scanned(ooxml(picture, mf.emf_qr_rectangles("0105548012345 1500.00"), doc), "invoice.docx")
    assert r.verdict == "clean", (r.findings, r.unchecked)


def test_an_emf_plus_only_picture_is_unchecked_not_clean() -> None:
    picture, doc = DOCS["docx"]
    r = scanned(ooxml(picture, mf.emf_plus_only(), doc), "a.docx")
    assert r.verdict == "unscannable"
    assert "word/media/image1.emf" in r.unchecked[0] and "EMF+" in r.unchecked[0]


def test_a_broken_metafile_keeps_what_was_read_and_says_what_was_not() -> None:
    good = mf.emf_qr_rectangles(URL)
    # a record that claims more bytes than the file has: the reading stops there, the code drawn so far
    # is still decoded
    cut = good[:-20] + struct.pack("<II", 43, 4000)
    assert codes(cut) == [URL]


def test_bounds_stop_a_huge_metafile_as_unscannable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metafile, "MAX_RECORDS", 100)
    e = metafile.extract(mf.emf_qr_rectangles(URL), "", "", Budget())
    assert [u.reason for u in e.unscannable] == ["budget"]
    assert "records" in e.unscannable[0].detail


def test_the_canvas_takes_pixels_from_the_message_budget() -> None:
    e = metafile.extract(mf.emf_qr_rectangles(URL), "", "", Budget(max_pixels=1000))
    assert [u.reason for u in e.unscannable] == ["budget"] and not e.images


def test_office_hands_metafiles_on_and_keeps_other_pictures_as_images() -> None:
    e = office.parse(
        ooxml("word/media/image2.wmf", mf.wmf_qr_bitmap(URL), ("word/document.xml", "<w:document/>"))
    )
    assert [c.name for c in e.children] == ["image2.wmf"] and not e.images


def blip(picture: bytes, emf: bool = True, deflate: bool = True) -> bytes:
    """An OfficeArt BLIP record as .doc, .xls and .ppt store a metafile picture (MS-ODRAW)."""
    import zlib

    saved = zlib.compress(picture) if deflate else picture
    header = struct.pack(
        "<I4i2iIBB", len(picture), 0, 0, 100, 100, 1000, 1000, len(saved), 0 if deflate else 0xFE, 0xFE
    )
    body = b"\x11" * 16 + header + saved
    return struct.pack("<HHI", (0x3D4 if emf else 0x216) << 4, 0xF01A if emf else 0xF01B, len(body)) + body


@pytest.mark.parametrize("deflate", [True, False])
def test_metafile_pictures_of_binary_office_files_are_handed_on(deflate: bool) -> None:
    from nolink.extract import ole

    out = ole.Out()
    stream = (
        b"junk" * 10
        + blip(mf.emf_qr_rectangles(URL), deflate=deflate)
        + blip(mf.wmf_qr_bitmap(URL, placeable=False), emf=False, deflate=deflate)
        + b"tail"
    )
    ole.carve_pictures(stream, out, "Data", [0])
    assert [c.where for c in out.children] == ["Data › picture 1", "Data › picture 2"]
    assert [codes(c.data) for c in out.children] == [[URL], [URL]]


@pytest.mark.parametrize("kind", list(PICTURES))
def test_damaged_metafiles_never_crash_the_reader(kind: str) -> None:
    import random
    import time

    rng = random.Random(kind)
    data = bytearray(PICTURES[kind]())
    for _ in range(60):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 12)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        start = time.process_time()
        e = metafile.extract(bytes(bad), "", "", Budget())
        assert time.process_time() - start < 2.0
        assert all(u.reason in ("budget", "unparseable", "unsupported") for u in e.unscannable)


def test_a_bitmap_that_cannot_be_decoded_is_unchecked() -> None:
    data = bytearray(mf.emf_qr_bitmap(URL))
    at = 108 + 80  # the BITMAPINFOHEADER of the one StretchDIBits record
    data[at + 4 : at + 12] = struct.pack("<ii", 100_000, 100_000)  # 10 Gpx declared
    e = metafile.extract(bytes(data), "", "", Budget())
    assert [u.reason for u in e.unscannable] == ["unparseable"] and not e.images
