"""The SMS channel's core: one piece of plain text in, a verdict and its links out.

The text is never parsed as a mail message (no headers, no MIME): it is what a citizen reads on a
phone. The finder is the one mail bodies go through (links.text.TextFinder), so an SMS and a
letter follow the same rules. Used by ``nolink check-text`` and by ``POST /v1/check-text``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .findings import Kind, Location

if TYPE_CHECKING:
    from .links.text import TextFinder

TextVerdict = Literal["link", "clean"]
WHERE = Location("", "", "text")


@dataclass(frozen=True, slots=True)
class TextFinding:
    text: str  # as written, text[offset : offset + len(text)] of the input
    url: str
    kind: Kind
    offset: int

    def to_json(self) -> dict[str, object]:
        return {"text": self.text, "url": self.url, "kind": self.kind, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class TextResult:
    findings: tuple[TextFinding, ...] = ()

    @property
    def verdict(self) -> TextVerdict:
        return "link" if self.findings else "clean"

    def to_json(self) -> dict[str, object]:
        return {"verdict": self.verdict, "findings": [f.to_json() for f in self.findings]}


def check_text(text: str, finder: TextFinder) -> TextResult:
    """The links in one text (an SMS, a notification), in the order they occur."""
    links = finder.find(text, WHERE)
    found = sorted(
        (TextFinding(x.text, x.url, x.kind, x.location.offset) for x in links), key=lambda f: f.offset
    )
    return TextResult(tuple(found))
