"""lookup, report and quarantine list --all over every relay, on the central record.

The report runs ops/report.py's own queries against PostgreSQL (same figures, one pass of the time
index per query, partitions outside the period pruned), with the --relay, --sender-domain and
--reason filters, plus a per-relay table; report.build() then presents them exactly as it does the
local journals' figures.
"""

from __future__ import annotations

import datetime
import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..ops import journal, report
from . import schema
from .requests import HELD_NOW, Request, open_requests


@dataclass(frozen=True, slots=True)
class Filters:
    relay: str = ""
    sender_domain: str = ""
    reason: str = ""

    def sql(self) -> tuple[str, list[Any]]:
        out, args = "", []
        for col, v in (
            ("relay_id", self.relay),
            ("sender_domain", self.sender_domain.lower()),
            ("reason", self.reason),
        ):
            if v:
                out += f" AND {col} = %s"
                args.append(v)
        return out, args


# a message's releases and deletes: the relay's journal events (shipped, whether done by a central
# request or with -C on the relay), and the requests answered ok whose event is not shipped yet
_EVENTS = (
    'SELECT time, event, user_name AS "user", reason FROM events WHERE relay_id = %s AND queue_id = %s '
    "UNION ALL SELECT done_at, action, requested_by, reason FROM requests r WHERE relay_id = %s AND "
    "queue_id = %s AND status = 'ok' AND NOT EXISTS (SELECT 1 FROM events e WHERE e.relay_id = r.relay_id "
    "AND e.queue_id = r.queue_id AND e.event = r.action) ORDER BY 1"
)


def lookup(conn: psycopg.Connection[Any], key: str) -> list[dict[str, Any]]:
    """Rows of any relay whose ref or queue id is key, oldest first, with the releases and deletes
    done on them (the requests answered ok) as events, as ops/lookup.find returns them."""
    k = key.strip().upper()
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT * FROM decisions WHERE ref = %s OR (queue_id = %s AND queue_id != '') ORDER BY time",
            (k, k),
        ).fetchall()
        for d in rows:
            d["journal"] = f"central (relay {d['relay_id']})"
            d["events"] = (
                cur.execute(_EVENTS, (d["relay_id"], d["queue_id"]) * 2).fetchall() if d["queue_id"] else []
            )
    return rows


# Every figure of ops/report.py's QUERIES in ONE pass: GROUPING SETS (one scan, a hash aggregate
# per set) instead of one query, and one scan, per figure. The pass reads decision_days (schema 2:
# one row per day and combination of the columns below, with its count, kept by a trigger in the
# inserting transaction) for the period's whole days, and the raw rows only for the partial first
# and last day: a month's report reads thousands of summary rows, not a million decisions.
_DIMS = (
    "relay_id", "channel", "sender_domain", "reason", "applied", "action", "mode", "category", "kind",
    "sample", "exceptions", "dkim_result", "dkim_reason",
)  # fmt: skip
_EXPRS = {
    "channel": "channel",
    "applied": "applied",
    "dry": "CASE WHEN mode = 'dry_run' THEN action END",
    "reasons": "reason",
    "locations": "NULLIF(category, '')",
    "kinds": "NULLIF(kind, '')",
    "hosts": "NULLIF(sample, '')",
    "exceptions": "NULLIF(exceptions, '')",
    "dkim": "NULLIF(dkim_result, '')",
    "dkim_reasons": "CASE WHEN dkim_result NOT IN ('', 'pass') THEN NULLIF(dkim_reason, '') END",
    "sender": "sender_domain",
    "day": "day",  # days since 1970-01-01 in local time
    "relay": "relay_id",
    "link": "reason = 'link_found'",
}
_SETS = {  # figure -> the expressions it is grouped by (report._aggregate's keys), after channel
    "applied": ("applied",), "dry": ("dry",), "reasons": ("reasons",), "locations": ("locations",),
    "kinds": ("kinds",), "hosts": ("hosts",), "exceptions": ("exceptions",), "dkim": ("dkim",),
    "dkim_reasons": ("dkim_reasons",), "senders": ("sender", "applied", "link"),
    "daily": ("day", "applied", "link"), "relays": ("relay", "applied", "link"),
    "sms": ("applied", "reasons"),
}  # fmt: skip
_NAMES = list(_EXPRS)
_EPOCH = datetime.date(1970, 1, 1)


def _one_pass(where: str, summary: bool) -> str:
    cols = ", ".join(f"{e} AS {n}" for n, e in _EXPRS.items())
    sets = ", ".join("(channel, " + ", ".join(v) + ")" for v in _SETS.values())
    flags = ", ".join(f"GROUPING({n})" for n in _NAMES)
    dims = ", ".join(_DIMS)
    raw = (
        f"SELECT floor((time + %s) / 86400)::integer AS day, {dims}, 1::bigint AS n FROM decisions "
        f"WHERE time >= %s AND time < %s{where}"
    )
    parts = [raw]
    if summary:  # whole days from the summary, then the raw rows of the partial last day
        parts = [
            raw,
            f"SELECT day, {dims}, count AS n FROM decision_days WHERE day >= %s AND day < %s{where}",
            raw,
        ]
    union = " UNION ALL ".join(parts)
    return (
        f"SELECT {', '.join(_NAMES)}, {flags}, sum(n) FROM (SELECT {cols}, n FROM ({union}) u) d "
        f"GROUP BY GROUPING SETS ({sets})"
    )


