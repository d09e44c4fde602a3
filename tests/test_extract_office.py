"""Office documents, legacy binary Office and RTF as the extract modules read them.

Fixtures in tests/fixtures/office were made by LibreOffice (tests/fixtures/office/make.py); the
other inputs are built here.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from conftest import HERE
from mail import qr_png
from nolink.extract import office, ole, rtf
from nolink.extract.base import Extracted
from nolink.links.text import TextFinder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "office"
LINK = "https://evil.example.com/pay"


def fixture(name: str) -> bytes:
    p = FIXTURES / name
    return gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()


def found(e: Extracted, finder: TextFinder) -> list[str]:
    """Every URL the pieces give: URL pieces and what the text finder sees in text pieces."""
    out = [u.url for u in e.urls]
    for t in e.texts:
        out.extend(x.url for x in finder.find(t.text, HERE))
    return out


def qr_texts(e: Extracted) -> list[str]:
    import zxingcpp
    from PIL import Image

    out = []
    for im in e.images:
        out.extend(c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(im.data))))
    return out


def parse(name: str) -> Extracted:
    data = fixture(name)
    if data.startswith(ole.OLE_MAGIC):
        return ole.parse(data)
    if data.startswith(b"{\\rtf"):
        return rtf.parse(data)
    return office.parse(data)


# -- documents made by LibreOffice ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["letter-link.odt", "letter-link.docx", "letter-link.doc", "letter-link.rtf"]
)
def test_hyperlink_in_a_letter(name: str, finder: TextFinder) -> None:
    assert found(parse(name), finder) == [LINK]


@pytest.mark.parametrize(
    "name", ["letter-parts.odt", "letter-parts.docx", "letter-parts.doc", "letter-parts.rtf"]
)
def test_links_only_in_header_footer_footnote_and_comment(name: str, finder: TextFinder) -> None:
    assert sorted(found(parse(name), finder)) == [
        "http://www.header.example.com",
        "https://comment.example.com/c",
        "https://footer.example.com/f",
        "https://footnote.example.com/n",
    ]


@pytest.mark.parametrize("name", ["letter-logo.odt", "letter-logo.docx", "letter-logo.doc"])
def test_a_letter_with_a_logo_is_clean_and_its_logo_is_a_picture(name: str, finder: TextFinder) -> None:
    e = parse(name)
    assert found(e, finder) == []
    assert len(e.images) == 1 and e.images[0].data.startswith(b"\x89PNG")
    assert qr_texts(e) == []
    assert not e.unscannable


@pytest.mark.parametrize("name", ["letter-qr.odt", "letter-qr.docx", "letter-qr.doc"])
def test_qr_picture_in_a_letter_is_an_image_to_decode(name: str, finder: TextFinder) -> None:
    e = parse(name)
    assert found(e, finder) == []
    assert qr_texts(e) == ["https://qr.example.com/form"]


@pytest.mark.parametrize("name", ["sheet-link.ods", "sheet-link.xlsx", "sheet-link.xls"])
def test_hyperlink_in_a_spreadsheet(name: str, finder: TextFinder) -> None:
    assert set(found(parse(name), finder)) == {LINK}


@pytest.mark.parametrize("name", ["slides-link.odp", "slides-link.pptx", "slides-link.ppt.gz"])
def test_link_on_a_slide(name: str, finder: TextFinder) -> None:
    assert found(parse(name), finder) == ["http://www.dla.go.th/meeting"]


@pytest.mark.parametrize(
    "name,url",
    [
        ("sheet-comment.ods", "https://sheetnote.example.com/n"),
        ("sheet-comment.xlsx", "https://sheetnote.example.com/n"),
        ("sheet-comment.xls", "https://sheetnote.example.com/n"),
        ("slides-notes.odp", "https://slidenote.example.com/s"),
        ("slides-notes.pptx", "https://slidenote.example.com/s"),
        ("slides-notes.ppt.gz", "https://slidenote.example.com/s"),
    ],
)
def test_link_only_in_a_cell_comment_or_speaker_notes(name: str, url: str, finder: TextFinder) -> None:
    assert set(found(parse(name), finder)) == {url}


def test_word_split_over_formatted_runs_stays_whole(finder: TextFinder) -> None:
    xml = doc_xml(
        '<w:p><w:r><w:t>ดูที่ https://evil.exa</w:t></w:r><w:proofErr w:type="spellStart"/>'
        '<w:r><w:rPr><w:b/><w:lang w:val="th-TH"/></w:rPr><w:t>mple.com/x</w:t></w:r></w:p>'
        "<w:p><w:r><w:t>next</w:t></w:r></w:p>"
    )
    assert found(office.parse(ooxml({"word/document.xml": xml})), finder) == ["https://evil.example.com/x"]


@pytest.mark.parametrize("name", ["sheet-clean.xls", "slides-clean.ppt.gz"])
def test_legacy_office_without_links_is_clean(name: str, finder: TextFinder) -> None:
    e = parse(name)
    assert found(e, finder) == [] and not e.unscannable
    assert any("ประชุม" in t.text or "ยอดรวม" in t.text for t in e.texts)


# -- OOXML parts built here ---------------------------------------------------------------------------

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def ooxml(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def doc_xml(body: str) -> str:
    return f"<w:document {W}><w:body>{body}</w:body></w:document>"


@pytest.mark.parametrize(
    "part,xml,url",
    [
        (
            "word/document.xml",
            doc_xml(
                f'<w:p><w:fldSimple w:instr=" HYPERLINK &quot;{LINK}&quot; "><w:r><w:t>here</w:t></w:r></w:fldSimple></w:p>'
            ),
            LINK,
        ),
        (
            "word/document.xml",
            doc_xml(
                '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK "https://evil.exa</w:instrText></w:r>'
                '<w:r><w:instrText>mple.com/x" \\o "tip"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
                '<w:r><w:t>click</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
            ),
            "https://evil.example.com/x",
        ),
        (
            "word/document.xml",
            doc_xml(
                '<w:p><w:r><w:instrText> INCLUDEPICTURE "http://track.example.com/p.gif" \\d </w:instrText></w:r></w:p>'
            ),
            "http://track.example.com/p.gif",
        ),
        (
            "word/header1.xml",
            f"<w:hdr {W}><w:p><w:r><w:t>www.dla.go.th</w:t></w:r></w:p></w:hdr>",
            "http://www.dla.go.th",
        ),
        (
            "word/footer2.xml",
            f"<w:ftr {W}><w:p><w:r><w:t>dopa.go.th</w:t></w:r></w:p></w:ftr>",
            "http://dopa.go.th",
        ),
        (
            "word/comments.xml",
            f"<w:comments {W}><w:comment><w:p><w:r><w:t>ดู www.ex</w:t></w:r><w:r><w:t>ample.com</w:t></w:r></w:p></w:comment></w:comments>",
            "http://www.example.com",
        ),
        (
            "xl/comments1.xml",
            "<comments><commentList><comment><text><t>evil.example.com/f</t></text></comment></commentList></comments>",
            "http://evil.example.com/f",
        ),
        (
            "xl/threadedComments/threadedComment1.xml",
            "<ThreadedComments><threadedComment><text>https://thread.example.com/</text></threadedComment></ThreadedComments>",
            "https://thread.example.com/",
        ),
        (
            "ppt/slideMasters/slideMaster1.xml",
            "<p:sldMaster><a:p><a:r><a:t>www.master.example.com</a:t></a:r></a:p></p:sldMaster>",
            "http://www.master.example.com",
        ),
        (
            "ppt/slideLayouts/slideLayout3.xml",
            "<p:sldLayout><a:t>layout.example.com</a:t></p:sldLayout>",
            "http://layout.example.com",
        ),
        (
            "ppt/notesSlides/notesSlide1.xml",
            "<p:notes><a:t>https://notes.example.com/</a:t></p:notes>",
            "https://notes.example.com/",
        ),
        (
            "ppt/comments/modernComment_1.xml",
            "<p188:cmLst><p188:txBody><a:t>cm.example.com</a:t></p188:txBody></p188:cmLst>",
            "http://cm.example.com",
        ),
        (
            "word/charts/chart1.xml",
            "<c:chartSpace><c:tx><c:v>chart.example.com</c:v></c:tx></c:chartSpace>",
            "http://chart.example.com",
        ),
        (
            "xl/worksheets/sheet1.xml",
            '<worksheet><c><f>HYPERLINK("https://f.example.com/","x")</f></c></worksheet>',
            "https://f.example.com/",
        ),
        (
            "xl/connections.xml",
            '<connections><connection id="1"><webPr url="https://query.example.com/q"/></connection></connections>',
            "https://query.example.com/q",
        ),
        (
            "word/document.xml",
            doc_xml(
                '<wp15:webVideoPr embeddedHtml="&lt;iframe src=&quot;https://video.example.com/e&quot;&gt;&lt;/iframe&gt;"/>'
            ),
            "https://video.example.com/e",
        ),
    ],
)
def test_every_part_of_an_ooxml_document(part: str, xml: str, url: str, finder: TextFinder) -> None:
    assert found(office.parse(ooxml({part: xml})), finder) == [url]


def test_external_relationships_of_every_kind(finder: TextFinder) -> None:
    rels = (
        '<Relationships><Relationship Id="r1" Type="x/hyperlink" Target="https://a.example.com/" TargetMode="External"/>'
        '<Relationship Id="r2" Type="x/attachedTemplate" Target="http://b.example.com/t.dotm" TargetMode="External"/>'
        '<Relationship Id="r3" Type="x/image" Target="media/image1.png"/>'
        '<Relationship Id="r4" Type="x/hyperlink" Target="mailto:saraban@dla.go.th" TargetMode="External"/>'
        '<Relationship Id="r5" Type="x/attachedTemplate" Target="file:///C:\\Users\\clerk\\Normal.dotm" TargetMode="External"/>'
        '<Relationship Id="r6" Type="x/oleObject" Target="file://fileserver.example.com/share/a.xlsx" TargetMode="External"/>'
        "</Relationships>"
    )
    e = office.parse(ooxml({"word/_rels/document.xml.rels": rels}))
    assert [u.url for u in e.urls] == [
        "https://a.example.com/",
        "http://b.example.com/t.dotm",
        "file://fileserver.example.com/share/a.xlsx",
    ]
    assert found(e, finder) == [u.url for u in e.urls]  # mailto: is an address, not a link


def test_pictures_are_images_embeddings_are_children() -> None:
    png = qr_png("https://qr.example.com/")
    e = office.parse(
        ooxml(
            {
                "word/media/image1.png": png,
                "ppt/media/image2.jpeg": qr_png("x", fmt="JPEG"),
                "xl/media/image3.emf": b"\x01\x00\x00\x00 EMF",
                "word/embeddings/oleObject1.bin": ole.OLE_MAGIC + b"\x00" * 100,
                "word/embeddings/Microsoft_Excel_Worksheet.xlsx": b"PK\x03\x04rest",
                "word/vbaProject.bin": ole.OLE_MAGIC,
            }
        )
    )
    assert [i.where for i in e.images] == ["word/media/image1.png", "ppt/media/image2.jpeg"]
    assert [c.name for c in e.children] == ["oleObject1.bin", "Microsoft_Excel_Worksheet.xlsx"]
    assert not e.urls and not e.texts


def test_odf_package_paths_are_not_links(finder: TextFinder) -> None:
    content = (
        '<office:document-content xmlns:xlink="http://www.w3.org/1999/xlink"><text:p>ประกาศ</text:p>'
        '<draw:image xlink:href="Pictures/1000000000000030000000305F0FC3DFC4234742.png"/>'
        '<draw:object xlink:href="./Object 1"/><text:a xlink:href="#bookmark">x</text:a>'
        '<text:a xlink:href="www.odf.example.com">y</text:a></office:document-content>'
    )
    files = {"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content}
    assert found(office.parse(ooxml(files)), finder) == ["http://www.odf.example.com"]


def test_broken_and_encrypted_packages_are_unscannable() -> None:
    assert [u.reason for u in office.parse(b"PK\x03\x04 broken").unscannable] == ["unparseable"]


def test_password_protected_odt_is_unscannable() -> None:
    """As LibreOffice saves with a password: encrypted parts in a plain ZIP, declared in the manifest."""
    import os

    manifest = (
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml" manifest:size="900">'
        '<manifest:encryption-data manifest:checksum-type="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k">'
        '<manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>'
        "</manifest:encryption-data></manifest:file-entry></manifest:manifest>"
    )
    files = {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "META-INF/manifest.xml": manifest,
        "content.xml": os.urandom(900),
    }
    e = office.parse(ooxml(files))
    assert [u.reason for u in e.unscannable] == ["encrypted"] and not e.texts
    # the clean look-alike: a manifest without encryption-data
    assert not office.parse(
        ooxml({**files, "META-INF/manifest.xml": "<manifest:manifest/>", "content.xml": "<t>x</t>"})
    ).unscannable


# -- legacy binary Office ------------------------------------------------------------------------------


def test_ole_that_is_not_ole_is_unparseable() -> None:
    assert [u.reason for u in ole.parse(ole.OLE_MAGIC + b"\x00" * 600).unscannable] == ["unparseable"]


def test_encrypted_word_document_is_unscannable() -> None:
    data = bytearray(fixture("letter-link.doc"))
    import olefile

    o = olefile.OleFileIO(bytes(data))
    word = bytearray(o.openstream("WordDocument").read())
    o.close()
    word[0x0A] |= 0x00
    word[0x0B] |= 0x01  # fEncrypted
    f = io.BytesIO(bytes(data))
    o = olefile.OleFileIO(f, write_mode=True)
    o.write_stream("WordDocument", bytes(word))
    o.close()
    assert [u.reason for u in ole.parse(f.getvalue()).unscannable] == ["encrypted"]


def test_utf16_and_8bit_runs() -> None:
    blob = b"\x01\x02" + "ดูที่ www.dla.go.th".encode("utf-16-le") + b"\x00\x00\xff" + b"ascii.example.com\x00"
    assert "www.dla.go.th" in ole.utf16_runs(blob)
    assert "ascii.example.com" in ole.ascii_runs(blob)


def test_carved_pictures_from_a_binary_stream() -> None:
    png = qr_png("https://carve.example.com/")
    out = ole.Out()
    ole.carve_pictures(
        b"junk" * 10 + png + b"\x00" * 30 + qr_png("x", fmt="JPEG") + b"tail", out, "Data", [0]
    )
    assert [i.where for i in out.images] == ["Data › picture 1", "Data › picture 2"]
    assert out.images[0].data == png


# -- RTF ------------------------------------------------------------------------------------------------


def test_rtf_field_hyperlink_is_a_url_its_result_is_text() -> None:
    e = rtf.parse(
        rb'{\rtf1\ansi{\field{\*\fldinst{HYPERLINK "https://evil.example.com/x" \\o "tip"}}{\fldrslt{click}}}}'
    )
    assert [u.url for u in e.urls] == ["https://evil.example.com/x"]
    assert [t.text for t in e.texts] == ["click"]


def test_rtf_local_bookmark_field_is_not_a_link() -> None:
    e = rtf.parse(rb"{\rtf1{\field{\*\fldinst HYPERLINK \\l \"_Toc1\"}{\fldrslt 1. intro}}}")
    assert not e.urls


def test_rtf_thai_code_page_and_unicode_escapes(finder: TextFinder) -> None:
    tis = "ประกาศ ".encode("cp874")
    hexed = b"".join(b"\\'%02x" % b for b in tis)
    data = (
        rb"{\rtf1\ansi\ansicpg874\uc1 "
        + hexed
        + rb"\u3604?\u3641?\'a1 dopa \u3592?\u3640?\'b4 go \u3592?\u3640?\'b4 th}"
    )
    e = rtf.parse(data)
    assert e.texts[0].text.startswith("ประกาศ ดูก")
    assert [x.url for x in finder.find(e.texts[0].text, HERE)] == ["http://dopa.go.th"]


def test_rtf_font_charset_decides_the_code_page() -> None:
    hexed = b"".join(b"\\'%02x" % b for b in "กรม".encode("cp874"))
    e = rtf.parse(
        rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0\fswiss Arial;}{\f1\fnil\fcharset222 Tahoma;}}\f1 "
        + hexed
        + b"}"
    )
    assert e.texts[0].text == "กรม"


def test_rtf_skips_what_a_reader_does_not_see(finder: TextFinder) -> None:
    data = (
        rb"{\rtf1{\fonttbl{\f0 www.font.example.com;}}{\*\generator www.gen.example.com}"
        rb"{\info{\title www.info.example.com}}{\stylesheet{\s1 www.style.example.com;}}"
        rb"{\*\xmlnstbl {\xmlns1 http://schemas.microsoft.com/office/word/2003/wordml}}"
        rb"{\header www.header.example.com}\pard text\par{\footnote www.foot.example.com}}"
    )
    assert found(rtf.parse(data), finder) == ["http://www.header.example.com", "http://www.foot.example.com"]


def test_rtf_pictures_and_objects() -> None:
    png = qr_png("https://rtf.example.com/")
    data = (
        rb"{\rtf1 x{\*\shppict{\pict\pngblip\picw10\pich10 " + png.hex().encode() + rb"}}"
        rb"{\nonshppict{\pict\wmetafile8 0102}}"
        rb"{\object\objemb{\*\objclass Package}{\*\objdata 01050000020000000800000050616"
        rb"36b61676500000000000000000004000000414243440000}}}"
    )
    e = rtf.parse(data)
    assert [i.data for i in e.images] == [png]
    assert [c.data for c in e.children] == [b"ABCD"]


def test_rtf_encapsulated_html_from_outlook() -> None:
    data = (
        rb'{\rtf1\ansi\fromhtml1 {\*\htmltag19 <html>}{\*\htmltag84 <a href="https://html.example.com/">}'
        rb'\htmlrtf {\field{\*\fldinst HYPERLINK "https://html.example.com/"}{\fldrslt\htmlrtf0 Click}}\htmlrtf0 '
        rb"{\*\htmltag92 </a>}\par{\*\htmltag27 </html>}}"
    )
    e = rtf.parse(data)
    assert e.texts[0].html
    assert '<a href="https://html.example.com/">' in e.texts[0].text


def test_rtf_bin_data_is_skipped() -> None:
    e = rtf.parse(rb"{\rtf1 before {\pict\bin6 }{}\\ } after}")
    assert e.texts[0].text.replace(" ", "") == "beforeafter"


def test_alt_chunk_html_inside_a_docx_is_read() -> None:
    from mail import attachment, message, multipart, part
    from nolink import scan_message

    chunk = b'<html><body><a href="https://chunk.example.com/">x</a></body></html>'
    data = ooxml({"word/document.xml": doc_xml("<w:altChunk r:id='c1'/>"), "word/afchunk.htm": chunk})
    assert [c.name for c in office.parse(data).children] == ["afchunk.htm"]
    body, ctype = multipart([part("x", "text/plain"), attachment(data, "application/octet-stream", "a.docx")])
    assert [x.url for x in scan_message(message(body, ctype)).findings] == ["https://chunk.example.com/"]


@pytest.mark.parametrize("link", [True, False])
def test_text_rtf_body_is_parsed_as_rtf(link: bool) -> None:
    from mail import message
    from nolink import scan_message

    thai = b"".join(b"\\'%02x" % b for b in "ประกาศกรมการปกครอง".encode("cp874"))
    field = rb'{\field{\*\fldinst HYPERLINK "https://rtfbody.example.com/"}{\fldrslt ' + thai + rb"}}"
    # {\*\generator} and the font table name a web address a reader never sees
    rtf_body = rb"{\rtf1\ansi\ansicpg874{\fonttbl{\f0 Tahoma;}}{\*\generator www.gen.example.com}\f0 " + thai
    rtf_body += (field if link else b"") + b"\\par}"
    r = scan_message(message(rtf_body, "text/rtf"))
    assert [x.url for x in r.findings] == (["https://rtfbody.example.com/"] if link else [])
    assert r.verdict == ("link" if link else "clean")


def test_rtf_stops_at_the_time_budget() -> None:
    from nolink.extract import Budget, BudgetExceeded

    data = b"{\\rtf1 " + b"\\b x\\b0 " * 20000 + b"}"
    with pytest.raises(BudgetExceeded):
        rtf.parse(data, "", Budget(seconds=0.0))
    assert rtf.parse(data, "", Budget()).texts


# -- issue 19: what an XLSX viewer shows beyond the cells -----------------------------------------

SHEET_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def sheet(extra: str) -> str:
    return (
        f'<worksheet {SHEET_NS}><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>ชื่อ</t></is></c>'
        f"</row></sheetData>{extra}</worksheet>"
    )


@pytest.mark.parametrize(
    ("part", "xml", "url", "where"),
    [
        (
            "xl/worksheets/sheet1.xml",
            sheet(
                '<dataValidations count="1"><dataValidation type="list" sqref="B2" showInputMessage="1" '
                'promptTitle="วิธีกรอก" prompt="ดูคำอธิบายที่ www.prompt.example.com"><formula1>"a,b"</formula1>'
                "</dataValidation></dataValidations>"
            ),
            "http://www.prompt.example.com",
            "data validation prompt",
        ),
        (
            "xl/worksheets/sheet1.xml",
            sheet(
                '<dataValidations count="1"><dataValidation type="whole" sqref="C2" showErrorMessage="1" '
                'errorTitle="ผิดพลาด" error="แจ้งปัญหาได้ที่ https://error.example.com/help">'
                "<formula1>1</formula1></dataValidation></dataValidations>"
            ),
            "https://error.example.com/help",
            "data validation error",
        ),
        (
            "xl/worksheets/sheet1.xml",
            sheet(
                '<hyperlinks><hyperlink ref="A1" location="Sheet2!A1" tooltip="www.tooltip.example.com"/></hyperlinks>'
            ),
            "http://www.tooltip.example.com",
            "tooltip",
        ),
        (
            "xl/drawings/drawing1.xml",
            '<xdr:wsDr xmlns:xdr="x" xmlns:a="a"><xdr:twoCellAnchor><xdr:pic><xdr:nvPicPr>'
            '<xdr:cNvPr id="2" name="Picture 1" descr="สแกนเพื่อไปที่ www.alt.example.com" title="QR"/>'
            "</xdr:nvPicPr></xdr:pic></xdr:twoCellAnchor></xdr:wsDr>",
            "http://www.alt.example.com",
            "alternative text",
        ),
        (
            "xl/drawings/drawing1.xml",
            '<xdr:wsDr xmlns:xdr="x" xmlns:a="a"><xdr:sp><xdr:txBody><a:p><a:r><a:t>www.shape.example.com</a:t>'
            "</a:r></a:p></xdr:txBody></xdr:sp></xdr:wsDr>",
            "http://www.shape.example.com",
            "xl/drawings/drawing1.xml",
        ),
        (
            "xl/charts/chart1.xml",
            '<c:chartSpace xmlns:c="c" xmlns:a="a"><c:chart><c:title><c:tx><c:rich><a:p><a:r>'
            "<a:t>ที่มา: stats.example.go.th</a:t></a:r></a:p></c:rich></c:tx></c:title></c:chart></c:chartSpace>",
            "http://stats.example.go.th",
            "xl/charts/chart1.xml",
        ),
        (
            "docProps/core.xml",
            '<cp:coreProperties xmlns:cp="cp" xmlns:dc="dc" xmlns:dcterms="t"><dc:title>แบบฟอร์ม</dc:title>'
            "<dc:subject>ดาวน์โหลดที่ www.core.example.com</dc:subject><dc:description>-</dc:description>"
            "<cp:keywords>form.example.net</cp:keywords>"
            '<dcterms:created xsi:type="dcterms:W3CDTF">2026-02-16T10:00:00Z</dcterms:created></cp:coreProperties>',
            "http://www.core.example.com",
            "docProps/core.xml › properties",
        ),
        (
            "docProps/app.xml",
            '<Properties xmlns="p"><Application>Microsoft Excel</Application>'
            "<HyperlinkBase>https://base.example.com/</HyperlinkBase><Company>กรม</Company></Properties>",
            "https://base.example.com/",
            "docProps/app.xml › properties",
        ),
    ],
)
def test_what_a_spreadsheet_viewer_shows(
    part: str, xml: str, url: str, where: str, finder: TextFinder
) -> None:
    e = office.parse(ooxml({part: xml}))
    assert url in found(e, finder)
    hits = [t.where for t in e.texts for x in finder.find(t.text, HERE) if x.url == url]
    assert any(w.endswith(where) for w in hits), hits


def test_prompts_alt_text_and_properties_without_links_are_clean(finder: TextFinder) -> None:
    e = office.parse(
        ooxml(
            {
                "xl/worksheets/sheet1.xml": sheet(
                    '<dataValidations count="1"><dataValidation type="list" sqref="B2" promptTitle="วิธีกรอก" '
                    'prompt="เลือก ก.พ. หรือ มี.ค." errorTitle="ผิด" error="กรอกเลข 1.5 ถึง 2.5"/></dataValidations>'
                ),
                "xl/drawings/drawing1.xml": '<xdr:wsDr xmlns:xdr="x"><xdr:cNvPr id="2" name="Logo" descr="ตราครุฑ" '
                'title="logo.png"/></xdr:wsDr>',
                "docProps/core.xml": '<cp:coreProperties xmlns:cp="cp" xmlns:dc="dc"><dc:title>รายงาน</dc:title>'
                "<dc:creator>สมชาย</dc:creator></cp:coreProperties>",
                "docProps/app.xml": "<Properties><Application>Microsoft Excel</Application><AppVersion>16.0300"
                "</AppVersion><Company>กรมส่งเสริมการปกครองท้องถิ่น</Company></Properties>",
                "meta.xml": "<office:document-meta><office:meta><meta:generator>LibreOffice/7.4.7.2$Linux_X86_64 "
                "LibreOffice_project/723314e595e8007d3cf785c16538505a1c878ca5</meta:generator>"
                "<dc:title>แบบ</dc:title></office:meta></office:document-meta>",
            }
        )
    )
    assert found(e, finder) == []
    assert any("properties" in t.where for t in e.texts)
