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

Bounded work: after MAX_REWRITES rewrites in one text (no letter has that many; a 1 MB run of
"[.]" does), the rest of the text is searched as written, so plain links there are still found.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH.update({0x3002: 0x2E, 0xFF61: 0x2E, 0x2027: 0x2E, 0x3000: 0x20, 0x00A0: 0x20, 0x2024: 0x2E})
# Full stops and dots a reader takes for "." (from Unicode's confusables for U+002E, and the middle
# dots and bullets a sender may put between labels). Arabic-Indic zeros, also confusable, are left
# alone: they are digits in Arabic text.
DOT_LOOKALIKES = (
    0xFE52, 0x0701, 0x0702, 0xA4F8, 0xA60E, 0x10A50, 0x06D4, 0x0589, 0x1362, 0x2E3C, 0x1D16D,
    0x00B7, 0x0387, 0x2219, 0x22C5, 0x30FB, 0xFF65, 0x2E31, 0x2E33, 0x16EB, 0x2022,
)  # fmt: skip
_FULLWIDTH.update(dict.fromkeys(DOT_LOOKALIKES, 0x2E))


def may_hold_link(text: str) -> bool:
    """False only when no reading of text can hold a link: no full stop or colon, not even a
    look-alike or a spelled-out one ("dot", "จุด"). A cheap test before costly readings."""
    if "." in text or ":" in text:  # as written (no look-alike is "." or ":" itself): no translate
        return True
    plain = text.translate(_FULLWIDTH)
    return "." in plain or ":" in plain or "dot" in plain.lower() or "จุด" in plain or "ดอท" in plain


# Letters and digits that NFKC turns into ASCII, one for one: mathematical bold/italic/script/...
# (U+1D400-U+1D7FF), letterlike symbols (ℯ ℎ), circled and squared letters, super- and subscripts,
# small forms (﹕ ﹣). The whole of NFKC would change lengths (and offsets) and Thai.
_NFKC_RANGES = ((0x2070, 0x209F), (0x2100, 0x214F), (0x2460, 0x24FF), (0xFE50, 0xFE6B),
                (0x1D400, 0x1D7FF), (0x1F130, 0x1F189))  # fmt: skip
_ASCII_URL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:/"
for _lo, _hi in _NFKC_RANGES:
    for _c in range(_lo, _hi + 1):
        _n = unicodedata.normalize("NFKC", chr(_c))
        if len(_n) == 1 and _n in _ASCII_URL:
            _FULLWIDTH.setdefault(_c, ord(_n))
_TRANSLATE = str.maketrans(_FULLWIDTH)  # one character for one: offsets do not move

_URLCH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/?#@!$&'*+,;=%")