def _offset(t: float) -> int:
    off = datetime.datetime.fromtimestamp(t).astimezone().utcoffset() or datetime.timedelta()
    return int(off.total_seconds())


def _plan(conn: psycopg.Connection[Any], since: float, until: float) -> tuple[int, tuple[int, int] | None]:
    """(this host's UTC offset, the whole summary days [d0, d1) inside the period, or None when the
    summary cannot serve: none yet, other days than ours (another time zone), or no whole day)."""
    off = _offset(since)
    days = schema.summary_offset(conn)
    if days is None or days != off or _offset(until) != off:
        return off, None
    d0, d1 = math.ceil((since + off) / 86400), math.floor((until + off) / 86400)
    return off, ((d0, d1) if d1 > d0 else None)


def aggregate(
    conn: psycopg.Connection[Any], since: float, until: float, f: Filters
) -> dict[str, Counter[Any]]:
    """The figures report.build() needs, over every relay (or the filtered ones)."""
    where, args = f.sql()
    out: dict[str, Counter[Any]] = {k: Counter() for k in [*report.QUERIES, "out_of_scope", "relays"]}
    off, days = _plan(conn, since, until)
    if days is None:
        params: list[Any] = [off, since, until, *args]
    else:
        d0, d1 = days
        t0, t1 = d0 * 86400 - off, d1 * 86400 - off
        params = [off, since, t0, *args, d0, d1, *args, off, t1, until, *args]
    wanted = {frozenset(("channel", *v)): k for k, v in _SETS.items()}
    k = len(_NAMES)
    for row in conn.execute(_one_pass(where, days is not None), params):
        values, flags, n = row[:k], row[k : 2 * k], int(row[-1])
        grouped = frozenset(name for name, g in zip(_NAMES, flags, strict=True) if g == 0)
        figure = wanted.get(grouped)
        if figure is None:
            continue
        channel = values[0]
        if figure == "senders" and channel == "sms":
            figure = "sms_senders"
        elif (figure == "sms") != (channel == "sms") or channel not in ("mail", "sms"):
            continue  # as the local queries: channel 'mail' for the mail figures, 'sms' for the SMS ones
        key = tuple(values[_NAMES.index(x)] for x in _SETS["senders" if figure == "sms_senders" else figure])
        if figure == "daily":
            key = ((_EPOCH + datetime.timedelta(days=key[0])).isoformat(), *key[1:])
        if len(key) == 1:
            if key[0] is None:  # the local queries' "!= ''" and mode = 'dry_run' conditions
                continue
            out[figure][key[0]] += n
        else:
            out[figure][key] += n
    relay_where = " AND relay_id = %s" if f.relay else ""
    relay_args = [f.relay] if f.relay else []
    # releases and deletes: the relays' own journal events (shipped), and the central requests
    # answered ok whose event is not shipped yet (one release of one queue id counted once)
    for event, n in conn.execute(
        "SELECT event, count(*) FROM (SELECT relay_id, queue_id, event FROM events WHERE time >= %s "
        f"AND time < %s{relay_where} UNION SELECT relay_id, queue_id, action FROM requests WHERE "
        f"status = 'ok' AND done_at >= %s AND done_at < %s{relay_where}) e GROUP BY 1",
        [since, until, *relay_args, since, until, *relay_args],
    ):
        out["events"][event] += int(n)
    if not f.sender_domain:  # out-of-scope messages are counted per listener and reason only
        reason_where = " AND reason = %s" if f.reason else ""
        for reason, n in conn.execute(
            "SELECT reason, sum(count) FROM out_of_scope WHERE day >= %s AND day <= %s"
            + relay_where
            + reason_where
            + " GROUP BY 1",
            [
                journal.day_of(since),
                journal.day_of(until - 1e-6),
                *relay_args,
                *([f.reason] if f.reason else []),
            ],
        ):
            out["out_of_scope"][reason] += int(n)
    return out


def by_relay(a: dict[str, Counter[Any]]) -> list[dict[str, Any]]:
    fields = ("checked", "refused", "held", "deferred", "delivered", "with_links")
    split = report._split(a["relays"])
    return [{"relay": k, **{f: c[f] for f in fields}} for k, c in sorted(split.items())]


@dataclass(frozen=True, slots=True)
class HeldRow:
    relay_id: str
    queue_id: str
    arrival: float
    size: int
    sender_domain: str
    reason: str
    location: str
    ref: str
    seen: float

    def to_json(self) -> dict[str, Any]:
        return {
            "relay": self.relay_id, "queue_id": self.queue_id, "arrival_time": int(self.arrival),
            "age_seconds": int(max(0.0, time.time() - self.arrival)), "size": self.size,
            "sender_domain": self.sender_domain, "reason": self.reason, "where": self.location,
            "ref": self.ref, "seen_seconds_ago": int(max(0.0, time.time() - self.seen)),
        }  # fmt: skip


def held_everywhere(conn: psycopg.Connection[Any]) -> tuple[list[HeldRow], dict[str, float], list[Request]]:
    """What every relay last said it holds, when each last said so, and the open requests."""
    rows = conn.execute(
        "SELECT relay_id, queue_id, arrival, size, sender_domain, reason, location, ref, seen FROM held h "
        f"WHERE queue_id = '' OR {HELD_NOW} ORDER BY arrival, relay_id"
    ).fetchall()
    held = [HeldRow(*r) for r in rows if r[1]]
    seen: dict[str, float] = {}
    for r in rows:
        seen[r[0]] = max(seen.get(r[0], 0.0), float(r[8]))
    return held, seen, open_requests(conn)
