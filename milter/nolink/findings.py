"""Values the scanner returns: where a link is (Location), what it is (Link), and the result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "scheme",  # http://, https://, ftp:// and other scheme://host URLs
    "www",  # www.example.com without a scheme
    "bare_domain",  # example.co.th: a registrable name under a public suffix
    "idn",  # internationalised name (Thai .ไทย, punycode xn--)
    "ip",  # a literal IPv4/IPv6 host with a port or path, or behind a scheme
    "obfuscated",  # defanged or disguised: hxxp, [.], (dot), จุด, spaced letters, fullwidth
    "email",  # only when links.count_email is on
    "html_attr",  # an HTML attribute that leads somewhere (href, src, action, ...)
    "attachment",  # a link inside an attachment's structure (PDF /URI, DOCX relationship)
    "qr",  # a link encoded in a QR code inside an image
    "ocr",  # a web address printed in an image or a scanned page, read by OCR
]

Verdict = Literal["link", "clean", "error", "unscannable"]

UnscannableReason = Literal[
    "encrypted",  # password-protected archive, PDF, S/MIME enveloped data
    "too_deep",  # containers nested deeper than links.max_archive_depth
    "budget",  # a per-message budget (bytes, pixels, PDF pages, seconds) is used up
    "unparseable",  # recognised by its bytes as a document or container, but could not be read
    "unsupported",  # a recognised format nolink has no reader for here
]
UNSCANNABLE_REASONS: tuple[UnscannableReason, ...] = (
    "encrypted",
    "too_deep",
    "budget",
    "unparseable",
    "unsupported",
)
PATH_SEP = " › "


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding sits.

    part: MIME part number as IMAP counts it ("1", "1.2"; "" for the top-level header block).
    content_type: that part's type ("text/html"); "" for headers.
    field: "body", "header Subject", "attr a href", "attachment report.pdf", "filename", ...;
        inside content, the path into it follows, segments joined by " › ":
        "attachment letter.pdf › page 3 › image 1 › qr", "attachment files.zip › a/b.txt".
    offset: character offset in the decoded text of that field (-1 when there is none).
    """

    part: str
    content_type: str
    field: str
    offset: int = -1

    def __str__(self) -> str:
        where = " ".join(x for x in (self.part, self.content_type, self.field) if x)
        return f"{where} @{self.offset}" if self.offset >= 0 else where

    def with_offset(self, offset: int) -> Location:
        return Location(self.part, self.content_type, self.field, offset)

    def child(self, segment: str) -> Location:
        """The location one step further in ("page 3" inside "attachment a.pdf")."""
        if not segment:
            return Location(self.part, self.content_type, self.field)
        field = f"{self.field}{PATH_SEP}{segment}" if self.field else segment
        return Location(self.part, self.content_type, field)

    @property
    def category(self) -> str:
        """A closed set of location names, for metrics and summaries."""
        if self.field.startswith("header "):
            return "subject" if self.field.lower() == "header subject" else "header"
        if self.field.startswith("attr "):
            return "html_attribute"
        if self.field.startswith(("attachment", "filename", "qr")):
            return "attachment"
        if self.content_type == "text/html":
            return "text_html"
        if self.content_type.startswith("text/"):
            return "text_plain"
        return "attachment"


@dataclass(frozen=True, slots=True)
class Link:
    """One link a citizen could follow.

    text: the characters as written (a substring of the scanned text).
    url: a normalised, absolute URL (scheme added, defanging undone, host lower-cased).
    """

    text: str
    url: str
    kind: Kind
    location: Location

    def to_json(self) -> dict[str, str]:
        return {"text": self.text, "url": self.url, "kind": self.kind, "location": str(self.location)}


@dataclass(frozen=True, slots=True)
class Unscanned:
    """Content nolink recognised but could not open or had to stop reading (fails closed).

    detail: for the sender and the admin ('encrypted ZIP "forms.zip"'); never content.
    """

    reason: UnscannableReason
    detail: str
    location: Location

    def __str__(self) -> str:
        return f"{self.location}: {self.detail}"

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "detail": self.detail, "location": str(self.location)}


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What the scanner says of one message."""

    findings: tuple[Link, ...] = ()
    errors: tuple[str, ...] = ()  # the scan failed here: the verdict is "error" unless a link was found
    parts: int = 0
    size: int = 0
    unscannable: tuple[Unscanned, ...] = ()  # content that could not be opened: not clean

    @property
    def unchecked(self) -> tuple[str, ...]:
        """The unscannable pieces as text ("2 application/zip attachment f.zip: encrypted ZIP ...")."""
        return tuple(str(u) for u in self.unscannable)

    @property
    def verdict(self) -> Verdict:
        if self.findings:
            return "link"
        if self.errors:
            return "error"
        return "unscannable" if self.unscannable else "clean"

    @property
    def first(self) -> Link | None:
        return self.findings[0] if self.findings else None
