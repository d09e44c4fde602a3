"""Office Open XML (DOCX, XLSX, PPTX and their macro/template variants) and OpenDocument (ODT, ODS,
ODP, ODG): everything the office program shows or follows.

- Text of every XML part a reader sees: body, headers and footers, footnotes and endnotes, comments
  of every kind (Word comments, Excel notes and threaded comments, PowerPoint comments), slides,
  slide masters and layouts, notes, charts, SmartArt, text boxes; ODF content.xml and styles.xml
  (where its headers and footers live), with embedded objects' own content.xml.
- Field codes: `w:fldSimple w:instr` attributes and `w:instrText` runs (HYPERLINK, INCLUDEPICTURE,
  INCLUDETEXT ...), a field's target becomes a URL.
- External relationships (`TargetMode="External"`: hyperlinks, linked pictures, attached templates,
  OLE links) and ODF `xlink:href` with a scheme, as URLs.
- Pictures (`word/media`, `ppt/media`, `xl/media`, ODF `Pictures/`) are images to decode for codes;
  a picture is not a link by itself, and neither is any path inside the package.
- Embedded files (`word/embeddings`, `ppt/embeddings`, `xl/embeddings`, ODF objects stored as
  OLE) are children, read by their own format module.
"""

from __future__ import annotations

import html
import io
import re
import zipfile

from . import metafile
from ._out import Out, at, named
from .base import Budget, Extracted

