"""What every dialect shares: the request as it came, the SMS read from it, the refusals."""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Literal, Protocol

Refusal = Literal["link", "option", "unreadable", "too_large", "upstream", "error", "busy"]
HOP_BY_HOP = frozenset(
    ("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding")
)
FALSE_VALUES = frozenset(("", "0", "false", "no", "off", "none", "null"))


class Unreadable(Exception):
    """A send request the proxy cannot read as the gateway would: it is refused, never forwarded
    unchecked (unless sms_proxy.on_error = "forward")."""

    def __init__(self, message: str, refusal: Refusal = "unreadable") -> None:
        super().__init__(message)
        self.refusal: Refusal = refusal


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request as the sender wrote it: forwarded byte for byte when clean."""

    method: str
    target: str  # path and query, as sent
    headers: tuple[tuple[str, str], ...]  # (name as sent, value), in order
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]

    def header(self, name: str) -> str | None:
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return None

    @property
    def content_type(self) -> tuple[str, dict[str, str]]:
        """("application/x-www-form-urlencoded", {"charset": "utf-8"}) from Content-Type."""
        raw = self.header("content-type") or ""
        kind, *params = raw.split(";")
        out = {}
        for p in params:
            k, _, v = p.strip().partition("=")
            out[k.strip().lower()] = v.strip().strip('"')
        return kind.strip().lower(), out


@dataclass(frozen=True, slots=True)
class Sms:
    """One send request as the gateway reads it: the whole text, decoded, before it is split."""

    text: str
    sender: str = ""
    recipients: int = 1
    options: tuple[str, ...] = ()  # the refuse_fields the request sets


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class Dialect(Protocol):
    name: str

    def read(self, req: Request) -> Sms | None:
        """The SMS in a send request; None: not a send request (forwarded as it is); raises
        Unreadable for a send request the proxy cannot read."""

    def refuse(self, refusal: Refusal, message: str) -> Answer:
        """The gateway's own error answer for a refused request."""


_PCT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def unquote(raw: bytes) -> bytes:
    """Percent-decoding of bytes in which every '%' starts a %XX escape (form_pairs makes sure):
    binascii's quoted-printable decoder does it in C, once each '=' is written "=3D" and each '%'
    "=" (same result as urllib.parse.unquote_to_bytes, a tenth of the time on a UCS-2 text)."""
    if b"%" not in raw:
        return raw
    return binascii.a2b_qp(raw.replace(b"=", b"=3D").replace(b"%", b"="))


def form_pairs(raw: bytes, what: str) -> list[tuple[str, bytes]]:
    """application/x-www-form-urlencoded pairs, values as bytes ('+' is a space). A '%' not
    followed by two hex digits is refused: gateways decode it each their own way."""
    if _PCT.search(raw):
        raise Unreadable(f"malformed percent-encoding in the {what}")
    out = []
    for part in raw.split(b"&"):
        if not part:
            continue
        k, _, v = part.partition(b"=")
        name = unquote(k.replace(b"+", b" ")).decode("utf-8", "replace")
        out.append((name, unquote(v.replace(b"+", b" "))))
    return out


def first(pairs: list[tuple[str, bytes]], name: str) -> bytes | None:
    """The first value of a parameter: what Kannel (http_cgi_variable) and Jasmin (args[0]) use."""
    for k, v in pairs:
        if k == name:
            return v
    return None


def norm_field(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def set_options(names: list[tuple[str, object]], refuse_fields: tuple[str, ...]) -> tuple[str, ...]:
    """The refuse_fields among (name, value) pairs that are set to something true."""
    wanted = {norm_field(f) for f in refuse_fields}
    out = []
    for name, value in names:
        if norm_field(name) not in wanted or value is None or value is False:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and value.strip().lower() in FALSE_VALUES:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            continue
        out.append(name)
    return tuple(out)


def decode(data: bytes, charset: str, what: str) -> str:
    """Bytes in a named charset, strictly: unknown charsets and bytes not in it are refused."""
    try:
        return data.decode(charset)
    except LookupError:
        raise Unreadable(f"{what}: unknown charset {charset!r}") from None
    except UnicodeDecodeError as e:
        raise Unreadable(f"{what}: not valid {charset} at byte {e.start}") from None


def utf8_or_latin1(data: bytes) -> str:
    """8-bit data: UTF-8 when it is, else one character per byte (so ASCII links still show)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")
