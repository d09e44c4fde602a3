"""Find links in decoded text: scheme URLs, www., bare domains under a public suffix, IDNs, IP hosts,
and the defanged forms undone by normalize.

Decisions (README "What counts as a link"):
- Thai letters end a host unless a whole label is Thai (an IDN label such as กรมการปกครอง.ไทย).
- A bare name.ext whose ext is a common file extension that is also a TLD (report.zip, clip.mov,
  readme.md, run.sh) is a file name, not a link: it takes a www., a scheme, a path or a third label
  (files.example.zip) for it to count.
- A bare IPv4 address counts only with a port or a path other than a CIDR length (1.2.3.4/24 is a
  network; ข้อ 1.2.3.4 is a section number).
- "outside.In the middle": a two-label name whose capitalised TLD is an English word (In, It, Is,
  At, Be, By, Do, Me, My, No, On, So, To, Us...) and that has no scheme, www or path is a sentence
  missing a space, not a link.
- E-mail addresses and mailto: are not links unless count_email is set.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..findings import Kind, Link, Location
from ..psl import PublicSuffixList
from . import thai
from .normalize import FILE_EXTENSIONS, Normalized, may_hold_link, normalize

_THAI = "\u0e00-\u0e7f"
_LABEL = rf"(?:[{_THAI}]++|[^\W_{_THAI}](?:[^\W_{_THAI}]|-)*+)"
_PATHCH = r"[^\s<>\"'`{}|\[\]]"
# 2: host without a scheme: www.example.com, dla.go.th, กรมการปกครอง.ไทย, 192.168.0.1:8080/x
_D_BRANCH = (
    rf"(?P<d>(?:(?<![^\s'\"(<=\[])//(?=[^\W_])|(?<![\-.@/]))"
    rf"(?:(?<![{_THAI}])[{_THAI}]++|(?<![^\W{_THAI}])"
    rf"[^\W_{_THAI}](?:[^\W_{_THAI}]|-)*+)(?:\.{_LABEL})++(?![_@])"
    rf"(?P<port>:\d{{1,5}}(?![\d]))?(?P<path>[/?#\\]{_PATHCH}*)?)"
)
_URL = re.compile(
    # every match begins with one of these (a look-ahead checked before the three branches, whose
    # look-behinds otherwise run at every position: 1 MB of "[.]" took 0.3 s, now 0.1 s)
    r"(?=[\w/.+\-\u0e00-\u0e7f])(?:"  # Thai marks (U+0E48) can begin a Thai label and are no \w
    # 1: scheme://... (any scheme: a reader can follow ftp://, git://, tcp:// too)
    rf"(?P<s>(?<![A-Za-z0-9+])[A-Za-z][A-Za-z0-9+.\-]{{1,15}}:[/\\]{{2,}}[ \t]?"
    rf"(?:{_PATHCH}++|\[[0-9A-Fa-f:.]+\])+)"
    rf"|{_D_BRANCH}"
    # 3: mailto: and bare addresses (only reported when count_email is on)
    rf"|(?P<m>(?i:mailto:)[^\s<>\"']+|(?<![\w.+\-])[\w.+\-]+@{_LABEL}(?:\.{_LABEL})+))"
)
# The same search for text without ":" and "@", where only branch 2 can match (and no port): the
# scheme and address branches cost two thirds of the search at every letter ("\u202e" then 1 MB
# of "a." is read backwards, ".a.a.a...": no match, 0.27 s with all three branches, 0.13 s so).
_URL_D = re.compile(rf"(?=[\w/\u0e00-\u0e7f]){_D_BRANCH}")


def _url_re(s: str, a: int, b: int) -> re.Pattern[str]:
    """The search for s[a:b]: _URL_D when s[a:b] holds no ":" nor "@", else _URL."""
    return _URL if s.find(":", a, b) >= 0 or s.find("@", a, b) >= 0 else _URL_D


_TRAIL = set(".,:;!?'\"*”’»…ฯๆ>")
_CLOSERS = {")": "(", "]": "[", "}": "{"}

# "user [at] example dot com" is a disguised address, not a link; "visit us at example dot com" is a link.
_AT_BEFORE = re.compile(r"(?:(\S+)\s+(at|AT)|@|\[\s?@\s?\]|[\[({]\s?(?i:at)\s?[\])}])\s*$")
# "e-mail: saraban at dla.go.th", "อีเมล saraban at dla.go.th": after an address label, "name at
# host" is an e-mail address written out (no web address has a user name in front of "at")
_ADDRESS_LABEL = re.compile(
    r"(?:(?<![A-Za-z])(?i:e-?mail|mail)|อี-?เมล์?|อีเมล|ไปรษณีย์อิเล็กทรอนิกส์)[ \t]*[:：]?[ \t]*"
    r"[\w.+\-]+[ \t]+(?:at|AT|At)[ \t]*\Z"
)
_AT_WORDS = frozenset(
    [
        "us",
        "me",
        "him",
        "her",
        "them",
        "it",
        "this",
        "that",
        "site",
        "website",
        "web",
        "online",
        "here",
        "there",
        "page",
        "portal",
        "link",
        "visit",
        "look",
        "find",
        "available",
        "information",
        "info",
        "details",
        "contact",
        "you",
        "we",
        "out",
        "is",
        "are",
        "apply",
        "register",
        "click",
        "shop",
        "read",
    ]
)
WORD_TLDS = frozenset(
    [
        "in",
        "it",
        "is",
        "at",
        "as",
        "be",
        "by",
        "do",
        "me",
        "my",
        "no",
        "on",
        "so",
        "to",
        "us",
        "we",
        "am",
        "an",
        "or",
        "co",
        "id",
    ]
)


# Technical TLDs that are no English word: "Example.Com" is a name written in title case, not a
# sentence. Every other capitalised TLD of three letters or more glued to a word after a full stop
# ("you.Best", "team.Love", "report.Contact", "a.m.Room") is a sentence missing its space.
TECH_TLDS = frozenset(("com", "net", "org", "edu", "gov", "mil", "int", "info", "biz"))
# Company abbreviations: "Co.Ltd." and "CO.LTD" are no address although .ltd is a TLD.
COMPANY_WORDS = frozenset(
    ("co", "ltd", "inc", "corp", "plc", "pcl", "llc", "pte", "pty", "bhd", "sdn", "gmbh")
)
THAI_TLD = "ไทย"
_THAI_ONLY = re.compile(r"[\u0e00-\u0e7f]+")
# file: URLs that point at the sender's own disk (file:///C:/..., file://localhost/..., file://C:/...)
# lead nowhere for a citizen; file://server/share (another host) is still a link.
_LOCAL_FILE = re.compile(
    r"(?i)file:(?:[/\\]{3}|[/\\]{2}(?:localhost|127\.0\.0\.1)(?=[/\\]|$)|[/\\]{0,2}[A-Za-z][:|])"
)


def local_file_url(url: str) -> bool:
    """True for a file: URL on the sender's own disk, which is no link a citizen could follow."""
    return _LOCAL_FILE.match(url.strip()) is not None


