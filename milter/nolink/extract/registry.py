"""Which format a piece of content is (``sniff``, by its bytes) and who reads it (``EXTRACTORS``).

Adding a format is adding a module with ``extract(data, declared, name, budget) -> Extracted``
and one line in EXTRACTORS (and, if it has a magic number, one test in ``sniff``).

Formats the scanner handles itself, not through EXTRACTORS: "message" (an attached or archived
e-mail: walked as MIME), "media" (audio and video: no structure that holds links; neither a
link nor unscannable) and "binary" (bytes of no known format: nothing to read).
Formats in DOCUMENT_FORMATS that have no extractor registered are unscannable ("unsupported"):
nolink knows a citizen would open them but cannot read them itself.
"""

from __future__ import annotations

import io
import zipfile

from . import archive, calendar, image, metafile, mhtml, office, ole, pdf, rtf, smime, text, tnef
from .base import Extractor, extension, media_type

EXTRACTORS: dict[str, Extractor] = {
    "pdf": pdf.extract,
    "zip": archive.extract_zip,
    "7z": archive.extract_7z,
    "tar": archive.extract_tar,
    "gzip": archive.extract_gzip,
    "bzip2": archive.extract_bzip2,
    "xz": archive.extract_xz,
    "rar": archive.extract_rar,
    "office": office.extract,  # OOXML (docx xlsx pptx) and OpenDocument (odt ods odp): issue 9b extends
    "image": image.extract,
    "svg": image.extract_svg,
    "metafile": metafile.extract,  # EMF/WMF pictures: their bitmaps, vector drawing and text records
    "text": text.extract,
    "html": text.extract_html,
    # --- issue 9b registers its formats here (sniff below already names them) ---
    "ole": ole.extract,  # legacy .doc .xls .ppt, Outlook .msg (msg.py), encrypted OOXML
    "rtf": rtf.extract,  # RTF parsed as RTF: fields, pictures, objects, Outlook's HTML in RTF
    "tnef": tnef.extract,  # winmail.dat: bodies (RTF, HTML), attachments, attached messages
    "smime": smime.extract,  # pkcs7-mime signed/compressed data unwrapped; enveloped: encrypted
    "mhtml": mhtml.extract,  # .mht/.mhtml: its own MIME parts; its own Content-Location is no link
    "calendar": calendar.extract,  # iCalendar / vCard: unfolded, QP/base64 decoded, URL properties
}

# Recognised as something a citizen would open; without an extractor: unscannable "unsupported".
DOCUMENT_FORMATS = frozenset(("ole", "msg", "tnef", "smime", *EXTRACTORS))

_MEDIA_MAGIC = (b"ID3", b"fLaC", b"OggS", b"\x1aE\xdf\xa3", b"MThd", b"#!AMR")
TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "text",
        "csv",
        "tsv",
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
        "srt",
        "vtt",
    ]
)
CALENDAR_EXTENSIONS = frozenset(["ics", "ical", "ifb", "vcs", "vcf", "vcard"])
HTML_EXTENSIONS = frozenset(("html", "htm", "xhtml", "shtml"))
HTML_TYPES = frozenset(("text/html", "application/xhtml+xml", "text/x-amp-html"))
CALENDAR_TYPES = frozenset(
    ("text/calendar", "text/x-vcard", "text/vcard", "text/directory", "application/ics")
)
TEXT_TYPES = frozenset(
    (
        "application/json",
        "application/xml",
        "application/x-url",
        "application/internet-shortcut",
        "application/x-mswinurl",
        "application/csv",
    )
)
SMIME_TYPES = frozenset(("application/pkcs7-mime", "application/x-pkcs7-mime"))


def looks_textual(data: bytes) -> bool:
    head = data[:4096]
    if not head or b"\x00" in head:
        return False
    printable = sum(1 for b in head if b >= 0x20 or b in (9, 10, 13))
    return printable >= 0.95 * len(head)


def _zip_kind(data: bytes) -> str:
    """ "office" for OOXML and OpenDocument, else "zip"."""
    if data[30:38] == b"mimetype":  # ODF stores its mimetype member first, uncompressed
        return "office"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except Exception:
        return "zip"
    return "office" if "[Content_Types].xml" in names or "mimetype" in names else "zip"


def magic(data: bytes) -> str:
    """The format the bytes themselves announce, or "" when they announce none."""
    head = data[:16]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(data)
    at = data[:1024].find(b"%PDF-")
    if at == 0 or (at > 0 and (b"%%EOF" in data[-2048:] or b"startxref" in data[-2048:])):
        return "pdf"  # readers accept junk before the header; a text that merely says "%PDF-" is text
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if data[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"  # .doc .xls .ppt, encrypted OOXML, and .msg: ole.extract tells them apart
    if head.startswith(b"\x78\x9f\x3e\x22"):
        return "tnef"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if image.image_magic(data):
        return "image"
    if metafile.is_metafile(data):
        return "metafile"
    if head.startswith(b"RIFF") and data[8:12] in (b"WAVE", b"AVI "):
        return "media"
    if data[4:8] == b"ftyp" and data[8:12] not in (b"heic", b"heix", b"avif", b"mif1"):
        return "media"
    if head.startswith(_MEDIA_MAGIC) or (head[:1] == b"\xff" and head[1:2] in (b"\xfb", b"\xf3", b"\xf2")):
        return "media"
    start = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"begin:vcalendar", b"begin:vcard")):
        return "calendar"
    if (start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in data[:2048].lower())) and (
        b"http://www.w3.org/2000/svg" in data[:4096]
    ):
        return "svg"
    return ""


def sniff(data: bytes, declared: str, name: str) -> str:
    """The format of data, decided by its bytes; the declared type and the name decide only
    between formats without a magic number (text, HTML, CSV, calendar, e-mail)."""
    found = magic(data)
    if found == "media" and looks_textual(data):
        found = ""  # "ID3 https://…" in a text/plain body is text a citizen reads, not audio
    if found:
        return found
    ctype = media_type(declared)
    ext = extension(name)
    if ctype in SMIME_TYPES or ext == "p7m":
        return "smime"
    if ext in ("mht", "mhtml") or ctype == "application/x-mimearchive":
        return "mhtml"  # before message/: Outlook attaches a .mht as message/rfc822
    if ctype.startswith("message/") or ext == "eml":
        return "message"
    if ctype in HTML_TYPES or (ext in HTML_EXTENSIONS and not ctype.startswith("text/plain")):
        return "html"
    if ctype in CALENDAR_TYPES or ext in CALENDAR_EXTENSIONS:
        return "calendar"
    if ctype.startswith("text/") or ctype in TEXT_TYPES or ext in TEXT_EXTENSIONS:
        return "text"
    if looks_textual(data):
        head = data[:512].lstrip().lower()
        return "html" if head.startswith((b"<!doctype html", b"<html")) else "text"
    if ctype.startswith(("audio/", "video/")):
        return "media"
    return "binary"
