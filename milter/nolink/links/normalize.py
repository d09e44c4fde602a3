"""Undo the disguises a reader sees through, keeping a map back to the original characters.

A finder searches the normalised text; every match is mapped back, so that Link.text is always
a substring of what was written. The rules, in the order they are tried at each position:

- fullwidth ASCII (ｈｔｔｐｓ：／／) and ideographic / halfwidth full stops (。｡．‧) become ASCII;
- zero-width characters and soft hyphens are dropped *between ASCII URL characters* only; between
  Thai words (where U+200B separates words) they become a space, so they never glue words together;
- defanged schemes (hxxp, hXXps, h**p, h00ps, fxp, ``http:\\\\``, ``http:__``, ``http__``) become
  http:// / https:// / ftp://, and spaced-out ``h t t p s : / /`` likewise;
- defanged dots between labels: [.] (.) {.} [dot] (dot) {dot}, half brackets ([. .] [dot dot]),
  `` dot `` as a word, Thai ``จุด``, and `` .com`` (a space before the dot);
- [/] (/) [:] and commas for dots after ``www,``.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH.update({0x3002: 0x2E, 0xFF61: 0x2E, 0x2027: 0x2E, 0x3000: 0x20, 0x00A0: 0x20, 0x2024: 0x2E})
_TRANSLATE = str.maketrans(_FULLWIDTH)  # one character for one: offsets do not move

_URLCH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#@!$&'*+,;=%")

_AL = r"[A-Za-z0-9]"
_SUBST = re.compile(
    "|".join(
        [
            r"(?P<zw>[\u200b\u200c\u200d\u2060\ufeff\u00ad]+)",
            # defanged scheme; the canonical http:// itself is skipped in _replacement
            r"(?P<scheme>(?<![A-Za-z0-9])(?i:(h(?:xx|\*\*|__|00|tt|xt|tx)p|f[xt]p)(s?)"
            r"(?:\[?:\]?(?:[/\\]{2,}|/|__)|__|\[://\]|\[:\]//)))",
            r"(?P<spaced>(?<![A-Za-z0-9])(?i:h[ \t]+t[ \t]+t[ \t]+p(?:[ \t]+(s))?[ \t]*:[ \t]*/[ \t]*/))",
            rf"(?P<dot>(?<={_AL})[ \t]*(?:\[\.\]|\(\.\)|\{{\.\}}|(?i:\[dot\]|\(dot\)|\{{dot\}}|\[dot|dot\])"
            rf"|\[\.(?!\])|(?<!\[)\.\])[ \t]*(?={_AL}))",
            rf"(?P<wdot>(?<={_AL})(?:[ \t]+(?:dot|DOT|Dot)[ \t]+|[ \t]*จุด[ \t]*)(?={_AL}))",
            rf"(?P<sdot>(?<={_AL})[ \t]+\.[ \t]*(?=[a-z]))",
            r"(?P<slash>\[/\]|\(/\))",
            r"(?P<colon>\[:\])",
            r"(?P<commas>(?<![A-Za-z0-9])(?i:www),[A-Za-z0-9\-]+(?:,[A-Za-z0-9\-]+)+)",
        ]
    )
)


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus the map back to the original."""

    original: str
    text: str
    # (normalised start, original start, normalised length, original length, replaced?)
    _segments: tuple[tuple[int, int, int, int, bool], ...]
    _starts: tuple[int, ...]

    def to_original(self, pos: int, end: bool = False) -> int:
        if not self._segments:
            return pos
        i = max(bisect_right(self._starts, pos) - 1, 0)
        if end and i > 0 and self._starts[i] == pos:
            i -= 1  # an end offset belongs to the segment before the boundary
        n, o, _nl, ol, replaced = self._segments[i]
        if not replaced:
            return o + min(pos - n, ol)
        return o + ol if end else o

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.to_original(start), self.to_original(end, end=True)

    def disguised(self, start: int, end: int) -> bool:
        """True when the original text in [start, end) of the normalised text was rewritten."""
        os_, oe = self.span(start, end)
        if self.original[os_:oe].translate(_TRANSLATE) != self.original[os_:oe]:
            return True
        return any(replaced and n < end and n + nl > start for n, _o, nl, _ol, replaced in self._segments)


def _replacement(m: re.Match[str], s: str) -> str | None:
    kind = m.lastgroup
    if kind == "zw":
        before = s[m.start() - 1] if m.start() else " "
        after = s[m.end()] if m.end() < len(s) else " "
        return "" if before in _URLCH and after in _URLCH else " "
    if kind == "scheme":
        word, sec = m.group(m.lastindex + 1), m.group(m.lastindex + 2)  # type: ignore[operator]
        base = "ftp" if word.lower().startswith("f") else "http"
        canon = f"{base}{sec.lower()}://"
        return None if m.group().lower() == canon else canon
    if kind == "spaced":
        return "https://" if m.group(m.lastindex + 1) else "http://"  # type: ignore[operator]
    if kind in ("dot", "wdot", "sdot"):
        return "."
    if kind == "slash":
        return "/"
    if kind == "colon":
        return ":"
    if kind == "commas":
        return m.group().replace(",", ".")
    return None  # pragma: no cover - every alternative is named


def normalize(original: str) -> Normalized:
    s = original.translate(_TRANSLATE)
    pieces: list[str] = []
    segments: list[tuple[int, int, int, int, bool]] = []
    npos = 0
    last = 0
    for m in _SUBST.finditer(s):
        rep = _replacement(m, s)
        if rep is None:
            continue
        if m.start() > last:
            seg = s[last : m.start()]
            pieces.append(seg)
            segments.append((npos, last, len(seg), len(seg), False))
            npos += len(seg)
        pieces.append(rep)
        segments.append((npos, m.start(), len(rep), m.end() - m.start(), True))
        npos += len(rep)
        last = m.end()
    if not segments:
        return Normalized(original, s, (), ())
    if last < len(s):
        segments.append((npos, last, len(s) - last, len(s) - last, False))
        pieces.append(s[last:])
    return Normalized(original, "".join(pieces), tuple(segments), tuple(x[0] for x in segments))