_AL = r"[A-Za-z0-9]"
_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
# The first character of every alternative below (the look-behinds consume nothing): checked once
# per position before the alternation, which otherwise tries all thirteen branches everywhere
# (a 1 MB run of "p:" took 0.5 s in the alternation, 15 ms with this look-ahead).
_SUBST_FIRST = (
    "[\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c"
    f"{_COMBINING}hHfF \t\\[({{.dDจwWดท]"
)
# Where a _SUBST match could begin, as one character class (the "." branches need "]" after or a
# Thai letter before): a text with none of it ("a.png" in a srcset, an href) is as written.
# (one class first, which the regex engine skips to at C speed; then a "." only before "]" or
# after a Thai letter)
_MAYBE_SUBST = re.compile(f"{_SUBST_FIRST}(?:(?<!\\.)|(?=\\])|(?<=[\u0e01-\u0e4e]\\.))")
# Common file extensions that are also TLDs or look like one (links.text: "report.zip" is a file
# name, not a link, unless a www., a scheme, a path or a third label makes it one)
FILE_EXTENSIONS = frozenset(
    [
        "zip",
        "mov",
        "md",
        "sh",
        "py",
        "pl",
        "rs",
        "ps",
        "ai",
        "cc",
        "mp",
        "js",
        "json",
        "css",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "pdf",
        "txt",
        "csv",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "bmp",
        "tif",
        "tiff",
        "svg",
        "mp3",
        "mp4",
        "avi",
        "mkv",
        "wav",
        "exe",
        "msi",
        "dmg",
        "iso",
        "rar",
        "tar",
        "gz",
        "7z",
        "bz2",
        "xz",
        "tgz",
        "html",
        "htm",
        "xml",
        "log",
        "bak",
        "tmp",
        "ini",
        "cfg",
        "conf",
        "yml",
        "yaml",
        "toml",
        "sql",
        "db",
        "dat",
        "bin",
        "apk",
        "ipa",
        "epub",
        "odt",
        "ods",
        "odp",
        "rtf",
        "eml",
        "msg",
        "ics",
        "vcf",
        "java",
        "go",
        "php",
        "rb",
        "cs",
        "ts",
        "swift",
        "kt",
        "sc",
        "pm",
    ]
)
# Labels spelled in Thai after "ดอท": what a reader types them as
THAI_LABELS = {
    "คอม": "com",
    "โก": "go",
    "ทีเอช": "th",
    "เน็ต": "net",
    "ออร์ก": "org",
    "โค": "co",
    "แอค": "ac",
    "อินโฟ": "info",
    "แอป": "app",
    "แอพ": "app",
    "ไอโอ": "io",
}
_THAI_LABELS = "|".join(sorted(THAI_LABELS, key=len, reverse=True))
_AFTER_THAI_LABEL = "".join(f"|(?<={w})" for w in THAI_LABELS)
# a path segment after a spaced or spelled slash: no "." in it ("www.a.com / www.b.com" are two)
_SEGMENT = r"[A-Za-z0-9][\w\-~%]*+(?![.:@\w\-~%])"
_BRANCHES = [
            r"(?P<zw>[\u200b\u200c\u200d\u2060\ufeff\u00ad]+)",
            # bidi controls (LRM, RLM, embeddings, overrides, isolates) show as nothing, anywhere
            r"(?P<bidi>[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]+)",
            # combining marks drawn over ASCII (e̲v̲i̲l): the letters underneath are what is read.
            # Thai vowels and tone marks are combining too, but never follow ASCII.
            rf"(?P<comb>(?<=[A-Za-z0-9.\-/:@])[{_COMBINING}]+)",
            # defanged scheme; the canonical http:// itself is skipped in _replacement
            # (the three scheme branches, and the two after a letter, share their look-behind, tried
            # once for them all: at a "[" or "." of "[.]" repeated, no branch beyond it is tried)
            r"(?<![A-Za-z0-9])(?=[hHfF])(?:"
            # (not the canonical form itself: 1 MB of "http://" was 143,000 matches to skip in Python)
            r"(?!(?i:https?|ftps?)://(?![/\\]))"
            r"(?P<scheme>(?i:(h(?:xx|\*\*|__|00|tt|xt|tx)p|f[xt]p)(s?)"
            r"(?:\[?:\]?(?:[/\\]{2,}|/|__)|__|\[://\]|\[:\]//)))"
            r"|(?P<spscheme>(?i:(http|ftp)(s?))(?:[ \t]+:[ \t]*|:[ \t]+)/[ \t]*/)"
            r"|(?P<spaced>(?i:h[ \t]+t[ \t]+t[ \t]+p(?:[ \t]+(s))?[ \t]*:[ \t]*/[ \t]*/)))",
            rf"(?<={_AL})(?:(?P<dot>[ \t]*(?:\[\.\]|\(\.\)|\{{\.\}}|(?i:\[dot\]|\(dot\)|\{{dot\}}|\[dot|dot\])"
            rf"|\[\.(?!\])|(?<!\[)\.\])[ \t]*(?={_AL}))"
            rf"|(?P<wdot>(?:[ \t]+(?:dot|DOT|Dot)[ \t]+|[ \t]*จุด[ \t]*)(?={_AL})))",
            # กรมการปกครอง . ไทย, กรม จุด ไทย: Thai names have one Thai TLD to end in
            r"(?P<thdot>(?<=[\u0e01-\u0e4e])(?:[ \t]+\.[ \t]*|[ \t]*\.[ \t]+|[ \t]*จุด[ \t]*)(?=ไทย))",
            rf"(?P<sdot>(?<={_AL})[ \t]+\.[ \t]*(?=[a-z]))",
            r"(?P<slash>\[/\]|\(/\))",
            r"(?P<colon>\[:\])",
            # (at most the 127 labels of a DNS name: the window around "www," no longer ends at a
            # fixed length, and "www," then 1 MB of "a," was one rewrite and a 1 MB name)
            r"(?P<commas>(?<![A-Za-z0-9])(?i:www),[A-Za-z0-9\-]+(?:,[A-Za-z0-9\-]+){1,127}+)",
]  # fmt: skip
# A third kind, read around its own words ("ดอท", "ทับ", a spaced "." or "/") and matched at each
# one (_rewrites_c), not searched for in windows: a text made of "a ทับ " costs a find per word.
_C_BRANCHES = [
            # letters spaced one by one: "w w w . d l a . g o . t h", "h t t p s : / / p e a - t h . c c"
            # (single characters, the same one to three blanks apart: a wider gap is a space between
            # words; only a run holding a "." is joined, in _replacement: "S A L E" stays as written)
            r"(?P<letters>(?<![^\s(<\[\"'])[A-Za-z0-9](?P<sep>[ \t]{1,3})[A-Za-z0-9.\-/:]"
            r"(?:(?P=sep)[A-Za-z0-9.\-/:]){3,300}(?![^\s)>\]\"',;]))",
            # Thai "ดอท" (dot) between ASCII labels or before a label spelled in Thai ("dla ดอท go ดอท th",
            # "ktb-refund ดอทคอม", "dla ดอท โก ดอท ทีเอช"); a Thai label glued to Thai words counts only
            # when the word breaker cuts it off as a word of its own (_thai_label_ends)
            rf"(?P<thword>(?=[ \t]*ดอท)(?:(?<=[A-Za-z0-9]){_AFTER_THAI_LABEL})[ \t]*ดอท[ \t]*"
            rf"(?:({_THAI_LABELS})|(?=[A-Za-z0-9])))",
            # Thai "ทับ" (slash) and a spaced "/" between a host and a path segment ("cutt ดอท ly ทับ abc",
            # "tinyurl . com / dla527"): only after a host (_host_before), so the verb stays a verb
            rf"(?P<thslash>(?=[ \t]*[ท/])(?:(?<=[A-Za-z0-9]){_AFTER_THAI_LABEL})(?:[ \t]*ทับ[ \t]*|[ \t]+/[ \t]*)(?={_SEGMENT}))",
            # "กรมที่ดิน ดอท ไทย": as จุด before ไทย
            r"(?P<thdotthai>(?<=[\u0e01-\u0e4e])[ \t]*ดอท[ \t]*(?=ไทย))",
]  # fmt: skip
_SUBST_C = re.compile("|".join(_C_BRANCHES))
# Two patterns: the runs of invisible and combining characters (the first three branches, each one
# character class) and the disguises made of visible ASCII (the others). No match of one holds a
# character the other's matches are made of, so the matches of the two, merged by position, are
# those of their alternation; and each runs only around its own triggers: a 1 MB text of
# "\u202ea.b " paid for all thirteen branches at every " " and "." for its bidi controls alone.
_A_CHARS = f"\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c{_COMBINING}"
_SUBST_A = re.compile(f"(?=[{_A_CHARS}])(?:" + "|".join(_BRANCHES[:3]) + ")")
_SUBST_B = re.compile("(?=[hHfF \t\\[({.dDจwW])(?:" + "|".join(_BRANCHES[3:]) + ")")


