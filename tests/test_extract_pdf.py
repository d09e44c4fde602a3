"""PDF: actions of every kind and place, fields, annotations, embedded files, text, images,
rendered pages, the page budget and encryption. Every PDF is built here."""

from __future__ import annotations

import io

import pytest

from mail import attachment, message, multipart, part, pdf, pdf_objects, scanned_letter, vector_qr_pdf
from nolink import Config, scan_message
from nolink.config import LinksConfig
from nolink.extract import Budget
from nolink.extract import pdf as pdfx


def doc(
    catalog: str = "",
    pages: list[str] | None = None,
    texts: list[str] | None = None,
    extra: list[str | bytes] = (),
) -> bytes:  # type: ignore[assignment]
    """A PDF: object 1 the catalog (with catalog added), 2 the page tree, 3.. the extra objects
    (so a test can refer to them as 3 0 R, 4 0 R ...), then the pages, each with its own
    additions and a line of text."""
    pages = pages if pages is not None else [""]
    texts = texts if texts is not None else [""] * len(pages)
    first_page = 3 + len(extra)
    n = len(pages)
    font = first_page + 2 * n
    objs = [f"<< /Type /Catalog /Pages 2 0 R {catalog} >>".encode()]
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(n))
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs += [x if isinstance(x, bytes) else x.encode() for x in extra]
    for i, (add, text) in enumerate(zip(pages, texts, strict=True)):
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents {first_page + 2 * i + 1} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> {add} >>".encode()
        )
        stream = f"BT /F1 12 Tf 10 100 Td ({text}) Tj ET".encode() if text else b""
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    return pdf_objects(objs)


def extracted_urls(data: bytes) -> list[tuple[str, str]]:
    r = pdfx.extract(data, "application/pdf", "t.pdf", Budget())
    return [(u.url, u.where) for u in r.urls]


def scanned(data: bytes, name: str = "letter.pdf", config: Config | None = None):  # type: ignore[no-untyped-def]
    body, ctype = multipart(
        [part("เรียน ท่าน ตามเอกสารแนบ", "text/plain"), attachment(data, "application/pdf", name)]
    )
    return scan_message(message(body, ctype), config)


def test_link_annotation() -> None:
    data = doc(
        pages=["/Annots [3 0 R]"],
        extra=[
            "<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (https://a.example.com/) >> >>"
        ],
    )
    assert extracted_urls(data) == [("https://a.example.com/", "page 1 › link 1")]
    r = scanned(data)
    assert [(x.url, str(x.location)) for x in r.findings] == [
        ("https://a.example.com/", "2 application/pdf attachment letter.pdf › page 1 › link 1")
    ]


@pytest.mark.parametrize(
    ("catalog", "pages", "extra", "url", "where"),
    [
        (
            "/OpenAction << /S /URI /URI (https://open.example.com/) >>",
            [""],
            [],
            "https://open.example.com/",
            "open action",
        ),
        # a Launch in the catalog's additional actions, with a URL file specification
        (
            "/AA << /WC << /S /Launch /F << /FS /URL /F (https://launch.example.com/x) >> >> >>",
            [""],
            [],
            "https://launch.example.com/x",
            "document actions",
        ),
        (
            "",
            ["/AA << /O << /S /GoToR /F (http://remote.example.com/d.pdf) /D [0 /Fit] >> >>"],
            [],
            "http://remote.example.com/d.pdf",
            "page 1",
        ),
        (
            "",
            ["/AA << /O 3 0 R >>"],
            ["<< /S /GoToE /F << /Type /Filespec /F (https://goto-e.example.com/e.pdf) >> >>"],
            "https://goto-e.example.com/e.pdf",
            "page 1",
        ),
        (
            "",
            ["/Annots [3 0 R]"],
            [
                "<< /Type /Annot /Subtype /Widget /T (send) /FT /Btn /Rect [0 0 9 9] /A << /S /SubmitForm /F << /FS /URL /F (https://submit.example.com/f) >> >> >>"
            ],
            "https://submit.example.com/f",
            "page 1 › annotation 1",
        ),
        (
            "/OpenAction << /S /ImportData /F (https://import.example.com/d.fdf) >>",
            [""],
            [],
            "https://import.example.com/d.fdf",
            "open action",
        ),
        # an action chain: the second action sits in /Next
        (
            "/OpenAction << /S /GoTo /D [0 /Fit] /Next [ << /S /URI /URI (https://next.example.com/) >> ] >>",
            [""],
            [],
            "https://next.example.com/",
            "open action",
        ),
        # form field actions (AcroForm)
        (
            "/AcroForm << /Fields [3 0 R] >>",
            [""],
            ["<< /T (pay) /FT /Btn /AA << /D << /S /URI /URI (https://field.example.com/) >> >> >>"],
            "https://field.example.com/",
            "field pay",
        ),
    ],
)
def test_actions_that_lead_somewhere(
    catalog: str, pages: list[str], extra: list[str], url: str, where: str
) -> None:
    data = doc(catalog, pages, extra=extra)
    assert (url, where) in extracted_urls(data)
    assert url in [x.url for x in scanned(data).findings]


