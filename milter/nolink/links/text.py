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

import re
from dataclasses import dataclass

from ..findings import Kind, Link, Location
from ..psl import PublicSuffixList
from .normalize import Normalized, normalize

_THAI = "\u0e00-\u0e7f"
_LABEL = rf"(?:[{_THAI}]++|[^\W_{_THAI}](?:[^\W_{_THAI}]|-)*+)"
_PATHCH = r"[^\s<>\"'`{}|\[\]]"
_URL = re.compile(
    # 1: scheme://... (any scheme: a reader can follow ftp://, git://, tcp:// too)
    rf"(?P<s>(?<![A-Za-z0-9+])[A-Za-z][A-Za-z0-9+.\-]{{1,15}}:[/\\]{{2,}}[ \t]?"
    rf"(?:{_PATHCH}++|\[[0-9A-Fa-f:.]+\])+)"
    # 2: host without a scheme: www.example.com, dla.go.th, กรมการปกครอง.ไทย, 192.168.0.1:8080/x
    rf"|(?P<d>(?:(?<![^\s'\"(<=\[])//(?=[^\W_])|(?<![\-.@/]))"
    rf"(?:(?<![{_THAI}])[{_THAI}]++|(?<![^\W{_THAI}])"
    rf"[^\W_{_THAI}](?:[^\W_{_THAI}]|-)*+)(?:\.{_LABEL})++(?![_@])"
    rf"(?P<port>:\d{{1,5}}(?![\d]))?(?P<path>[/?#\\]{_PATHCH}*)?)"
    # 3: mailto: and bare addresses (only reported when count_email is on)
    rf"|(?P<m>(?i:mailto:)[^\s<>\"']+|(?<![\w.+\-])[\w.+\-]+@{_LABEL}(?:\.{_LABEL})+)"
)
_TRAIL = set(".,:;!?'\"*”’»…ฯๆ>")
_CLOSERS = {")": "(", "]": "[", "}": "{"}

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
# "user [at] example dot com" is a disguised address, not a link; "visit us at example dot com" is a link.
_AT_BEFORE = re.compile(r"(?:(\S+)\s+(at|AT)|@|\[\s?@\s?\]|[\[({]\s?(?i:at)\s?[\])}])\s*$")
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
_WS = re.compile(r"\s")


def windows(s: str) -> list[tuple[int, int]]:
    """Spans worth searching: the whitespace-separated tokens holding a "." or ":".

    Every link has one of them, and none spans whitespace except a scheme followed by one space
    ("http:// example.com"), so the window is stretched over the next token after a bare scheme.
    Cost is linear: each character is looked at a bounded number of times.
    """
    out: list[tuple[int, int]] = []
    end = 0
    while (m := _ANCHOR.search(s, end)) is not None:
        p = m.start()
        start = max(end, *(s.rfind(c, end, p) + 1 for c in " \n\t\r"))
        ws = _WS.search(s, p)
        end = ws.start() if ws else len(s)
        if s.endswith(("//", "\\\\", ":"), start, end) and end < len(s):
            ws = _WS.search(s, end + 1)
            end = ws.start() if ws else len(s)
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


class TextFinder:
    """Finds links in text. One per configuration; safe to share between threads."""

    def __init__(self, psl: PublicSuffixList, options: TextOptions | None = None) -> None:
        self.psl = psl
        self.options = options or TextOptions()
        self._file_tlds = frozenset(x for x in FILE_EXTENSIONS if psl.is_suffix(x))

    def _domain(self, m: re.Match[str]) -> tuple[str, str, str] | None:
        """(text, url, host) for a schemeless host candidate, or None when it is no link."""
        raw = m.group("d")
        prefix = "//" if raw.startswith("//") else ""
        text = _trim(_cut_thai(raw[len(prefix) :], 1))
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
            tld = labels[-1]
            if plain and tld.lower() in WORD_TLDS and tld[0].isupper() and tld[1:].islower():
                return None
        return prefix + text, f"http://{host.lower()}{rest}", host

    def find(self, original: str, where: Location) -> list[Link]:
        norm = normalize(original)
        return self.find_normalized(norm, where)

    def find_normalized(self, norm: Normalized, where: Location) -> list[Link]:
        out: list[Link] = []
        s = norm.text
        for m in (m for a, b in windows(s) for m in _URL.finditer(s, a, b)):
            kind: Kind
            if m.group("s") is not None:
                r = _scheme_url(m.group("s"))
                if r is None:
                    continue
                text, url = r
                kind = "scheme"
            elif m.group("d") is not None:
                d = self._domain(m)
                if d is None:
                    continue
                text, url, host = d
                if self._after_at(s, m.start()):
                    if not self.options.count_email:
                        continue
                    kind = "email"
                    out.append(self._link(norm, text, "mailto:" + host.lower(), kind, m.start(), where))
                    continue
                kind = _host_kind(host)
            else:
                if not self.options.count_email:
                    continue
                text = _trim(m.group("m"))
                url = text if text.lower().startswith("mailto:") else "mailto:" + text
                kind = "email"
            out.append(self._link(norm, text, url, kind, m.start(), where))
        return out

    @staticmethod
    def _after_at(s: str, start: int) -> bool:
        am = _AT_BEFORE.search(s, max(0, start - 40), start)
        if not am:
            return False
        word = am.group(1)
        return word is None or am.group(2) == "AT" or word.lower().strip(".,:;!?") not in _AT_WORDS

    @staticmethod
    def _link(norm: Normalized, text: str, url: str, kind: Kind, start: int, where: Location) -> Link:
        end = start + len(text)
        if kind != "email" and norm.disguised(start, end):
            kind = "obfuscated"
        os_, oe = norm.span(start, end)
        return Link(norm.original[os_:oe], url, kind, where.with_offset(os_))