# Every _SUBST_A match lies in one of these runs ("[x][x]*", not "[x]+": a pattern that begins with
# a plain class skips to its first character at C speed); every _SUBST_B match holds one of the
# _TRIGGER_B characters or trigger words below, and _SUBST_B only runs in windows around them.
_A_RUN = re.compile(f"[{_A_CHARS}][{_A_CHARS}]*")
_TRIGGER_B = re.compile(r"[\[\]{}\\]")
# Either kind, in one scan: a letter holds none of them, and each scan costs as much as the other
_TRIGGER_AB = re.compile(f"[{_A_CHARS}\\[\\]{{}}\\\\]")
# A colon opens a window only where a scheme can end, before a slash ("hxxp://", "https :/",
# "https: //", "h t t p : / /"; a backslash, "hxxp[:]", "hxxp:]//" and "http__" have triggers of
# their own): "เวลา 09:30" and "แจ้งเตือน:" in every SMS, and 1 MB of "https :", "p:" or
# "file:///C:/", cost nothing. "_" only doubled ("http__").
_TRIGGER_WORDS = (
    "dot", "DOT", "Dot", "จุด", " .", "\t.", "(.", "(/", "www,", "WWW,", "Www,", ". ไทย", "__",
    " :/", "\t:/", " /", "\t/",
)  # fmt: skip
# and "p:/", "s:/" (or a backslash), but not after the canonical http://, https://, ftp://, ftps://,
# which is no disguise: 1 MB of "http://" opened windows everywhere for 0.1 s of alternation
_CANONICAL = "|".join(
    rf"(?<=(?<![A-Za-z0-9])(?i:{w})://)" for w in ("http|ftps", "https", "ftp")
)  # three look-behinds: each must be of one width
_TRIGGER_SCHEME = re.compile(rf":(?<=[pPsS]:)(?=[/\\])(?!//(?![/\\])(?:{_CANONICAL}))")


