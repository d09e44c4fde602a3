"""Kannel's smsbox: GET or POST /cgi-bin/sendsms, read the way smsbox reads it.

- GET: CGI variables, the first of each name counts (http_cgi_variable); POST (text/plain,
  text/html or application/octet-stream, as smsbox takes them): the body is the text and the
  variables come from the X-Kannel-* headers (X-Kannel-To, X-Kannel-Coding, ...) and the query,
  the charset from Content-Type. Other POST bodies are refused, as smsbox refuses them.
- ``coding``: 0 (default, 7-bit), 1 (8-bit data), 2 (UCS-2). ``charset`` names the text's charset;
  without it the text is UTF-8, or UTF-16BE bytes when coding is 2 (Kannel's defaults).
- ``udh``: its first byte must be its length (smsbox refuses it otherwise). A UDH with a
  concatenation element means the sender split the message itself: the proxy would see one part
  only, so the request is refused (let Kannel split: leave out udh and send the whole text).
- other paths (sendota carries WAP settings with URLs, xmlrpc) are refused, not passed through.

Refusals are smsbox's own forms: a plain status line of text, 403 for a text with a link (as
"Not routable. Do not try again."), 400 for a request that cannot be read, 503 ("Temporal
failure, try again later.") when the upstream cannot be reached or nolink fails.
"""

from __future__ import annotations

import re

from .common import (
    Answer,
    Refusal,
    Request,
    Sms,
    Unreadable,
    decode,
    first,
    form_pairs,
    set_options,
    utf8_or_latin1,
)

PATH = "/cgi-bin/sendsms"
STATUS: dict[Refusal, int] = {
    "link": 403,
    "option": 403,
    "unreadable": 400,
    "too_large": 413,
    "upstream": 503,
    "error": 503,
    "busy": 503,
}
_INT = re.compile(rb"\s*([+-]?\d+)")
# smsbox's own reply headers (sendsms_reply_hdrs), as Kannel 1.4.5 sends them
HEADERS = (("Content-type", "text/html"), ("Pragma", "no-cache"), ("Cache-Control", "no-cache"))
POST_TYPES = ("text/plain", "text/html", "application/octet-stream")
HEADER_VARS = {
    "x-kannel-username": "username",
    "x-kannel-password": "password",
    "x-kannel-from": "from",
    "x-kannel-to": "to",
    "x-kannel-udh": "udh",
    "x-kannel-coding": "coding",
    "x-kannel-mclass": "mclass",
}


def _int(value: bytes | None, name: str) -> int:
    """sscanf("%d"): leading digits count, the rest is ignored; absent is 0."""
    if value is None or value == b"":
        return 0
    m = _INT.match(value)
    if not m:
        raise Unreadable(f"{name} = {value[:20]!r} is not a number")
    return int(m.group(1))


def concatenated(udh: bytes) -> bool:
    """True when a UDH holds a concatenation element (IEI 0x00 or 0x08)."""
    i = 1
    while i + 1 < len(udh):
        iei, n = udh[i], udh[i + 1]
        if iei in (0x00, 0x08):
            return True
        i += 2 + n
    return False


class Kannel:
    name = "kannel"

    def __init__(self, refuse_fields: tuple[str, ...] = ()) -> None:
        self.refuse_fields = refuse_fields

    def read(self, req: Request) -> Sms | None:
        if req.path != PATH:
            raise Unreadable(f"nolink passes only {PATH} to Kannel, not {req.path[:60]!r}")
        pairs = form_pairs(req.query.encode("latin-1"), "query")
        kind, params = req.content_type
        charset_header = params.get("charset")
        if req.method == "POST":
            if kind in ("text/xml", "application/xml"):
                raise Unreadable("nolink does not read Kannel's XML sendsms; send GET or a text/plain POST")
            if kind not in POST_TYPES:  # smsbox 1.4.5 answers 400 "Invalid content-type" too
                raise Unreadable(f"Invalid content-type {kind[:40]!r}: smsbox takes text/plain")
            else:  # the body is the text, the rest in X-Kannel-* headers (which come first)
                head = [
                    (HEADER_VARS[k.lower()], v.encode("latin-1"))
                    for k, v in req.headers
                    if k.lower() in HEADER_VARS
                ]
                pairs = [*head, *[p for p in pairs if p[0] != "text"], ("text", req.body)]
        elif req.method != "GET":
            raise Unreadable(f"smsbox takes GET or POST, not {req.method[:10]}")
        text = first(pairs, "text") or b""
        udh = first(pairs, "udh")
        coding = _int(first(pairs, "coding"), "coding")
        charset_var = first(pairs, "charset")
        charset = charset_var.decode("latin-1") if charset_var else charset_header
        if udh:
            if udh[0] + 1 != len(udh):
                raise Unreadable("UDH field misformed: its first byte is not its length")
            if concatenated(udh):
                raise Unreadable(
                    "the UDH makes this one part of a longer message, which nolink cannot check as a "
                    "whole; leave out udh and send the whole text (Kannel splits it)"
                )
        if coding == 2:
            if charset and charset.upper().replace("_", "-") not in ("UTF-16BE", "UCS-2", "UCS-2BE"):
                body = decode(text, charset, "text")
            else:
                if len(text) % 2:
                    raise Unreadable("text with coding=2 (UCS-2) has an odd number of bytes")
                body = decode(text, "utf-16-be", "text")
        elif coding in (0, 1):
            body = (
                decode(text, charset or "utf-8", "text") if coding == 0 or charset else utf8_or_latin1(text)
            )
        else:
            raise Unreadable(f"coding = {coding}: Kannel knows 0 (7-bit), 1 (8-bit) and 2 (UCS-2)")
        sender = (first(pairs, "from") or b"").decode("utf-8", "replace")
        to = (first(pairs, "to") or b"").split()
        return Sms(body, sender, len(to), set_options(list(pairs), self.refuse_fields))

    def refuse(self, refusal: Refusal, message: str) -> Answer:
        return Answer(STATUS[refusal], "text/html", message.encode("utf-8"), HEADERS)
