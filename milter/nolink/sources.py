"""Messages from paths: .eml files, directories (recursive), mbox files, Maildir folders, stdin.

mbox files are streamed line by line: a 100,000-message mbox is never held in memory, only one
message at a time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

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