def _char_class(codes: list[int]) -> str:
    """A regex class of runs ("a-z"), not of single characters: searching a class of a thousand
    single characters costs 100x more per character of text."""
    runs: list[list[int]] = []
    for c in sorted(codes):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return (
        "[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in runs) + "]"
    )


# Two searches: a class of BMP characters only compiles to a bitmap (one lookup per character of
# text); with astral characters in it, the regex engine tries each range in turn.
_NEEDS_BMP = re.compile(_char_class([c for c in _FULLWIDTH if c <= 0xFFFF]))
_NEEDS_ASTRAL = re.compile(_char_class([c for c in _FULLWIDTH if c > 0xFFFF]))
_ANY_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class _NeedsTranslate:
    """search(text, start, end) like a compiled regex, for the characters _TRANSLATE rewrites."""

    @staticmethod
    def search(s: str, start: int = 0, end: int = -1) -> bool:
        end = len(s) if end < 0 else end
        if _NEEDS_BMP.search(s, start, end):
            return True
        return (
            _ANY_ASTRAL.search(s, start, end) is not None and _NEEDS_ASTRAL.search(s, start, end) is not None
        )


_NEEDS_TRANSLATE = _NeedsTranslate()
# Where a window may end: whitespace, or a character no _SUBST_B match holds, so that the end
# cuts no match in two (a window that ended at a fixed length turned the "ftp:/" of "ftp://" into
# a disguise of its own). The search for it has no bound, and stays linear: the next window's
# trigger is at most 2 x _REACH before this one's end, and its end is searched for from
# _SPAN after that trigger (merged) or 2 x _REACH after it, past where this search stopped.
_WINDOW_END = re.compile("[^A-Za-z0-9\\[\\](){}.:/\\\\_*,\\-จุดไทยſ]")
_REACH = 48  # how far before its trigger a disguise may start ("h t t p s : / /")
_SPAN = 256  # how far after its trigger a disguise may end ("www,a,b,c,...")


MAX_REWRITES = 20_000  # per text; past it the rest is searched as written (see normalize)
MAX_REFUSED = 20_000  # matches read as no disguise in context, per text (see _rewrites_b)

# Every BMP character that the translation table rewrites or _TRIGGER_AB looks for, in one class:
# a text without any (a Thai letter) is known to need neither in one pass instead of two, and
# the astral characters the table rewrites need a search only when the text holds an astral
# character at all (one UTF-16 encoding, not a regex pass: each pass over a 10 KiB Thai letter
# costs about 17 us). From the first one found, the two searches give what they give from 0.


def _class_codes(chars: str) -> list[int]:
    """The code points of a regex class body made of characters and "a-z" ranges (no escapes)."""
    out: list[int] = []
    i = 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            out.extend(range(ord(chars[i]), ord(chars[i + 2]) + 1))
            i += 3
        else:
            out.append(ord(chars[i]))
            i += 1
    return out


_TRIGGER_AB_CODES = [*_class_codes(_A_CHARS), *map(ord, "[]{}\\")]  # _TRIGGER_AB's class
_NEEDS_ANY_CODES = frozenset([*(c for c in _FULLWIDTH if c <= 0xFFFF), *_TRIGGER_AB_CODES])
_NEEDS_ANY = re.compile(_char_class(sorted(_NEEDS_ANY_CODES)))


# Characters of no _NEEDS_ANY kind, by their UTF-16 bytes: high byte 0x00 or 0x0E (ASCII, the
# Thai block) and a low byte below 0x80 that is none of "[", "\\", "]", "{", "}" (U+0E5B, a Thai
# character with the low byte of "[", is left to the regex).
_PLAIN_LOW = bytes(b for b in range(0x80) if chr(b) not in "[\\]{}")
_PLAIN_OK = _NEEDS_ANY_CODES.isdisjoint(b | hi for hi in (0x0000, 0x0E00) for b in _PLAIN_LOW)
assert _NEEDS_ANY_CODES.intersection(range(0x80)) == set(map(ord, "[\\]{}"))  # normalize's ASCII case


def _plain_text(s: str) -> bool:
    """True when s holds no _NEEDS_ANY character and no astral one: a Thai letter, read with
    a UTF-16 encoding and byte translations (~8 us for 10 KiB, where the regex takes ~20)."""
    return _plain_utf16(s)[0]