def test_javascript_field_value_freetext_and_markup() -> None:
    data = doc(
        '/OpenAction << /S /JavaScript /JS (app.launchURL\\("https://js.example.com/go"\\);) >> /AcroForm << /Fields [3 0 R] >>',
        ["/Annots [4 0 R 5 0 R]"],
        extra=[
            "<< /T (site) /FT /Tx /V (www.value.example.com) >>",
            "<< /Type /Annot /Subtype /FreeText /Rect [0 0 9 9] /Contents (see https://note.example.com/) >>",
            "<< /Type /Annot /Subtype /Text /Rect [0 0 9 9] /Contents (comment: evil.example.co.th) >>",
        ],
    )
    r = scanned(data)
    got = {(x.url, str(x.location).split("letter.pdf › ")[1].split(" @")[0]) for x in r.findings}
    assert got == {
        ("https://js.example.com/go", "open action › javascript"),
        ("http://www.value.example.com", "field site"),
        ("https://note.example.com/", "page 1 › annotation 1"),
        ("http://evil.example.co.th", "page 1 › annotation 2"),
    }


def test_embedded_files_and_file_attachment_annotations_are_opened() -> None:
    inner = b"details at https://embedded.example.com/"
    stream = b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(inner) + inner + b"\nendstream"
    data = doc(
        "/Names << /EmbeddedFiles << /Names [(notes.txt) 3 0 R] >> >>",
        ["/Annots [5 0 R]"],
        extra=[
            "<< /Type /Filespec /F (notes.txt) /EF << /F 4 0 R >> >>",
            stream.decode("latin-1"),
            "<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 9 9] /FS 3 0 R >>",
        ],
    )
    r = scanned(data)
    wheres = sorted(str(x.location).split("letter.pdf › ")[1].split(" @")[0] for x in r.findings)
    assert wheres == [
        "embedded file notes.txt",
        "page 1 › annotation 1 › attached file notes.txt",
    ]


def test_text_layer_link() -> None:
    r = scanned(pdf(text="visit www.pdftext.example.com"))
    assert [x.url for x in r.findings] == ["http://www.pdftext.example.com"]


@pytest.mark.parametrize(
    "extra",
    [
        "<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (mailto:saraban@example.go.th) >> >>",
        "<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /URI /URI (tel:+6621234567) >> >>",
        "<< /Type /Annot /Subtype /Link /Rect [0 0 9 9] /A << /S /GoTo /D [0 /Fit] >> >>",
    ],
)
def test_mailto_tel_and_internal_links_are_clean(extra: str) -> None:
    r = scanned(doc(pages=["/Annots [3 0 R]"], texts=["saraban@example.go.th"], extra=[extra]))
    assert r.verdict == "clean", r.findings


def test_encrypted_pdf_is_unscannable() -> None:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(200, 200)
    w.encrypt("secret", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    r = scanned(buf.getvalue(), "forms.pdf")
    assert r.verdict == "unscannable"
    assert [(u.reason, u.detail) for u in r.unscannable] == [("encrypted", 'encrypted PDF "forms.pdf"')]


def test_pdf_with_only_an_owner_password_is_read() -> None:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf(text="go to www.owner.example.com"))))
    w.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    assert [x.url for x in scanned(buf.getvalue()).findings] == ["http://www.owner.example.com"]


