"""A builder for one extractor's pieces, so each format module appends and returns one Extracted."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..findings import PATH_SEP
from .base import ChildPiece, Extracted, ImagePiece, TextPiece, Unscannable, UnscannableReason, UrlPiece


def named(e: Extracted, name: str) -> Extracted:
    """Name the file in what could not be checked, for the sender's reply: 'password-protected Word
    document "minutes.doc"'."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or not e.unscannable:
        return e
    bad = tuple(
        u if base in u.detail else Unscannable(u.reason, f'{u.detail} "{base}"', u.where)
        for u in e.unscannable
    )
    return Extracted(e.texts, e.urls, e.images, e.children, bad)


def at(*segments: str) -> str:
    """One location path from its segments ("attachment 2", "body"), empty ones left out."""
    return PATH_SEP.join(s.strip() for s in segments if s.strip())


@dataclass
class Out:
    texts: list[TextPiece] = field(default_factory=list)
    urls: list[UrlPiece] = field(default_factory=list)
    images: list[ImagePiece] = field(default_factory=list)
    children: list[ChildPiece] = field(default_factory=list)
    unscannable: list[Unscannable] = field(default_factory=list)

    def text(self, text: str, where: str, html: bool = False, base: str = "") -> None:
        if text.strip():
            self.texts.append(TextPiece(text, where, html, base))

    def url(self, url: str, where: str) -> None:
        url = url.strip()
        if url:
            self.urls.append(UrlPiece(url, where))

    def image(self, data: bytes, where: str) -> None:
        if data:
            self.images.append(ImagePiece(data, where))

    def child(self, data: bytes, name: str, declared_type: str, where: str) -> None:
        if data:
            self.children.append(ChildPiece(data, name, declared_type, where))

    def cannot(self, reason: UnscannableReason, detail: str, where: str) -> None:
        self.unscannable.append(Unscannable(reason, detail, where))

    def add(self, other: Extracted) -> None:
        self.texts.extend(other.texts)
        self.urls.extend(other.urls)
        self.images.extend(other.images)
        self.children.extend(other.children)
        self.unscannable.extend(other.unscannable)

    def done(self) -> Extracted:
        return Extracted(
            tuple(self.texts),
            tuple(self.urls),
            tuple(self.images),
            tuple(self.children),
            tuple(self.unscannable),
        )