MAX_MEMBERS = 2000
MAX_MEMBER_BYTES = 50 * 1024 * 1024
_RASTER = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_NOT_TEXT = re.compile(
    r"^(\[Content_Types\]\.xml|customXml/.*|.*/_rels/.*|_rels/.*|META-INF/.*|meta\.xml"
    r"|settings\.xml|.*/settings\.xml|manifest\.rdf|word/(fontTable|webSettings|numbering|stylesWithEffects)\.xml"
    r"|.*/theme/.*|.*/printerSettings/.*|Configurations2/.*|.*/presProps\.xml|.*/viewProps\.xml"
    r"|.*/tableStyles\.xml|xl/styles\.xml|word/styles\.xml|.*/calcChain\.xml)$",
    re.I,
)
_MEDIA = re.compile(r"(^|/)(media|Pictures|ObjectReplacements)/", re.I)
_EMBEDDED = re.compile(r"(^|/)embeddings/", re.I)
_REL = re.compile(rb"<(?:\w+:)?Relationship\b[^>]*>", re.I)
_ATTR = re.compile(rb"""([\w:]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XLINK = re.compile(rb"""xlink:href\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# attributes that hold a target the program opens or fetches: Excel web queries and data connections
# (<webPr url=...>), online video (wp15:webVideoPr embeddedHtml="<iframe src=...>")
_URL_ATTR = re.compile(rb"""\s(?:\w+:)?(url|sourceFile|embeddedHtml)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# attributes a viewer shows as text: data-validation input and error messages (Excel shows them on a
# cell), pictures' and shapes' alternative text (descr, title), hyperlink tooltips
_SHOWN_ATTR = re.compile(
    rb"""\s(?:\w+:)?(promptTitle|prompt|errorTitle|error|descr|title|tooltip)\s*=\s*(?:"([^"]*)"|'([^']*)')"""
)
_SHOWN_WHERE = {
    b"promptTitle": "data validation prompt",
    b"prompt": "data validation prompt",
    b"errorTitle": "data validation error",
    b"error": "data validation error",
    b"descr": "alternative text",
    b"title": "alternative text",
    b"tooltip": "tooltip",
}
# document properties a viewer shows (File > Properties, the Explorer's details pane): OOXML
# docProps/core.xml, app.xml and custom.xml, ODF meta.xml; only these elements, not the producer's
# name and version (meta:generator) nor dates
_PROPERTIES = re.compile(
    rb"<((?:dc:)?(?:title|subject|description|creator)|cp:(?:keywords|category|contentStatus|lastModifiedBy)"
    rb"|(?:ep:)?(?:Company|Manager|HyperlinkBase)|meta:(?:keyword|user-defined|initial-creator)|vt:lpwstr)"
    rb"\b[^>]*>(.*?)</\1\s*>",
    re.S,
)
_PROPERTY_PARTS = re.compile(r"^(docProps/(core|app|custom)\.xml|meta\.xml)$", re.I)
_INSTR_ATTR = re.compile(rb"""\b(?:w:)?instr\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_INSTR_TEXT = re.compile(rb"<w:instrText\b[^>]*>(.*?)</w:instrText>", re.S)
_DEL_INSTR = re.compile(
    rb"<w:instrText\b[^>]*>.*?</w:instrText>|<w:delInstrText\b[^>]*>.*?</w:delInstrText>", re.S
)
_BREAK = re.compile(
    rb"</(?:w:p|a:p|text:p|text:h|si|c|row|x:c|t:p|w:tr|a:tr|w:txbxContent|text:note-citation|dc:creator"
    rb"|dc:date|meta:date-string|office:annotation|text:list-item|draw:text-box)>"
    rb"|<(?:w:br|a:br|text:line-break)\b[^>]*/>|<(?:office:annotation|text:note-body)\b[^>]*>"
)
_SPACE = re.compile(rb"<(?:w:tab|text:tab|text:s|w:cr)\b[^>]*/>|</(?:w:tc|a:tc|table:table-cell|c:v|c:pt)>")
_TAG = re.compile(rb"<[^>]*>")
_END_TAG = re.compile(rb"</([\w:.\-]+)\s*>")
# Elements inside one line of text: their ends join (a word split over runs or spans stays whole).
_INLINE = frozenset(
    b"w:t w:r w:rPr w:hyperlink w:fldSimple w:smartTag w:ins w:del w:delText w:sdt w:sdtContent w:sdtPr "
    b"w:customXml w:bdo w:dir w:proofErr w:moveTo w:moveFrom w:instrText w:rubyBase w:ruby "
    b"a:t a:r a:rPr a:fld a:hlinkClick t r rPr is text:span text:a text:ruby text:ruby-base "
    b"text:bookmark-ref text:reference-ref text:sequence text:date text:time text:page-number "
    b"text:sender-firstname text:author-name text:title text:subject text:meta text:meta-field "
    b"text:soft-page-break draw:a m:t m:r x:t".split()
)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_LOCAL_FILE = re.compile(r"^file:(///)?[a-zA-Z]:|^file:///(?![^/])|^file:/[^/]", re.I)
_FIELD_URL = re.compile(r"^\s*(HYPERLINK|INCLUDEPICTURE|INCLUDETEXT|LINK|IMPORT)\b(.*)$", re.I | re.S)
_FIELD_ARG = re.compile(r'"([^"]*)"|(\S+)')


def is_office(names: set[str]) -> bool:
    return "[Content_Types].xml" in names or "mimetype" in names or "META-INF/manifest.xml" in names


def _attrs(tag: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v1, v2 in _ATTR.findall(tag):
        key = k.decode("ascii", "replace").lower().split(":")[-1]
        out[key] = html.unescape((v1 or v2).decode("utf-8", "replace"))
    return out


def xml_text(data: bytes) -> str:
    """The text of one XML part as a reader sees it: paragraphs and cells on their own lines, runs of
    one word joined (a URL split over two runs comes back whole)."""
    data = _DEL_INSTR.sub(b"", data)
    data = _BREAK.sub(b"\n", data)
    data = _SPACE.sub(b" ", data)
    # the end of any other element separates (a comment's author from its text, anchor numbers)
    data = _END_TAG.sub(lambda m: b"" if m.group(1) in _INLINE else b" ", data)
    return html.unescape(_TAG.sub(b"", data).decode("utf-8", "replace"))


def target(url: str, out: Out, where: str) -> None:
    """A target the program follows: URLs (with a scheme) are links; mailto: goes to the text finder
    (an address, counted only with links.count_email); local files and package paths are not links."""
    url = url.strip()
    if not url or url.startswith("#"):
        return
    if _SCHEME.match(url) and not re.match(r"^[a-zA-Z]:[\\/]", url):
        low = url.lower()
        if low.startswith("mailto:"):
            out.text(url, where)
        elif low.startswith("file:"):
            if not _LOCAL_FILE.match(url):  # file://server/share: a network location
                out.url(url, where)
        else:
            out.url(url, where)
        return
    if url.startswith(("\\\\", "//")):  # UNC path: a network location
        out.url(url, where)
        return
    # no scheme: a path inside the package or next to the file, unless it reads as a web address
    if not url.startswith((".", "/")) and "/" not in url.split("?")[0].rstrip("/"):
        out.text(url, where)


def field_instruction(instr: str, out: Out, where: str) -> None:
    m = _FIELD_URL.match(instr)
    if not m:
        out.text(instr, where)
        return
    args = [a or b for a, b in _FIELD_ARG.findall(m.group(2))]
    i = 0
    while i < len(args):
        a = args[i]
        if a.lower() in ("\\l", "\\o", "\\t", "\\m", "\\n", "\\c"):
            if a.lower() == "\\l":
                return  # a bookmark in the same document
            i += 2
            continue
        if a.startswith("\\"):
            i += 1
            continue
        target(a.replace("\\\\", "\\"), out, at(where, m.group(1).upper()))
        return


def _relationships(data: bytes, out: Out, where: str) -> None:
    for m in _REL.finditer(data):
        a = _attrs(m.group())
        if a.get("targetmode", "").lower() == "external":
            target(a.get("target", ""), out, where)


def _is_raster(data: bytes) -> bool:
    return data.startswith(_RASTER) and (not data.startswith(b"RIFF") or data[8:12] == b"WEBP")


def parse(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    out = Out()
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except Exception as e:  # BadZipFile, NotImplementedError (bogus version), OSError, ...
        out.cannot("unparseable", f"unreadable office document ({type(e).__name__})", where)
        return out.done()
    with z:
        if _odf_encrypted(z):
            out.cannot("encrypted", "password-protected OpenDocument file", where)
            return out.done()
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            out.cannot("budget", f"office document with {len(infos)} parts", where)
            infos = infos[:MAX_MEMBERS]
        for info in infos:
            name = info.filename
            if info.is_dir():
                continue
            loc = at(where, name)
            if info.flag_bits & 0x1:
                out.cannot("encrypted", f"encrypted part {name}", loc)
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                out.cannot("budget", f"part {name} of {info.file_size} bytes", loc)
                continue
            if budget is not None and not budget.take_bytes(info.file_size):
                out.cannot("budget", budget.bytes_note(), loc)
                break
            low = name.lower()
            if low.startswith(("thumbnails/", "meta-inf/")) or low == "mimetype" or "vbaproject" in low:
                continue  # the program's rendering of page 1, package bookkeeping, macro code
            try:
                body = z.read(info)
            except Exception as e:
                out.cannot("unparseable", f"unreadable part {name} ({type(e).__name__})", loc)
                continue
            if low.endswith(".rels"):
                _relationships(body, out, loc)
            elif _MEDIA.search(name) or _is_raster(body[:16]):
                if _is_raster(body[:16]):
                    out.image(body, loc)
                elif body.lstrip()[:5] in (b"<?xml", b"<svg ") or low.endswith(".svg"):
                    out.child(body, name.rsplit("/", 1)[-1], "image/svg+xml", loc)
                elif metafile.is_metafile(body) or body[:2] == b"\x1f\x8b":
                    # EMF/WMF pictures (EMZ/WMZ: gzipped): their bitmaps and drawing (extract/metafile.py)
                    out.child(body, name.rsplit("/", 1)[-1], "", loc)
                # SVM (StarView metafile) pictures: no reader here (documented in README)
            elif _EMBEDDED.search(name) or low.endswith((".bin", ".ole")):
                out.child(body, name.rsplit("/", 1)[-1], "application/octet-stream", loc)
            elif _PROPERTY_PARTS.match(name):
                _properties(body, out, at(loc, "properties"))
            elif low.endswith((".xml", ".vml")) and not _NOT_TEXT.match(name):
                _xml_part(body, out, loc)
            elif not low.endswith((".xml", ".vml", ".rdf", ".odttf", ".ttf", ".fntdata")):
                # anything else the program may show: altChunk HTML/MHT/RTF (word/afchunk.mht),
                # OLE or zipped objects; each is read by the format its bytes announce
                out.child(body, name.rsplit("/", 1)[-1], "", loc)
    return out.done()


def _odf_encrypted(z: zipfile.ZipFile) -> bool:
    """An OpenDocument file saved with a password: its parts are encrypted inside an ordinary ZIP
    (no ZIP encryption flag), and the manifest says so with encryption-data entries."""
    try:
        info = z.getinfo("META-INF/manifest.xml")
    except KeyError:
        return False
    if info.file_size > MAX_MEMBER_BYTES:
        return False
    try:
        return b"encryption-data" in z.read(info)
    except Exception:
        return False


def _properties(body: bytes, out: Out, loc: str) -> None:
    """The document properties a viewer shows, one per line."""
    values = [xml_text(m.group(2)).strip() for m in _PROPERTIES.finditer(body)]
    text = "\n".join(v for v in values if v)
    if text:
        out.text(text, loc)


def _shown_attributes(body: bytes, out: Out, loc: str) -> None:
    """Attribute values a viewer shows as text (_SHOWN_ATTR), one text per kind of place."""
    if not any(w in body for w in (b"prompt", b"rror", b"descr", b"title", b"tooltip")):
        return  # (a quick look first: a sheet of a million cells holds none)
    found: dict[str, list[str]] = {}
    for m in _SHOWN_ATTR.finditer(body):
        value = html.unescape((m.group(2) or m.group(3) or b"").decode("utf-8", "replace")).strip()
        if value:
            found.setdefault(_SHOWN_WHERE[m.group(1)], []).append(value)
    for where, values in found.items():
        out.text("\n".join(values), at(loc, where))


def _xml_part(body: bytes, out: Out, loc: str) -> None:
    _shown_attributes(body, out, loc)
    for m in _INSTR_ATTR.finditer(body):
        field_instruction(
            html.unescape((m.group(1) or m.group(2)).decode("utf-8", "replace")), out, at(loc, "field")
        )
    instr = b"".join(m.group(1) for m in _INSTR_TEXT.finditer(body))
    if instr:
        # one field's instruction may be split over runs; fields are separated by their codes
        joined = html.unescape(_TAG.sub(b"", instr).decode("utf-8", "replace"))
        for one in re.split(r"(?=\b(?:HYPERLINK|INCLUDEPICTURE|INCLUDETEXT|LINK|IMPORT)\b)", joined):
            if one.strip():
                field_instruction(one, out, at(loc, "field"))
    for m in _XLINK.finditer(body):
        target(html.unescape((m.group(1) or m.group(2)).decode("utf-8", "replace")), out, loc)
    for m in _URL_ATTR.finditer(body):
        value = html.unescape((m.group(2) or m.group(3) or b"").decode("utf-8", "replace"))
        if m.group(1) == b"embeddedHtml":
            out.text(value, at(loc, "embedded HTML"), html=True)
        else:
            target(value, out, loc)
    out.text(xml_text(body), loc)


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)