def glued_sentence(labels: list[str]) -> bool:
    """A schemeless name that is a sentence missing the space after its full stop.

    "outside.In", "you.Best", "a.m.Room", "2.Contact", "Co.Ltd": the TLD is a capitalised word
    (first letter upper case, the rest lower case). Two-letter TLDs count only when they are
    English words (In, It, Is ...: "example.In" would be India otherwise) and the name has two
    labels; technical TLDs (Com, Net, Org ...) never count.
    """
    if all(x.lower() in COMPANY_WORDS for x in labels):
        return True
    tld = labels[-1]
    if not (tld.isascii() and tld.isalpha() and tld[0].isupper() and tld[1:].islower()):
        return False
    low = tld.lower()
    if len(tld) == 2:
        return len(labels) == 2 and low in WORD_TLDS
    return low not in TECH_TLDS


@dataclass(frozen=True, slots=True)
class TextOptions:
    count_email: bool = False


_GLUED_THAI = re.compile(r"(?<=[\x00-\x7f])(?<![/.=?&#\-_%+~:])[\u0e00-\u0e7f]")


def _cut_thai(s: str, start: int) -> str:
    """End the candidate at the first Thai letter glued to an ASCII character (from index start on).

    After "/", ".", "=" and the like a Thai letter starts a Thai path segment or IDN label instead.
    """
    m = _GLUED_THAI.search(s, max(start, 1))
    return s[: m.start()] if m else s


def _trim(s: str) -> str:
    if s.endswith("ฯลฯ"):
        s = s[:-3]
    while s:
        c = s[-1]
        if c in _TRAIL or (c in _CLOSERS and s.count(_CLOSERS[c]) < s.count(c)):
            s = s[:-1]
        else:
            break
    return s


def _is_ipv4(labels: list[str]) -> bool:
    return len(labels) == 4 and all(x.isascii() and x.isdigit() and int(x) <= 255 for x in labels)


def _host_kind(host: str) -> Kind:
    h = host.lower()
    if h.startswith("[") or _is_ipv4(h.split(".")):
        return "ip"
    if not h.isascii() or "xn--" in h:
        return "idn"
    return "www" if h.startswith("www") else "bare_domain"


_AUTH_END = re.compile(r"[/\\?#]")
_HOST_PART = re.compile(r"[^:/?#\\]+")
_CIDR = re.compile(r"/\d{1,2}")


def _scheme_url(raw: str) -> tuple[str, str] | None:
    """(trimmed text, normalised url) of a scheme://... candidate, or None."""
    colon = raw.index(":")
    scheme = raw[:colon].lower()
    if scheme == "file" and local_file_url(raw):
        return None
    rest = raw[colon + 1 :].lstrip("/\\").lstrip(" \t")
    head = len(raw) - len(rest)
    text = _trim(_cut_thai(raw, head))
    rest = text[head:]
    m = _AUTH_END.search(rest)
    auth, tail = (rest[: m.start()], rest[m.start() :]) if m else (rest, "")
    hostport = auth.rpartition("@")[2]
    host = hostport
    if hostport.startswith("["):
        host = hostport[: hostport.find("]") + 1] if "]" in hostport else hostport
    elif ":" in hostport:
        host = hostport.rsplit(":", 1)[0]
    if not any(ch.isalnum() for ch in host):
        return None
    return text, f"{scheme}://{hostport.lower()}{tail.replace(chr(92), '/')}"