def test_pages_beyond_the_budget_are_unscannable_never_dropped() -> None:
    texts = ["page"] * 60
    texts[51] = "https://page52.example.com/"
    data = doc(pages=[""] * 60, texts=texts)
    r = scanned(data)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert "pages 51-60 not read" in r.unscannable[0].detail
    r = scanned(data, config=Config(links=LinksConfig(max_pdf_pages=100)))
    assert [x.url for x in r.findings] == ["https://page52.example.com/"]
    assert "page 52" in str(r.findings[0].location)
    # the per-message total counts pages over all PDFs
    r = scanned(data, config=Config(links=LinksConfig(max_pdf_pages=100, max_total_pdf_pages=20)))
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert "links.max_total_pdf_pages" in r.unscannable[0].detail


def test_damaged_pdf_is_unscannable() -> None:
    r = scanned(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage")
    assert r.verdict == "unscannable"
    assert r.unscannable[0].reason == "unparseable"


def test_scanned_letter_with_a_qr_code_on_its_last_page() -> None:
    r = scanned(scanned_letter(3, "https://qr.example.com/circular", dpi=150))
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://qr.example.com/circular")]
    assert str(r.findings[0].location).startswith(
        "2 application/pdf attachment letter.pdf › page 3 › image 1 › qr"
    )


@pytest.mark.parametrize("qr", ["", "รายละเอียดปรากฏตามหนังสือ ที่ มท ๐๘๒๓.๒/ว ๕๒๗", "TEL:021234567"])
def test_scanned_letter_without_a_link_is_clean(qr: str) -> None:
    assert scanned(scanned_letter(2, qr, dpi=150)).verdict == "clean"


def test_vector_qr_code_is_rendered_and_found() -> None:
    r = scanned(vector_qr_pdf("https://vector.example.com/pay", "Scan to pay"))
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://vector.example.com/pay")]
    assert "page 1 › rendering › qr" in str(r.findings[0].location)
    assert scanned(vector_qr_pdf("0812345678", "call us")).verdict == "clean"


def test_flate_bomb_in_an_embedded_file_is_bounded() -> None:
    import zlib

    bomb = zlib.compress(b"\0" * 60_000_000, 9)
    stream = (
        b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\nstream\n" % len(bomb)
        + bomb
        + b"\nendstream"
    )
    data = doc(
        "/Names << /EmbeddedFiles << /Names [(big.bin) 3 0 R] >> >>",
        extra=["<< /Type /Filespec /F (big.bin) /EF << /F 4 0 R >> >>", stream],
    )
    r = scanned(data)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]


def test_damaged_embedded_file_is_unscannable_and_a_bomb_stops_at_the_stream_limit() -> None:
    import zlib

    from nolink.extract.pdf import MAX_STREAM_BYTES

    for payload, reason in (
        (b"x\x9c" + b"\xff" * 50, "unparseable"),
        (zlib.compress(b"\0" * (MAX_STREAM_BYTES + 10)), "budget"),
    ):
        stream = (
            b"<< /Type /EmbeddedFile /Filter /FlateDecode /Length %d >>\nstream\n" % len(payload)
            + payload
            + b"\nendstream"
        )
        data = doc(
            "/Names << /EmbeddedFiles << /Names [(f.bin) 3 0 R] >> >>",
            extra=["<< /Type /Filespec /F (f.bin) /EF << /F 4 0 R >> >>", stream],
        )
        r = pdfx.extract(data, "application/pdf", "t.pdf", Budget(max_bytes=10**9))
        assert [u.reason for u in r.unscannable] == [reason]
        assert r.children == ()