def _plain_utf16(s: str) -> tuple[bool, bytes | None]:
    """_plain_text, and the low bytes of the UTF-16 encoding it read (None for ASCII and astral
    text): the Thai words of _SUBST_C are looked for in them, where bytes.find is several times
    faster than str.find in a Thai text (its high bytes, all 0x0E, defeat the search's skips)."""
    if s.isascii():
        return "[" not in s and "]" not in s and "{" not in s and "}" not in s and "\\" not in s, None
    if not _PLAIN_OK:
        return False, None  # pragma: no cover - no plain character is one of _NEEDS_ANY's
    b = s.encode("utf-16-le", "surrogatepass")
    if len(b) != 2 * len(s):
        return False, None  # astral characters
    lows = b[0::2]
    return not b[1::2].translate(None, b"\x00\x0e") and not lows.translate(None, _PLAIN_LOW), lows


def _has_astral(s: str) -> bool:
    if s.isascii():
        return False
    return len(s.encode("utf-16-le", "surrogatepass")) != 2 * len(s)


def _guard(word: str) -> str:
    """An ASCII character of word that letters seldom hold ("" for a Thai word)."""
    return next((c for c in "\t_(,dD/.:" if c in word), "")


# (word, guard): a text without the guard character holds no such word, and finding an ASCII
# character is ~10x cheaper than finding a word (0.2 us against 1.2-2.4 us in a 10 KiB letter)
_GUARDED_WORDS = tuple((w, _guard(w)) for w in _TRIGGER_WORDS)
_GUARDS = frozenset(g for _, g in _GUARDED_WORDS if g)


def _word_hits(s: str) -> list[int]:
    hits = []
    absent = {g for g in _GUARDS if g not in s}
    for w, guard in _GUARDED_WORDS:
        if guard in absent:
            continue
        i = s.find(w)
        while i >= 0:
            hits.append(i)
            i = s.find(w, i + _REACH)  # one hit per reach is enough to open a window
    m = _TRIGGER_SCHEME.search(s) if ":" in s else None  # its pattern begins with ":"
    while m is not None:
        hits.append(m.start())
        m = _TRIGGER_SCHEME.search(s, m.start() + _REACH)
    hits.sort()
    return hits


def _windows(s: str, chars: re.Pattern[str] | None, hits: list[int] | None = None) -> list[tuple[int, int]]:
    """Spans around every character or word a disguise is made of.

    The triggers (chars, and the trigger words) are found with a pure character-class regex and
    substring searches, which run at C speed; the alternation in _SUBST_B, which does not, then
    runs only inside these spans. The search resumes past each span, so a text made of triggers
    costs one pass, not one per trigger.
    """
    out: list[tuple[int, int]] = []
    hits = _word_hits(s) if hits is None else hits
    wi = 0
    pos = 0
    m = chars.search(s) if chars is not None else None  # None: the trigger words only
    while True:
        if m is not None and chars is not None and m.start() < pos:
            m = chars.search(s, pos)  # only when passed: a miss scans to the end once
        while wi < len(hits) and hits[wi] < pos:
            wi += 1
        cands = [x for x in (m.start() if m else -1, hits[wi] if wi < len(hits) else -1) if x >= 0]
        if not cands:
            return out
        p = min(cands)
        a = max(0, p - _REACH)
        merge = bool(out) and a <= out[-1][1]
        # dense triggers ("[.]" after "[.]"): the merged window reaches the full _SPAN, so the
        # loop runs once per _SPAN characters, not once per trigger; a wider window only lets
        # the pattern see more, never less
        end = _WINDOW_END.search(s, p + (_SPAN if merge else 2 * _REACH))
        b = end.start() if end is not None else len(s)
        if merge:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
        pos = max(p + 1, b - 2 * _REACH)  # a hit before it: the words it skipped end before b - _REACH


@dataclass(frozen=True, slots=True)
class Normalized:
    """Normalised text plus the map back to the original."""

    original: str
    text: str
    # (normalised start, original start, normalised length, original length, replaced?)
    _segments: tuple[tuple[int, int, int, int, bool], ...]
    _starts: tuple[int, ...]

    @property
    def as_written(self) -> bool:
        """True when nothing was rewritten: the text is the original."""
        return not self._segments and self.text == self.original

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
        if _NEEDS_TRANSLATE.search(self.original, os_, oe):
            return True
        if not self._segments:
            return False
        i = max(bisect_right(self._starts, start) - 1, 0)
        j = bisect_right(self._starts, end)
        return any(seg[4] and seg[0] + seg[2] > start and seg[0] < end for seg in self._segments[i:j])


