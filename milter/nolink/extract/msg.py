"""Outlook .msg files (an OLE compound file of MAPI properties): subject, plain body, HTML body,
RTF body (compressed RTF, read as RTF), and attachments as children; an attached message
(`__substg1.0_3701000D` storage) is read in place, to any depth the budget allows.

Why olefile directly and not extract-msg: extract-msg pulls in a dozen packages (RTF and HTML
converters, beautifulsoup, ebcdic tables) to produce formatted output we do not need; the property
streams are named by their MAPI tags, so reading the few that a reader sees is a short function.
"""

from __future__ import annotations

import io
from typing import Any

from ..decode import decode_bytes
from . import office, rtf
from ._out import Out, at, named
from .base import Budget, Extracted

MAX_NESTED = 10
_SUBJECT, _BODY, _HTML, _RTF = "0037", "1000", "1013", "1009"
_ATTACH_DATA, _ATTACH_LONG, _ATTACH_SHORT, _ATTACH_MIME, _ATTACH_DISPLAY = (
    "3701",
    "3707",
    "3704",
    "370E",
    "3001",
)
_ATTACH_LONG_PATH, _ATTACH_PATH = "370D", "3708"  # attached by reference


def _prop(ole: Any, prefix: str, tag: str) -> bytes | str | None:
    """One property of the message or attachment at prefix: text for string types, bytes for binary."""
    for kind in ("001F", "001E", "0102"):
        path = f"{prefix}__substg1.0_{tag}{kind}"
        if ole.exists(path):
            try:
                raw: bytes = ole.openstream(path).read()
            except Exception:
                return None
            if kind == "001F":
                return raw.decode("utf-16-le", "replace").rstrip("\x00")
            if kind == "001E":
                return decode_bytes(raw.rstrip(b"\x00"))
            return raw
    return None


def _text(v: bytes | str | None) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else decode_bytes(v)


def _message(ole: Any, prefix: str, where: str, out: Out, depth: int, budget: Budget | None) -> None:
    out.text(_text(_prop(ole, prefix, _SUBJECT)), at(where, "subject"))
    body = _text(_prop(ole, prefix, _BODY))
    html = _prop(ole, prefix, _HTML)
    out.text(body, at(where, "body"))
    if html:
        out.text(_text(html), at(where, "html body"), html=True)
    compressed = _prop(ole, prefix, _RTF)
    if isinstance(compressed, bytes) and compressed:
        try:
            out.add(rtf.parse(rtf.decompress(compressed, budget), at(where, "rtf body")))
        except rtf.CompressedRtfError as e:
            out.cannot("unparseable", f"RTF body: {e}", at(where, "rtf body"))
    storages = sorted(
        {
            e[len(prefix.split("/")) - 1]
            for e in ole.listdir(streams=True, storages=True)
            if "/".join(e).startswith(prefix)
            and len(e) >= len(prefix.split("/"))
            and e[len(prefix.split("/")) - 1].startswith("__attach_version1.0_#")
        }
    )
    for n, storage in enumerate(storages, 1):
        _attachment(ole, f"{prefix}{storage}/", at(where, f"attachment {n}"), out, depth, budget)


def _attachment(ole: Any, prefix: str, where: str, out: Out, depth: int, budget: Budget | None) -> None:
    name = _text(_prop(ole, prefix, _ATTACH_LONG)) or _text(_prop(ole, prefix, _ATTACH_SHORT))
    name = name or _text(_prop(ole, prefix, _ATTACH_DISPLAY))
    mime = _text(_prop(ole, prefix, _ATTACH_MIME)) or "application/octet-stream"
    data = _prop(ole, prefix, _ATTACH_DATA)
    if isinstance(data, bytes):
        out.child(data, name, mime, where)
        return
    inner = f"{prefix}__substg1.0_{_ATTACH_DATA}000D/"
    if not ole.exists(inner.rstrip("/")):
        # attached by reference (a path or, for a cloud attachment, a web address): the path is
        # what Outlook opens
        for tag in (_ATTACH_LONG_PATH, _ATTACH_PATH):
            office.target(_text(_prop(ole, prefix, tag)), out, at(where, "reference"))
        return
    if ole.exists(f"{inner}__properties_version1.0") or any(
        "/".join(e).startswith(f"{inner}__substg1.0_") for e in ole.listdir()
    ):
        if depth >= MAX_NESTED:
            out.cannot("too_deep", f"messages nested deeper than {MAX_NESTED} in a .msg", where)
            return
        _message(ole, inner, at(where, "message"), out, depth + 1, budget)
        return
    for leaf in ("\x01Ole10Native", "Package", "CONTENTS"):
        if ole.exists(inner + leaf):
            out.child(ole.openstream(inner + leaf).read(), name or leaf, "application/octet-stream", where)
            return
    out.cannot("unparseable", f"embedded OLE object {name!r} in a .msg", where)


def from_ole(ole: Any, where: str = "", budget: Budget | None = None) -> Extracted:
    out = Out()
    _message(ole, "", where, out, 0, budget)
    return out.done()


def parse(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    import olefile

    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception as e:
        out = Out()
        out.cannot("unparseable", f"unreadable .msg file ({type(e).__name__})", where)
        return out.done()
    try:
        return from_ole(ole, where, budget)
    except Exception as e:
        out = Out()
        out.cannot("unparseable", f"unreadable .msg file ({type(e).__name__})", where)
        return out.done()
    finally:
        ole.close()


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)