_ANCHOR = re.compile(r"[.:]")
# One window from its start: a token up to its first "." or ":" (no " \n\t\r" before it), the rest
# of the token up to any whitespace, and after a bare scheme ("http://", "x:") the next token too;
# then every following window that starts at most one " \n\t\r" later (they merge), in one C call.
_W = r"[^ \n\t\r.:]*+[.:]\S*+(?:(?:(?<=//)|(?<=\\\\)|(?<=:))\s\S*+)?"
_WINDOW_RUN = re.compile(rf"{_W}(?:[ \n\t\r]?{_W})*+")


_DENSE_WINDOWS = 256
_DENSE_CHARS = 16


def windows(s: str, start: int = 0) -> list[tuple[int, int]]:
    """Spans worth searching: the whitespace-separated tokens holding a "." or ":".

    start: from a restart point (restart()), the windows of s that begin there or later.

    Every link has one of them, and none spans whitespace except a scheme followed by one space
    ("http:// example.com"), so the window is stretched over the next token after a bare scheme.
    Windows one whitespace character apart merge. Cost is linear: each character is looked at a
    bounded number of times, and a run of merged windows (".\n" repeated) is one regex match, not
    one Python step per token.
    """
    out: list[tuple[int, int]] = []
    end = start
    while (m := _ANCHOR.search(s, end)) is not None:
        p = m.start()
        if len(out) >= _DENSE_WINDOWS and len(out) * _DENSE_CHARS > p:
            # More than one window per _DENSE_CHARS characters ("ก . " repeated): the whole text
            # is one span. That finds the same matches, since no match can start in a token
            # without "." or ":" nor cross whitespace other than the scheme's one space
            # (searched with the window stretch above), and costs one C-level pass instead of
            # one Python step per window.
            return [(0, len(s))]
        ws = max(s.rfind(" ", end, p), s.rfind("\n", end, p), s.rfind("\t", end, p), s.rfind("\r", end, p))
        start = ws + 1 if ws >= end else end
        run = _WINDOW_RUN.match(s, start)
        end = run.end() if run else len(s)  # it always matches: s[start:p] has no " \n\t\r" nor anchor
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


_RESTART_TRIES = 16


def restart(s: str, before: int) -> int:
    """A position r <= before where windows(s, r) gives the windows of s that begin at r or later
    (0 when none is found nearby): one just after two whitespace characters ("\r\n" ending a
    line) not preceded by ":", "/" or "\\". No window crosses two such characters (a window
    crosses one, or one after a bare scheme, "http:// "), nor ends right before r, where the next
    window would merge with it; so the windows before r end before r - 1, none is merged into one
    at r or after, and from r the search for the next one starts as from their end.
    (Windows are also counted, for the dense case: restart only texts with fewer anchors.)
    """
    i = before
    for _ in range(_RESTART_TRIES):
        i = s.rfind("\n", 0, i)
        if i < 1:
            return 0
        if s[i - 1] in " \n\t\r" and (i < 2 or s[i - 2] not in ":/\\"):
            return i + 1
    return 0


# (group, characters skipped in front, text, url, host) of a candidate, before its context is read
_Local = tuple[str, int, str, str, str]
_UNIT_MIN = 16_384  # a span shorter than this is searched as it is
_CHUNK = 65_536  # a longer one is searched in chunks of about this many characters
_CHUNK_CUT = re.compile(r"\s(?<![/\\]\s)")  # where a chunk may end: whitespace not after a slash
_CACHE_MAX = 65_536  # distinct units remembered across the chunks of one text
_UNIT_REPEAT = 4  # units per distinct unit, at least, for the search by unit
# (both begin with a plain class, which the regex engine skips to at C speed)
_WS_SPLIT = re.compile(r"(\s\s*)")
_SLASH_END = re.compile(r"\s(?<=[/\\]\s)")


def _join_after_slash(parts: list[str], starts: list[int]) -> tuple[list[str], list[int]]:
    """Units and their starts from _WS_SPLIT parts, a unit ending in "/" or "\\" joined with the
    whitespace and the unit after it (a scheme URL may cross one space: "http:// example.com")."""
    units: list[str] = []
    ustarts: list[int] = []
    i = 0
    while i < len(parts):
        j = i
        while j + 2 < len(parts) and parts[j][-1:] in ("/", "\\"):
            j += 2
        units.append("".join(parts[i : j + 1]))
        ustarts.append(starts[i])
        i = j + 2
    return units, ustarts


