"""Office Open XML (docx, xlsx, pptx) and OpenDocument (odt, ods, odp): external relationships,
xlink:href hyperlinks and the text of the document parts.

Issue 9b extends this module (pictures, fields, comments, headers and footers, masters, notes,
charts). Members are read within the message's byte budget.
"""

from __future__ import annotations

import io
import re
import zipfile

from .base import Budget, Extracted, TextPiece, Unscannable, UrlPiece

MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 1000
_OOXML_TEXT = re.compile(
    r"^(word/(document|footnotes|endnotes|comments|header\d*|footer\d*)\.xml|xl/sharedStrings\.xml"
    r"|xl/worksheets/sheet\d+\.xml|ppt/slides/slide\d+\.xml|ppt/notesSlides/notesSlide\d+\.xml"
    r"|content\.xml|styles\.xml)$"
)
_REL = re.compile(rb"<Relationship\b[^>]*>", re.I)
_ATTR = re.compile(rb"""(\w+)\s*=\s*["']([^"']*)["']""")
_XLINK = re.compile(rb"""xlink:href\s*=\s*["']([^"']+)["']""")
_TAG = re.compile(rb"<[^>]*>")


def xml_text(data: bytes) -> str:
    # Paragraph and cell ends become newlines so words from two cells never run together.
    data = re.sub(rb"</(w:p|a:p|text:p|text:h|si|c|row)>", b"\n", data)
    text = _TAG.sub(b"", data).decode("utf-8", "replace")
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        return Extracted(unscannable=(Unscannable("unparseable", f"damaged office document ({e})", ""),))
    texts: list[TextPiece] = []
    urls: list[UrlPiece] = []
    bad: list[Unscannable] = []
    with z:
        for info in z.infolist()[:MAX_MEMBERS]:
            member = info.filename
            is_rels = member.endswith(".rels")
            if not is_rels and not _OOXML_TEXT.match(member):
                continue
            if info.flag_bits & 0x1:
                bad.append(Unscannable("encrypted", "encrypted office document part", member))
                continue
            if info.file_size > MAX_MEMBER_BYTES or not budget.take_bytes(info.file_size):
                bad.append(Unscannable("budget", budget.bytes_note(), member))
                continue
            body = z.read(info)
            if is_rels:
                for m in _REL.finditer(body):
                    attrs = {k.lower(): v for k, v in _ATTR.findall(m.group())}
                    if attrs.get(b"targetmode", b"").lower() == b"external":
                        t = attrs.get(b"target", b"").decode("utf-8", "replace")
                        if t and not t.lower().startswith(("file:", "#")):
                            urls.append(UrlPiece(t, member))
            else:
                for m in _XLINK.finditer(body):
                    t = m.group(1).decode("utf-8", "replace")
                    if not t.lower().startswith(("#", "./", "../")):
                        urls.append(UrlPiece(t, member))
                texts.append(TextPiece(xml_text(body), member))
    return Extracted(texts=tuple(texts), urls=tuple(urls), unscannable=tuple(bad))
