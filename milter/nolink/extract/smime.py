"""S/MIME: opaque signed data (`application/pkcs7-mime; smime-type=signed-data`, `.p7m`) is unwrapped
and its content scanned as a MIME entity; compressed data (RFC 3274) is inflated and scanned the
same way; enveloped (encrypted) data is unscannable ("encrypted"). A detached signature
(`application/pkcs7-signature`) holds only certificates: it needs nothing (the signed part beside
it is scanned as any other part).

Why asn1crypto: a pure-Python CMS parser (BER and DER, indefinite lengths as Outlook writes them)
that gives the encapsulated content directly; the `cryptography` package signs and verifies PKCS#7
but has no API that returns the content of an opaque signed message.
"""

from __future__ import annotations

import zlib

from ._out import Out, named
from .base import Budget, Extracted

_ENCRYPTED = frozenset(
    ("enveloped_data", "encrypted_data", "authenticated_data", "authenticated_enveloped_data")
)


def parse(data: bytes, where: str = "", budget: Budget | None = None) -> Extracted:
    from asn1crypto import cms

    out = Out()
    try:
        info = cms.ContentInfo.load(data)
        kind = info["content_type"].native
        if kind in _ENCRYPTED:
            out.cannot("encrypted", "encrypted S/MIME message", where)
            return out.done()
        if kind == "signed_data":
            content = info["content"]["encap_content_info"]["content"]
            inner = content.native if content is not None else None
            if isinstance(inner, bytes) and inner:
                out.child(inner, "", "message/rfc822", "signed content")
            return out.done()  # detached: the signed content is the sibling part
        if kind == "compressed_data":
            packed = info["content"]["encap_content_info"]["content"].native
            limit = budget.bytes_left() if budget is not None else 100_000_000
            z = zlib.decompressobj()
            inner = z.decompress(packed, limit + 1)
            if len(inner) > limit or (budget is not None and not budget.take_bytes(len(inner))):
                out.cannot("budget", budget.bytes_note() if budget else "too large", where)
                return out.done()
            out.child(inner, "", "message/rfc822", "compressed content")
            return out.done()
        if kind == "data":
            out.child(info["content"].native, "", "message/rfc822", "content")
            return out.done()
        out.cannot("unsupported", f"S/MIME content of type {kind}", where)
    except Exception as e:
        out.cannot("unparseable", f"unreadable S/MIME data ({type(e).__name__})", where)
    return out.done()


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return named(parse(data, "", budget), name)
