"""The central schema: versioned steps applied under an advisory lock, monthly partitions, retention.

decisions has the local journal's columns (ops/journal.py COLUMNS: no bodies, no recipient addresses)
plus relay_id and local_id (the row's id in that relay's SQLite journal). It is partitioned by month
of `time` (unix seconds, as in the journal); a DEFAULT partition catches rows no monthly one takes, so
an insert never fails for want of a partition. Retention drops whole monthly partitions.

The key is (relay_id, local_id, time): PostgreSQL requires a partitioned table's unique keys to hold
the partition key, and a row shipped twice has the same time, so ON CONFLICT still makes a re-sent
batch a no-op (and a journal re-created from id 1 cannot collide with the old rows).
"""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any

import psycopg
from psycopg import sql

from .db import CentralError

log = logging.getLogger("nolink")
LOCK_KEY = 0x6E6F6C696E6B  # "nolink": pg_advisory_xact_lock(LOCK_KEY) serialises migrations
MONTHS_AHEAD = 3

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE decisions (
  relay_id text NOT NULL, local_id bigint NOT NULL,
  time double precision NOT NULL, ref text NOT NULL, queue_id text NOT NULL DEFAULT '',
  listener text NOT NULL DEFAULT '', action text NOT NULL, applied text NOT NULL, mode text NOT NULL,
  reason text NOT NULL, location text NOT NULL DEFAULT '', category text NOT NULL DEFAULT '',
  kind text NOT NULL DEFAULT '', sample text NOT NULL DEFAULT '', findings integer NOT NULL DEFAULT 0,
  dkim_result text NOT NULL DEFAULT '', dkim_domain text NOT NULL DEFAULT '',
  dkim_selector text NOT NULL DEFAULT '', dkim_reason text NOT NULL DEFAULT '',
  sender_domain text NOT NULL DEFAULT '', rcpt_domains integer NOT NULL DEFAULT 0,
  size bigint NOT NULL DEFAULT 0, ms double precision NOT NULL DEFAULT 0,
  version text NOT NULL DEFAULT '', config_digest text NOT NULL DEFAULT '',
  exceptions text NOT NULL DEFAULT '', channel text NOT NULL DEFAULT 'mail',
  PRIMARY KEY (relay_id, local_id, time)
) PARTITION BY RANGE (time);
CREATE TABLE decisions_default PARTITION OF decisions DEFAULT;
CREATE INDEX decisions_time ON decisions (time);
CREATE INDEX decisions_ref ON decisions (ref);
CREATE INDEX decisions_queue_id ON decisions (queue_id) WHERE queue_id != '';
CREATE TABLE out_of_scope (
  relay_id text NOT NULL, day text NOT NULL, listener text NOT NULL, reason text NOT NULL,
  count bigint NOT NULL, PRIMARY KEY (relay_id, day, listener, reason)
);
CREATE TABLE relays (
  relay_id text PRIMARY KEY, shipped_id bigint NOT NULL DEFAULT 0,
  shipped_time double precision NOT NULL DEFAULT 0, last_ship double precision NOT NULL DEFAULT 0,
  version text NOT NULL DEFAULT ''
);
CREATE TABLE held (
  relay_id text NOT NULL, queue_id text NOT NULL, arrival double precision NOT NULL,
  size bigint NOT NULL DEFAULT 0, sender_domain text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '',
  location text NOT NULL DEFAULT '', ref text NOT NULL DEFAULT '', seen double precision NOT NULL,
  PRIMARY KEY (relay_id, queue_id)
);
CREATE INDEX held_ref ON held (ref);
CREATE TABLE requests (
  id bigserial PRIMARY KEY, relay_id text NOT NULL, queue_id text NOT NULL, ref text NOT NULL DEFAULT '',
  action text NOT NULL CHECK (action IN ('release', 'delete')), reason text NOT NULL,
  requested_by text NOT NULL, requested_at double precision NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'ok', 'error')),
  result text NOT NULL DEFAULT '', done_by text NOT NULL DEFAULT '', done_at double precision
);
CREATE INDEX requests_open ON requests (relay_id) WHERE status IN ('pending', 'running');
""",
}
SCHEMA_VERSION = max(MIGRATIONS)


def version(conn: psycopg.Connection[Any]) -> int:
    """The schema version in the database (0: none yet)."""
    row = conn.execute("SELECT to_regclass('nolink_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    got = conn.execute("SELECT max(version) FROM nolink_schema").fetchone()
    return int(got[0]) if got and got[0] is not None else 0


def check(conn: psycopg.Connection[Any]) -> int:
    """The schema version, or CentralError when it is missing or newer than this nolink's."""
    have = version(conn)
    if have > SCHEMA_VERSION:
        raise CentralError(
            f"the central database has schema version {have}, newer than this nolink knows "
            f"({SCHEMA_VERSION}): upgrade nolink on this relay (the relays that wrote it are newer)"
        )
    if have < SCHEMA_VERSION:
        raise CentralError(
            f"the central database has schema version {have}, this nolink needs {SCHEMA_VERSION}: run "
            "nolink central migrate as the database owner (or set central.migrate_at_start = true)"
        )
    return have


