"""iCalendar (.ics, text/calendar) and vCard (.vcf): lines unfolded, vCard 2.1 quoted-printable and
base64 values decoded with their CHARSET, value escapes (`\\n`, `\\,`) undone, then every value and
parameter a calendar or address book shows is text to search. URL-valued properties (URL, SOURCE,
TZURL, CONFERENCE, ATTACH and PHOTO/LOGO/SOUND given by reference) and URI parameters (ALTREP, DIR)
are URLs; embedded binary values are children (ATTACH) or pictures (PHOTO, LOGO).
"""

from __future__ import annotations

import base64
import binascii
import re

from ..decode import decode_bytes
from ._out import Out, at, named
from .base import Budget, Extracted, param

_URL_PROPS = frozenset(
    ("URL", "SOURCE", "TZURL", "CONFERENCE", "ATTACH", "PHOTO", "LOGO", "SOUND", "IMAGE", "KEY")
)
_URI_PARAMS = frozenset(("ALTREP", "DIR"))
_NO_TEXT = frozenset(
    (
        "BEGIN",
        "END",
        "VERSION",
        "PRODID",
        "UID",
        "DTSTAMP",
        "DTSTART",
        "DTEND",
        "DUE",
        "CREATED",
        "LAST-MODIFIED",
        "SEQUENCE",
        "TZID",
        "TZOFFSETFROM",
        "TZOFFSETTO",
        "RRULE",
        "EXDATE",
        "RDATE",
        "REV",
        "METHOD",
        "CALSCALE",
        "TRANSP",
        "STATUS",
        "CLASS",
        "PRIORITY",
        "BDAY",
        "ANNIVERSARY",
        "GEO",
        "TZ",
        "RECURRENCE-ID",
        "DURATION",
        "TRIGGER",
        "ACTION",
    )
)
_PARAM = re.compile(r';([A-Za-z0-9-]+)(?:=("[^"]*"|[^;:]*))?')
_NAME = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)")
MAX_LINES = 100_000


def logical_lines(text: str) -> list[str]:
    """Unfold (RFC 5545 / 6350: a line break followed by a space or tab continues the line), and
    join vCard 2.1 quoted-printable soft breaks (a line ending in "=")."""
    raw = re.split(r"\r\n|\n|\r", text)
    out: list[str] = []
    for line in raw[:MAX_LINES]:
        if out and line[:1] in (" ", "\t"):
            out[-1] += line[1:]
        elif out and out[-1].endswith("=") and "QUOTED-PRINTABLE" in out[-1].split(":", 1)[0].upper():
            out[-1] = out[-1][:-1] + line
        else:
            out.append(line)
    return out


def _unescape(value: str) -> str:
    return re.sub(r"\\([nN,;:\\])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def parse(
    data: bytes, where: str = "", charset: str | None = None, budget: Budget | None = None
) -> Extracted:
    out = Out()
    text = decode_bytes(data, charset)
    components: list[str] = []
    found: list[str] = []
    for line in logical_lines(text):
        head, sep, value = _split(line)
        if not sep:
            continue
        m = _NAME.match(head)
        if not m:
            continue
        name = m.group(1).upper()
        params: dict[str, str] = {}
        for pm in _PARAM.finditer(head[m.end() :]):
            key = pm.group(1).upper()
            v = (pm.group(2) or "").strip('"')
            if pm.group(2) is None:  # vCard 2.1 bare parameter: ";QUOTED-PRINTABLE", ";JPEG"
                key, v = ("ENCODING", key) if key in ("QUOTED-PRINTABLE", "BASE64", "B") else ("TYPE", key)
            params[key] = v
        if name == "BEGIN":
            components.append(value.strip().upper())
            continue
        if name == "END":
            if components:
                components.pop()
            continue
        loc = at(where, " ".join([*components[-1:], name]))
        encoding = params.get("ENCODING", "").upper()
        if encoding in ("B", "BASE64"):
            try:
                blob = base64.b64decode(re.sub(r"\s", "", value) + "===", validate=False)
            except (binascii.Error, ValueError):
                out.cannot("unparseable", f"{name} value is not base64", loc)
                continue
            if name in ("PHOTO", "LOGO"):
                out.image(blob, loc)
            else:
                out.child(
                    blob, params.get("FILENAME", params.get("X-FILENAME", "")), params.get("FMTTYPE", ""), loc
                )
            continue
        if encoding == "QUOTED-PRINTABLE":
            value = decode_bytes(
                binascii.a2b_qp(value.encode("utf-8", "surrogateescape")), params.get("CHARSET") or None
            )
        for key, v in params.items():
            if key in _URI_PARAMS:
                out.url(v, at(loc, key))
            elif key in ("CN", "LABEL", "X-NAME"):
                found.append(v)
        value = _unescape(value)
        by_reference = params.get("VALUE", "").upper() not in ("BINARY", "TEXT")
        if name in _URL_PROPS and by_reference and _is_uri(value):
            out.url(value, loc)
            continue
        if name in _NO_TEXT or name.startswith("X-MS-OLK-") or name.startswith("X-WR-TIMEZONE"):
            continue
        # Outlook's X-ALT-DESC and RFC 9073 STYLED-DESCRIPTION carry HTML: read as HTML (its
        # xmlns and DOCTYPE are no links)
        out.text(value, loc, html=params.get("FMTTYPE", "").lower() == "text/html")
    if found:
        out.text("\n".join(found), at(where, "names"))
    return out.done()


def _is_uri(value: str) -> bool:
    v = value.strip().lower()
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", v)) and not v.startswith(("cid:", "data:", "mailto:"))


def _split(line: str) -> tuple[str, str, str]:
    """NAME;PARAM="a:b":value -> (NAME;PARAM="a:b", ":", value): a colon inside quotes is a parameter's."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch == ":" and not quoted:
            return line[:i], ":", line[i + 1 :]
    return line, "", ""


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", param(declared, "charset") or None, budget), name)