_BROKEN_REACH = 300
MAX_BREAKS = 1000
MAX_LINKS = 1000  # per text (one field of one part)
# the literal "." first: the engine then jumps from one "." to the next at C speed (a leading
# look-behind made it try every position of the text in turn)
_BREAK_HINT = re.compile(r"\.(?<=[^\W_]\.)[ \t]*\r?\n(?=[ \t>]*[^\W_])")
_BROKEN = re.compile(
    r"((?:[A-Za-z][A-Za-z0-9+.\-]{1,15}://)?(?:[^\W_][\w-]*+\.){2,}+)[ \t]*+\r?\n[ \t>]*+"
    r"([^\W_][^\s<>\"']*+)"
)
_BROKEN_BEFORE_DOT = re.compile(
    r"((?:[A-Za-z][A-Za-z0-9+.\-]{1,15}://)?[^\W_][\w-]*+(?:\.[^\W_][\w-]*+)++)[ \t]*+\r?\n[ \t>]*+"
    r"(\.[^\W_][^\s<>\"']*+)"
)
MAX_OVERRIDES = 1000
OVERRIDE_CONTEXT = 256  # characters around an overridden run that a link may share with it
_OVERRIDE = re.compile(r"\u202e[^\u202c\u2069\n]*")


def _thai_name(text: str) -> tuple[int, str] | None:
    """A Thai name glued to Thai words on either side: (characters skipped in front, the name).

    "ดูรายละเอียดที่ภาษี.ไทยค่ะ" -> (15, "ภาษี.ไทย"). None for Thai abbreviations that end in ไทย
    ("ส.ส.ไทย", "พ.ศ.ไทย": every label before it one or two letters).
    """
    host_end = len(text)
    for i, c in enumerate(text):
        if c in ":/?#\\":
            host_end = i
            break
    host, rest = text[:host_end], text[host_end:]
    labels = host.split(".")
    if len(labels) < 2:
        return 0, text
    last = labels[-1]
    if last.startswith(THAI_TLD) and len(last) > len(THAI_TLD) and _THAI_ONLY.fullmatch(last):
        ws = thai.words(last)
        if ws is not None and ws[0] != THAI_TLD:  # "ไทยแลนด์" is a word, not the TLD and a word
            return 0, text
        labels[-1] = THAI_TLD  # "ไทยค่ะ": the Thai words after the TLD are not part of it
        rest = ""
    if labels[-1] != THAI_TLD:
        return 0, text
    if all(_THAI_ONLY.fullmatch(x) and len(x) <= 2 for x in labels[:-1]):
        return None
    skip = thai.name_start(labels[0]) if _THAI_ONLY.fullmatch(labels[0]) else 0
    labels[0] = labels[0][skip:]
    return skip, ".".join(labels) + rest


def hit_pattern(top_labels: frozenset[str]) -> re.Pattern[str]:
    """Where a text may hold a candidate of _candidates: no window without a match of this
    pattern yields one, so a text (or window) without one is not searched at all.

    Every candidate is one of: a scheme URL (":"), an address or mailto: ("@", ":"), a host with
    a port (":"), an IPv4 host (four ASCII digit labels: ".1.2.3" after the first), or a host
    whose last label (after a ".") is the last label of a public suffix. A Thai run or a digit
    after a "." begins a last label only when some public suffix's last label begins so ("ไทย",
    "คอม" in the list): those few are spelled out, so the dates and abbreviations of a Thai
    letter ("๑๖ ก.พ. ๒๕๖๙", "มท ๐๘๒๓.๒") and numbers ("ข้อ 1.2.3") are no hits. A label's first
    character is otherwise a word character that is no digit, "_" nor Thai (_LABEL).
    """
    thai_tops = sorted(x for x in top_labels if x and "\u0e00" <= x[0] <= "\u0e7f")
    digit = any(re.match(r"\d", x) for x in top_labels)
    first = rf"[^\W_{_THAI}]" if digit else rf"[^\W\d_{_THAI}]"
    after_dot = "|".join([first, *map(re.escape, thai_tops)])
    return re.compile(rf"[:@]|{_dot_hit(after_dot)}")


def _dot_hit(after_dot: str) -> str:
    # one literal "." first: the engine skips from one "." to the next at C speed (the alternation
    # with "[:@]" in front read every character: 90 us for a 10 KiB Thai letter)
    return rf"\.(?:{after_dot}|\d+\.\d+\.\d)"


_BREAK_BEFORE_DOT = re.compile(r"\n[ \t>]{0,8}+\.(?=[\w\u0080-\uffff])")
_FEW_DOTS = 2000


def _lines_begun_by_a_dot(s: str) -> Iterator[int]:
    """Where each line break is that is followed by "." (after blanks or ">" quoting) and a letter
    or digit: "www.dla.go" / ".th/form527". The full stops are found by str.find (a regex that
    begins with "\n" or "." costs 8x more in a Thai letter), the rest looked at around each; or
    the line breaks, when the text holds fewer of them (1 MB of "." is one line)."""
    lines, dots = s.count("\n"), s.count(".")
    if min(lines, dots) > _FEW_DOTS:  # (".\n" repeated: the regex, linear, no Python step per dot)
        yield from (m.start() for m in _BREAK_BEFORE_DOT.finditer(s))
        return
    if lines < dots:
        n = s.find("\n")
        while n >= 0:
            j = n + 1
            while j < len(s) and s[j] in " \t>" and j - n <= 8:
                j += 1
            if j + 1 < len(s) and s[j] == "." and (s[j + 1].isalnum() or s[j + 1] > "\x7f"):
                yield n
            n = s.find("\n", n + 1)
        return
    i = s.find(".")
    while i >= 0:
        if i + 1 < len(s) and (s[i + 1].isalnum() or s[i + 1] > "\x7f"):
            j = i
            while j > 0 and s[j - 1] in " \t>" and i - j < 8:
                j -= 1
            if j > 0 and s[j - 1] == "\n":
                yield j - 1
        i = s.find(".", i + 1)


