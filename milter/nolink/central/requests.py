"""Release and delete across relays: a table of requests that each relay executes for its own hold queue.

`nolink quarantine release REF|QID` on any host writes a row (status pending) and NOTIFYs
nolink_requests; the RequestWorker thread of the holding relay's nolink serve wakes on the
notification (or, the fallback, every central.poll_seconds), claims the row (running), checks the
queue id is still in its hold queue (central.postfix_config_dir), runs postsuper, and writes the
result back (ok or error, by whom, when) with a NOTIFY on nolink_results, which the waiting command
prints. A relay that is down leaves its requests pending; it runs them when it returns, once (a
claimed request that was cut short goes back to pending, and a queue id no longer held is an error,
never a second release). The same thread publishes the relay's hold queue to the held table, which
`quarantine list --all` shows.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import psycopg

from ..config import CentralConfig
from ..ops.quarantine import Queue, QueueError, check_ids
from .db import CentralError, connect, describe_error

log = logging.getLogger("nolink")
CHANNEL, RESULTS = "nolink_requests", "nolink_results"


# a row h of held that is still held: no release or delete of it since it arrived, neither done
# on the relay itself (its journal's events, shipped) nor by a central request; the relay's next
# snapshot drops it anyway, this keeps list --all right in between
def _still_held(alias: str, since: str) -> str:
    return (
        f"NOT EXISTS (SELECT 1 FROM events e WHERE e.relay_id = {alias}.relay_id AND e.queue_id = "
        f"{alias}.queue_id AND e.time >= {alias}.{since}) AND NOT EXISTS (SELECT 1 FROM requests r WHERE "
        f"r.relay_id = {alias}.relay_id AND r.queue_id = {alias}.queue_id AND r.status = 'ok' AND "
        f"r.done_at >= {alias}.{since})"
    )


HELD_NOW = _still_held("h", "arrival")


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    relay_id: str
    queue_id: str
    ref: str
    action: str
    reason: str
    requested_by: str
    requested_at: float
    status: str
    result: str
    done_by: str
    done_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


_REQ_COLS = "id, relay_id, queue_id, ref, action, reason, requested_by, requested_at, status, result, done_by, done_at"


def _request(row: Any) -> Request:
    return Request(*row)


# -- the reviewer's side ----------------------------------------------------------------------------


def locate(conn: psycopg.Connection[Any], key: str, relay: str = "") -> list[tuple[str, str, str]]:
    """(relay_id, queue_id, ref) of the held messages whose queue id or ref is key: the relays'
    published hold queues first, else the decisions that held it."""
    k = key.strip().upper()
    where = " AND relay_id = %s" if relay else ""
    args: tuple[Any, ...] = (k, k, relay) if relay else (k, k)
    rows = conn.execute(
        f"SELECT relay_id, queue_id, ref FROM held h WHERE (queue_id = %s OR ref = %s){where} AND {HELD_NOW} "
        "ORDER BY 1",
        args,
    ).fetchall()
    if not rows:
        rows = conn.execute(
            "SELECT DISTINCT relay_id, queue_id, ref FROM decisions d WHERE (queue_id = %s OR ref = %s) "
            f"AND applied = 'quarantine' AND queue_id != ''{where} AND {_still_held('d', 'time')} ORDER BY 1",
            args,
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def submit(
    conn: psycopg.Connection[Any], key: str, action: str, reason: str, who: str, relay: str = ""
) -> Request:
    """Write the request for the message key (REF or queue id) on whichever relay holds it."""
    if not reason.strip():
        raise QueueError(f"say why with --reason TEXT: the {action} is recorded with it")
    found = locate(conn, key, relay)
    if not found:
        raise QueueError(
            f"{key}: no relay holds a message with this ref or queue id (see nolink quarantine list --all)"
        )
    if len({(r, q) for r, q, _ in found}) > 1:
        where = ", ".join(f"{q} on {r}" for r, q, _ in found)
        raise QueueError(f"{key} matches several held messages ({where}): name one with --relay RELAY")
    relay_id, qid, ref = found[0]
    check_ids([qid])
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO requests (relay_id, queue_id, ref, action, reason, requested_by, requested_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {_REQ_COLS}",
            (relay_id, qid, ref, action, reason, who, time.time()),
        ).fetchone()
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, relay_id))
    assert row is not None
    return _request(row)


def get(conn: psycopg.Connection[Any], request_id: int) -> Request:
    row = conn.execute(f"SELECT {_REQ_COLS} FROM requests WHERE id = %s", (request_id,)).fetchone()
    if row is None:
        raise CentralError(f"request {request_id} is not in the central database")
    return _request(row)


def wait(conn: psycopg.Connection[Any], request_id: int, timeout: float) -> Request:
    """The request once its relay answered, or as it stands when timeout seconds have passed."""
    conn.execute(f"LISTEN {RESULTS}")
    if not conn.autocommit:
        conn.commit()
    deadline = time.monotonic() + timeout
    while True:
        r = get(conn, request_id)
        if not conn.autocommit:
            conn.commit()
        left = deadline - time.monotonic()
        if r.status in ("ok", "error") or left <= 0:
            return r
        for _ in conn.notifies(timeout=min(left, 1.0), stop_after=1):
            pass


def open_requests(conn: psycopg.Connection[Any]) -> list[Request]:
    rows = conn.execute(
        f"SELECT {_REQ_COLS} FROM requests WHERE status IN ('pending', 'running') ORDER BY id"
    ).fetchall()
    return [_request(r) for r in rows]


# -- the relay's side -------------------------------------------------------------------------------


class RequestWorker:
    """The thread of nolink serve that runs this relay's requests and publishes its hold queue."""

    def __init__(self, cfg: CentralConfig, journal_path: str, observer: Any = None) -> None:
        self.cfg = cfg
        self.queue = Queue(cfg.postfix_config_dir or None, journal_path)
        self.observer = observer
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._published = 0.0
        self._last_log = 0.0
        self.done = 0

    def start(self) -> RequestWorker:
        self._thread = threading.Thread(target=self._run, name="central-requests", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                self._session()
                backoff = 1.0
            except (psycopg.Error, CentralError) as e:
                self._error(describe_error(e, self.cfg) if isinstance(e, psycopg.Error) else str(e))
            except Exception:
                log.exception("central: the request worker failed; retrying")
            finally:
                if self._conn is not None:
                    with suppress(psycopg.Error):
                        self._conn.close()
                    self._conn = None
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)

    def _session(self) -> None:
        conn = self._conn = connect(
            self.cfg, autocommit=True, application=f"nolink requests {self.cfg.relay_id}"
        )
        conn.execute(f"LISTEN {CHANNEL}")
        # a request claimed by a process that died before it answered: run it again (the queue id
        # check below makes it a no-op error if postsuper had already acted)
        conn.execute(
            "UPDATE requests SET status = 'pending' WHERE relay_id = %s AND status = 'running'",
            (self.cfg.relay_id,),
        )
        self._published = 0.0
        while not self._stop.is_set():
            self.run_pending(conn)
            if time.monotonic() - self._published >= self.cfg.poll_seconds:
                self.publish(conn)
            for _ in conn.notifies(timeout=min(self.cfg.poll_seconds, 1.0), stop_after=1):
                pass

    def run_pending(self, conn: psycopg.Connection[Any]) -> int:
        n = 0
        while not self._stop.is_set():
            with conn.transaction():
                row = conn.execute(
                    f"UPDATE requests SET status = 'running', done_by = %s WHERE id = (SELECT id FROM requests "
                    "WHERE relay_id = %s AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                    f"RETURNING {_REQ_COLS}",
                    (self.cfg.relay_id, self.cfg.relay_id),
                ).fetchone()
            if row is None:
                break
            self.execute(conn, _request(row))
            n += 1
        if n:
            self.publish(conn)
        return n

    def execute(self, conn: psycopg.Connection[Any], r: Request) -> None:
        who = f"{r.requested_by} (central request {r.id})"
        try:
            if r.action == "release":
                self.queue.release([r.queue_id], r.reason, user=who)
                status, result = "ok", f"{r.queue_id}: released (sent on now, not scanned again)"
            else:
                self.queue.delete([r.queue_id], r.reason, user=who)
                status, result = "ok", f"{r.queue_id}: deleted"
        except (QueueError, OSError) as e:
            status, result = "error", str(e)
            self._error(f"request {r.id} ({r.action} {r.queue_id}): {e}", log_it=False)
            log.warning("central: request %d (%s %s) failed: %s", r.id, r.action, r.queue_id, e)
        with conn.transaction():
            conn.execute(
                "UPDATE requests SET status = %s, result = %s, done_by = %s, done_at = %s WHERE id = %s",
                (status, result, f"nolink on {self.cfg.relay_id}", time.time(), r.id),
            )
            conn.execute("SELECT pg_notify(%s, %s)", (RESULTS, str(r.id)))
        self.done += 1

    def publish(self, conn: psycopg.Connection[Any]) -> None:
        """This relay's hold queue into the held table (replacing what it said before)."""
        self._published = time.monotonic()
        try:
            held = self.queue.held()
        except QueueError as e:
            self._error(f"cannot list the hold queue of {self.cfg.postfix_config_dir or 'Postfix'}: {e}")
            return
        now = time.time()
        with conn.transaction():
            conn.execute("DELETE FROM held WHERE relay_id = %s", (self.cfg.relay_id,))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO held (relay_id, queue_id, arrival, size, sender_domain, reason, location, ref, seen) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            self.cfg.relay_id,
                            h.queue_id,
                            h.arrival,
                            h.size,
                            h.sender_domain,
                            h.reason,
                            h.where,
                            h.ref,
                            now,
                        )
                        for h in held
                    ],
                )
            conn.execute(
                "INSERT INTO held (relay_id, queue_id, arrival, seen) VALUES (%s, '', 0, %s) "
                "ON CONFLICT (relay_id, queue_id) DO UPDATE SET seen = EXCLUDED.seen",
                (self.cfg.relay_id, now),
            )  # queue_id '': when this relay last published, even with nothing held

    def _error(self, what: str, log_it: bool = True) -> None:
        if self.observer is not None:
            self.observer.central_error("request")
        now = time.monotonic()
        if log_it and now - self._last_log >= 60:
            self._last_log = now
            log.error("central: requests: %s", what)
