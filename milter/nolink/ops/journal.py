"""The decision journal: one SQLite row per decided citizen-bound message, written off the hot path.

What a row keeps is listed in COLUMNS: no message bodies, no recipient addresses, no full URLs
(the first link as scheme://host only). Out-of-scope messages are only counted, per day, listener
and reason. Rows older than journal.retention_days are deleted.

The milter calls Journal.decided(), which appends the row to a write-ahead file (one write
syscall, see writeahead.py), puts a tuple on a bounded queue and returns; a writer thread writes
the queue in batches. A failed batch is kept and retried; a deleted or replaced file is reopened
(nolink_journal_reopened_total). A full queue is dropped and counted (nolink_journal_dropped_total),
failures are logged and counted (nolink_journal_errors_total); none delays or loses mail.
"""

from __future__ import annotations

import datetime
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, JournalConfig
from ..errors import NolinkError
from ..policy import Decision, safe, sample
from ..scope import Envelope, domain_of
from .writeahead import WriteAhead

log = logging.getLogger("nolink")
DEFAULT_PATH = JournalConfig().path

COLUMNS = (
    "time",  # unix seconds
    "ref",
    "queue_id",
    "listener",  # the Postfix {daemon_name}
    "action",  # what the policy said (in dry_run: what would have been done)
    "applied",  # what happened
    "mode",
    "reason",
    "location",  # the first finding's location ("1 text/plain body @12")
    "category",  # its closed-set name (subject, header, text_plain, text_html, html_attribute, attachment)
    "kind",
    "sample",  # scheme://host of the first finding
    "findings",
    "dkim_result",
    "dkim_domain",
    "dkim_selector",
    "dkim_reason",
    "sender_domain",
    "rcpt_domains",  # number of citizen recipient domains (never the domains or addresses)
    "size",
    "ms",
    "version",
    "config_digest",
    "exceptions",  # names of the [[exceptions]] used, comma-separated
    "channel",  # "mail", or "sms" (the SMS proxy: sender_domain holds the sender name, rcpt_domains the recipients)
)

# Each step brings a journal from version N-1 to N; a journal is migrated on open.
MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE decisions (
  id INTEGER PRIMARY KEY,
  time REAL NOT NULL, ref TEXT NOT NULL, queue_id TEXT NOT NULL DEFAULT '', listener TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL, applied TEXT NOT NULL, mode TEXT NOT NULL, reason TEXT NOT NULL,
  location TEXT NOT NULL DEFAULT '', category TEXT NOT NULL DEFAULT '', kind TEXT NOT NULL DEFAULT '',
  sample TEXT NOT NULL DEFAULT '', findings INTEGER NOT NULL DEFAULT 0,
  dkim_result TEXT NOT NULL DEFAULT '', dkim_domain TEXT NOT NULL DEFAULT '',
  dkim_selector TEXT NOT NULL DEFAULT '', dkim_reason TEXT NOT NULL DEFAULT '',
  sender_domain TEXT NOT NULL DEFAULT '', rcpt_domains INTEGER NOT NULL DEFAULT 0,
  size INTEGER NOT NULL DEFAULT 0, ms REAL NOT NULL DEFAULT 0,
  version TEXT NOT NULL DEFAULT '', config_digest TEXT NOT NULL DEFAULT '',
  exceptions TEXT NOT NULL DEFAULT ''
);
CREATE INDEX decisions_time ON decisions(time);
CREATE INDEX decisions_ref ON decisions(ref);
CREATE INDEX decisions_queue_id ON decisions(queue_id);
CREATE TABLE out_of_scope (
  day TEXT NOT NULL, listener TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (day, listener, reason)
);
""",
    2: """
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  time REAL NOT NULL, queue_id TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '',
  event TEXT NOT NULL, user TEXT NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_queue_id ON events(queue_id);
CREATE INDEX events_time ON events(time);
""",
    3: """