class _Hits:
    """hit_pattern's search split in three that run at C speed: ":" and "@" by str.find, the
    dotted ones by a regex that begins with a literal "." (same hits)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.dot = re.compile(pattern.pattern.removeprefix("[:@]|"))

    def any(self, s: str) -> bool:
        return ":" in s or "@" in s or self.dot.search(s) is not None

    def first(self, s: str) -> int:
        """Where the first hit of s is, -1 when there is none."""
        n = len(s)
        colon, at = s.find(":"), s.find("@")
        m = self.dot.search(s, 0, min(x if x >= 0 else n for x in (colon, at)))
        return min((x for x in (colon, at, m.start() if m else -1) if x >= 0), default=-1)

    def spans(self, s: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The spans that hold a hit; each kind's next position is searched again only once a
        span starts past it, so the whole costs one pass of each over the text."""
        n = len(s)
        colon = at = dot = -1
        out: list[tuple[int, int]] = []
        for a, b in spans:
            if colon < a:
                colon = s.find(":", a)
                colon = n if colon < 0 else colon
            if at < a:
                at = s.find("@", a)
                at = n if at < 0 else at
            if dot < a:
                m = self.dot.search(s, a)
                dot = n if m is None else m.start()
            if min(colon, at, dot) < b:
                out.append((a, b))
        return out