def test_qr_code_in_a_stamp_annotation_is_rendered() -> None:
    import zxingcpp

    code = zxingcpp.create_barcode("https://stamp.example.com/", zxingcpp.BarcodeFormat.QRCode).to_image(
        scale=1
    )
    mv = memoryview(code)
    rows, cols, px = mv.shape[0], mv.shape[1], bytes(mv)
    ops = (
        "0 g "
        + " ".join(
            f"{8 + x * 2} {8 + (rows - y) * 2} 2 2 re"
            for y in range(rows)
            for x in range(cols)
            if px[y * cols + x] < 128
        )
        + " f"
    )
    ap = (
        b"<< /Type /XObject /Subtype /Form /BBox [0 0 %d %d] /Length %d >>\nstream\n"
        % (cols * 3, rows * 3 + 3, len(ops))
        + ops.encode()
        + b"\nendstream"
    )
    data = doc(
        pages=["/Annots [3 0 R]"],
        texts=["Approved by the district office, see the stamp"],
        extra=[
            f"<< /Type /Annot /Subtype /Stamp /Rect [200 5 {216 + cols * 2} {23 + rows * 2}] /AP << /N 4 0 R >> >>",
            ap,
        ],
    )
    r = scanned(data)
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://stamp.example.com/")]


def test_qr_code_drawn_module_by_module_is_rendered() -> None:
    import zxingcpp

    code = zxingcpp.create_barcode("https://modules.example.com/", zxingcpp.BarcodeFormat.QRCode).to_image(
        scale=1
    )
    mv = memoryview(code)
    rows, cols, px = mv.shape[0], mv.shape[1], bytes(mv)
    ops = []
    for y in range(rows):
        x = 0
        while x < cols:  # runs of dark modules, each run its own filled path (as design tools write it)
            if px[y * cols + x] < 128:
                end = x
                while end < cols and px[y * cols + end] < 128:
                    end += 1
                ops.append(f"0 g {50 + x * 4} {160 - y * 4} {(end - x) * 4} 4 re f")
                x = end
            else:
                x += 1
    data = pdf(
        content=("BT /F1 10 Tf 10 185 Td (Scan the code below to register) Tj ET\n" + "\n".join(ops)).encode()
    )
    r = scanned(data)
    assert [(x.kind, x.url) for x in r.findings] == [("qr", "https://modules.example.com/")]


def test_letter_with_a_table_is_not_rendered() -> None:
    ops = ["0 G 0.5 w"]
    for row in range(30):  # table rules: long stroked lines, shaded rows: wide filled bands
        y = 180 - row * 5
        ops.append(f"10 {y} m 290 {y} l S")
        if row % 2:
            ops.append(f"0.9 g 10 {y} 280 5 re f")
    for x in (10, 80, 150, 220, 290):
        ops.append(f"{x} 30 m {x} 180 l S")
    ops.append("0 g BT /F1 8 Tf 12 182 Td (Name Address Amount Date of payment for each household) Tj ET")
    r = pdfx.extract(pdf(content="\n".join(ops).encode()), "application/pdf", "t.pdf", Budget())
    assert r.texts and not [i for i in r.images if "rendering" in i.where]


def test_the_same_picture_on_every_page_is_decoded_once() -> None:
    from PIL import Image

    logo = Image.new("L", (600, 200), 255)
    pages = [logo.copy() for _ in range(30)]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=100.0)
    b = Budget(max_pixels=1_000_000)  # room for one 600x200 picture, not for thirty
    r = pdfx.extract(buf.getvalue(), "application/pdf", "t.pdf", b)
    assert r.unscannable == ()
    assert len([i for i in r.images if "image" in i.where]) == 1


# -- issue 19: bookmarks, XFA forms, text placed glyph by glyph -----------------------------------


def test_bookmark_with_a_uri_action() -> None:
    """An outline entry a viewer lists beside the pages: a click on it opens its /URI."""
    data = doc(
        catalog="/Outlines 3 0 R",
        extra=[
            "<< /Type /Outlines /First 4 0 R /Last 5 0 R /Count 2 >>",
            "<< /Title (Chapter 1) /Parent 3 0 R /Next 5 0 R /Dest [0 /Fit] >>",
            "<< /Title (Form) /Parent 3 0 R /Prev 4 0 R /First 6 0 R /Last 6 0 R "
            "/A << /S /URI /URI (https://bookmark.example.com/form527) >> >>",
            "<< /Title (see www.child-bookmark.example.com) /Parent 5 0 R >>",
        ],
    )
    assert extracted_urls(data) == [("https://bookmark.example.com/form527", "bookmark Form")]
    r = scanned(data)
    assert sorted(x.url for x in r.findings) == [
        "http://www.child-bookmark.example.com",
        "https://bookmark.example.com/form527",
    ]


