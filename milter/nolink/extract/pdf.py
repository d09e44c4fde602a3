"""PDF: everything in a PDF that a citizen can follow or see.

- Actions that lead somewhere: /URI, /Launch, /GoToR, /GoToE, /SubmitForm, /ImportData (with a
  file specification, a /FS /URL specification or a plain string), JavaScript (its code is
  searched as text), followed through /Next chains, wherever they sit: link and other
  annotations (/A, /AA), the catalog's /OpenAction and /AA, each page's /AA, each form field's
  /A and /AA.
- Form field values (/V), the text of FreeText and other markup annotations (/Contents).
- Embedded files (/Names /EmbeddedFiles) and FileAttachment annotations: children, recursed into.
- The text layer of every page, the images on every page (decoded for 2D codes), and the page
  *rendered* when it has no text layer or draws vector graphics (a QR code drawn as paths).
- Every page up to the budget (links.max_pdf_pages per file, links.max_total_pdf_pages per
  message, the pixel and time budgets); the pages beyond are unscannable, never dropped.
- An encrypted PDF that does not open with the empty password is unscannable ("encrypted").

Why two libraries: pypdf (pure Python, tolerant with strict=False) walks the object structure
where the actions, fields and embedded files are. pypdfium2 (PDFium, the renderer of Chrome,
in a wheel with no system library, released with PDFium's own security fixes) extracts the text
layer, lists the images and paths of each page and renders pages; poppler's Python bindings need
system libraries and a build, PyMuPDF is AGPL. PDFium is not thread-safe: one lock around it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import logging
import re
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

from .base import Budget, BudgetExceeded, ChildPiece, Extracted, ImagePiece, TextPiece, Unscannable, UrlPiece
from .pdfbounds import heavy_pages, render_until

logging.getLogger("pypdf").setLevel(logging.ERROR)
MAX_STREAM_BYTES = 25 * 1024 * 1024  # one decompressed stream (embedded file, JavaScript) at most


def _stream_data(stream: Any) -> bytes:
    """A stream's decoded bytes, at most MAX_STREAM_BYTES: Flate (the usual filter) is inflated
    here with a bound; other filters go through pypdf (which has its own limits)."""
    filters = _get(stream, "/Filter")
    raw = getattr(stream, "_data", None)
    if (
        str(filters) in ("/FlateDecode", "['/FlateDecode']")
        and isinstance(raw, bytes)
        and not _get(stream, "/DecodeParms")
    ):
        d = zlib.decompressobj()
        out = d.decompress(raw, MAX_STREAM_BYTES)
        if d.unconsumed_tail:
            raise BudgetExceeded(f"a stream larger than {MAX_STREAM_BYTES} bytes")
        return out
    data = bytes(stream.get_data())
    if len(data) > MAX_STREAM_BYTES:
        raise BudgetExceeded(f"a stream larger than {MAX_STREAM_BYTES} bytes")
    return data


_PDF_URI = re.compile(rb"/URI\s*\(((?:\\.|[^\\)])*)\)")
_PDFIUM = threading.Lock()
RENDER_DPI = 150  # enough for a 1.5 cm QR code; issue 10 may render again for OCR
MAX_RENDER_SIDE = 2600  # pixels: a page of absurd size is rendered smaller, not refused
IMAGE_DPI = 150  # page images (scans) are decoded at no less than this resolution for the code pass
IMAGE_MAX_PIXELS = 12_000_000  # ... and reduced further when still larger than this
MIN_IMAGE_SIDE = 40  # smaller images cannot hold a readable code
CODE_MODULES = 60  # a page with this many code-like filled squares may draw a code: render it
DRAWN_ANNOTS = frozenset(("/Stamp", "/Widget", "/Screen", "/FreeText", "/Ink", "/Square", "/Polygon"))
MAX_ACTIONS = 2000
MAX_EMBEDDED = 200
MARKUP_ANNOTS = frozenset(
    [
        "/Text",
        "/FreeText",
        "/Line",
        "/Square",
        "/Circle",
        "/Polygon",
        "/PolyLine",
        "/Highlight",
        "/Underline",
        "/Squiggly",
        "/StrikeOut",
        "/Stamp",
        "/Caret",
        "/Ink",
        "/Popup",
        "/FileAttachment",
        "/Sound",
        "/Redact",
    ]
)


@dataclass
class _Out:
    name: str
    texts: list[TextPiece] = field(default_factory=list)
    urls: list[UrlPiece] = field(default_factory=list)
    images: list[ImagePiece] = field(default_factory=list)
    children: list[ChildPiece] = field(default_factory=list)
    bad: list[Unscannable] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    actions: int = 0
    drawn_annotations: set[int] = field(default_factory=set)  # pages whose annotations draw something
    images_seen: set[bytes] = field(default_factory=set)  # digests: a letterhead on every page is read once
    heavy_pages: dict[int, str] = field(default_factory=dict)  # pages PDFium is not given (pdfbounds.py)

    def result(self) -> Extracted:
        return Extracted(
            tuple(self.texts), tuple(self.urls), tuple(self.images), tuple(self.children), tuple(self.bad)
        )


class _OutOfTime(Exception):
    """The scan's deadline passed inside a page (listing its objects, rendering it)."""


