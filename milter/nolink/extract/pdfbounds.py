"""Bounds on what PDFium is given: a page's content is measured before PDFium loads the page, and
a page is rendered so that the render can be stopped at the scan's deadline.

PDFium parses a page's whole content (its content streams and the form XObjects they draw) when
the page is loaded, and has no byte budget of its own: a 0.14 MB PDF whose page stream inflates to
50 MB of path operators took 1 GB and a minute. So each page's content is inflated here first,
with a bound (zlib's max_length; nothing larger than the bound is ever in memory), and a page
whose content is over MAX_PAGE_CONTENT_BYTES, or over what is left of the message's byte budget,
is unscannable without PDFium ever seeing it. Measured (bench-free, a loaded 2-core machine):
PDFium needs about 1-2 s and 13 MB per MB of path operators to load, list and render a page, so
4 MB keeps one page within about the time budget and well under 100 MB.

The render is progressive (FPDF_RenderPageBitmap_Start with a pause callback that PDFium asks
every few objects): past the deadline it is abandoned, and the page is unscannable ("budget").
"""

from __future__ import annotations

import time
import zlib
from typing import Any

from .base import Budget

MAX_PAGE_CONTENT_BYTES = 4 * 1024 * 1024  # a page's inflated content streams and forms, at most
MAX_FORM_DEPTH = 8  # forms drawn by forms, followed this deep (PDFium's own limit is similar)


class TooLarge(Exception):
    """The content is over the bound (raised while inflating, before it is all in memory)."""


def heavy_pages(pages: list[Any], budget: Budget, limit: int) -> dict[int, str]:
    """{page index: why} for the pages (pypdf page objects, the first ``limit``) whose content
    PDFium must not be given; the content of the others is counted against the byte budget."""
    out: dict[int, str] = {}
    for i, page in enumerate(pages[:limit]):
        try:
            size = _page_size(page, min(MAX_PAGE_CONTENT_BYTES, budget.bytes_left()))
        except TooLarge:
            if budget.bytes_left() < MAX_PAGE_CONTENT_BYTES:
                out[i] = "page content over the byte budget: " + budget.bytes_note()
            else:
                out[i] = f"page content inflates to more than {MAX_PAGE_CONTENT_BYTES} bytes; not rendered"
            continue
        except Exception:  # a damaged stream: PDFium may still read it (and is bounded by time)
            continue
        budget.take_bytes(size)
    return out


def _page_size(page: Any, cap: int) -> int:
    total = 0
    seen: set[int] = set()
    contents = _resolve(page.get("/Contents"))
    streams = contents if isinstance(contents, list) else [contents]
    for s in streams:
        total += _inflated(_resolve(s), cap - total)
    total += _forms(_resolve(page.get("/Resources")), cap - total, seen, 0)
    return total


def _forms(resources: Any, cap: int, seen: set[int], depth: int) -> int:
    """The inflated size of the form XObjects a resource dictionary offers (and theirs)."""
    if depth > MAX_FORM_DEPTH or not hasattr(resources, "get"):
        return 0
    xobjects = _resolve(resources.get("/XObject"))
    if not hasattr(xobjects, "values"):
        return 0
    total = 0
    for ref in xobjects.values():
        key = id(_resolve(ref))
        x = _resolve(ref)
        if key in seen or not hasattr(x, "get") or str(x.get("/Subtype")) != "/Form":
            continue
        seen.add(key)
        total += _inflated(x, cap - total)
        total += _forms(_resolve(x.get("/Resources")), cap - total, seen, depth + 1)
    return total


def _inflated(stream: Any, cap: int) -> int:
    """A stream's decoded size, or TooLarge past cap (Flate inflated here with the bound)."""
    if cap < 0:
        raise TooLarge
    raw = getattr(stream, "_data", None)
    if not isinstance(raw, bytes):
        return 0
    filters = _resolve(stream.get("/Filter"))
    names = (
        [str(_resolve(f)) for f in filters]
        if isinstance(filters, list)
        else ([str(filters)] if filters else [])
    )
    if not names:
        n = len(raw)
    elif names[0] in ("/FlateDecode", "/Fl"):
        d = zlib.decompressobj()
        n = 0
        chunk = raw
        while True:  # in pieces, so that a bomb is never in memory beyond one piece
            piece = d.decompress(chunk, 1 << 20)
            n += len(piece)
            if n > cap:
                raise TooLarge
            chunk = d.unconsumed_tail
            if not chunk:
                break
        if len(names) > 1:  # Flate then another filter: the second is bounded by pypdf, measure it
            n = max(n, len(bytes(stream.get_data())))
    else:
        n = len(bytes(stream.get_data()))  # LZW, ASCII85 ... (rare for content): pypdf's own limits
    if n > cap:
        raise TooLarge
    return n


def _resolve(obj: Any) -> Any:
    get = getattr(obj, "get_object", None)
    return get() if callable(get) else obj


def render_until(page: Any, scale: float, deadline: float, forms: bool = True) -> Any | None:
    """The page rendered in grey (a pypdfium2 PdfBitmap), or None when the deadline came first."""
    import math

    import pypdfium2 as pdfium
    import pypdfium2.internal as pdfium_i
    import pypdfium2.raw as raw

    w = math.ceil(page.get_width() * scale)
    h = math.ceil(page.get_height() * scale)
    bitmap = pdfium.PdfBitmap.new_native(w, h, format=raw.FPDFBitmap_Gray, rev_byteorder=False)
    bitmap.fill_rect((255, 255, 255, 255), 0, 0, w, h)
    flags = raw.FPDF_GRAYSCALE | raw.FPDF_ANNOT
    pause = raw.IFSDK_PAUSE(version=1)
    pdfium_i.set_callback(pause, "NeedToPauseNow", lambda _p: time.monotonic() >= deadline)
    status = raw.FPDF_RenderPageBitmap_Start(bitmap, page, 0, 0, w, h, 0, flags, pause)
    try:
        while status == raw.FPDF_RENDER_TOBECONTINUED:
            if time.monotonic() >= deadline:
                bitmap.close()
                return None
            status = raw.FPDF_RenderPage_Continue(page, pause)
    finally:
        raw.FPDF_RenderPage_Close(page)
    if status == raw.FPDF_RENDER_FAILED:
        bitmap.close()
        raise RuntimeError("PDFium could not render the page")
    if forms and page.formenv:
        raw.FPDF_FFLDraw(page.formenv, bitmap, page, 0, 0, w, h, 0, flags)
    return bitmap
