"""The one interface every format module implements: bytes in, pieces out.

    def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted

data      the content's bytes (transfer-decoded).
declared  the Content-Type as declared, with its parameters (``text/plain; charset=tis-620;
          format=flowed``); "" when nothing was declared (an archive member). It is a hint only:
          the format was already decided from the bytes by ``registry.sniff``. Use
          ``media_type(declared)`` and ``param(declared, "charset")``.
name      the file name ("" for none).
budget    the message's one Budget; spend it before decompressing, decoding or rendering.

An extractor never raises for bad input: what it cannot read becomes an ``Unscannable`` piece
(or it may raise ``BudgetExceeded``, which the scanner turns into an ``Unscannable("budget")``).
Every ``where`` is a path segment relative to the content being extracted ("page 3",
"image 1", "word/media/image1.png"); the scanner joins segments with " › " into the location a
sender reads in the reply and an admin in the log: ``2 application/pdf attachment a.pdf › page 3 ›
image 1 › qr``.

Pieces:
- TextPiece: text to give the text finder (html=True: the HTML finder).
- UrlPiece: a target the structure itself holds (PDF /URI action, DOCX external relationship).
  It becomes a finding directly; ``mailto:`` is an e-mail address, not a link.
- ImagePiece: encoded image bytes (or an already decoded/rendered PIL image in ``image``) for
  the image finders (2D codes today; OCR from issue 10).
- ChildPiece: content to recurse into (archive member, embedded file, attached message).
- Unscannable: content nolink recognised but could not open or had to stop reading.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import NolinkError
from ..findings import UNSCANNABLE_REASONS as UNSCANNABLE_REASONS  # the closed set of reasons
from ..findings import UnscannableReason as UnscannableReason


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str
    where: str
    html: bool = False
    base: str = ""  # base URL for relative links in HTML (Content-Base / Content-Location)


@dataclass(frozen=True, slots=True)
class UrlPiece:
    url: str
    where: str


@dataclass(frozen=True, slots=True)
class ImagePiece:
    data: bytes  # encoded image bytes (PNG, JPEG, ...); b"" when ``image`` is given
    where: str
    image: Any = field(default=None, compare=False)  # a decoded PIL.Image (rendered PDF page)


@dataclass(frozen=True, slots=True)
class ChildPiece:
    data: bytes
    name: str
    declared_type: str  # "" when the container says nothing; the child is sniffed anyway
    where: str


@dataclass(frozen=True, slots=True)
class Unscannable:
    reason: UnscannableReason
    detail: str  # for the sender and the admin: 'encrypted ZIP "forms.zip"'; no content
    where: str


@dataclass(frozen=True, slots=True)
class Extracted:
    texts: tuple[TextPiece, ...] = ()
    urls: tuple[UrlPiece, ...] = ()
    images: tuple[ImagePiece, ...] = ()
    children: tuple[ChildPiece, ...] = ()
    unscannable: tuple[Unscannable, ...] = ()


class Extractor(Protocol):
    def __call__(self, data: bytes, declared: str, name: str, budget: Budget) -> Extracted: ...


class BudgetExceeded(NolinkError):
    """A per-message budget is used up; ``what`` says which (for the reply and the log)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass(slots=True)
class Budget:
    """What one message may cost. One object per message, made by the scanner, passed everywhere.

    The ``take_*`` methods count what the caller is about to spend and return True, or return
    False (counting nothing) when it would go over: the caller then stops and reports
    ``Unscannable("budget", ...)`` for what it did not read. ``check_time()`` is the same for the
    deadline. Deep inside a reader, where returning is awkward (a decompressing stream), raise
    ``BudgetExceeded(what)`` instead (``spend_bytes`` does); the scanner turns it into an
    Unscannable piece at the content that was being read.
    """

    max_bytes: int = 50_000_000  # bytes decompressed (archive members, compressed streams, embedded files)
    max_pixels: int = 100_000_000  # image pixels decoded or rendered
    max_pdf_pages: int = 100  # PDF pages read, over all PDFs of the message
    pdf_pages_per_file: int = 50  # pages read of one PDF (links.max_pdf_pages)
    seconds: float = 10.0
    bytes_used: int = 0
    pixels_used: int = 0
    pdf_pages_used: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def take_bytes(self, n: int) -> bool:
        if self.bytes_used + n > self.max_bytes:
            return False
        self.bytes_used += n
        return True

    def spend_bytes(self, n: int) -> None:
        """take_bytes that raises BudgetExceeded."""
        if not self.take_bytes(n):
            raise BudgetExceeded(self.bytes_note())

    def bytes_left(self) -> int:
        return max(0, self.max_bytes - self.bytes_used)

    def take_pixels(self, n: int) -> bool:
        if self.pixels_used + n > self.max_pixels:
            return False
        self.pixels_used += n
        return True

    def take_pdf_page(self) -> bool:
        if self.pdf_pages_used >= self.max_pdf_pages:
            return False
        self.pdf_pages_used += 1
        return True

    def check_time(self) -> bool:
        """True while there is time left."""
        return time.monotonic() < self.deadline

    def bytes_note(self) -> str:
        return f"more than {self.max_bytes} bytes to decompress (links.max_total_bytes)"

    def pixels_note(self) -> str:
        return f"more than {self.max_pixels} image pixels (links.max_total_pixels)"

    def pages_note(self) -> str:
        return f"more than {self.max_pdf_pages} PDF pages (links.max_total_pdf_pages)"

    def time_note(self) -> str:
        return f"scan took longer than {self.seconds:g} s (links.max_scan_seconds)"


def media_type(declared: str) -> str:
    """ "Text/Plain; charset=x" -> "text/plain"."""
    return declared.split(";", 1)[0].strip().lower()


def param(declared: str, key: str) -> str:
    """A parameter of a declared Content-Type ("" when absent); quotes removed, lower-cased key."""
    for item in declared.split(";")[1:]:
        k, sep, v = item.partition("=")
        if sep and k.strip().lower() == key.lower():
            return v.strip().strip('"').strip()
    return ""


def extension(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""