ALTER TABLE decisions ADD COLUMN channel TEXT NOT NULL DEFAULT 'mail';
""",
}
SCHEMA_VERSION = max(MIGRATIONS)


class JournalError(NolinkError):
    """The journal cannot be opened, read or written."""


def _version(conn: sqlite3.Connection) -> int:
    have = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if have > SCHEMA_VERSION:
        raise JournalError(
            f"the journal has schema version {have}, newer than this nolink knows ({SCHEMA_VERSION}): "
            "run the nolink version that wrote it, or give journal.path a new file"
        )
    return have


def _statements(script: str) -> list[str]:
    """A migration script cut into the statements sqlite3's execute() takes one at a time."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf)
            buf = ""
    if buf.strip():
        out.append(buf)
    return out


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the journal to SCHEMA_VERSION; returns the version it had.

    Under SQLite's write lock (BEGIN IMMEDIATE), with the version read again inside it: two
    processes opening a new journal at once (serve, serve --no-milter, a worker) migrate it once."""
    have = _version(conn)
    if have == SCHEMA_VERSION:
        return have
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = _version(conn)
        for version in range(have + 1, SCHEMA_VERSION + 1):
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return have


def connect(path: str, create: bool = True) -> sqlite3.Connection:
    """A read-write connection, the journal created and migrated if need be (WAL mode)."""
    p = Path(path)
    if create:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    elif not p.exists():
        raise JournalError(f"{path}: no journal there; is journal.path right (see nolink show-config)?")
    deadline = time.monotonic() + _OPEN_SECONDS
    pause = 0.005
    while True:
        conn = None
        try:
            conn = sqlite3.connect(path, timeout=_OPEN_SECONDS, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)
            return conn
        except sqlite3.OperationalError as e:
            if conn is not None:
                conn.close()
            # Switching a new file to WAL, or upgrading a read to a write lock, can answer "database
            # is locked" at once (SQLite skips its busy handler where waiting could deadlock) while
            # another process opens the same new journal: try again until the open time is up.
            if not _is_busy(e) or time.monotonic() >= deadline:
                raise JournalError(f"{path}: cannot open the journal: {e}") from None
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        except sqlite3.Error as e:
            if conn is not None:
                conn.close()
            raise JournalError(f"{path}: cannot open the journal: {e}") from None


_OPEN_SECONDS = 5.0


def _is_busy(e: sqlite3.Error) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def access_problem(path: str) -> str:
    """What keeps this user from reading the journal at path, with what to do; "" when nothing does.
    Walks down from / so the first directory the user cannot enter is the one named."""
    p = Path(os.path.abspath(path))
    for d in (*reversed(p.parents), p):
        is_file = d == p
        try:
            st = d.stat()
        except FileNotFoundError:
            return ""  # "no journal there" is said by the caller
        except PermissionError:
            continue  # its parent is named on the way down
        if not is_file and not os.access(d, os.R_OK | os.X_OK):
            return _denied(path, d, st, "enter the directory")
    for f in (p, Path(f"{p}-wal"), Path(f"{p}-shm")):
        with suppress(FileNotFoundError):
            st = f.stat()
            if not os.access(f, os.R_OK):
                return _denied(path, f, st, "read")
    return ""


def _denied(path: str, where: Path, st: os.stat_result, what: str) -> str:
    import grp
    import pwd
    import stat

    def name(get: Callable[[int], Any], n: int) -> str:
        try:
            return str(get(n)[0])
        except KeyError:
            return str(n)

    user = name(pwd.getpwuid, os.geteuid())
    group = name(grp.getgrgid, st.st_gid)
    owner = name(pwd.getpwuid, st.st_uid)
    mode = stat.filemode(st.st_mode)
    need = "g+rx" if stat.S_ISDIR(st.st_mode) else "g+r"
    return (
        f"{path}: permission denied: user {user} cannot {what} {where} (owner {owner}, group {group}, "
        f"{mode}). Run the command as root (sudo nolink ...), or as a member of group {group}: "
        f"sudo usermod -aG {group} {user}, then log in again"
        + (f"; the group also needs read access: sudo chmod {need} {where}" if not st.st_mode & 0o040 else "")
    )


def connect_ro(path: str) -> sqlite3.Connection:
    """A read-only connection for the tools (lookup, quarantine, report); never creates a file."""
    problem = access_problem(path)
    if problem:
        raise JournalError(problem)
    if not Path(path).exists():
        raise JournalError(f"{path}: no journal there; is journal.path right (see nolink show-config)?")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        have = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot read the journal: {e}") from None
    if have != SCHEMA_VERSION:
        conn.close()
        raise JournalError(
            f"{path}: journal schema version {have}, this nolink reads {SCHEMA_VERSION}: "
            "restart nolink serve (it migrates the journal on start)"
        )
    conn.row_factory = sqlite3.Row
    return conn


def row(d: Decision, env: Envelope, queue_id: str, size: int, seconds: float, cfg: Config) -> tuple[Any, ...]:
    """A decisions row (COLUMNS order) for one decided message."""
    f = d.finding
    dk = d.dkim
    sender = domain_of(env.sender) or (env.from_domains[0] if env.from_domains else "")
    return (
        time.time(),
        d.ref,
        safe(queue_id, 32),
        safe(env.daemon_name, 40),
        d.action,
        d.applied,
        d.mode,
        d.reason,
        safe(str(f.location), 160) if f else "",
        f.location.category if f else "",
        f.kind if f else "",
        sample(f) if f else "",
        d.findings,
        dk.result if dk else "",
        safe(dk.domain, 80) if dk else "",
        safe(dk.selector, 40) if dk else "",
        safe(dk.reason, 160) if dk else "",
        safe(sender, 80),
        d.citizen_domains,
        size,
        round(seconds * 1000, 2),
        __version__,
        cfg.digest,
        ",".join(d.exceptions),
        "mail",
    )


def sms_row(r: SmsRecord, cfg: Config) -> tuple[Any, ...]:
    """A decisions row (COLUMNS order) for one SMS decision of the SMS proxy: no text, no numbers."""
    return (
        time.time(),
        r.ref,
        "",
        safe(r.listener, 40),
        r.action,
        r.applied,
        cfg.mode,
        r.reason,
        "sms text" if r.kind else "",
        "sms_text" if r.kind else "",
        r.kind,
        safe(r.sample, 160),
        r.findings,
        "",
        "",
        "",
        "",
        safe(r.sender, 80),
        r.recipients,
        r.size,
        round(r.seconds * 1000, 2),
        __version__,
        cfg.digest,
        "",
        "sms",
    )


@dataclass(frozen=True, slots=True)
class SmsRecord:
    """What the journal keeps of one SMS decision (adapters/smsproxy)."""

    ref: str
    listener: str  # the proxy's dialect and port, e.g. "kannel:13013"
    action: str  # reject (a link, a refused option, an error) or accept
    applied: str
    reason: str  # link_found, clean, refused_option, error, upstream_error
    sender: str  # the sender name ("" when it is a phone number)
    recipients: int
    size: int  # bytes of the text as decoded (UTF-8)
    seconds: float
    kind: str = ""
    sample: str = ""  # scheme://host of the first link
    findings: int = 0


def day_of(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).date().isoformat()


_INSERT = f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_COUNT = (
    "INSERT INTO out_of_scope (day, listener, reason, count) VALUES (?, ?, ?, 1) "
    "ON CONFLICT (day, listener, reason) DO UPDATE SET count = count + 1"
)


@dataclass
class Stats:
    written: int = 0
    dropped: int = 0
    errors: int = 0
    reopened: int = 0
    recovered: int = 0  # rows of the last run found in the write-ahead files and written


_Item = tuple[Any, ...]  # (kind "d"/"o", row, in the write-ahead file); tests also pass (kind, row)
RETRY_MIN, RETRY_MAX = 0.25, 5.0  # seconds between tries of a batch that could not be written
GIVE_UP_AFTER = 3.0  # at close: seconds more of failed tries before what is left is given up


class Journal:
    """The writer thread and its bounded queue. decided() never blocks and never raises.

    A batch that cannot be written (a lock held elsewhere, a full disk) is kept and tried again;
    while it is, the queue fills and only what does not fit in journal.queue_size is dropped
    (counted). A journal file deleted or replaced is noticed at the next batch (its device and
    inode), reopened or created again, logged and counted; a batch committed while that happened
    is written again to the new file. Each row is also appended to a write-ahead file before the
    milter answers (writeahead.py), so a kill loses none; the next start replays them."""

    def __init__(
        self,
        path: str,
        retention_days: int = 400,
        queue_size: int = 10000,
        on_error: Callable[[], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
        batch: int = 500,
        prune_every: float = 3600.0,
        linger: float = 0.1,
        on_reopen: Callable[[], None] | None = None,
        write_ahead: bool = True,
    ) -> None:
        self.path = path
        self.retention = retention_days * 86400.0
        self.queue: queue.Queue[_Item | None] = queue.Queue(maxsize=queue_size)
        self.on_error = on_error or (lambda: None)
        self.on_drop = on_drop or (lambda n: None)
        self.on_reopen = on_reopen or (lambda: None)
        self.batch = batch
        self.prune_every = prune_every
        # after the first entry the writer waits this long for more before it writes: one wake-up
        # and one transaction per batch instead of per message (the milter's put() then finds no
        # waiting thread to wake; measured: a context switch per message saved at 400 msg/s)
        self.linger = linger
        self.write_ahead = write_ahead
        self.stats = Stats()
        self._conn: sqlite3.Connection | None = None
        self._ident: tuple[int, int] | None = None  # (device, inode) of the file _conn has open
        self._retry_at = 0.0
        self._pruned_at = 0.0
        self._last_log = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # the milter's side: one lock around "append to the write-ahead file, put on the queue",
        # so that the queue's order is the files' order and _seq counts both
        self._put_lock = threading.Lock()
        self._ahead: WriteAhead | None = None
        self._ahead_failed = False
        self._seq = 0  # entries put on the queue
        self._done = 0  # of those, written (the writer's)
        self._clear_at: int | None = None  # the other write-ahead file is emptied once _done >= this
        self._give_up_at = 0.0  # set by close(): stop retrying after this
        self._backlog: list[dict[str, Any]] = []  # the last run's rows, read by start()

    @classmethod
    def for_config(
        cls, cfg: JournalConfig, on_error: Any = None, on_drop: Any = None, on_reopen: Any = None
    ) -> Journal:
        """The journal of journal.path (journal.path = "": one that writes nothing)."""
        return cls(cfg.path, cfg.retention_days, cfg.queue_size, on_error, on_drop, on_reopen=on_reopen)

    # -- the milter's side -----------------------------------------------------------------------

    def decided(
        self, d: Decision, env: Envelope, queue_id: str, size: int, seconds: float, cfg: Config
    ) -> None:
        """Queue the journal entry for a final Decision (out-of-scope ones are only counted).
        A decided row is in the kernel (the write-ahead file) when this returns."""
        if not self.path:
            return
        try:
            if d.in_scope:
                r = row(d, env, queue_id, size, seconds, cfg)
                self._put("d", r, WriteAhead.line(r) if self._ahead is not None else b"")
            else:
                self._put("o", (day_of(time.time()), safe(env.daemon_name, 40), d.reason))
        except Exception:  # the journal never takes a message down with it
            log.exception("journal: cannot queue the entry for ref %s", d.ref)
            self._dropped(1)

    def sms(self, r: SmsRecord, cfg: Config) -> None:
        """Queue the journal entry for one SMS decision; never blocks, never raises. In the
        write-ahead file, as a mail decision is, before the proxy answers."""
        if not self.path:
            return
        try:
            row_ = sms_row(r, cfg)
            self._put("d", row_, WriteAhead.line(row_) if self._ahead is not None else b"")
        except Exception:
            log.exception("journal: cannot queue the entry for ref %s", r.ref)
            self._dropped(1)

    def _put(self, kind: str, r: tuple[Any, ...], line: bytes = b"") -> None:
        failed: OSError | None = None
        with self._put_lock:
            if self.queue.full():
                full = True
            else:
                full = False
                kept = False
                if line and self._ahead is not None:
                    try:
                        self._ahead.append(line)  # the one syscall: the kernel has the row now
                        kept = True
                    except OSError as e:
                        failed = e
                try:
                    self.queue.put_nowait((kind, r, kept))
                    self._seq += 1
                except queue.Full:  # close()'s marker took the last place
                    full = True
        if failed is not None:
            self._failed(f"journal: cannot append to the write-ahead file: {failed}")
        if full:
            self._dropped(1)
            self._complain(
                "journal: queue full (%d entries): entries are dropped; is the disk slow?", self.queue.maxsize
            )

    def _dropped(self, n: int) -> None:
        with self._lock:
            self.stats.dropped += n
        self.on_drop(n)

    def _complain(self, fmt: str, *args: object) -> None:
        """Log at most once a minute: a broken disk must not flood the log as well."""
        now = time.monotonic()
        if now - self._last_log >= 60 or self._last_log == 0.0:
            self._last_log = now
            log.error(fmt + " (%d dropped so far)", *args, self.stats.dropped)

    # -- the writer thread -------------------------------------------------------------------------

    def start(self) -> Journal:
        if not self.path:
            return self
        if self.write_ahead:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True, mode=0o750)
                self._ahead = WriteAhead(self.path, COLUMNS)
            except OSError as e:
                log.error(
                    "journal: no write-ahead file next to %s (%s): a kill of nolink loses the rows of "
                    "its last 0.1 s",
                    self.path,
                    e,
                )
                self._failed_quietly()
        # read before the first decided() appends: what the files hold now is the last run's
        self._backlog = self._recover()
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (for up to timeout seconds), then stop the thread."""
        if self._thread is None:
            return
        self._give_up_at = time.monotonic() + min(timeout, GIVE_UP_AFTER)
        with suppress(queue.Full):
            self.queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        backlog, self._backlog = self._backlog, []
        pending: list[_Item] = []
        stop = False
        pause = RETRY_MIN
        self._maybe_prune()
        while True:
            if backlog:
                ok = self._replay(backlog)
                if ok:
                    backlog = []
            elif not pending:
                if stop:
                    break
                try:
                    item = self.queue.get(timeout=1.0)
                except queue.Empty:
                    self._maybe_prune()
                    continue
                if item is not None and self.linger > 0 and self.queue.qsize() < self.batch:
                    time.sleep(self.linger)
                while item is not None:
                    pending.append(item)
                    if len(pending) >= self.batch:
                        break
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                stop = item is None
                continue
            else:
                ok = self.write(pending)
                if ok:
                    self._done += len(pending)
                    pending = []
            if ok:
                pause = RETRY_MIN
                self._rotate()
                self._maybe_prune()
                continue
            if self._give_up_at and time.monotonic() >= self._give_up_at:
                self._give_up(backlog, pending)
                break
            time.sleep(pause)  # the batch is kept: a lock held elsewhere, a full disk, a fixed file
            pause = min(pause * 2, RETRY_MAX)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._ahead is not None:
            with self._put_lock:
                a, self._ahead = self._ahead, None  # a late decided() now only queues
                if not backlog and not pending and self.queue.empty():
                    with suppress(OSError):  # all of it is in the database
                        a.clear(0)
                        a.clear(1)
                a.close()

    def _give_up(self, backlog: list[dict[str, Any]], pending: list[_Item]) -> None:
        """close() ran out of time with the journal failing: what is in a write-ahead file waits
        for the next start; the rest is dropped and counted."""
        rest = list(pending)
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                rest.append(item)
        kept = len(backlog) + sum(1 for it in rest if len(it) > 2 and it[2])
        lost = len(rest) - (kept - len(backlog))
        if lost:
            self._dropped(lost)
        log.error(
            "journal: %s still cannot be written at stop: %d entries kept in the write-ahead files "
            "for the next start, %d dropped",
            self.path,
            kept,
            lost,
        )

    def _recover(self) -> list[dict[str, Any]]:
        """The rows the last run left in the write-ahead files (replayed before anything new)."""
        if self._ahead is None:
            return []
        rows, torn = self._ahead.recovered()
        if torn:
            log.warning("journal: %d torn lines in the write-ahead files skipped (a power loss?)", torn)
        sizes = self._ahead.sizes()
        if sizes[1]:
            self._clear_at = 0  # the milter appends to file 0: file 1 is emptied once these are in
        elif sizes[0]:
            with self._put_lock:
                self._ahead.swap()
            self._clear_at = 0
        return rows

    def _replay(self, rows: list[dict[str, Any]]) -> bool:
        """Write the last run's rows that are not in the database yet (by Ref and time)."""
        conn = self._connection()
        if conn is None:
            return False
        n = 0
        try:
            with _transaction(conn):
                for d in rows:
                    if conn.execute(
                        "SELECT 1 FROM decisions WHERE ref = ? AND time = ?", (d["ref"], d["time"])
                    ).fetchone():
                        continue
                    cols = [c for c in COLUMNS if c in d]
                    conn.execute(
                        f"INSERT INTO decisions ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [d[c] for c in cols],
                    )
                    n += 1
        except sqlite3.Error as e:
            self._broken(
                conn, f"journal: {self.path}: cannot write the {len(rows)} rows of the last run: {e}"
            )
            return False
        with self._lock:
            self.stats.recovered += n
        if n:
            log.warning(
                "journal: %d decisions of the last run were not in %s (it was killed): written from "
                "the write-ahead files",
                n,
                self.path,
            )
        return True

    def _rotate(self) -> None:
        """After a commit: empty the write-ahead file whose rows are all written, then switch the
        milter to it, so that neither file grows."""
        a = self._ahead
        if a is None:
            return
        if self._clear_at is not None and self._done >= self._clear_at:
            try:
                a.clear(a.cur ^ 1)
            except OSError as e:
                self._failed(f"journal: cannot empty the write-ahead file: {e}")
                return
            self._clear_at = None
        if self._clear_at is None:
            with self._put_lock:
                a.swap()
                self._clear_at = self._seq

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is not None:
            moved = self._moved()
            if moved:
                self._reopen(moved)
        if self._conn is None and time.monotonic() >= self._retry_at:
            try:
                self._conn = connect(self.path)
                st = os.stat(self.path)
                self._ident = (st.st_dev, st.st_ino)
            except (JournalError, OSError) as e:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._retry_at = time.monotonic() + 2.0
                self._failed(f"journal: {e}")
        return self._conn

    def _moved(self) -> str:
        """ "deleted" or "replaced" when journal.path is no longer the file the connection has open."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "deleted"
        except OSError:
            return ""  # cannot tell: the write says
        if self._ident is None:  # a connection handed in (tests): the file it has is this one
            self._ident = (st.st_dev, st.st_ino)
        return "" if (st.st_dev, st.st_ino) == self._ident else "replaced"

    def _reopen(self, why: str) -> None:
        with self._lock:
            self.stats.reopened += 1
        self.on_reopen()
        log.error(
            "journal: %s was %s while nolink had it open: opened again at that path (rows written "
            "before are in the old file only)",
            self.path,
            why,
        )
        if self._conn is not None:
            with suppress(sqlite3.Error):
                # into the old file, and the -wal beside journal.path emptied: SQLite does not
                # delete it once the database is renamed or gone, and the new file would read it
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._ident = None
        self._retry_at = 0.0

    def _failed(self, what: str) -> None:
        self._failed_quietly()
        self._complain("%s", what)

    def _failed_quietly(self) -> None:
        with self._lock:
            self.stats.errors += 1
        self.on_error()

    def _broken(self, conn: sqlite3.Connection, what: str) -> None:
        self._failed(what)
        with suppress(sqlite3.Error):
            conn.close()
        self._conn = None  # reopen on the next try: the disk may have been freed or fixed

    def write(self, items: list[_Item]) -> bool:
        """Write one batch in one transaction; False (nothing dropped: the caller tries again) on
        failure. Written again to the new file if journal.path was deleted or replaced meanwhile."""
        for _ in range(3):
            conn = self._connection()
            if conn is None:
                return False
            try:
                with _transaction(conn):
                    conn.executemany(_INSERT, [it[1] for it in items if it[0] == "d"])
                    conn.executemany(_COUNT, [it[1] for it in items if it[0] == "o"])
            except sqlite3.Error as e:
                self._broken(conn, f"journal: {self.path}: cannot write {len(items)} entries: {e}")
                return False
            moved = self._moved()
            if not moved:
                with self._lock:
                    self.stats.written += len(items)
                return True
            self._reopen(moved)  # committed to a file no longer there: write it to the new one
        return False

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if self._pruned_at and now - self._pruned_at < self.prune_every:
            return
        conn = self._connection()
        if conn is None:
            return
        self._pruned_at = now
        try:
            prune(conn, time.time() - self.retention)
        except sqlite3.Error as e:
            self._failed(f"journal: {self.path}: cannot delete old entries: {e}")


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def prune(conn: sqlite3.Connection, before: float) -> int:
    """Delete what is older than `before` (unix time); returns the number of decisions deleted."""
    with _transaction(conn):
        n = conn.execute("DELETE FROM decisions WHERE time < ?", (before,)).rowcount
        conn.execute("DELETE FROM out_of_scope WHERE day < ?", (day_of(before),))
        conn.execute("DELETE FROM events WHERE time < ?", (before,))
    return int(n)


def record_event(path: str, queue_id: str, ref: str, event: str, user: str, reason: str) -> None:
    """An operator's action on a held message (release, delete), written at once."""
    conn = connect(path, create=False)
    try:
        with _transaction(conn):
            conn.execute(
                "INSERT INTO events (time, queue_id, ref, event, user, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), queue_id, ref, event, user, reason),
            )
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot record the {event} of {queue_id}: {e}") from None
    finally:
        conn.close()
    _same_owner(path)


def _same_owner(path: str) -> None:
    """The tools often run as root: leave the -wal/-shm files to the journal's owner (nolink)."""
    try:
        st = os.stat(path)
        for suffix in ("-wal", "-shm"):
            p = path + suffix
            if os.path.exists(p) and os.geteuid() == 0:
                os.chown(p, st.st_uid, st.st_gid)
    except OSError:
        pass
