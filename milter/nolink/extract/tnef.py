"""TNEF (`winmail.dat`, `application/ms-tnef`): what Outlook wraps a message in for other Exchange
clients. Read: subject, plain body, HTML body and RTF body (compressed RTF, read as RTF) from the
message attributes and MAPI properties; every attachment (its data or its MAPI attachment object)
as a child with its long file name; an attached message (an embedded TNEF stream) in place.

Why our own reader and not tnefparse: tnefparse was last released in 2021 and needs a second
package for compressed RTF; the format is a flat list of attributes plus MAPI property lists,
about a hundred lines to read, and the compressed-RTF decoder is shared with .msg (rtf.decompress).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..decode import decode_bytes
from . import office, rtf
from ._out import Out, at, named
from .base import Budget, Extracted

SIGNATURE = 0x223E9F78
MAX_ATTRIBUTES = 100_000
MAX_NESTED = 10
# attribute ids (low 16 bits of the attribute tag)
_SUBJECT, _BODY, _MAPI, _REND, _ADATA, _ATITLE, _ATTACH, _CODEPAGE = (
    0x8004,
    0x800C,
    0x9003,
    0x9002,
    0x800F,
    0x8010,
    0x9005,
    0x9007,
)
# MAPI property ids
PR_SUBJECT, PR_BODY, PR_HTML, PR_RTF_COMPRESSED = 0x0037, 0x1000, 0x1013, 0x1009
PR_ATTACH_DATA, PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME, PR_ATTACH_MIME = 0x3701, 0x3707, 0x3704, 0x370E
PR_ATTACH_LONG_PATHNAME, PR_ATTACH_PATHNAME = 0x370D, 0x3708
_FIXED = {0x0001: 4, 0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4, 0x000B: 4}
_FIXED |= {0x0014: 8, 0x0040: 8, 0x0048: 16, 0x0000: 4}
_VARIABLE = frozenset((0x001E, 0x001F, 0x0102, 0x000D))


class TnefError(ValueError):
    """Bytes that are not a TNEF stream as written."""


@dataclass
class _Attachment:
    title: str = ""
    data: bytes = b""
    props: dict[int, list[bytes | str]] = field(default_factory=dict)


def mapi_props(data: bytes, codepage: str) -> dict[int, list[bytes | str]]:
    """A MAPI property list (attMAPIProps, attAttachment): property id -> its values."""
    out: dict[int, list[bytes | str]] = {}
    (count,) = struct.unpack_from("<I", data, 0)
    pos = 4
    for _ in range(min(count, 10_000)):
        ptype, pid = struct.unpack_from("<HH", data, pos)
        pos += 4
        if pid >= 0x8000:  # named property: GUID, then an id or a name
            (kind,) = struct.unpack_from("<I", data, pos + 16)
            pos += 20
            if kind == 0:
                pos += 4
            else:
                (n,) = struct.unpack_from("<I", data, pos)
                pos += 4 + n + (-n % 4)
        base = ptype & 0x0FFF
        multi = bool(ptype & 0x1000)
        values: list[bytes | str] = []
        if base in _VARIABLE:
            (nvals,) = struct.unpack_from("<I", data, pos)
            pos += 4
            for _ in range(min(nvals, 10_000)):
                (n,) = struct.unpack_from("<I", data, pos)
                raw = data[pos + 4 : pos + 4 + n]
                if len(raw) < n:
                    raise TnefError("property value runs past the end")
                pos += 4 + n + (-n % 4)
                if base == 0x001F:
                    values.append(raw.decode("utf-16-le", "replace").rstrip("\x00"))
                elif base == 0x001E:
                    values.append(_string8(raw.rstrip(b"\x00"), codepage))
                else:
                    values.append(raw)
        elif base in _FIXED:
            nvals = 1
            if multi:
                (nvals,) = struct.unpack_from("<I", data, pos)
                pos += 4
            size = _FIXED[base]
            pos += min(nvals, 10_000) * (size + (-size % 4))
        else:
            raise TnefError(f"unknown MAPI property type {ptype:#x}")
        out[pid] = values
    return out


def _string8(raw: bytes, codepage: str) -> str:
    if codepage:
        try:
            return raw.decode(codepage)
        except (UnicodeDecodeError, LookupError):
            pass
    return decode_bytes(raw)


def _first_text(props: dict[int, list[bytes | str]], pid: int) -> str:
    for v in props.get(pid, []):
        return v if isinstance(v, str) else decode_bytes(v)
    return ""


def _first_bytes(props: dict[int, list[bytes | str]], pid: int) -> bytes:
    for v in props.get(pid, []):
        return v if isinstance(v, bytes) else v.encode("utf-8")
    return b""


def read(data: bytes, where: str, out: Out, depth: int = 0, budget: Budget | None = None) -> None:
    (sig,) = struct.unpack_from("<I", data, 0)
    if sig != SIGNATURE:
        raise TnefError("no TNEF signature")
    pos = 6  # signature, legacy key
    codepage = ""
    message: dict[int, list[bytes | str]] = {}
    subject = body = ""
    attachments: list[_Attachment] = []
    n = 0
    while pos + 9 <= len(data):
        n += 1
        if n > MAX_ATTRIBUTES:
            raise TnefError("too many attributes")
        level = data[pos]
        tag, size = struct.unpack_from("<II", data, pos + 1)
        value = data[pos + 9 : pos + 9 + size]
        if len(value) < size:
            raise TnefError("attribute runs past the end")
        pos += 9 + size + 2  # value, checksum
        aid = tag & 0xFFFF
        if aid == _CODEPAGE and len(value) >= 4:
            codepage = f"cp{struct.unpack_from('<I', value, 0)[0]}"
        elif level == 1 and aid == _SUBJECT:
            subject = _string8(value.rstrip(b"\x00"), codepage)
        elif level == 1 and aid == _BODY:
            body = _string8(value.rstrip(b"\x00"), codepage)
        elif level == 1 and aid == _MAPI:
            message = mapi_props(value, codepage)
        elif aid == _REND:
            attachments.append(_Attachment())
        elif level == 2 and attachments:
            a = attachments[-1]
            if aid == _ATITLE:
                a.title = _string8(value.rstrip(b"\x00"), codepage)
            elif aid == _ADATA:
                a.data = value
            elif aid == _ATTACH:
                a.props = mapi_props(value, codepage)
    out.text(subject or _first_text(message, PR_SUBJECT), at(where, "subject"))
    out.text(body or _first_text(message, PR_BODY), at(where, "body"))
    html = _first_bytes(message, PR_HTML)
    if html:
        out.text(decode_bytes(html), at(where, "html body"), html=True)
    compressed = _first_bytes(message, PR_RTF_COMPRESSED)
    if compressed:
        try:
            out.add(rtf.parse(rtf.decompress(compressed, budget), at(where, "rtf body")))
        except rtf.CompressedRtfError as e:
            out.cannot("unparseable", f"RTF body: {e}", at(where, "rtf body"))
    for i, a in enumerate(attachments, 1):
        loc = at(where, f"attachment {i}")
        name = (
            _first_text(a.props, PR_ATTACH_LONG_FILENAME)
            or a.title
            or _first_text(a.props, PR_ATTACH_FILENAME)
        )
        mime = _first_text(a.props, PR_ATTACH_MIME)
        obj = _first_bytes(a.props, PR_ATTACH_DATA)
        if a.data:
            out.child(a.data, name, mime, loc)
        elif obj[16:20] == struct.pack("<I", SIGNATURE):  # IID, then an attached message as TNEF
            if depth >= MAX_NESTED:
                out.cannot("too_deep", f"messages nested deeper than {MAX_NESTED} in TNEF", loc)
            else:
                read(obj[16:], at(loc, "message"), out, depth + 1, budget)
        elif obj:
            out.child(obj[16:] if len(obj) > 16 else obj, name, mime, loc)
        else:  # attached by reference: a path, or a web address for a cloud attachment
            for pid in (PR_ATTACH_LONG_PATHNAME, PR_ATTACH_PATHNAME):
                office.target(_first_text(a.props, pid), out, at(loc, "reference"))


def parse(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    out = Out()
    try:
        read(data, where, out, 0, budget)
    except (TnefError, struct.error) as e:
        out.cannot("unparseable", f"damaged TNEF (winmail.dat): {e}", where)
    return out.done()


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)
