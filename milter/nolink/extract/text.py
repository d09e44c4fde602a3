"""Text-like content: plain text, CSV, JSON, XML, .url shortcuts (format "text") and HTML ("html").

The bytes are decoded with the declared charset when there is one, else detected; every reading
a client might show is searched (decode.readings: e.g. an EBCDIC label on plain ASCII bytes).
"""

from __future__ import annotations

from ..decode import readings
from . import textbody, xml
from ._out import Out
from .base import Budget, Extracted, TextPiece, param
from .office import xml_text


def _readings(data: bytes, declared: str) -> list[str]:
    return readings(data, param(declared, "charset") or None)


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    if xml.is_xml(data, declared, name):
        # XML as XML: its namespaces are no links (xml.py); not well-formed: searched as text
        got = xml.read(data)
        if got is not None and got.unscannable:  # entities declared: not expanded, tags stripped
            out = Out()
            out.add(got)
            out.text(xml_text(data), "")
            return out.done()
        if got is not None:
            return got
    return _plain(data, declared, budget)


def _plain(data: bytes, declared: str, budget: Budget) -> Extracted:
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
