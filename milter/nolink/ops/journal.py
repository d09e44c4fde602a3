"""The decision journal: one SQLite row per decided citizen-bound message, written off the hot path.

What a row keeps is listed in COLUMNS: no message bodies, no recipient addresses, no full URLs
(the first link as scheme://host only). Out-of-scope messages are only counted, per day, listener
and reason. Rows older than journal.retention_days are deleted.

The milter calls Journal.decided(), which puts a tuple on a bounded queue and returns; a writer
thread writes the queue in batches. A full queue, a full disk or a broken database is logged and
counted (nolink_journal_dropped_total, nolink_journal_errors_total) and never delays or loses mail.
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


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the journal to SCHEMA_VERSION; returns the version it had."""
    have = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if have > SCHEMA_VERSION:
        raise JournalError(
            f"the journal has schema version {have}, newer than this nolink knows ({SCHEMA_VERSION}): "
            "run the nolink version that wrote it, or give journal.path a new file"
        )
    for version in range(have + 1, SCHEMA_VERSION + 1):
        # executescript commits first; the whole step and its version number are one transaction
        conn.executescript(f"BEGIN;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version};\nCOMMIT;")
    return have


def connect(path: str, create: bool = True) -> sqlite3.Connection:
    """A read-write connection, the journal created and migrated if need be (WAL mode)."""
    p = Path(path)
    if create:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    elif not p.exists():
        raise JournalError(f"{path}: no journal there; is journal.path right (see nolink show-config)?")
    try:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot open the journal: {e}") from None
    return conn


def connect_ro(path: str) -> sqlite3.Connection:
    """A read-only connection for the tools (lookup, quarantine, report); never creates a file."""
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


class Journal:
    """The writer thread and its bounded queue. decided() never blocks and never raises."""

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
    ) -> None:
        self.path = path
        self.retention = retention_days * 86400.0
        self.queue: queue.Queue[tuple[str, tuple[Any, ...]] | None] = queue.Queue(maxsize=queue_size)
        self.on_error = on_error or (lambda: None)
        self.on_drop = on_drop or (lambda n: None)
        self.batch = batch
        self.prune_every = prune_every
        # after the first entry the writer waits this long for more before it writes: one wake-up
        # and one transaction per batch instead of per message (the milter's put() then finds no
        # waiting thread to wake; measured: a context switch per message saved at 400 msg/s)
        self.linger = linger
        self.stats = Stats()
        self._conn: sqlite3.Connection | None = None
        self._retry_at = 0.0
        self._pruned_at = 0.0
        self._last_log = 0.0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, cfg: JournalConfig, on_error: Any = None, on_drop: Any = None) -> Journal:
        """The journal of journal.path (journal.path = "": one that writes nothing)."""
        return cls(cfg.path, cfg.retention_days, cfg.queue_size, on_error, on_drop)

    # -- the milter's side -----------------------------------------------------------------------

    def decided(
        self, d: Decision, env: Envelope, queue_id: str, size: int, seconds: float, cfg: Config
    ) -> None:
        """Queue the journal entry for a final Decision (out-of-scope ones are only counted)."""
        if not self.path:
            return
        try:
            if d.in_scope:
                self._put(("d", row(d, env, queue_id, size, seconds, cfg)))
            else:
                self._put(("o", (day_of(time.time()), safe(env.daemon_name, 40), d.reason)))
        except Exception:  # the journal never takes a message down with it
            log.exception("journal: cannot queue the entry for ref %s", d.ref)
            self._dropped(1)

    def sms(self, r: SmsRecord, cfg: Config) -> None:
        """Queue the journal entry for one SMS decision; never blocks, never raises."""
        if not self.path:
            return
        try:
            self._put(("d", sms_row(r, cfg)))
        except Exception:
            log.exception("journal: cannot queue the entry for ref %s", r.ref)
            self._dropped(1)

    def _put(self, item: tuple[str, tuple[Any, ...]]) -> None:
        try:
            self.queue.put_nowait(item)
        except queue.Full:
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
        self._thread = threading.Thread(target=self._run, name="journal", daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (for up to timeout seconds), then stop the thread."""
        if self._thread is None:
            return
        with suppress(queue.Full):
            self.queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                item = self.queue.get(timeout=1.0)
            except queue.Empty:
                self._maybe_prune()
                continue
            if item is not None and self.linger > 0 and self.queue.qsize() < self.batch:
                time.sleep(self.linger)
            items: list[tuple[str, tuple[Any, ...]]] = []
            while item is not None:
                items.append(item)
                if len(items) >= self.batch:
                    break
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if items:
                self.write(items)
            self._maybe_prune()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection | None:
        if self._conn is None and time.monotonic() >= self._retry_at:
            try:
                self._conn = connect(self.path)
            except (JournalError, OSError) as e:
                self._retry_at = time.monotonic() + 10.0
                self._failed(f"journal: {e}")
        return self._conn

    def _failed(self, what: str) -> None:
        with self._lock:
            self.stats.errors += 1
        self.on_error()
        self._complain("%s", what)

    def write(self, items: list[tuple[str, tuple[Any, ...]]]) -> bool:
        """Write one batch in one transaction; on failure the batch is dropped and counted."""
        conn = self._connection()
        if conn is None:
            self._dropped(len(items))
            return False
        try:
            with _transaction(conn):
                conn.executemany(_INSERT, [r for k, r in items if k == "d"])
                conn.executemany(_COUNT, [r for k, r in items if k == "o"])
        except sqlite3.Error as e:
            self._dropped(len(items))
            self._failed(f"journal: {self.path}: cannot write {len(items)} entries: {e}")
            conn.close()
            self._conn = None  # reopen on the next batch: the disk may have been freed or fixed
            return False
        with self._lock:
            self.stats.written += len(items)
        return True

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
