"""Walk a message: every header block and every leaf part, numbered as IMAP numbers them.

Nested message/rfc822 parts are entered (their own headers are a header block); multipart nesting
is bounded by max_depth. The walk uses an explicit stack, so depth never meets Python's recursion
limit.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message

from .decode import decode_bytes, header_text, not_base64, transfer_decode

_RAW_BYTE = re.compile("[\udc80-\udcff]")  # raw 8-bit header bytes, kept by the parser as surrogates


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    number: str  # "" for the message itself, "2" for the message/rfc822 in part 2
    message: Message


@dataclass(frozen=True, slots=True)
class Leaf:
    number: str
    content_type: str
    filename: str
    charset: str | None
    data: bytes  # transfer-decoded
    base: str  # Content-Base / Content-Location, for relative HTML links
    also: tuple[bytes, ...] = ()  # other plausible bodies: as written, when "base64" is plainly not
    declared: str = ""  # the Content-Type header as written, with its parameters


@dataclass(frozen=True, slots=True)
class TooDeep:
    number: str
    limit: int


# message/* types Python's parser would read as a message although the body is not one as written
# (base64 or quoted-printable), or is not a whole message at all (a piece of one, a pointer to one).
LEAF_MESSAGE_TYPES = frozenset(("message/partial", "message/external-body"))


class _Part(Message):
    """A Message whose encoded or special message/* bodies stay leaves for the scanner to decode.

    Python's parser takes any message/* body for an RFC 822 message before the transfer encoding
    is undone: a base64 forwarded message becomes a message with no headers and a body of base64
    letters, and the links inside it pass unseen. The parser asks get_content_maintype() whether to
    do this; for those parts the answer is "application", so the body is kept as written and
    mime.walk yields it as a Leaf (content type still message/...) that the scanner decodes and walks.
    """

    def get_content_maintype(self) -> str:
        ctype = self.get_content_type()
        if ctype.startswith("message/") and ctype != "message/delivery-status":
            cte = str(self.get("Content-Transfer-Encoding", "")).strip().lower()
            if ctype in LEAF_MESSAGE_TYPES or cte in ("base64", "quoted-printable"):
                return "application"
        return super().get_content_maintype()


# A header line as the feed parser recognises one (email.feedparser.headerRE), and a line ending.
_HEADER_LINE = re.compile(rb"(?:From |[\041-\071\073-\176]*:|[\t ])")
_BLANK_LINE = re.compile(rb"\n\r?\n")
# (not "message" alone: every DKIM-signed letter names its Message-ID header in "h=", and the
# full parse of its body line by line was a third of the scan of a 10 KiB letter)
_STRUCTURED = re.compile(rb"multipart|message/", re.I)


def _header_block(head: bytes) -> _Part | None:
    """The header block as the feed parser reads it, when it reads it without a defect; None
    otherwise. head: lines that each match _HEADER_LINE, each with its line end (no CR alone).

    The feed parser took 36 us for the 17 header lines of a DKIM-signed letter, line by line
    through its generator machinery; the lines are joined and stored here as it does (the
    policy's own header_source_parse and set_raw).
    """
    policy = email.policy.compat32
    msg = _Part(policy=policy)
    current: list[str] = []
    for raw in head.decode("ascii", "surrogateescape").split("\n")[:-1]:
        line = raw + "\n"
        if line[0] in " \t":
            if not current:
                return None  # a continuation first: a defect
            current.append(line)
            continue
        if current:
            msg.set_raw(*policy.header_source_parse(current))
        if line.startswith("From "):
            return None  # an envelope line: the parser's own rules
        if line.find(":") <= 0:
            return None  # no name: a defect
        current = [line]
    if current:
        msg.set_raw(*policy.header_source_parse(current))
    return msg


def parse(data: bytes) -> Message:
    """The message as email's compat32 parser reads it.

    Fast path for a single-part message: the feed parser handles the body line by line (about 1 us
    a line: a third of the scan of a 50 KB base64 letter) only to join the lines again as the
    payload. When the header block is plain (every line a header, ended by an empty line, no CR-only
    line endings) and names no multipart or message type, only the headers are parsed and the body
    becomes the payload as it is, which is what the full parse gives.
    """
    m = _BLANK_LINE.search(data)
    if m is not None:
        head = data[: m.start() + 1]
        if not _STRUCTURED.search(head) and b"\r" not in head.replace(b"\r\n", b""):
            lines = head.split(b"\n")[:-1]
            # (a "From " line after the first: the parser takes the last one for the body's first
            # line, which the header-only parse would lose, links and all)
            if (
                lines
                and all(_HEADER_LINE.match(x) for x in lines)
                and not lines[0][:1].isspace()
                and not any(x.startswith(b"From ") for x in lines[1:])
            ):
                msg = _header_block(head)
                if msg is not None and not msg.get_content_type().startswith(("multipart/", "message/")):
                    # the bytes themselves, which raw_payload returns as they are: the full
                    # parse's str holds them as surrogate escapes, and decoding 10 KiB of Thai so
                    # only to encode it back cost 45 us of a letter's 600 (set_payload would
                    # decode them: the attribute raw_payload reads is set directly)
                    msg._payload = data[m.end() :]  # type: ignore[attr-defined]
                    return msg
    return email.message_from_bytes(data, _class=_Part, policy=email.policy.compat32)


def raw_payload(part: Message) -> bytes:
    """The part's body bytes as they were on the wire.

    Message.get_payload() would re-decode 8-bit bodies with the declared charset; the stored
    payload still holds the original bytes as surrogate escapes.
    """
    payload = getattr(part, "_payload", None)
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        try:
            return payload.encode("ascii", "surrogateescape")
        except UnicodeEncodeError:  # a payload set from Python text, not parsed from bytes
            return payload.encode("utf-8", "surrogateescape")
    return b""


def _safe(call: object, default: str = "") -> str:
    try:
        v = call() if callable(call) else call
    except Exception:
        return default
    return v if isinstance(v, str) else default


def _raw_utf8_param(part: Message, header: str, param: str) -> str | None:
    """A parameter of a header sent in raw 8-bit (RFC 6532: filename="แบบฟอร์ม.pdf" in UTF-8, no
    encoding): the parser keeps its bytes as surrogates, which get_param turns into U+FFFD. The
    header's bytes are decoded first (UTF-8, else like a body), then its parameters read. None when
    the header is plain ASCII (get_param reads it as it is) or has no such parameter."""
    raw = next((v for k, v in part.raw_items() if k.lower() == header), None)
    if not isinstance(raw, str) or not _RAW_BYTE.search(raw):
        return None
    data = raw.encode("ascii", "surrogateescape")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = decode_bytes(data)
    one = Message()
    one[header] = text
    value = one.get_param(param, None, header)
    if value is None:
        return None
    if isinstance(value, tuple):
        value = value[2]
    return header_text(str(value))


def filename(part: Message) -> str:
    """The part's file name as a client shows it (RFC 2231 and RFC 2047 decoded); never raises.

    Message.get_filename() raises when an RFC 2231 name is in a charset Python cannot decode with
    (idna, undefined, a NUL in the name); then the raw bytes are decoded like a body instead.
    """
    for header, param in (("content-disposition", "filename"), ("content-type", "name")):
        try:
            raw8 = _raw_utf8_param(part, header, param)
            if raw8 is not None:
                return raw8
            value = part.get_param(param, None, header)
        except Exception:
            continue
        if value is None:
            continue
        if isinstance(value, tuple):  # RFC 2231: (charset, language, %-decoded value as latin-1)
            cs, _lang, text = value
            raw = str(text).encode("latin-1", "replace")
            return header_text(decode_bytes(raw, str(cs) if cs else "utf-8"))
        return header_text(str(value))
    return ""


def leaf(part: Message, number: str) -> Leaf:
    ctype = _safe(part.get_content_type, "text/plain").lower()
    name = filename(part)
    charset = _safe(part.get_content_charset) or None
    cte = _safe(lambda: str(part.get("Content-Transfer-Encoding", "")))
    base = _safe(lambda: str(part.get("Content-Base") or part.get("Content-Location") or "")).strip()
    raw = raw_payload(part)
    also = (raw,) if cte.strip().lower() == "base64" and not_base64(raw) else ()
    declared = header_text(_safe(lambda: str(part.get("Content-Type", "")))).strip()
    return Leaf(number, ctype, name, charset, transfer_decode(raw, cte), base, also, declared)


_BOUNDARY_LINE = re.compile(rb"^--([^\r\n]{1,200}?)[ \t]*\r?\n(?=[A-Za-z][A-Za-z0-9-]*:)", re.M)


def recover_multipart(part: Message) -> Message | None:
    """A multipart whose declared boundary never occurs: split it on the boundary actually used.

    Mail clients are this lenient, so links hidden behind a wrong boundary are still seen.
    """
    raw = raw_payload(part)
    m = _BOUNDARY_LINE.search(raw)
    if not m:
        return None
    boundary = m.group(1).decode("ascii", "replace").replace('"', "")
    ctype = _safe(part.get_content_type, "multipart/mixed")
    head = f'Content-Type: {ctype}; boundary="{boundary}"\r\n\r\n'.encode()
    sub = parse(head + raw)
    return sub if sub.is_multipart() else None


def walk(msg: Message, max_depth: int, number: str = "") -> Iterator[HeaderBlock | Leaf | TooDeep]:
    """Yield the header block of msg, then its parts in document order."""
    yield HeaderBlock(number, msg)
    # (part, number, depth, is a message body whose single part is numbered N.1)
    stack: list[tuple[Message, str, int, bool]] = [(msg, number, 0, True)]
    while stack:
        part, num, depth, is_body = stack.pop()
        if depth > max_depth:
            yield TooDeep(num, max_depth)
            continue
        # get_payload() of a leaf decodes it with its declared charset, which may raise (idna)
        payload = part.get_payload() if part.is_multipart() else getattr(part, "_payload", None)
        if isinstance(payload, list):
            ctype = _safe(part.get_content_type, "").lower()
            if ctype.startswith("message/"):
                for sub in reversed(payload):
                    if isinstance(sub, Message):
                        yield HeaderBlock(num, sub)
                        stack.append((sub, num, depth + 1, True))
                continue
            prefix = f"{num}." if num else ""
            children = [p for p in payload if isinstance(p, Message)]
            for i in range(len(children) - 1, -1, -1):
                stack.append((children[i], f"{prefix}{i + 1}", depth + 1, False))
            continue
        if isinstance(payload, str) and _safe(part.get_content_type, "").lower().startswith("multipart/"):
            fixed = recover_multipart(part)
            if fixed is not None:
                stack.append((fixed, num, depth, is_body))
                continue
        if is_body:
            num = f"{num}.1" if num else "1"
        yield leaf(part, num)
