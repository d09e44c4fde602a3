"""Text-like content: plain text, CSV, JSON, XML, .url shortcuts (format "text") and HTML ("html").

The bytes are decoded with the declared charset when there is one, else detected (decode.py).
"""

from __future__ import annotations

from ..decode import decode_bytes
from .base import Budget, Extracted, TextPiece, param


def _decode(data: bytes, declared: str) -> str:
    return decode_bytes(data, param(declared, "charset") or None)


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(texts=(TextPiece(_decode(data, declared), ""),))


def extract_html(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(texts=(TextPiece(_decode(data, declared), "", html=True),))
