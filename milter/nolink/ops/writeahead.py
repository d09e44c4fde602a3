"""The journal's write-ahead files: every decided row is handed to the kernel before Postfix hears
the answer, so a SIGKILL of nolink right after the answer loses no journal row.

One ``os.write`` of one JSON line to an ``O_APPEND`` file per decision (no fsync): once the call
returns the kernel has the bytes, and they survive the process being killed; they do not survive
a power loss or a kernel crash before the kernel writes them out (about 5-30 s: the dirty page
writeback of the machine, ``vm.dirty_expire_centisecs``). The SQLite writer drains the queue in
batches as before; the rows also in these files are replayed at the next start (rows already in
the database, by Ref and time, are skipped).

Two files, ``<journal.path>.pending.0`` and ``.1``, so that neither grows: the milter appends to
the current one; after a batch is committed the writer switches the milter to the other (which
it has emptied) and empties the first once every row appended to it is in the database.
The files are locked (flock) by the one process that uses them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import Any


class WriteAhead:
    """The two files. append() is the milter's (under the journal's put lock); the rest is the writer's."""

    def __init__(self, path: str, columns: tuple[str, ...]) -> None:
        self.paths = (f"{path}.pending.0", f"{path}.pending.1")
        self.columns = columns
        # the names of the columns, before the rows that follow it in a file: a row is a bare JSON
        # array (json.dumps of a tuple: ~9 us; of a dict by name ~30), and still replays after an
        # upgrade that added a column
        self.header = json.dumps({"columns": list(columns)}).encode() + b"\n"
        self.fds = [self._open(p) for p in self.paths]
        try:
            fcntl.flock(self.fds[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise
        self.cur = 0
        os.write(self.fds[0], self.header)

    @staticmethod
    def _open(path: str) -> int:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    @staticmethod
    def line(row: tuple[Any, ...]) -> bytes:
        """One row as one line, its values in the order of the header above it."""
        return json.dumps(row).encode() + b"\n"

    def append(self, line: bytes) -> None:
        """One write syscall; raises OSError (a full disk) for the caller to count."""
        os.write(self.fds[self.cur], line)

    def swap(self) -> None:
        """The milter appends to the other file from now on (the caller holds the put lock)."""
        self.cur ^= 1
        with contextlib.suppress(OSError):  # a full disk: the rows are then by the current columns
            os.write(self.fds[self.cur], self.header)

    def clear(self, which: int) -> None:
        """Empty one file (every row in it is in the database); reopen it if it was deleted."""
        path = self.paths[which]
        try:
            same = os.path.samestat(os.fstat(self.fds[which]), os.stat(path))
        except OSError:
            same = False
        if not same:
            fd = self._open(path)
            old, self.fds[which] = self.fds[which], fd
            if which == 0:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.close(old)
        os.ftruncate(self.fds[which], 0)

    def sizes(self) -> tuple[int, int]:
        return (os.fstat(self.fds[0]).st_size, os.fstat(self.fds[1]).st_size)

    def recovered(self) -> tuple[list[dict[str, Any]], int]:
        """The rows left by the last run (both files, oldest first) and the number of torn lines."""
        rows: list[dict[str, Any]] = []
        torn = 0
        for path in self.paths:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            columns: list[str] = list(self.columns)
            for raw in data.splitlines():
                try:
                    v = json.loads(raw)
                except ValueError:
                    torn += 1  # a line cut by a power loss
                    continue
                if isinstance(v, dict) and isinstance(v.get("columns"), list):
                    columns = [str(c) for c in v["columns"]]
                    continue
                d = dict(zip(columns, v, strict=False)) if isinstance(v, list) else {}
                if len(d) == len(columns) == len(v) and "ref" in d and "time" in d:
                    rows.append(d)
                else:
                    torn += 1
        rows.sort(key=lambda d: float(d["time"]))
        return rows, torn

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
