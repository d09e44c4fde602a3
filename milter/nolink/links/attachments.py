"""Links inside attachments: PDF (link annotations and page text, with pypdf), Office Open XML and
OpenDocument (external relationships, hyperlinks and text), ZIP archives (members, recursively),
and text-like files (.txt .csv .ics .vcf .url .html ...).

Why pypdf: pure Python (no system library to install or keep patched), tolerant of broken files
with strict=False, and it exposes annotations, which is where a PDF's clickable links live.
Every reader is bounded: pages (links.max_pdf_pages), archive depth (links.max_archive_depth),
member sizes (MAX_MEMBER_BYTES) — so a zip bomb costs a bounded amount of time and memory.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable
from typing import Any

from ..findings import Link, Location

logging.getLogger("pypdf").setLevel(logging.ERROR)

MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_MEMBERS = 1000
TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "text",
        "csv",
        "tsv",
        "ics",
        "ical",
        "ifb",
        "vcs",
        "vcf",
        "vcard",
        "url",
        "webloc",
        "md",
        "markdown",
        "json",
        "xml",
        "rss",
        "atom",
        "log",
        "ini",
        "cfg",
        "conf",
        "yaml",
        "yml",
        "toml",
        "rtf",
        "srt",
        "vtt",
    ]
)
HTML_EXTENSIONS = frozenset(("html", "htm", "xhtml", "shtml", "mht", "mhtml", "svg"))
TEXT_TYPES = frozenset(
    (
        "application/json",
        "application/xml",
        "application/ics",
        "application/rtf",
        "application/x-url",
        "application/internet-shortcut",
        "application/x-mswinurl",
        "application/csv",
    )
)
_OOXML_TEXT = re.compile(
    r"^(word/(document|footnotes|endnotes|comments|header\d*|footer\d*)\.xml|xl/sharedStrings\.xml"
    r"|xl/worksheets/sheet\d+\.xml|ppt/slides/slide\d+\.xml|ppt/notesSlides/notesSlide\d+\.xml"
    r"|content\.xml|styles\.xml)$"
)
_REL = re.compile(rb"<Relationship\b[^>]*>", re.I)
_ATTR = re.compile(rb"""(\w+)\s*=\s*["']([^"']*)["']""")
_XLINK = re.compile(rb"""xlink:href\s*=\s*["']([^"']+)["']""")
_TAG = re.compile(rb"<[^>]*>")
_PDF_URI = re.compile(rb"/URI\s*\(((?:\\.|[^\\)])*)\)")

# (data, location, depth) -> links ; supplied by the scanner so attachments can hold mail or HTML
Recurse = Callable[[bytes, str, str, Location, int], list[Link]]


def extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def name_links(find_text: Callable[[str, Location], list[Link]], name: str, where: Location) -> list[Link]:
    """Links in a file name; the name itself (eicar.com, tax.info, report.zip) is a file, not a link."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return [x for x in find_text(name, where) if x.text.strip() not in (base, name.strip())]


def looks_textual(data: bytes) -> bool:
    head = data[:4096]
    if not head or b"\x00" in head:
        return False
    printable = sum(1 for b in head if b >= 0x20 or b in (9, 10, 13))
    return printable >= 0.95 * len(head)


def sniff(data: bytes, ctype: str, filename: str) -> str:
    """One of pdf, zip, html, text, message, image, binary."""
    ext = extension(filename)
    if data[:1024].find(b"%PDF-") >= 0 or ctype == "application/pdf":
        return "pdf"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if ctype in ("text/html", "application/xhtml+xml") or ext in HTML_EXTENSIONS:
        return "html"
    if ctype.startswith("message/") or ext == "eml":
        return "message"
    if ctype.startswith("image/") or ext in ("png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"):
        return "image"
    if ctype.startswith("text/") or ctype in TEXT_TYPES or ext in TEXT_EXTENSIONS:
        return "text"
    return "text" if looks_textual(data) else "binary"


def _xml_text(data: bytes) -> str:
    # Paragraph and cell ends become newlines so words from two cells never run together.
    data = re.sub(rb"</(w:p|a:p|text:p|text:h|si|c|row)>", b"\n", data)
    text = _TAG.sub(b"", data).decode("utf-8", "replace")
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')