def migrate(conn: psycopg.Connection[Any], retention_days: int = 0) -> tuple[int, int]:
    """Bring the schema to SCHEMA_VERSION in one transaction under the advisory lock (two relays
    starting together: one migrates, the other waits and finds nothing to do); then the partitions
    ahead and, with retention_days, retention. Returns (version before, version after)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS nolink_schema (version integer NOT NULL, "
            "migrated_at timestamptz NOT NULL DEFAULT now(), nolink text NOT NULL DEFAULT '')"
        )
        have = version(conn)
        if have > SCHEMA_VERSION:
            raise CentralError(
                f"the central database has schema version {have}, newer than this nolink knows "
                f"({SCHEMA_VERSION}): run nolink central migrate from the newest nolink, never an older one"
            )
        from .. import __version__

        for step in range(have + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[step])  # our own constant SQL
            conn.execute("INSERT INTO nolink_schema (version, nolink) VALUES (%s, %s)", (step, __version__))
    ensure_partitions(conn)
    if retention_days:
        drop_old_partitions(conn, retention_days)
    return have, SCHEMA_VERSION


def month_start(d: datetime.date) -> datetime.datetime:
    return datetime.datetime(d.year, d.month, 1, tzinfo=datetime.UTC)


def next_month(m: datetime.datetime) -> datetime.datetime:
    return m.replace(year=m.year + (m.month == 12), month=m.month % 12 + 1)


def ensure_partitions(
    conn: psycopg.Connection[Any], today: datetime.date | None = None, ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Monthly partitions from this month to `ahead` months on (UTC months); returns those created."""
    m = month_start(today or datetime.datetime.now(datetime.UTC).date())
    made = []
    for _ in range(ahead + 1):
        end = next_month(m)
        name = f"decisions_{m:%Y_%m}"
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
            if not (exists and exists[0]):
                conn.execute(
                    sql.SQL("CREATE TABLE {} PARTITION OF decisions FOR VALUES FROM ({}) TO ({})").format(
                        sql.Identifier(name), sql.Literal(m.timestamp()), sql.Literal(end.timestamp())
                    )
                )
                made.append(name)
        m = end
    return made


_PART = re.compile(r"^decisions_(\d{4})_(\d{2})$")


def partitions(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'decisions'::regclass ORDER BY 1"
    ).fetchall()
    return [str(r[0]) for r in rows]


def drop_old_partitions(
    conn: psycopg.Connection[Any], retention_days: int, now: datetime.datetime | None = None
) -> list[str]:
    """Drop the monthly partitions that end before now - retention_days (whole months only: a month
    is kept until its last day is past retention). Returns the dropped names."""
    cutoff = (now or datetime.datetime.now(datetime.UTC)) - datetime.timedelta(days=retention_days)
    dropped = []
    for name in partitions(conn):
        m = _PART.match(name)
        if not m:
            continue
        end = next_month(datetime.datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=datetime.UTC))
        if end <= cutoff:
            with conn.transaction():
                conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(name)))
            dropped.append(name)
    if dropped:
        log.info("central: retention (%d days) dropped partitions %s", retention_days, ", ".join(dropped))
    return dropped


def decision_columns(conn: psycopg.Connection[Any]) -> list[str]:
    """The columns of the central decisions table (a newer schema may have more than we know)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'decisions' "
        "AND table_schema = current_schema() ORDER BY ordinal_position"
    ).fetchall()
    return [str(r[0]) for r in rows]