class TextFinder:
    """Finds links in text. One per configuration; safe to share between threads."""

    def __init__(self, psl: PublicSuffixList, options: TextOptions | None = None) -> None:
        self.psl = psl
        self.options = options or TextOptions()
        self._file_tlds = frozenset(x for x in FILE_EXTENSIONS if psl.is_suffix(x))
        self._top_labels = psl.top_labels()
        self._hit = _Hits(hit_pattern(self._top_labels))

    def no_link_at_start(self, s: str) -> bool:
        """True when find(s) cannot report a link at offset 0 of s, decided from one regex match.

        For a short ASCII value that normalize leaves as written and that holds no line break (an
        href or srcset entry such as "a.png"): a link at offset 0 is the first candidate of the
        first window, i.e. _URL matching at 0, and a plain-shaped name with no public suffix is
        none. Anything else is left to find().
        """
        m = _URL.match(s)
        if m is None:
            return True
        if m.lastgroup != "d":
            return False
        d, port, path = m.group("d", "port", "path")
        return port is None and path is None and self._no_suffix(d)

    def _no_suffix(self, d: str) -> bool:
        """True when a schemeless candidate cannot have a public suffix, so domain() would say None.

        d: the candidate without port or path. Only for the plain shape (no "//", ไทย, Thai glued to
        ASCII, or "-", "ฯ", "ๆ" in the last label), where domain() keeps the host as matched: then
        its last label is the TLD; a file extension that is no TLD is dropped from a longer name
        ("www.x.com.pdf") as domain() drops it; digits (IPv4) and anything else go the long way.
        A 1 MB text of "a.b " tokens costs one set lookup per token instead of a full split.
        """
        d = d.rstrip(".")  # domain() trims trailing full stops
        if d.startswith("//") or THAI_TLD in d:
            return False
        if not d.isascii() and _GLUED_THAI.search(d, 1) is not None:
            return False
        labels = d.lower().rsplit(".", 2)
        last = labels[-1]
        if last in FILE_EXTENSIONS and last not in self._top_labels:  # "a.png", "www.x.com.pdf"
            if len(labels) < 3:
                return True  # two labels: domain() finds no suffix either
            last = labels[-2]  # domain() drops the extension of a longer name
        return (
            last != ""
            and "-" not in last  # (a hyphen at either end is domain()'s to refuse)
            and "ฯ" not in last  # Thai letters _trim removes from the end
            and "ๆ" not in last
            and last not in self._top_labels
            and not last.isdigit()
            and not last.startswith("xn--")
        )

    def _domain(self, m: re.Match[str]) -> tuple[int, str, str, str] | None:
        """(skip, text, url, host) for a schemeless host candidate, or None when it is no link.

        skip: characters of the candidate before the name (Thai words glued in front of it).
        """
        return self.domain(m.group("d"))

    def domain(self, raw: str) -> tuple[int, str, str, str] | None:
        prefix = "//" if raw.startswith("//") else ""
        skip = 0
        text = _trim(_cut_thai(raw[len(prefix) :], 1))
        if not prefix and THAI_TLD in text:
            cut = _thai_name(text)
            if cut is None:
                return None
            skip, text = cut
        # split host / port / path again after trimming
        hm = _HOST_PART.match(text)
        if not hm:
            return None
        host = hm.group()
        rest = text[hm.end() :]
        if host.endswith("."):
            host = host.rstrip(".")
            rest = ""
            text = text[: hm.end()].rstrip(".")
        if len(host) > 253:  # longer than any DNS name: nothing a browser could open
            return None
        labels = host.split(".")
        if len(labels) < 2 or any(not x or len(x) > 63 for x in labels):
            return None
        port = rest.startswith(":") and rest[1:2].isdigit()
        path = rest.lstrip(":0123456789") if port else rest
        if all(x.isascii() and x.isdigit() for x in labels):
            if not _is_ipv4(labels):
                return None
            if not port and (not path or _CIDR.fullmatch(path)):
                return None
        else:
            if any(x.startswith("-") or x.endswith("-") for x in labels):
                return None
            if labels[-1].isdigit():
                return None
            split = self.psl.split(host)
            # "www.example.com.pdf": a file named after a web address still shows the address
            if (
                not split.registered
                and not rest
                and len(labels) > 2
                and labels[-1].lower() in FILE_EXTENSIONS
            ):
                labels = labels[:-1]
                host = ".".join(labels)
                text = text[: len(host)]
                split = self.psl.split(host)
            if not split.suffix or not split.domain:
                return None
            plain = not port and not path and len(labels) == 2 and labels[0].lower() != "www"
            if plain and labels[1].lower() in self._file_tlds:
                return None
            if not port and not path and labels[0].lower() != "www" and glued_sentence(labels):
                return None
        return skip, prefix + text, f"http://{host.lower()}{rest}", host

    def find(self, original: str, where: Location) -> list[Link]:
        norm = normalize(original)
        out = self.find_normalized(norm, where)
        if "\u202e" in original:
            out.extend(self._overridden(original, where, {x.url for x in out}))
        return out

    def find_normalized(self, norm: Normalized, where: Location) -> list[Link]:
        s = norm.text
        # a text without a hit (a Thai letter: dates and "ก.พ." only) has no candidate: its
        # windows are not even cut (measured: -40% CPU of a clean 10 KiB letter's scan)
        first = self._hit.first(s)
        spans: list[tuple[int, int]] = []
        skipped = False
        if first >= 0:
            # the windows before the first hit hold no candidate: with fewer anchors than make the
            # text dense (windows() counts windows), they are not cut either (a letter with a link
            # at its end: -25% of its scan's CPU)
            r = restart(s, first) if s.count(".") + s.count(":") < _DENSE_WINDOWS else 0
            spans = windows(s, r)
            skipped = r > 0 and (s.find(".", 0, r) >= 0 or s.find(":", 0, r) >= 0)
        # bounded work: past MAX_LINKS the text holds links beyond doubt; the rest is not searched
        found = self._candidates(s, spans, norm, skipped)
        out = [self._link(norm, *c, where) for c in itertools.islice(found, MAX_LINKS)]
        if "\n" in s:
            out.extend(self._broken_lines(norm, where))
            out.extend(self._broken_before_dot(norm, where))
        return out

    def _candidates(
        self, s: str, spans: list[tuple[int, int]], norm: Normalized | None = None, skipped: bool = False
    ) -> Iterator[tuple[str, str, Kind, int]]:
        """(text, url, kind, start in s) of every link in the given spans of s (norm: s's origin).

        skipped: windows without a hit before the spans were left out (the spans are then some
        of several, searched as such)."""
        if len(spans) == 1 and not skipped and spans[0][1] - spans[0][0] >= _UNIT_MIN:
            yield from self._by_chunk(s, *spans[0], norm)
            return
        if len(spans) > 1 or skipped:
            spans = self._hit.spans(s, spans)
        if spans:
            yield from self._plain(s, spans, norm)

    def _plain(
        self, s: str, spans: list[tuple[int, int]], norm: Normalized | None
    ) -> Iterator[tuple[str, str, Kind, int]]:
        """_candidates, searching the spans as they are."""
        matches = (
            _url_re(s, *spans[0]).finditer(s, *spans[0])
            if len(spans) == 1
            else itertools.chain.from_iterable(_url_re(s, a, b).finditer(s, a, b) for a, b in spans)
        )
        # _no_suffix per distinct candidate: a text of one token repeated ("a.b " 200,000 times)
        # costs one dict lookup per token, not one split
        no_suffix: dict[str, bool] = {}
        for m in matches:
            if m.lastgroup == "d":  # the branch that matched: "s", "d" or "m"
                raw, port, path = m.group("d", "port", "path")
                if port is None and path is None:
                    ns = no_suffix.get(raw)
                    if ns is None:
                        ns = no_suffix[raw] = self._no_suffix(raw)
                    if ns:
                        continue
            local = self._local(m)
            if local is not None:
                got = self._in_context(local, m.start(), s, norm)
                if got is not None:
                    yield got

    def _by_chunk(
        self, s: str, a: int, b: int, norm: Normalized | None
    ) -> Iterator[tuple[str, str, Kind, int]]:
        """_candidates of one long span, in chunks of about _CHUNK characters cut at whitespace no
        match crosses (not after a slash): each searched by unit when its units repeat, else as it
        is. The memory a split takes stays that of one chunk."""
        cache: dict[str, list[tuple[int, _Local]]] = {}  # unit -> its candidates, across chunks
        while a < b:
            cut = _CHUNK_CUT.search(s, a + _CHUNK, b) if b - a > _CHUNK else None
            end = cut.start() if cut is not None else b
            if len(cache) > _CACHE_MAX:
                cache.clear()
            units = self._by_unit(s, a, end, cache)
            if units is None:
                yield from self._plain(s, [(a, end)], norm)
            else:
                for start, found in units:
                    got = self._in_context(found, start, s, norm)
                    if got is not None:
                        yield got
            a = end

    def _local(self, m: re.Match[str]) -> _Local | None:
        """What a _URL match is, from its own text alone (no context): None when it is no link."""
        group = m.lastgroup
        if group == "s":
            r = _scheme_url(m.group("s"))
            return None if r is None else ("s", 0, r[0], r[1], "")
        if group == "d":
            d = self._domain(m)
            return None if d is None else ("d", *d)
        if not self.options.count_email:
            return None
        text = _trim(m.group("m"))
        return "m", 0, text, text if text.lower().startswith("mailto:") else "mailto:" + text, ""

    def _in_context(
        self, local: _Local, start: int, s: str, norm: Normalized | None
    ) -> tuple[str, str, Kind, int] | None:
        """The candidate a _local result at start of s makes, with what stands before it."""
        group, skip, text, url, host = local
        if group == "s":
            return text, url, "scheme", start
        if group == "m":
            return text, url, "email", start
        start += skip
        at = self._after_at(s, start)
        # "user@", "user [at]": an address. "login at portal.example.app": a reader sees a
        # web address; only "user at example dot com" (the domain disguised too) is one.
        if (
            at == "word"
            and not (norm is not None and norm.disguised(start, start + len(text)))
            and _ADDRESS_LABEL.search(s, max(0, start - 80), start) is None
        ):
            at = ""
        if at:
            if not self.options.count_email:
                return None
            return text, "mailto:" + host.lower(), "email", start
        return text, url, _host_kind(host), start

    def _local_candidates(self, units: set[str], cache: dict[str, list[tuple[int, _Local]]]) -> bool:
        """Fill the cache with the (offset, _local result) list of every unit of the set; True when
        one of them holds a candidate."""
        any_found = False
        for u in units:
            found = cache.get(u)
            if found is None:
                found = []
                if "." in u or ":" in u:  # every link holds one
                    matches = _url_re(u, 0, len(u)).finditer(u)
                    found = [(m.start(), x) for m in matches if (x := self._local(m)) is not None]
                cache[u] = found
            any_found = any_found or bool(found)
        return any_found

    def _by_unit(
        self, s: str, a: int, b: int, cache: dict[str, list[tuple[int, _Local]]]
    ) -> Iterator[tuple[int, _Local]] | None:
        """(start in s, _local result) of every candidate in s[a:b], found once per distinct unit.

        A unit is a run of non-white characters, with the next unit when it ends in a slash
        ("http:// example.com"). No _URL match crosses other whitespace, and whitespace before a
        unit reads to every look-behind as the start of the text does, so the matches in a unit are
        the same wherever it stands: a 1 MB text of a few tokens repeated ("\u202ea.b ", "https :")
        costs a split and one pass per distinct unit. None when the units hardly repeat (the
        plain search is then no slower). cache: the candidates of units seen before.
        """
        text = s[a:b]
        slash_end = _SLASH_END.search(text) is not None
        if not slash_end:
            # first without the starts, which only units holding a candidate need (str.split cuts
            # at the same whitespace as \s)
            units = text.split()
            distinct = set(units)
            if len(distinct.difference(cache)) * _UNIT_REPEAT > len(units):
                return None
            if not self._local_candidates(distinct, cache):
                return iter(())
        parts = _WS_SPLIT.split(text)  # unit, whitespace, unit, ..., unit
        starts = list(itertools.accumulate(map(len, parts), initial=a))
        units = parts[0::2]
        ustarts = starts[0::2]
        if slash_end:
            units, ustarts = _join_after_slash(parts, starts)
        distinct = set(units)
        if len(distinct.difference(cache)) * _UNIT_REPEAT > len(units):
            return None
        if not self._local_candidates(distinct, cache):
            return iter(())
        return ((ustarts[i] + rel, x) for i, u in enumerate(units) if cache[u] for rel, x in cache[u])

    def _broken_lines(self, norm: Normalized, where: Location) -> list[Link]:
        """A host name broken over two lines ("www.dla.go." / "th/form"), joined when the pieces
        make a valid name and the first piece alone is none ("www.example.com." then a new
        sentence is left alone)."""
        s = norm.text
        out: list[Link] = []
        for tried, hint in enumerate(_BREAK_HINT.finditer(s)):
            if tried >= MAX_BREAKS:  # bounded work: no letter has this many hosts broken over lines
                break
            p = hint.start()
            lo = max(0, p - _BROKEN_REACH)  # a host is at most 253 characters: look back no further
            start = max(lo, *(s.rfind(c, lo, p) + 1 for c in " \n\t\r(<[\"'"))
            m = _BROKEN.match(s, start)
            if m is None or m.end(1) != p + 1:
                continue
            out.extend(self._joined(norm, where, m))
        return out

    def _joined(self, norm: Normalized, where: Location, m: re.Match[str]) -> list[Link]:
        """The links that the two pieces of a broken host (m's groups 1 and 2) make together and
        the first piece alone does not: none when a label of the first piece is a single letter (an
        abbreviation) or the first piece is a whole name already (the next line is a new sentence)."""
        first, second = m.group(1), m.group(2)
        host_labels = first.split("://")[-1].rstrip(".").split(".")
        if any(len(x) < 2 for x in host_labels) or self.domain(".".join(host_labels)) is not None:
            return []
        joined = first + second
        gap = m.start(2) - m.end(1)
        out: list[Link] = []
        for text, url, kind, j in self._candidates(joined, [(0, len(joined))]):
            if not (j < len(first) < j + len(text)) or kind == "email":
                continue
            a = m.start(1) + j
            os_, oe = norm.span(a, a + len(text) + gap)
            out.append(Link(norm.original[os_:oe], url, "obfuscated", where.with_offset(os_)))
        return out

    def _broken_before_dot(self, norm: Normalized, where: Location) -> list[Link]:
        """A host name broken just before a dot ("www.dla.go" / ".th/form527"), joined when the
        pieces make a link the first piece alone is not (a line that begins with "." otherwise
        starts nothing a reader takes for an address)."""
        s = norm.text
        out: list[Link] = []
        for tried, p in enumerate(_lines_begun_by_a_dot(s)):
            if tried >= MAX_BREAKS:  # bounded work, as _broken_lines
                break
            if p > 0 and s[p - 1] == "\r":
                p -= 1
            while p > 0 and s[p - 1] in " \t":
                p -= 1
            if p == 0 or not (s[p - 1].isalnum() and s[p - 1].isascii()):
                continue
            lo = max(0, p - _BROKEN_REACH)
            start = max(lo, *(s.rfind(c, lo, p) + 1 for c in " \n\t\r(<[\"'"))
            m = _BROKEN_BEFORE_DOT.match(s, start)
            if m is None or m.end(1) != p:
                continue
            out.extend(self._joined(norm, where, m))
        return out

    def _overridden(self, original: str, where: Location, seen: set[str]) -> list[Link]:
        """Links a reader sees in text under a right-to-left override (U+202E), which a client
        draws backwards: "\u202emoc.elpmaxe.live" shows as "evil.example.com".

        Only the overridden runs and OVERRIDE_CONTEXT characters around each are searched again,
        as shown: the rest of the text reads the same both ways and was searched already.
        """
        runs = [
            (om.start(), om.end()) for om in itertools.islice(_OVERRIDE.finditer(original), MAX_OVERRIDES)
        ]
        spans: list[list[int]] = []  # [start, end, first run, last run + 1]
        for k, (a, b) in enumerate(runs):
            lo, hi = max(0, a - OVERRIDE_CONTEXT), min(len(original), b + OVERRIDE_CONTEXT)
            if spans and lo <= spans[-1][1]:
                spans[-1][1], spans[-1][3] = hi, k + 1
            else:
                spans.append([lo, hi, k, k + 1])
        out: list[Link] = []
        for lo, hi, k0, k1 in spans:
            inner = runs[k0:k1]
            pieces, last = [], lo
            for a, b in inner:
                pieces += [original[last:a], original[a:b][::-1]]
                last = b
            pieces.append(original[last:hi])
            if not may_hold_link("".join(pieces)):
                continue  # every link has a full stop or a colon, plain, look-alike or spelled out
            starts = [a for a, _ in inner]

            def back(i: int, inner: list[tuple[int, int]] = inner, starts: list[int] = starts) -> int:
                k = bisect.bisect_right(starts, i) - 1  # index in the shown text -> in the original
                if k >= 0 and i < inner[k][1]:
                    return inner[k][0] + inner[k][1] - 1 - i
                return i

            for link in self.find_normalized(normalize("".join(pieces)), where):
                if link.url in seen or link.location.offset < 0:
                    continue
                seen.add(link.url)
                a, b = lo + link.location.offset, lo + link.location.offset + len(link.text)
                edges = [a, b - 1, *(x for r in inner for x in (r[0], r[1] - 1) if a <= x < b)]
                idx = [back(i) for i in edges]
                os_, oe = min(idx), max(idx) + 1
                out.append(Link(original[os_:oe], link.url, "obfuscated", where.with_offset(os_)))
        return out

    @staticmethod
    def _after_at(s: str, start: int) -> str:
        """ "symbol" after @ or [at], "word" after a user name and the word at, else ""."""
        am = _AT_BEFORE.search(s, max(0, start - 40), start)
        if not am:
            return ""
        word = am.group(1)
        if word is None:
            return "symbol"
        return "word" if am.group(2) == "AT" or word.lower().strip(".,:;!?") not in _AT_WORDS else ""

    @staticmethod
    def _link(norm: Normalized, text: str, url: str, kind: Kind, start: int, where: Location) -> Link:
        end = start + len(text)
        if kind != "email" and norm.disguised(start, end):
            kind = "obfuscated"
        os_, oe = norm.span(start, end)
        return Link(norm.original[os_:oe], url, kind, where.with_offset(os_))