def _replacement(m: re.Match[str], s: str, memo: dict[str, bool] | None = None) -> str | None:
    kind = m.lastgroup
    if kind == "zw":
        before = s[m.start() - 1] if m.start() else " "
        after = s[m.end()] if m.end() < len(s) else " "
        return "" if before in _URLCH and after in _URLCH else " "
    if kind in ("bidi", "comb"):
        return ""
    if kind == "spscheme":
        word, sec = m.group(m.lastindex + 1), m.group(m.lastindex + 2)  # type: ignore[operator]
        return f"{word.lower()}{sec.lower()}://"
    if kind == "scheme":
        word, sec = m.group(m.lastindex + 1), m.group(m.lastindex + 2)  # type: ignore[operator]
        base = "ftp" if word.lower().startswith("f") else "http"
        canon = f"{base}{sec.lower()}://"
        return None if m.group().lower() == canon else canon
    if kind == "spaced":
        return "https://" if m.group(m.lastindex + 1) else "http://"  # type: ignore[operator]
    if kind in ("dot", "wdot", "sdot", "thdot", "thdotthai"):
        return "."
    if kind == "letters":
        joined = "".join(m.group().split())
        return joined if "." in joined or "://" in joined else None
    if kind == "thword":
        label = m.group(m.lastindex + 1)  # type: ignore[operator]
        if label is None:
            return "."
        return "." + THAI_LABELS[label] if _thai_label_ends(s, m.end(), label, memo) else None
    if kind == "thslash":
        return "/" if _host_before(s, m.start()) else None
    if kind == "slash":
        return "/"
    if kind == "colon":
        return ":"
    if kind == "commas":
        return m.group().replace(",", ".")
    return None  # pragma: no cover - every alternative is named


def _thai_label_ends(s: str, end: int, label: str, memo: dict[str, bool] | None = None) -> bool:
    """True when a Thai-spelled label ending at end is a word of its own: followed by no Thai
    letter, or cut there by the word breaker ("คอมนะคะ": คอม, นะ, คะ; "คอมพิวเตอร์" is one word)."""
    if end >= len(s) or not "\u0e01" <= s[end] <= "\u0e4e":
        return True
    from . import thai

    run = _THAI_RUN.match(s, end - len(label))
    key = run.group()[:64] if run else ""
    if memo is not None and key in memo:
        return memo[key]  # (memo: one text's runs, "x ดอท คอมพิวเตอร์" repeated asks once)
    ws = thai.words(key) if key else None
    ends = False
    n = 0
    for w in ws or ():
        n += len(w)
        if n >= len(label):
            ends = n == len(label)
            break
    if memo is not None:
        memo[key] = ends
    return ends


_THAI_RUN = re.compile("[\u0e01-\u0e4e]+")
# What stands before a spelled or spaced slash, read backwards (the text reversed, so the match is
# anchored where the slash is and costs at most _HOST_REACH characters): path segments, then a
# host of two labels or more, its dots as written or spelled ("tinyurl . com", "cutt ดอท ly")
_RLABEL = "(?:[A-Za-z0-9\\-]++|" + "|".join(w[::-1] for w in THAI_LABELS) + ")"
_RSEP = "(?:[ \t]*\\.[ \t]*|[ \t]*(?:ดุจ|ทอด)[ \t]*|[ \t]+(?:tod|TOD|toD)[ \t]+|\\][ \t]*\\.[ \t]*\\[)"
_HOST_BACK = re.compile(
    "[ \t]*+(?:[A-Za-z0-9_\\-~%]++[ \t]*(?:/|บัท)[ \t]*)*"
    f"(?P<tld>{_RLABEL})(?P<rest>(?:{_RSEP}{_RLABEL}){{1,126}})(?![A-Za-z0-9\\-])"
)
_ONE_MORE_LABEL = re.compile(f"{_RSEP}{_RLABEL}")  # the name has two labels only
_HOST_REACH = 160
# (no possessive group repeats here: Python 3.11.2 fails "(?:x+ *(?:/))*+y" on "y", a bug of its
# own; the labels inside are possessive, so backtracking stays within the _HOST_REACH characters)


def _host_before(s: str, pos: int) -> bool:
    """True when a host name ends the text before pos (after path segments joined by slashes):
    "tinyurl . com", "cutt ดอท ly ทับ abc". A two-label name with a file extension for TLD
    ("report.zip / backup") is a file name; "and / or" is no host."""
    lo = max(0, pos - _HOST_REACH)
    if all(s.find(w, lo, pos) < 0 for w in (".", "ดอท", "จุด", "dot", "DOT", "Dot")):
        return False  # no dot of any kind: no host ("a ทับ b" repeated)
    m = _HOST_BACK.match(s[lo:pos][::-1])
    if m is None:
        return False
    tld = m.group("tld")[::-1].lower()
    tld = THAI_LABELS.get(tld, tld)
    if tld.isdigit():
        return False
    return _ONE_MORE_LABEL.fullmatch(m.group("rest")) is None or tld not in FILE_EXTENSIONS