def _quoted(name: str) -> str:
    return f'PDF "{name}"' if name else "PDF"


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    out = _Out(name)
    broken: Exception | None = None
    try:
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return Extracted(unscannable=(Unscannable("encrypted", f"encrypted {_quoted(name)}", ""),))
        pages = list(reader.pages)
    except Exception as e:
        # pypdf gave up: the raw /URI strings, then let PDFium try the pages
        for m in _PDF_URI.finditer(data):
            out.urls.append(UrlPiece(m.group(1).decode("latin-1"), ""))
        reader, pages = None, []
        broken = e
    if reader is not None:
        try:
            _structure(reader, pages, out, budget)
        except Exception as e:  # a damaged object: what was read so far stands, the rest is not clean
            out.bad.append(Unscannable("unparseable", f"damaged {_quoted(name)} ({type(e).__name__})", ""))
        out.heavy_pages = heavy_pages(pages, budget, budget.pdf_pages_per_file)
    _pages(data, out, budget, broken)
    return out.result()


# -- structure (pypdf) ------------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    try:
        v = obj.get(key)
        return v.get_object() if v is not None and hasattr(v, "get_object") else v
    except Exception:
        return None


def _text(v: Any) -> str:
    if v is None:
        return ""
    if hasattr(v, "get_data"):  # a stream (JavaScript)
        try:
            return _stream_data(v)[:1_000_000].decode("latin-1")
        except Exception:
            return ""
    return str(v)


def _filespec(fs: Any) -> str:
    """The target of a file specification: a string, or /F /UF (a URL when /FS is /URL)."""
    if fs is None:
        return ""
    if isinstance(fs, (str, bytes)) or not hasattr(fs, "get"):
        return _text(fs)
    for key in ("/UF", "/F", "/Unix", "/DOS", "/Mac"):
        v = _get(fs, key)
        if v is not None and not hasattr(v, "get"):
            return _text(v)
    return ""


def _action(a: Any, where: str, out: _Out) -> None:
    """One action and its /Next chain."""
    stack = [a]
    while stack:
        a = stack.pop()
        if a is None or not hasattr(a, "get"):
            continue
        ident = id(a)
        if ident in out.seen or out.actions >= MAX_ACTIONS:
            continue
        out.seen.add(ident)
        out.actions += 1
        kind = str(_get(a, "/S") or "")
        if kind == "/URI":
            out.urls.append(UrlPiece(_text(_get(a, "/URI")), where))
        elif kind in ("/Launch", "/GoToR", "/GoToE", "/SubmitForm", "/ImportData"):
            target = _filespec(_get(a, "/F"))
            if not target and kind == "/Launch":
                win = _get(a, "/Win")
                target = _text(_get(win, "/F")) if win is not None else ""
            if target:
                out.urls.append(UrlPiece(target, where))
        elif kind in ("/JavaScript", "/Rendition"):
            js = _text(_get(a, "/JS"))
            if js:
                out.texts.append(TextPiece(js, f"{where} › javascript"))
        nxt = _get(a, "/Next")
        if isinstance(nxt, list):
            stack.extend(_deref(x) for x in nxt)
        elif nxt is not None:
            stack.append(nxt)


def _deref(x: Any) -> Any:
    try:
        return x.get_object()
    except Exception:
        return x


def _actions_of(obj: Any, where: str, out: _Out) -> None:
    """/A and every additional action (/AA) of a dictionary."""
    a = _get(obj, "/A")
    if a is not None and hasattr(a, "get"):
        _action(a, where, out)
    aa = _get(obj, "/AA")
    if aa is not None and hasattr(aa, "keys"):
        for k in list(aa.keys()):
            _action(_get(aa, k), where, out)


