"""Stand-in for the extraction interface (issue 9a owns the real one; this file yields to it on merge)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TextPiece:
    text: str
    where: str
    html: bool = False


@dataclass(frozen=True, slots=True)
class UrlPiece:
    url: str
    where: str


@dataclass(frozen=True, slots=True)
class ImagePiece:
    data: bytes
    where: str


@dataclass(frozen=True, slots=True)
class ChildPiece:
    data: bytes
    name: str
    declared_type: str
    where: str


@dataclass(frozen=True, slots=True)
class Unscannable:
    reason: str
    detail: str
    where: str


@dataclass(frozen=True, slots=True)
class Extracted:
    texts: tuple[TextPiece, ...] = ()
    urls: tuple[UrlPiece, ...] = ()
    images: tuple[ImagePiece, ...] = ()
    children: tuple[ChildPiece, ...] = ()
    unscannable: tuple[Unscannable, ...] = ()


@dataclass
class Budget:
    bytes_left: int = 200 * 1024 * 1024
    notes: list[str] = field(default_factory=list)