_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c"


def _rewrites_a(s: str, pos: int) -> Iterator[tuple[int, int, str]]:
    """(start, end, replacement) of the _SUBST_A matches in s from pos on, in order."""
    for r in _A_RUN.finditer(s, pos):
        a, b = r.span()
        if not r.group().strip(_BIDI):
            yield a, b, ""  # bidi controls only (all of "\u202ea.b " repeated): one match, dropped
            continue
        for m in _SUBST_A.finditer(s, a, b):
            rep = _replacement(m, s)
            if rep is not None:
                yield m.start(), m.end(), rep


def _rewrites_b(s: str, spans: list[tuple[int, int]]) -> Iterator[tuple[int, int, str]]:
    """(start, end, replacement) of the _SUBST_B matches in the spans of s, in order.

    Bounded work: past MAX_REFUSED matches that are no disguise after all ("รถทับ", "S A L E",
    read in context by _replacement), the rest of the text is searched as written (no letter
    has that many; 1 MB of "a ทับ " does)."""
    refused = 0
    for a, b in spans:
        for m in _SUBST_B.finditer(s, a, b):
            rep = _replacement(m, s)
            if rep is not None:
                yield m.start(), m.end(), rep
            else:
                refused += 1
                if refused > MAX_REFUSED:
                    return


_C_WORDS = ("ดอท", "ทับ", " /", "\t/", " .", "\t.")
_C_ASCII = _C_WORDS[2:]  # trigger words of _SUBST_B too: where they are, _word_hits says


_C_THAI_LOWS = tuple(w.encode("utf-16-le")[0::2] for w in _C_WORDS[:2])  # b"\x14-\x17", b"\x171\x1a"


def _c_words(s: str, hits: list[int], b16: bytes | None) -> list[str]:
    """The _C_WORDS that s holds: the ASCII ones read off _word_hits (one hit per _REACH of each
    word it found), the Thai ones in b16, the low bytes of s's UTF-16 encoding, when there is one
    (other characters with the same low bytes may match too: _rewrites_c then finds nothing),
    else by str.find."""
    if s.isascii():
        words = []
    elif b16 is not None:
        words = [w for w, b in zip(_C_WORDS[:2], _C_THAI_LOWS, strict=True) if b in b16]
    else:
        words = [w for w in _C_WORDS[:2] if w in s]
    for w in _C_ASCII:
        if any(s.startswith(w, p) for p in hits):
            words.append(w)
    return words


# " ." opens a run of spaced letters only after a letter or digit: found by one regex (a class
# first, at C speed), not one Python step per " ." ("ก . " repeated, Thai abbreviations)
_LETTERS_DOT = re.compile(r"[A-Za-z0-9][ \t]{1,3}\.[ \t]")
_LETTER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-/:")
_LETTERS_MAX = 300  # letters of one run (the pattern's bound)
_BLANKS = " \t"


def _c_start(s: str, i: int, word: str, floor: int) -> int:
    """Where a _SUBST_C match may begin for the word found at i (not before floor, the end of the
    last disguise)."""
    if word[-1] == ".":  # the "." of a run of spaced letters: back to the run's first letter
        j = i + 1  # the "."
        k = i
        while k > 0 and s[k - 1] in _BLANKS and i - k < 2:
            k -= 1
        sep = s[k:j]
        if s[j + 1 : j + 1 + len(sep)] != sep:
            return -1
        lo = max(floor, j - 2 * _LETTERS_MAX)
        pos, first = k - 1, -1
        while pos >= lo and s[pos] in _LETTER_CHARS:  # a letter, the same blanks before it, ...
            if s[pos].isalnum():  # (a run begins with a letter or digit)
                first = pos
            b = pos - len(sep)
            if b < 1 or s[b:pos] != sep:
                break
            pos = b - 1
        return first
    if word[0] in _BLANKS or word in ("ดอท", "ทับ"):
        while i > 0 and s[i - 1] in _BLANKS:
            i -= 1
    return i


def _found(s: str, word: str, refused: dict[str, int]) -> Iterator[tuple[int, str]]:
    """Where word is in s, until it has been refused more than MAX_REFUSED times."""
    if word[-1] == ".":
        for m in _LETTERS_DOT.finditer(s):
            if refused.get(word, 0) > MAX_REFUSED:
                return
            yield m.end() - 3, word  # (where " ." is: the last blank before the ".")
        return
    i = s.find(word)
    while i >= 0 and refused.get(word, 0) <= MAX_REFUSED:
        yield i, word
        i = s.find(word, i + 1)


