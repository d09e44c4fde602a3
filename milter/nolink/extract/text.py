"""Text-like content: plain text, CSV, JSON, XML, .url shortcuts (format "text") and HTML ("html").

The bytes are decoded with the declared charset when there is one, else detected; every reading
a client might show is searched (decode.readings: e.g. an EBCDIC label on plain ASCII bytes).
"""

from __future__ import annotations

from ..decode import readings
from .base import Budget, Extracted, TextPiece, param


def _readings(data: bytes, declared: str) -> list[str]:
    return readings(data, param(declared, "charset") or None)


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(texts=tuple(TextPiece(t, "") for t in _readings(data, declared)))


def extract_html(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(texts=tuple(TextPiece(t, "", html=True) for t in _readings(data, declared)))
