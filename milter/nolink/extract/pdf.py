"""PDF (skeleton: link annotations and the text layer, moved from links/attachments.py)."""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from .base import Budget, Extracted, TextPiece, Unscannable, UrlPiece

logging.getLogger("pypdf").setLevel(logging.ERROR)
_PDF_URI = re.compile(rb"/URI\s*\(((?:\\.|[^\\)])*)\)")


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    from pypdf import PdfReader

    texts: list[TextPiece] = []
    urls: list[UrlPiece] = []
    bad: list[Unscannable] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return Extracted(unscannable=(Unscannable("encrypted", f'encrypted PDF "{name}"', ""),))
        for i, page in enumerate(reader.pages):
            if not budget.take_pdf_page():
                bad.append(Unscannable("budget", budget.pages_note(), f"page {i + 1}"))
                break
            where = f"page {i + 1}"
            urls.extend(UrlPiece(u, where) for u in _annotations(page))
            try:
                text = page.extract_text() or ""
            except Exception:
                text = ""
            texts.append(TextPiece(text, where))
    except Exception:
        for m in _PDF_URI.finditer(data):
            urls.append(UrlPiece(m.group(1).decode("latin-1"), ""))
    return Extracted(texts=tuple(texts), urls=tuple(urls), unscannable=tuple(bad))


def _annotations(page: Any) -> list[str]:
    out: list[str] = []
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
        out.append(uri)
    return out
