"""Messages from paths: .eml files, directories (recursive), mbox files, Maildir folders, stdin.

mbox files are streamed line by line: a 100,000-message mbox is never held in memory, only one
message at a time.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

MAX_MESSAGE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    name: str  # path, or "path:index" inside an mbox (1-based), or "-" for stdin
    data: bytes


def is_maildir(p: Path) -> bool:
    return all((p / d).is_dir() for d in ("cur", "new", "tmp"))


def read_mbox(path: Path) -> Iterator[Item]:
    """Split an mbox on "From " lines (mboxo/mboxrd: ">From " is unescaped)."""
    index = 0
    buf: list[bytes] = []
    size = 0
    prev_blank = True
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b"From ") and prev_blank:
                if index:
                    yield Item(f"{path}:{index}", b"".join(buf))
                index += 1
                buf, size = [], 0
            elif index:
                if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
                    line = line[1:]
                size += len(line)
                if size <= MAX_MESSAGE_BYTES:
                    buf.append(line)
            prev_blank = line in (b"\n", b"\r\n")
    if index:
        yield Item(f"{path}:{index}", b"".join(buf))


def read_file(path: Path) -> Iterator[Item]:
    try:
        with path.open("rb") as f:
            head = f.read(5)
            data = None if head == b"From " else head + f.read()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if data is None:
        yield from read_mbox(path)  # streamed, one message at a time
    else:
        yield Item(str(path), data)


MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF-", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive or Office document"),
    (b"\x1f\x8b", "a gzip file"),
    (b"\x7fELF", "a program (ELF)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"BZh", "a bzip2 file"),
    (b"\xfd7zXZ", "an xz file"),
)
_HEADER = re.compile(rb"[!-9;-~]+[ \t]*:")


def sniff_not_mail(data: bytes) -> str:
    """What a file is when it is not a mail message ("a PNG image"), or "" when it may be one: a
    message starts with a header field ("Name: value"), possibly after an mbox "From " line."""
    for magic, what in MAGIC:
        if data.startswith(magic):
            return what
    first = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")[:1000].split(b"\n", 1)[0]
    if not data.strip():
        return "an empty file"
    if first.startswith(b"From ") or _HEADER.match(first):
        return ""
    return "no header at its start"


# Header fields every real message has at least one of (RFC 5322 origination/destination fields,
# MIME, trace fields): text "Note: see www.x.go.th" parses as a header block, but has none of them.
MAIL_FIELDS = frozenset(
    (b"from", b"to", b"cc", b"bcc", b"subject", b"date", b"message-id", b"sender", b"reply-to",
     b"mime-version", b"content-type", b"received", b"return-path", b"delivered-to")
)  # fmt: skip


def lacks_mail_headers(data: bytes) -> bool:
    """True when the header block names none of MAIL_FIELDS: plain text, not a message (scan reads it
    as one, and a link in a made-up "header" is then not where a mail client would show it)."""
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")
    if head.startswith(b"From "):
        return False  # an mbox separator: a message follows
    end = re.search(rb"\r?\n\r?\n", head)
    block = head[: end.start()] if end else head
    for line in block.splitlines():
        m = _HEADER.match(line)
        if m and line[: m.end()].rstrip(b": \t").lower() in MAIL_FIELDS:
            return False
    return True


def count_messages(paths: list[str]) -> int | None:
    """How many messages the paths hold, when that is known without reading them: .eml files,
    directories and Maildirs; None when one is an mbox (or stdin), which is read as it streams."""
    total = 0
    for arg in paths:
        if arg == "-":
            return None
        p = Path(arg)
        if p.is_file():
            files = [p]
        elif is_maildir(p):
            files = [p / d / n for d in ("cur", "new") for n in os.listdir(p / d) if (p / d / n).is_file()]
        elif p.is_dir():
            files = [Path(r) / n for r, _, names in os.walk(p) for n in names]
        else:
            continue  # reported when it is read
        for f in files:
            try:
                with f.open("rb") as fh:
                    if fh.read(5) == b"From ":
                        return None
            except OSError:
                pass
        total += len(files)
    return total


def iter_path(arg: str) -> Iterator[Item]:
    if arg == "-":
        yield Item("-", sys.stdin.buffer.read())
        return
    p = Path(arg)
    if not p.exists():
        raise InputError(f"{arg}: no such file or directory")
    if p.is_file():
        yield from read_file(p)
        return
    if is_maildir(p):
        for sub in ("cur", "new"):
            for name in sorted(os.listdir(p / sub)):
                f = p / sub / name
                if f.is_file():
                    yield from read_file(f)
        return
    for root, dirs, files in os.walk(p):
        dirs.sort()
        for name in sorted(files):
            yield from read_file(Path(root) / name)
