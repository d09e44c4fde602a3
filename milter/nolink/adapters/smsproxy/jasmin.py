"""Jasmin's HTTP API: GET or POST /send, read the way Jasmin reads it; other paths pass through.

- the arguments come from the query and a form body (the first value of each name counts);
- ``content`` is the text (UTF-8 after URL decoding), or ``hex-content`` its bytes in hex, not both;
- ``coding`` 8 is UCS-2 (the bytes are UTF-16BE); 0, 1, 3 and the others are read as UTF-8 when
  they are, else one character per byte, so an ASCII link shows in any case.

Refusals are Jasmin's own forms: ``Error "..."`` as text/plain, 400 for a request that cannot be
read (as Jasmin answers bad arguments; also a path that looks like /send but is not exactly it), 403 for a text with a link (as a refused authorisation),
500 when the upstream cannot be reached or nolink fails (as "Cannot send submit_sm").
"""

from __future__ import annotations

import binascii

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

PATH = "/send"
STATUS: dict[Refusal, int] = {
    "link": 403,
    "option": 403,
    "unreadable": 400,
    "too_large": 400,
    "upstream": 500,
    "error": 500,
    "busy": 500,
}


class Jasmin:
    name = "jasmin"

    def __init__(self, refuse_fields: tuple[str, ...] = ()) -> None:
        self.refuse_fields = refuse_fields

    def read(self, req: Request) -> Sms | None:
        if req.path.rstrip("/") != PATH:
            if "send" in req.path.lower() or "%" in req.path or "//" in req.path or "/." in req.path:
                raise Unreadable(f"nolink reads Jasmin's {PATH}, not {req.path[:60]!r}")
            return None  # /balance, /rate, /ping: nothing is sent
        pairs = form_pairs(req.query.encode("latin-1"), "query")
        if req.method == "POST":
            kind, _ = req.content_type
            if kind not in ("application/x-www-form-urlencoded", "") and req.body:
                raise Unreadable(f"Jasmin's /send takes form arguments, not {kind[:40]!r}")
            pairs += form_pairs(req.body, "body")
        content = first(pairs, "content")
        hexed = first(pairs, "hex-content")
        if content is not None and hexed is not None:
            raise Unreadable("content and hex-content are both given; send one")
        coding_raw = (first(pairs, "coding") or b"0").decode("latin-1").strip()
        if not coding_raw.isdigit():
            raise Unreadable(f"coding = {coding_raw[:10]!r} is not a number")
        coding = int(coding_raw)
        if hexed is not None:
            try:
                data = binascii.unhexlify(hexed.strip())
            except (binascii.Error, ValueError):
                raise Unreadable("hex-content is not hexadecimal of even length") from None
        else:
            data = content or b""
        if coding == 8:
            if hexed is not None:
                if len(data) % 2:
                    raise Unreadable("hex-content with coding=8 (UCS-2) has an odd number of bytes")
                text = decode(data, "utf-16-be", "hex-content")
            else:
                text = decode(data, "utf-8", "content")
        else:
            text = utf8_or_latin1(data)
        sender = (first(pairs, "from") or b"").decode("utf-8", "replace")
        to = [t for t in (first(pairs, "to") or b"").split(b",") if t.strip()]
        return Sms(text, sender, len(to), set_options(list(pairs), self.refuse_fields))

    def refuse(self, refusal: Refusal, message: str) -> Answer:
        body = 'Error "' + message.replace('"', "'") + '"'
        return Answer(STATUS[refusal], "text/plain", body.encode("utf-8"))
