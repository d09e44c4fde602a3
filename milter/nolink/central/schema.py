"""The central schema: versioned steps applied under an advisory lock, monthly partitions, retention.

decisions has the local journal's columns (ops/journal.py COLUMNS: no bodies, no recipient addresses)
plus relay_id and local_id (the row's id in that relay's SQLite journal). It is partitioned by month
of `time` (unix seconds, as in the journal); a DEFAULT partition catches rows no monthly one takes, so
an insert never fails for want of a partition. Retention drops whole monthly partitions.

The key is (relay_id, local_id, time). PostgreSQL requires a partitioned table's unique keys to hold
the partition key; for shipping it is the same as (relay_id, local_id): a local row's time is set
once when the journal writes it, never updated, and shipped bit for bit (COPY text of repr(), the
shortest text of the same double), so the same row always arrives with the same time, lands in the
same partition (the one whose range holds its time, or decisions_default) and meets its earlier
copy's key there: ON CONFLICT DO NOTHING makes a batch sent again, or a resume from an older mark,
a no-op (tests/test_central.py, a mark rolled back to 0, 37, 139, 205 over three partitions). What
time adds is the one case where the same (relay, id) are two decisions: a journal file re-created
with ids from 1 again; both are kept (a key without time would drop the new file's rows silently).

decision_days (schema 2) is the report's daily summary: one row per day and combination of the
columns the report groups and filters by, with its count, kept by a statement-level trigger from
the rows an INSERT really inserted (the transition table leaves out ON CONFLICT's skipped rows).
events (schema 2) are the relays' quarantine events (release, delete) from their journals.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Callable
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
    # The report's daily summary, kept by a trigger in the transaction that inserts the rows, and
    # the relays' local quarantine events (a release done with -C on the relay itself).
    2: """
LOCK TABLE decisions IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE summary_settings (utc_offset integer NOT NULL);
CREATE TABLE decision_days (
  day integer NOT NULL, relay_id text NOT NULL, channel text NOT NULL, sender_domain text NOT NULL,
  reason text NOT NULL, applied text NOT NULL, action text NOT NULL, mode text NOT NULL,
  category text NOT NULL, kind text NOT NULL, sample text NOT NULL, exceptions text NOT NULL,
  dkim_result text NOT NULL, dkim_reason text NOT NULL, count bigint NOT NULL,
  PRIMARY KEY (day, relay_id, channel, sender_domain, reason, applied, action, mode, category, kind,
    sample, exceptions, dkim_result, dkim_reason)
);
CREATE FUNCTION nolink_count_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path FROM CURRENT AS $f$
BEGIN
  INSERT INTO decision_days AS d (day, relay_id, channel, sender_domain, reason, applied, action, mode,
    category, kind, sample, exceptions, dkim_result, dkim_reason, count)
  SELECT floor((n.time + s.utc_offset) / 86400)::integer, n.relay_id, n.channel, n.sender_domain,
    n.reason, n.applied, n.action, n.mode, n.category, n.kind, n.sample, n.exceptions, n.dkim_result,
    n.dkim_reason, count(*)
  FROM new_rows n CROSS JOIN summary_settings s
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
  ON CONFLICT (day, relay_id, channel, sender_domain, reason, applied, action, mode, category, kind,
    sample, exceptions, dkim_result, dkim_reason) DO UPDATE SET count = d.count + EXCLUDED.count;
  RETURN NULL;
END
$f$;
CREATE TRIGGER decisions_count_days AFTER INSERT ON decisions REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION nolink_count_days();
CREATE TABLE events (
  relay_id text NOT NULL, local_id bigint NOT NULL, time double precision NOT NULL,
  queue_id text NOT NULL, ref text NOT NULL DEFAULT '', event text NOT NULL,
  user_name text NOT NULL DEFAULT '', reason text NOT NULL DEFAULT '',
  PRIMARY KEY (relay_id, local_id, time)
);
CREATE INDEX events_queue_id ON events (relay_id, queue_id);
CREATE INDEX events_time ON events (time);
ALTER TABLE relays ADD COLUMN events_shipped_id bigint NOT NULL DEFAULT 0;
""",
}
# Python run after a step's SQL, in the same transaction
AFTER: dict[int, Callable[[psycopg.Connection[Any]], None]] = {}
SCHEMA_VERSION = max(MIGRATIONS)


def _fill_days(conn: psycopg.Connection[Any]) -> None:
    """Step 2: the summary of the rows already there. Its days are this host's local days (the
    offset from UTC now: an agency's relays and reviewers share one time zone); a report run where
    the offset differs reads the raw rows instead (queries.aggregate), so it is right either way.
    The table is locked (SHARE ROW EXCLUSIVE) first: no insert slips between this count and the
    trigger, which counts every later one."""
    off = datetime.datetime.now().astimezone().utcoffset() or datetime.timedelta()
    conn.execute("INSERT INTO summary_settings (utc_offset) VALUES (%s)", (int(off.total_seconds()),))
    conn.execute(
        "INSERT INTO decision_days SELECT floor((time + %s) / 86400)::integer, relay_id, channel, "
        "sender_domain, reason, applied, action, mode, category, kind, sample, exceptions, dkim_result, "
        "dkim_reason, count(*) FROM decisions GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14",
        (int(off.total_seconds()),),
    )


AFTER[2] = _fill_days


def summary_offset(conn: psycopg.Connection[Any]) -> int | None:
    """The UTC offset (seconds) of decision_days' days; None before schema 2."""
    if version(conn) < 2:
        return None
    row = conn.execute("SELECT utc_offset FROM summary_settings LIMIT 1").fetchone()
    return int(row[0]) if row else None


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
            if step in AFTER:
                AFTER[step](conn)
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
                _forget_days(conn, end.timestamp())
            dropped.append(name)
    if dropped:
        log.info("central: retention (%d days) dropped partitions %s", retention_days, ", ".join(dropped))
    return dropped


def _forget_days(conn: psycopg.Connection[Any], before: float) -> None:
    """The summary days and quarantine events that ended before a dropped partition's end go with it."""
    off = summary_offset(conn)
    if off is not None:
        conn.execute("DELETE FROM decision_days WHERE (day + 1) * 86400 - %s <= %s", (off, before))
        conn.execute("DELETE FROM events WHERE time < %s", (before,))


def decision_columns(conn: psycopg.Connection[Any]) -> list[str]:
    """The columns of the central decisions table (a newer schema may have more than we know)."""
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'decisions' "
        "AND table_schema = current_schema() ORDER BY ordinal_position"
    ).fetchall()
    return [str(r[0]) for r in rows]