def test_bookmarks_without_links_and_a_bookmark_loop_stay_clean() -> None:
    data = doc(
        catalog="/Outlines 3 0 R",
        extra=[
            "<< /Type /Outlines /First 4 0 R /Count 2 >>",
            "<< /Title (บทที่ 1 ความเป็นมา) /Parent 3 0 R /Next 5 0 R /Dest [0 /Fit] >>",
            "<< /Title (บทที่ 2) /Parent 3 0 R /Next 4 0 R /A << /S /GoTo /D [0 /Fit] >> >>",  # a loop
        ],
    )
    r = scanned(data)
    assert r.findings == () and r.unscannable == ()


def xfa_pdf(packets: list[bytes]) -> bytes:
    refs = " ".join(f"(p{i}) {4 + i} 0 R" for i in range(len(packets)))
    streams = [b"<< /Length %d >>\nstream\n" % len(p) + p + b"\nendstream" for p in packets]
    return doc(
        catalog="/AcroForm 3 0 R",
        extra=[f"<< /Fields [] /XFA [{refs}] >>", *streams],
    )


XDP_HEAD = b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">'
TEMPLATE = (
    b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="form1">'
    b"<draw><value><text>%s</text></value></draw>"
    b'<field name="b"><event activity="click"><script contentType="application/x-javascript">'
    b"%s</script></event></field></subform></template>"
)


def test_xfa_form_text_and_script_urls_are_found() -> None:
    template = TEMPLATE % (
        "กรอกแบบฟอร์มที่ www.xfa-text.example.com".encode(),
        b"app.launchURL('https://xfa-script.example.com/x');",
    )
    r = scanned(xfa_pdf([XDP_HEAD, template, b"</xdp:xdp>"]))
    assert sorted(x.url for x in r.findings) == [
        "http://www.xfa-text.example.com",
        "https://xfa-script.example.com/x",
    ]
    assert all("XFA form" in str(x.location) for x in r.findings)


def test_xfa_form_without_links_is_clean() -> None:
    template = TEMPLATE % ("แบบคำร้องทั่วไป ลงวันที่ ๑๖ ก.พ. ๒๕๖๙".encode(), b"this.rawValue = 1.5;")
    r = scanned(xfa_pdf([XDP_HEAD, template, b"</xdp:xdp>"]))
    assert r.findings == () and r.unscannable == ()


def glyph_by_glyph(line: str, advance: int) -> bytes:
    """A page whose every character is its own text-show operation at a fixed advance (a space is
    a skipped slot), as some producers write text."""
    ops = " ".join(f"{advance} 0 Td" if c == " " else f"({c}) Tj {advance} 0 Td" for c in line)
    return doc(texts=[f") Tj {ops} ("])


@pytest.mark.parametrize("advance", [7, 12])
def test_text_placed_glyph_by_glyph_reads_as_words(advance: int) -> None:
    data = glyph_by_glyph("Visit www.dla.go.th/form527 now", advance)
    r = pdfx.extract(data, "application/pdf", "t.pdf", Budget())
    assert "Visit www.dla.go.th/form527 now" in [t.text for t in r.texts]
    assert [x.url for x in scanned(data).findings] == ["http://www.dla.go.th/form527"]


def test_text_placed_glyph_by_glyph_without_a_link_is_clean() -> None:
    data = glyph_by_glyph("S A L E   Price list 2026", 7)
    assert scanned(data).findings == ()
    # an ordinary line of text is read once
    r = pdfx.extract(doc(texts=["Visit the office on Monday"]), "application/pdf", "t.pdf", Budget())
    assert [t.where for t in r.texts] == ["page 1"]