class AttachmentScanner:
    def __init__(
        self,
        find_text: Callable[[str, Location], list[Link]],
        max_pdf_pages: int,
        max_archive_depth: int,
    ) -> None:
        self.find_text = find_text
        self.max_pdf_pages = max_pdf_pages
        self.max_archive_depth = max_archive_depth

    def pdf(self, data: bytes, where: Location, unchecked: list[str]) -> list[Link]:
        from pypdf import PdfReader

        out: list[Link] = []
        try:
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                unchecked.append(f"{where}: encrypted PDF could not be opened; its links were not checked")
                return out
            for i, page in enumerate(reader.pages):
                if i >= self.max_pdf_pages:
                    break
                loc = Location(where.part, where.content_type, f"{where.field} page {i + 1}")
                out.extend(self._pdf_annotations(page, loc))
                try:
                    text = page.extract_text() or ""
                except Exception:
                    text = ""
                out.extend(self.find_text(text, loc))
        except Exception:
            for m in _PDF_URI.finditer(data):
                uri = m.group(1).decode("latin-1")
                out.append(Link(uri, uri, "attachment", where.with_offset(m.start())))
        return out

    @staticmethod
    def _pdf_annotations(page: Any, loc: Location) -> list[Link]:
        out: list[Link] = []
        annots = page.get("/Annots")
        if annots is None:
            return out
        for ref in annots.get_object() or []:
            a = ref.get_object()
            action = a.get("/A")
            if action is None:
                continue
            action = action.get_object()
            target = action.get("/URI") or action.get("/F")
            if target is None:
                continue
            uri = str(target.get_object() if hasattr(target, "get_object") else target)
            if isinstance(target, dict) or not uri.strip():
                continue
            out.append(Link(uri, uri, "attachment", loc))
        return out

    def office(self, z: zipfile.ZipFile, where: Location) -> list[Link]:
        out: list[Link] = []
        for info in z.infolist()[:MAX_MEMBERS]:
            name = info.filename
            if info.file_size > MAX_MEMBER_BYTES or info.flag_bits & 0x1:
                continue
            loc = Location(where.part, where.content_type, f"{where.field} {name}")
            if name.endswith(".rels"):
                data = z.read(info)
                for m in _REL.finditer(data):
                    attrs = {k.lower(): v for k, v in _ATTR.findall(m.group())}
                    if attrs.get(b"targetmode", b"").lower() == b"external":
                        t = attrs.get(b"target", b"").decode("utf-8", "replace")
                        if t and not t.lower().startswith(("mailto:", "file:", "#")):
                            out.append(Link(t, t, "attachment", loc.with_offset(m.start())))
            elif _OOXML_TEXT.match(name):
                data = z.read(info)
                for m in _XLINK.finditer(data):
                    t = m.group(1).decode("utf-8", "replace")
                    if not t.lower().startswith(("mailto:", "#", "./", "../")):
                        out.append(Link(t, t, "attachment", loc.with_offset(m.start())))
                out.extend(self.find_text(_xml_text(data), loc))
        return out

    def archive(
        self, z: zipfile.ZipFile, where: Location, depth: int, recurse: Recurse, unchecked: list[str]
    ) -> list[Link]:
        out: list[Link] = []
        if depth >= self.max_archive_depth:
            unchecked.append(
                f"{where}: archive nested deeper than {self.max_archive_depth}; inner files not checked"
            )
            return out
        for info in z.infolist()[:MAX_MEMBERS]:
            if info.is_dir():
                continue
            loc = Location(where.part, where.content_type, f"{where.field}/{info.filename}")
            out.extend(
                name_links(self.find_text, info.filename, Location(loc.part, loc.content_type, "filename"))
            )
            if info.flag_bits & 0x1:
                unchecked.append(f"{loc}: encrypted archive member not checked")
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                unchecked.append(f"{loc}: archive member larger than {MAX_MEMBER_BYTES} bytes not checked")
                continue
            try:
                data = z.read(info)
            except Exception as e:
                unchecked.append(f"{loc}: unreadable archive member ({type(e).__name__})")
                continue
            out.extend(recurse(data, "application/octet-stream", info.filename, loc, depth + 1))
        return out

    def zip(
        self, data: bytes, where: Location, depth: int, recurse: Recurse, unchecked: list[str]
    ) -> list[Link]:
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            unchecked.append(f"{where}: unreadable ZIP ({e})")
            return []
        with z:
            names = set(z.namelist())
            if "[Content_Types].xml" in names or "mimetype" in names:
                return self.office(z, where)
            return self.archive(z, where, depth, recurse, unchecked)