def _rewrites_c(s: str, words: list[str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, replacement) of the _SUBST_C matches of s, in order: each of its words found
    by str.find, the pattern matched where the disguise would begin. Bounded as _rewrites_b, per
    word: past MAX_REFUSED refusals of one word ("a / b" repeated), that word's places are passed
    over, and the others are still read (padding of "x ทับ y" hides no "ดอทคอม" after it)."""
    last = 0
    refused: dict[str, int] = {}
    tried = -1
    memo: dict[str, bool] = {}
    prev_dot = 0  # a run's letters before the last "." tried were read back from there already
    if " ." in words and "\t." in words:
        words.remove("\t.")  # (one regex finds both)
    for i, w in heapq.merge(*(_found(s, w, refused) for w in words)):
        if i < last or refused.get(w, 0) > MAX_REFUSED:
            continue  # inside the last disguise ("w w w . d l a . g o": its second ".")
        dot = w[-1] == "."
        a = _c_start(s, i, w, max(last, prev_dot) if dot else last)
        if dot:
            prev_dot = i
        if a < last or a == tried:
            continue
        tried = a
        m = _SUBST_C.match(s, a)
        rep = _replacement(m, s, memo) if m is not None else None
        if m is not None and rep is not None:
            last = m.end()
            yield m.start(), m.end(), rep
        else:
            refused[w] = refused.get(w, 0) + 1


def _start(original: str) -> tuple[int, bool]:
    """(p, translate): no character of the table or of _TRIGGER_AB is before p, and translate
    says whether the table rewrites any character (_NEEDS_TRANSLATE.search) of original."""
    p, translate, _b = _start_utf16(original)
    return p, translate


def _start_utf16(original: str) -> tuple[int, bool, bytes | None]:
    """_start, and original's UTF-16 encoding when _plain_utf16 made one."""
    plain, b16 = _plain_utf16(original)
    if plain:
        return len(original), False, b16
    if original.isascii():  # (no ASCII character is in the table, and no A character is ASCII)
        b = _TRIGGER_B.search(original)
        return len(original) if b is None else b.start(), False, None
    any_ = _NEEDS_ANY.search(original)
    p = len(original) if any_ is None else any_.start()
    translate = (p < len(original) and _NEEDS_BMP.search(original, p) is not None) or (
        _has_astral(original) and _NEEDS_ASTRAL.search(original) is not None
    )
    return p, translate, b16


def normalize(original: str) -> Normalized:
    p, translate, b16 = _start_utf16(original)
    s = original.translate(_TRANSLATE) if translate else original
    if _MAYBE_SUBST.search(s) is None:
        return Normalized(original, s, (), ())
    pieces: list[str] = []
    segments: list[tuple[int, int, int, int, bool]] = []
    npos = 0
    last = 0
    # lazily: past MAX_REWRITES the rest is not searched
    # (in s[:p] the table rewrites astral letters and digits at most, none of _TRIGGER_AB's)
    first = _TRIGGER_AB.search(s, p) if p < len(s) else None
    hits = _word_hits(s)
    spans_b = _windows(s, _TRIGGER_B if first is not None else None, hits)
    found_a = _rewrites_a(s, first.start()) if first is not None else iter(())
    streams = [found_a, _rewrites_b(s, spans_b)] if spans_b else [found_a]
    c_words = _c_words(s, hits, b16)
    if c_words:
        streams.append(_rewrites_c(s, c_words))
    # (at one start the longest first: a run of spaced letters holds a spaced scheme, "h t t p")
    rewrites = heapq.merge(*streams, key=lambda r: (r[0], -r[1])) if len(streams) > 1 else found_a
    overlapped = 0
    for start, end, rep in rewrites:
        if start < last:
            overlapped += 1  # inside a longer one: 1 MB of "w w w . " holds as many " . " as runs
            if overlapped > MAX_REFUSED:
                break
            continue
        if len(segments) >= 2 * MAX_REWRITES:
            break
        if start > last:
            seg = s[last:start]
            pieces.append(seg)
            segments.append((npos, last, start - last, start - last, False))
            npos += start - last
        pieces.append(rep)
        segments.append((npos, start, len(rep), end - start, True))
        npos += len(rep)
        last = end
    if not segments:
        return Normalized(original, s, (), ())
    if last < len(s):
        segments.append((npos, last, len(s) - last, len(s) - last, False))
        pieces.append(s[last:])
    return Normalized(original, "".join(pieces), tuple(segments), tuple(x[0] for x in segments))
