"""The shipper: a thread of nolink serve that copies new rows of the local SQLite journal to the
central decisions table.

The milter only ever writes the local journal (ops/journal.py); this thread reads it afterwards, by
rowid above the high-water mark (relays.shipped_id, kept in the same transaction as the rows it
covers, and copied to JOURNAL.shipped for the metrics while PostgreSQL is away). A batch is one
transaction of INSERT ... ON CONFLICT DO NOTHING plus the new mark: after an outage, a restart or
kill -9 the next batch starts where the last committed one ended, and a batch sent twice adds nothing.
Columns are matched by name, so a journal with more columns (or fewer) than the central table ships
what both have.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..config import CentralConfig
from . import schema
from .db import CentralError, connect, describe_error

log = logging.getLogger("nolink")
SKIP = {"id", "local_id", "relay_id"}
CHUNK = 25  # rows formatted between two GIL releases (~1 ms of Python; sys.getswitchinterval() is 5 ms)
ERROR_CAUSES = ("connect", "schema", "insert", "journal", "request")


@dataclass
class ShipStats:
    shipped: int = 0
    batches: int = 0
    errors: int = 0
    events: int = 0


class Observer:
    """What the shipper reports; metrics.Metrics implements it (tests may pass their own)."""

    def central_unshipped(self, rows: int, lag_seconds: float) -> None: ...

    def central_error(self, cause: str) -> None: ...


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _field(v: object) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, str):
        return v.translate(_ESCAPES)
    return repr(v) if isinstance(v, float) else str(v)  # repr: the shortest text of the same double


def copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """Rows in COPY's text format. Formatting them here rather than row by row through psycopg's
    Python dumpers triples the rows per second (bench/central.py)."""
    return "".join("\t".join(map(_field, r)) + "\n" for r in rows).encode()


def backlog(conn: sqlite3.Connection, after: int, now: float) -> tuple[int, float]:
    """(rows above the mark, seconds since the oldest of them was decided; 0 when none). Two rowid
    lookups, no scan: rows above the mark are never deleted (retention deletes the oldest), and
    SQLite gives rowids in order, so their number is max(rowid) - mark."""
    top = conn.execute("SELECT max(rowid) FROM decisions").fetchone()[0]
    if top is None or int(top) <= after:
        return 0, 0.0
    first = conn.execute(
        "SELECT time FROM decisions WHERE rowid > ? ORDER BY rowid LIMIT 1", (after,)
    ).fetchone()
    return int(top) - after, max(0.0, now - float(first[0])) if first else 0.0


class Shipper:
    def __init__(
        self,
        cfg: CentralConfig,
        journal_path: str,
        observer: Observer | None = None,
        idle: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.journal_path = journal_path
        self.observer = observer or Observer()
        self.idle = idle
        self.clock = clock
        self.stats = ShipStats()
        self.mark_path = journal_path + ".shipped" if journal_path else ""
        self.mark = self._read_mark()
        self._mark_time = 0.0  # the time of the row at the mark, as shipped (relays.shipped_time)
        self._events_mark = 0
        self._pg: psycopg.Connection[Any] | None = None
        self._columns: list[str] = []
        self._local: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._retry_at = 0.0
        self._backoff = 1.0
        self._last_log: dict[str, float] = {}
        self._oos_at = 0.0
        self._maintained = time.monotonic()  # migrate() at connect did it

    # -- the thread --------------------------------------------------------------------------------

    def start(self) -> Shipper:
        if not self.journal_path:
            log.error("central: journal.path is empty, so there is nothing to ship; set journal.path")
            return self
        self._thread = threading.Thread(target=self._run, name="central-shipper", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._close_pg()
        if self._local is not None:
            self._local.close()
            self._local = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                more = self.step()
            except Exception:  # never let the thread die: log, count, retry later
                log.exception("central: the shipper failed; retrying")
                self._error("insert", "unexpected")
                more = False
            if not more:
                self._stop.wait(self.idle)

    # -- one step ----------------------------------------------------------------------------------

    def step(self) -> bool:
        """Ship one batch if PostgreSQL is reachable; update the backlog figures either way.
        Returns True when there may be more to ship at once."""
        local = self._local_conn()
        if local is None:
            return False
        shipped = 0
        pg = self._pg_conn()
        if pg is not None:
            try:
                self._maintain(pg)
                shipped = self._ship(pg, local)
                self._ship_events(pg, local)
                self._ship_out_of_scope(pg, local)
            except psycopg.Error as e:
                self._error("insert", describe_error(e, self.cfg))
                self._close_pg()
            except sqlite3.Error as e:
                self._error("journal", f"{self.journal_path}: {e}")
                self._close_local()
        try:
            n, lag = backlog(local, self.mark, self.clock())
            self.observer.central_unshipped(n, lag)
        except sqlite3.Error as e:
            self._error("journal", f"{self.journal_path}: {e}")
            self._close_local()
        return shipped >= self.cfg.batch_size

    def _ship(self, pg: psycopg.Connection[Any], local: sqlite3.Connection) -> int:
        have = [str(r[1]) for r in local.execute("PRAGMA table_info(decisions)")]
        cols = [c for c in have if c in self._columns and c not in SKIP]
        listed = ", ".join(f'"{c}"' for c in cols)  # names from both schemas, quoted
        rows = local.execute(
            f"SELECT ?, rowid, {listed} FROM decisions WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (self.cfg.relay_id, self.mark, self.cfg.batch_size),
        ).fetchall()
        if self._replaced(local):
            # the journal was re-created (ids begin at 1 again): the key holds the time as well, so
            # old and new rows never collide; start again from the beginning
            log.warning(
                "central: %s is a new journal file (its row %d is not the one shipped): shipping it from its first row",
                self.journal_path,
                self.mark,
            )
            self._set_mark(pg, 0, 0.0)
            return self._ship(pg, local)
        if not rows:
            return 0
        names_sql = sql.SQL(", ").join(map(sql.Identifier, ["relay_id", "local_id", *cols]))
        last_id, last_time = int(rows[-1][1]), float(rows[-1][2 + cols.index("time")])
        # COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT DO NOTHING: 10x
        # the rows per second of a row-by-row INSERT (bench/central.py), the same idempotence
        with pg.transaction(), pg.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS nolink_ship (LIKE decisions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            with cur.copy(sql.SQL("COPY nolink_ship ({}) FROM STDIN").format(names_sql)) as copy:
                for i in range(0, len(rows), CHUNK):
                    copy.write(copy_text(rows[i : i + CHUNK]))
                    time.sleep(0)  # let go of the GIL: the milter's threads never wait a switch interval
            cur.execute(
                sql.SQL(
                    "INSERT INTO decisions ({0}) SELECT {0} FROM nolink_ship "
                    "ON CONFLICT (relay_id, local_id, time) DO NOTHING"
                ).format(names_sql)
            )
            self._set_mark(pg, last_id, last_time)
        self.stats.shipped += len(rows)
        self.stats.batches += 1
        self._backoff = 1.0
        return len(rows)

    def _replaced(self, local: sqlite3.Connection) -> bool:
        """Is the journal another file than the one the mark counts in? The row at the mark has
        another time than the one shipped, or there is no such row and the journal ends below it.
        (Rows above the mark are never deleted, and a row's time never changes: retention deletes
        the oldest rows whole.)"""
        if self.mark <= 0:
            return False
        got = local.execute("SELECT time FROM decisions WHERE rowid = ?", (self.mark,)).fetchone()
        if got is not None:
            return self._mark_time > 0 and float(got[0]) != self._mark_time
        top = local.execute("SELECT max(rowid) FROM decisions").fetchone()[0]
        return top is None or int(top) < self.mark

    def _set_mark(self, pg: psycopg.Connection[Any], mark: int, t: float) -> None:
        pg.execute(
            "UPDATE relays SET shipped_id = %s, shipped_time = %s, last_ship = %s, version = %s "
            "WHERE relay_id = %s",
            (mark, t, self.clock(), _version(), self.cfg.relay_id),
        )
        self.mark, self._mark_time = mark, t
        self._write_mark(mark)

    def _ship_events(self, pg: psycopg.Connection[Any], local: sqlite3.Connection) -> int:
        """The relay's quarantine events (release, delete: by a central request or with -C on the
        relay) into the central events table, above their own mark, the same way as the rows."""
        try:
            top = local.execute("SELECT max(rowid) FROM events").fetchone()[0]
        except sqlite3.OperationalError:
            return 0  # a journal from before events (schema 1): nothing to ship
        if top is not None and int(top) < self._events_mark:
            self._events_mark = 0  # a new journal file
        rows = local.execute(
            "SELECT rowid, time, queue_id, ref, event, user, reason FROM events WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (self._events_mark, self.cfg.batch_size),
        ).fetchall()
        if not rows:
            return 0
        with pg.transaction(), pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (relay_id, local_id, time, queue_id, ref, event, user_name, reason) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (relay_id, local_id, time) DO NOTHING",
                [(self.cfg.relay_id, *tuple(r)) for r in rows],
            )
            cur.execute(
                "UPDATE relays SET events_shipped_id = %s WHERE relay_id = %s",
                (int(rows[-1][0]), self.cfg.relay_id),
            )
        self._events_mark = int(rows[-1][0])
        self.stats.events += len(rows)
        return len(rows)

    def _maintain(self, pg: psycopg.Connection[Any]) -> None:
        """With migrate_at_start: the partitions ahead and retention again once a day, so a relay
        that runs for months keeps its months partitioned without a timer."""
        if not self.cfg.migrate_at_start or time.monotonic() - self._maintained < 86400:
            return
        self._maintained = time.monotonic()
        schema.ensure_partitions(pg)
        schema.drop_old_partitions(pg, self.cfg.retention_days)

    def _ship_out_of_scope(self, pg: psycopg.Connection[Any], local: sqlite3.Connection) -> None:
        """The per-day counts of messages not checked: whole counts, so sending them again is harmless.
        Every minute, the last two days (all days the first time)."""
        now = self.clock()
        if now - self._oos_at < 60:
            return
        since = "" if not self._oos_at else time.strftime("%Y-%m-%d", time.localtime(now - 2 * 86400))
        self._oos_at = now
        rows = local.execute(
            "SELECT day, listener, reason, count FROM out_of_scope WHERE day >= ?", (since,)
        ).fetchall()
        if not rows:
            return
        with pg.transaction(), pg.cursor() as cur:
            cur.executemany(
                "INSERT INTO out_of_scope (relay_id, day, listener, reason, count) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (relay_id, day, listener, reason) DO UPDATE SET count = EXCLUDED.count",
                [(self.cfg.relay_id, *tuple(r)) for r in rows],
            )

    # -- connections -------------------------------------------------------------------------------

    def _local_conn(self) -> sqlite3.Connection | None:
        if self._local is None:
            if not Path(self.journal_path).exists():
                return None  # the journal writer creates it with the first decision
            try:
                c = sqlite3.connect(
                    self.journal_path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
                c.row_factory = sqlite3.Row
                c.execute("SELECT 1 FROM decisions LIMIT 1").fetchall()
            except sqlite3.Error as e:
                self._error("journal", f"{self.journal_path}: {e}")
                return None
            self._local = c
        return self._local

    def _close_local(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None

    def _pg_conn(self) -> psycopg.Connection[Any] | None:
        if self._pg is not None:
            return self._pg
        now = time.monotonic()
        if now < self._retry_at:
            return None
        try:
            pg = connect(self.cfg, application=f"nolink shipper {self.cfg.relay_id}")
            pg.autocommit = True
            if self.cfg.migrate_at_start:
                schema.migrate(pg, self.cfg.retention_days)
            schema.check(pg)
            self._columns = schema.decision_columns(pg)
            pg.execute(
                "INSERT INTO relays (relay_id) VALUES (%s) ON CONFLICT (relay_id) DO NOTHING",
                (self.cfg.relay_id,),
            )
            got = pg.execute(
                "SELECT shipped_id, shipped_time, events_shipped_id FROM relays WHERE relay_id = %s",
                (self.cfg.relay_id,),
            ).fetchone()
            self.mark, self._mark_time, self._events_mark = (
                (int(got[0]), float(got[1]), int(got[2])) if got else (0, 0.0, 0)
            )
            self._write_mark(self.mark)
        except CentralError as e:
            cause = "schema" if "schema version" in str(e) else "connect"
            self._error(cause, str(e))
            self._later()
            return None
        except psycopg.Error as e:
            self._error("connect", describe_error(e, self.cfg))
            self._later()
            return None
        log.info(
            "central: shipping %s to PostgreSQL as relay %s from row %d",
            self.journal_path,
            self.cfg.relay_id,
            self.mark,
        )
        self._pg = pg
        return pg

    def _later(self) -> None:
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 30.0)

    def _close_pg(self) -> None:
        if self._pg is not None:
            with suppress(psycopg.Error):
                self._pg.close()
            self._pg = None
            self._later()

    # -- the mark's local copy and errors ---------------------------------------------------------

    def _read_mark(self) -> int:
        try:
            return int(Path(self.mark_path).read_text().strip() or 0) if self.mark_path else 0
        except (OSError, ValueError):
            return 0

    def _write_mark(self, mark: int) -> None:
        if not self.mark_path:
            return
        tmp = self.mark_path + ".tmp"
        try:
            Path(tmp).write_text(f"{mark}\n")
            os.replace(tmp, self.mark_path)
        except OSError as e:
            self._error("journal", f"cannot write {self.mark_path}: {e.strerror}")

    def _error(self, cause: str, what: str) -> None:
        self.stats.errors += 1
        self.observer.central_error(cause)
        now = time.monotonic()
        if now - self._last_log.get(cause, -1e9) >= 60:  # once a minute per cause: no flood in an outage
            self._last_log[cause] = now
            log.error("central: %s (mail is decided as usual; rows are shipped when this is fixed)", what)


def _version() -> str:
    from .. import __version__

    return __version__
