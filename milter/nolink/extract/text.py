"""Text-like content: plain text, CSV, JSON, XML, .url shortcuts (format "text") and HTML ("html").

The bytes are decoded with the declared charset when there is one, else detected; every reading
a client might show is searched (decode.readings: e.g. an EBCDIC label on plain ASCII bytes).
"""

from __future__ import annotations

from ..decode import readings
from . import textbody
from .base import Budget, Extracted, TextPiece, param


def _readings(data: bytes, declared: str) -> list[str]:
    return readings(data, param(declared, "charset") or None)


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    # each reading as a client shows it: flowed joined, enriched, uuencoded blocks (textbody.py,
    # issue 9b); the blocks' files and what cannot be read come from the first reading only
    texts: list[TextPiece] = []
    first: Extracted | None = None
    for t in _readings(data, declared):
        got = textbody.read(t, declared, budget if first is None else None)
        texts.extend(got.texts)
        first = first or got
    if first is None:
        return Extracted()
    return Extracted(tuple(texts), first.urls, first.images, first.children, first.unscannable)


def extract_html(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(texts=tuple(TextPiece(t, "", html=True) for t in _readings(data, declared)))
