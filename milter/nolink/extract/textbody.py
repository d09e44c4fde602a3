"""Text bodies as a mail client shows them before the text finder reads them:

- ``format=flowed`` (RFC 3676): soft line breaks (a line ending in a space) joined, with
  ``delsp=yes`` the space deleted too, so a URL the sender's client broke over two lines comes back
  whole; quote depth and space-stuffing respected.
- ``text/enriched`` (RFC 1896): formatting commands removed, ``<<`` unescaped, its line-break rule
  applied; ``<param>`` contents (colours, fonts) are not text.
- an OpenPGP-encrypted block (``-----BEGIN PGP MESSAGE-----``, also the body of a
  ``multipart/encrypted`` message) is unscannable ("encrypted"), as encrypted S/MIME is; signed
  text (``BEGIN PGP SIGNED MESSAGE``) is read as it is.
- uuencoded blocks (``begin 644 name`` ... ``end``) inside a text body: decoded into children
  (a mail client shows them as attachments) and taken out of the text.
"""

from __future__ import annotations

import binascii
import re

from ._out import Out
from .base import Budget, Extracted, media_type, param

_UU_BLOCK = re.compile(r"^begin(?:-base64)? [0-7]{3,4} ([^\r\n]+)\r?\n(.*?)^end[ \t\r]*$", re.M | re.S)
_ENRICHED_PARAM = re.compile(r"<param>.*?</param>", re.I | re.S)
_ENRICHED_TAG = re.compile(r"<<|</?[A-Za-z0-9-]{1,60}>")
_PGP_ENCRYPTED = re.compile(r"^-----BEGIN PGP MESSAGE-----\r?$", re.M)
MAX_UU_BLOCKS = 100


def unflow(text: str, delsp: bool) -> str:
    out: list[str] = []
    prev_flowed = False
    prev_depth = -1
    for line in re.split(r"\r\n|\n", text):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if prev_flowed and depth == prev_depth and out:
            out[-1] += content
        else:
            out.append(">" * depth + (" " if depth else "") + content)
        prev_flowed, prev_depth = flowed, depth
    return "\n".join(out)


def enriched(text: str) -> str:
    text = _ENRICHED_PARAM.sub("", text)
    text = _ENRICHED_TAG.sub(lambda m: "<" if m.group() == "<<" else "", text)
    # n consecutive newlines stand for n-1 line breaks; a single one is a space
    return re.sub(
        r"\r?\n(?:\r?\n)*",
        lambda m: " " if m.group().count("\n") == 1 else "\n" * (m.group().count("\n") - 1),
        text,
    )


def uudecode(block: str) -> bytes:
    out = bytearray()
    for line in block.splitlines():
        if not line or line in ("`", " "):
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            n = (ord(line[0]) - 32) & 63  # lines with trailing garbage: decode what the length says
            try:
                out += binascii.a2b_uu(line[: 1 + ((n + 2) // 3) * 4])
            except binascii.Error:
                continue
    return bytes(out)


def read(text: str, declared: str, budget: Budget | None = None) -> Extracted:
    """Pieces of one decoded text body (declared: its Content-Type with parameters)."""
    out = Out()
    ctype = media_type(declared)
    if ctype in ("text/enriched", "text/richtext"):
        text = enriched(text)
    if param(declared, "format").lower() == "flowed":
        text = unflow(text, param(declared, "delsp").lower() == "yes")
    if "begin " in text:
        blocks = 0

        def child(m: re.Match[str]) -> str:
            nonlocal blocks
            blocks += 1
            if blocks > MAX_UU_BLOCKS:
                return m.group()
            data = uudecode(m.group(2))
            if budget is not None and not budget.take_bytes(len(data)):
                out.cannot("budget", budget.bytes_note(), f"uuencoded {m.group(1).strip()}")
            else:
                out.child(data, m.group(1).strip(), "", f"uuencoded {m.group(1).strip()}")
            return "\n"

        text = _UU_BLOCK.sub(child, text)
    # (the literal first: a substring search; the regex read every line start of a letter)
    if "-----BEGIN PGP MESSAGE-----" in text and _PGP_ENCRYPTED.search(text):
        # what the citizen's client decrypts and shows cannot be read here
        out.cannot("encrypted", "OpenPGP-encrypted message", "")
    out.text(text, "")
    return out.done()