def _embedded(fs: Any, where: str, out: _Out, budget: Budget) -> None:
    ef = _get(fs, "/EF")
    if ef is None or not hasattr(ef, "get"):
        return
    stream = _get(ef, "/F") or _get(ef, "/UF")
    if stream is None or not hasattr(stream, "get_data"):
        return
    name = _filespec(fs)
    if len(out.children) >= MAX_EMBEDDED:
        out.bad.append(
            Unscannable("budget", f"{_quoted(out.name)} embeds more than {MAX_EMBEDDED} files", where)
        )
        return
    try:
        data = _stream_data(stream)
    except BudgetExceeded as e:
        out.bad.append(Unscannable("budget", f"embedded file in {_quoted(out.name)}: {e.what}", where))
        return
    except Exception as e:
        why = f"embedded file in {_quoted(out.name)} could not be read ({type(e).__name__})"
        out.bad.append(Unscannable("unparseable", why, where))
        return
    if not budget.take_bytes(len(data)):
        out.bad.append(Unscannable("budget", budget.bytes_note(), where))
        return
    out.children.append(ChildPiece(data, name, str(_get(stream, "/Subtype") or "").lstrip("/"), where))


def _name_tree(node: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """(name, value) of a name tree (/Names arrays under /Kids)."""
    found: list[tuple[str, Any]] = []
    if node is None or depth > 20 or not hasattr(node, "get"):
        return found
    names = _get(node, "/Names")
    if isinstance(names, list):
        for i in range(0, len(names) - 1, 2):
            found.append((_text(_deref(names[i])), _deref(names[i + 1])))
    kids = _get(node, "/Kids")
    if isinstance(kids, list):
        for k in kids:
            found.extend(_name_tree(_deref(k), depth + 1))
    return found


def _fields(node: Any, prefix: str, out: _Out, depth: int = 0) -> None:
    if node is None or depth > 30 or not hasattr(node, "get") or id(node) in out.seen:
        return
    out.seen.add(id(node))
    part = _text(_get(node, "/T"))
    name = f"{prefix}.{part}" if prefix and part else part or prefix
    where = f"field {name}" if name else "form field"
    value = _get(node, "/V")
    if value is not None and not hasattr(value, "get"):
        v = _text(value) if not isinstance(value, list) else " ".join(_text(_deref(x)) for x in value)
        if v.strip():
            out.texts.append(TextPiece(v, where))
    _actions_of(node, where, out)
    kids = _get(node, "/Kids")
    if isinstance(kids, list):
        for k in kids:
            _fields(_deref(k), name, out, depth + 1)


MAX_OUTLINE = 10_000  # bookmark entries read per file


def _outline(node: Any, out: _Out) -> None:
    """The bookmarks (outline) a viewer lists beside the pages: each entry's title is text a reader
    sees, its /A action (a /URI) leads where a click goes. /First children and /Next siblings,
    without recursion; a loop or a huge outline stops at MAX_OUTLINE entries."""
    if node is None or not hasattr(node, "get"):
        return
    stack = [_get(node, "/First")]
    seen: set[int] = set()
    while stack and len(seen) < MAX_OUTLINE:
        item = stack.pop()
        if item is None or not hasattr(item, "get") or id(item) in seen:
            continue
        seen.add(id(item))
        title = _text(_get(item, "/Title"))
        where = f"bookmark {title.strip()[:60]}".rstrip() if title.strip() else "bookmark"
        if title.strip():
            out.texts.append(TextPiece(title, where))
        _actions_of(item, where, out)
        stack.append(_get(item, "/Next"))
        stack.append(_get(item, "/First"))
    if stack and any(x is not None for x in stack):
        out.bad.append(
            Unscannable("budget", f"{_quoted(out.name)} has more than {MAX_OUTLINE} bookmarks", "bookmarks")
        )


def _xfa(form: Any, out: _Out, budget: Budget) -> None:
    """An XFA form (the dynamic form Adobe Reader draws from XML in /AcroForm /XFA, a stream or an
    array of packet names and streams): its XML, read by the XML reader as a child document
    (element text, href-like attributes and scripts are what the reader sees or follows)."""
    xfa = _get(form, "/XFA")
    if xfa is None:
        return
    streams = [xfa] if hasattr(xfa, "get_data") else [_deref(x) for x in xfa] if isinstance(xfa, list) else []
    parts: list[bytes] = []
    try:
        for st in streams:
            if hasattr(st, "get_data"):
                parts.append(_stream_data(st))
                if sum(map(len, parts)) > MAX_STREAM_BYTES:
                    raise BudgetExceeded(f"an XFA form larger than {MAX_STREAM_BYTES} bytes")
    except BudgetExceeded as e:
        out.bad.append(Unscannable("budget", f"XFA form in {_quoted(out.name)}: {e.what}", "XFA form"))
        return
    except Exception as e:
        why = f"XFA form in {_quoted(out.name)} could not be read ({type(e).__name__})"
        out.bad.append(Unscannable("unparseable", why, "XFA form"))
        return
    data = b"".join(parts)
    if not data.strip():
        return
    if not budget.take_bytes(len(data)):
        out.bad.append(Unscannable("budget", budget.bytes_note(), "XFA form"))
        return
    out.children.append(ChildPiece(data, "xfa.xml", "application/xml", "XFA form"))


def _structure(reader: Any, pages: list[Any], out: _Out, budget: Budget) -> None:
    root = reader.trailer.get("/Root")
    root = root.get_object() if root is not None else None
    if root is not None:
        oa = _get(root, "/OpenAction")
        if oa is not None and hasattr(oa, "get"):
            _action(oa, "open action", out)
        _actions_of(root, "document actions", out)
        names = _get(root, "/Names")
        if names is not None:
            for js_name, js in _name_tree(_get(names, "/JavaScript")):
                _action(js, f"document javascript {js_name}".strip(), out)
            for fname, fs in _name_tree(_get(names, "/EmbeddedFiles")):
                _embedded(fs, f"embedded file {_filespec(fs) or fname}", out, budget)
        form = _get(root, "/AcroForm")
        if form is not None:
            for f in _get(form, "/Fields") or []:
                _fields(_deref(f), "", out)
            _xfa(form, out, budget)
        _outline(_get(root, "/Outlines"), out)
    for i, page in enumerate(pages):
        if i >= budget.pdf_pages_per_file:
            break
        where = f"page {i + 1}"
        _actions_of(page, where, out)
        annots = _get(page, "/Annots")
        if not isinstance(annots, list):
            continue
        for j, ref in enumerate(annots):
            a = _deref(ref)
            if a is None or not hasattr(a, "get"):
                continue
            sub = str(_get(a, "/Subtype") or "")
            aw = f"{where} › {'link' if sub == '/Link' else 'annotation'} {j + 1}"
            if sub in DRAWN_ANNOTS and _get(a, "/AP") is not None:
                out.drawn_annotations.add(i)  # a stamp can carry a QR code: render the page
            _actions_of(a, aw, out)
            if sub in MARKUP_ANNOTS:
                contents = _text(_get(a, "/Contents"))
                if contents.strip():
                    out.texts.append(TextPiece(contents, aw))
            if sub == "/FileAttachment":
                fs = _get(a, "/FS")
                if fs is not None and hasattr(fs, "get"):
                    _embedded(fs, f"{aw} › attached file {_filespec(fs)}", out, budget)
            if sub == "/Widget":
                _fields(a, "", out)


# -- pages (PDFium): text layer, images, rendering --------------------------------------------------


def _pages(data: bytes, out: _Out, budget: Budget, broken: Exception | None) -> None:
    try:
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw
    except ImportError:  # pragma: no cover - a dependency
        out.bad.append(
            Unscannable("unsupported", f"{_quoted(out.name)}: pages not read (pypdfium2 missing)", "")
        )
        return
    with _PDFIUM:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as e:
            if "password" in str(e).lower():
                out.bad.append(Unscannable("encrypted", f"encrypted {_quoted(out.name)}", ""))
            else:
                why = type(broken or e).__name__
                out.bad.append(Unscannable("unparseable", f"damaged {_quoted(out.name)} ({why})", ""))
            return
        try:
            n = len(doc)
            for i in range(n):
                where = f"page {i + 1}"
                if i >= budget.pdf_pages_per_file:
                    out.bad.append(
                        Unscannable(
                            "budget",
                            f"{_quoted(out.name)} has {n} pages; pages {i + 1}-{n} not read (links.max_pdf_pages)",
                            where,
                        )
                    )
                    break
                if not budget.take_pdf_page():
                    out.bad.append(
                        Unscannable("budget", f"{budget.pages_note()}; pages {i + 1}-{n} not read", where)
                    )
                    break
                if not budget.check_time():
                    out.bad.append(
                        Unscannable("budget", f"{budget.time_note()}; pages {i + 1}-{n} not read", where)
                    )
                    break
                if i in out.heavy_pages:  # never loaded: PDFium parses all of a page's content on load
                    out.bad.append(Unscannable("budget", f"{_quoted(out.name)}: {out.heavy_pages[i]}", where))
                    continue
                try:
                    _page(doc[i], where, out, budget, raw, i in out.drawn_annotations)
                except _OutOfTime:
                    out.bad.append(
                        Unscannable("budget", f"{budget.time_note()}; pages {i + 1}-{n} not read", where)
                    )
                    break
                except Exception as e:
                    out.bad.append(
                        Unscannable(
                            "unparseable", f"damaged page in {_quoted(out.name)} ({type(e).__name__})", where
                        )
                    )
        finally:
            doc.close()


def _page(page: Any, where: str, out: _Out, budget: Budget, raw: Any, annotations: bool) -> None:
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    try:
        glyphs = _glyph_text(textpage, raw, text)
    finally:
        textpage.close()
    if glyphs:  # (read instead: PDFium's reading glues "V i s i t w w w" as one spaced run)
        out.texts.append(TextPiece(glyphs, f"{where} › text placed glyph by glyph"))
    elif text.strip():
        out.texts.append(TextPiece(text, where))
    segments = 0
    text_objects = 0
    modules = 0  # filled paths shaped like one module of a code, or like a whole code
    images: list[Any] = []
    page_w, page_h = page.get_size()
    for k, obj in enumerate(page.get_objects(max_depth=4)):
        if k % 4096 == 4095 and not budget.check_time():
            raise _OutOfTime
        t = obj.type
        if t == raw.FPDF_PAGEOBJ_PATH:
            n = max(0, raw.FPDFPath_CountSegments(obj.raw))
            segments += n
            modules += _code_like(obj, n, page_w, page_h, raw)
        elif t == raw.FPDF_PAGEOBJ_TEXT:
            text_objects += 1
        elif t == raw.FPDF_PAGEOBJ_IMAGE:
            images.append(obj)
    for k, img in enumerate(images):
        _page_image(img, f"{where} › image {k + 1}", out, budget, page_w, page_h)
    no_text = len(text.strip()) < 20
    if annotations or modules >= CODE_MODULES or (no_text and (text_objects or segments)):
        scale = min(RENDER_DPI / 72, MAX_RENDER_SIDE / max(page_w, page_h, 1))
        px = int(page_w * scale) * int(page_h * scale)
        if not budget.take_pixels(px):
            out.bad.append(Unscannable("budget", budget.pixels_note(), f"{where} › rendering"))
            return
        bitmap = render_until(page, scale, budget.deadline)  # stopped at the deadline
        if bitmap is None:
            raise _OutOfTime
        out.images.append(ImagePiece(b"", f"{where} › rendering", bitmap.to_pil().convert("L")))
        bitmap.close()


GLYPH_MAX_CHARS = 200_000  # a page's characters read one by one, at most
_GLYPH_GAP = 1.6  # an advance this many times the line's usual one is a space between words


def _glyph_text(textpage: Any, raw: Any, text: str) -> str:
    """The text of a page whose characters are placed one by one at a fixed advance (each glyph
    its own text-show operation), read from the glyph origins: "", unless PDFium's own reading
    broke words apart with spaces it generated from the gaps between narrow glyphs
    ("www. dl a. go. t h"). A space is an advance much wider than the line's usual one (a
    skipped slot); a new line starts where the baseline moves."""
    n = textpage.count_chars()
    if n < 8 or n > GLYPH_MAX_CHARS or " " not in text:
        return ""
    tokens = text.split()
    if sum(1 for t in tokens if len(t) <= 2) * 3 < len(tokens):  # words, not glyphs: most are longer
        return ""
    tp = textpage.raw
    generated = sum(1 for i in range(n) if raw.FPDFText_IsGenerated(tp, i) == 1)
    if generated * 8 < n:  # fewer than one generated space in 8 characters: words as written
        return ""
    import ctypes

    x, y = ctypes.c_double(), ctypes.c_double()
    lines: list[list[tuple[float, str]]] = []
    last_y: float | None = None
    for i in range(n):
        if raw.FPDFText_IsGenerated(tp, i) == 1:
            continue
        ch = chr(raw.FPDFText_GetUnicode(tp, i) or 32)
        if ch in "\r\n":
            last_y = None
            continue
        if not raw.FPDFText_GetCharOrigin(tp, i, ctypes.byref(x), ctypes.byref(y)):
            continue
        size = raw.FPDFText_GetFontSize(tp, i) or 10.0
        if last_y is None or abs(y.value - last_y) > size / 2 or not lines:
            lines.append([])
        last_y = y.value
        lines[-1].append((x.value, ch))
    out: list[str] = []
    for line in lines:
        advances = sorted(b[0] - a[0] for a, b in itertools.pairwise(line) if b[0] > a[0])
        usual = advances[len(advances) // 2] if advances else 0.0
        words = [line[0][1]] if line else []
        for a, b in itertools.pairwise(line):
            if usual > 0 and b[0] - a[0] > _GLYPH_GAP * usual and a[1] != " " and b[1] != " ":
                words.append(" ")
            words.append(b[1])
        out.append("".join(words))
    joined = "\n".join(out)
    return joined if joined.split() != text.split() else ""


def _code_like(obj: Any, segments: int, page_w: float, page_h: float, raw: Any) -> int:
    """How many code modules a path object may draw: a filled square path of many segments (a
    whole QR code as one path of rectangles) counts as many, a small filled shape (a module or a
    run of modules) as one; table rules, frames, cell shading and bars (large or only stroked)
    count nothing, so an ordinary letter with a table is not rendered."""
    import ctypes

    fill, stroke = ctypes.c_int(0), ctypes.c_int(0)
    if not raw.FPDFPath_GetDrawMode(obj.raw, ctypes.byref(fill), ctypes.byref(stroke)) or not fill.value:
        return 0
    try:
        left, bottom, right, top = obj.get_bounds()
    except Exception:
        return 0
    w, h = right - left, top - bottom
    if w <= 0 or h <= 0:
        return 0
    if segments >= 4 * CODE_MODULES and 0.6 <= w / h <= 1.7:
        return segments // 4  # one square path holding the code's rectangles
    return 1 if w < page_w / 10 and h < page_h / 10 else 0  # one module, or a run of modules


def _page_image(img: Any, where: str, out: _Out, budget: Budget, page_w: float, page_h: float) -> None:
    from PIL import Image

    try:
        w, h = img.get_px_size()
    except Exception:
        w = h = 0
    if w and h and min(w, h) < MIN_IMAGE_SIDE:
        return
    filters = img.get_filters()
    encoded = bytes(img.get_data(decode_simple=False))
    digest = hashlib.blake2b(encoded, digest_size=16, person=b"%d.%d" % (w, h)).digest()
    if digest in out.images_seen:
        return  # the same picture again (a letterhead or logo on every page)
    out.images_seen.add(digest)
    if filters == ["DCTDecode"]:
        # a JPEG (the usual scan): libjpeg decodes it at 1/2..1/8 scale when it is large
        jpeg = encoded
        im = Image.open(io.BytesIO(jpeg))
        scale = _reduction(w, h, page_w, page_h)
        if scale > 1:
            im.draft("L", (w // scale, h // scale))
        if not budget.take_pixels(im.width * im.height):
            out.bad.append(Unscannable("budget", budget.pixels_note(), where))
            return
        out.images.append(ImagePiece(b"", where, im.convert("L")))
        return
    if not budget.take_pixels(w * h):
        out.bad.append(Unscannable("budget", budget.pixels_note(), where))
        return
    bitmap = img.get_bitmap(render=False)
    im = bitmap.to_pil()
    scale = _reduction(im.width, im.height, page_w, page_h)
    if scale > 1:
        im = im.reduce(scale)
    out.images.append(ImagePiece(b"", where, im.convert("L")))


def _reduction(w: int, h: int, page_w: float, page_h: float) -> int:
    """1, 2, 4 or 8: how much a page image can be reduced and stay at IMAGE_DPI or more (taking
    the image as covering the page), and under IMAGE_MAX_PIXELS."""
    dpi = max(w / max(page_w / 72, 0.1), h / max(page_h / 72, 0.1))
    scale = 1
    while scale < 8 and (dpi / (scale * 2) >= IMAGE_DPI or w * h / scale**2 > IMAGE_MAX_PIXELS):
        scale *= 2
    return scale
