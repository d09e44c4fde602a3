"""What PDFium is given is bounded (extract/pdfbounds.py): a page whose content inflates past the
bound is never loaded, and a slow render stops at the scan's deadline; both are unscannable."""

from __future__ import annotations

import time

from mail import attachment, message, multipart, part
from nolink import scan_message
from nolink.config import parse
from nolink.extract.pdfbounds import MAX_PAGE_CONTENT_BYTES
from test_e2e_pdf_bounds import paths


def scanned(pdf: bytes, seconds: float = 10.0):  # type: ignore[no-untyped-def]
    body, mtype = multipart(
        [part("เรียน ท่าน", "text/plain; charset=utf-8"), attachment(pdf, "application/pdf", "plan.pdf")]
    )
    return scan_message(message(body, mtype), parse(f"[links]\nmax_scan_seconds = {seconds}\n"))


def test_a_page_inflating_to_50_mb_is_unscannable_without_pdfium_loading_it() -> None:
    pdf = paths(50)
    assert len(pdf) < 200_000
    t = time.monotonic()
    r = scanned(pdf)
    assert time.monotonic() - t < 5
    assert r.verdict == "unscannable"
    (u,) = r.unscannable
    assert u.reason == "budget" and f"more than {MAX_PAGE_CONTENT_BYTES} bytes" in str(u), str(u)


def test_a_slow_page_under_the_byte_bound_stops_at_the_deadline() -> None:
    t = time.monotonic()
    r = scanned(paths(3.5), seconds=1.0)
    elapsed = time.monotonic() - t
    assert r.verdict == "unscannable" and any("links.max_scan_seconds" in str(u) for u in r.unscannable)
    assert elapsed < 1.0 + 2.0, elapsed  # the page load itself (~0.5-1 s here) is not interruptible


def test_an_ordinary_vector_page_is_still_read() -> None:
    r = scanned(paths(0.05))
    assert r.verdict == "clean", [str(u) for u in r.unscannable]
