"""lookup, report and quarantine list --all over every relay, on the central record.

The report runs ops/report.py's own queries against PostgreSQL (same figures, one pass of the time
index per query, partitions outside the period pruned), with the --relay, --sender-domain and
--reason filters, plus a per-relay table; report.build() then presents them exactly as it does the
local journals' figures.
"""

from __future__ import annotations

import datetime
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..ops import journal, report
from .requests import Request, open_requests


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
            d["events"] = cur.execute(
                "SELECT done_at AS time, action AS event, requested_by AS user, reason FROM requests "
                "WHERE relay_id = %s AND queue_id = %s AND status = 'ok' ORDER BY done_at",
                (d["relay_id"], d["queue_id"]),
            ).fetchall()
    return rows


# Every figure of ops/report.py's QUERIES in ONE pass over the period's partitions: GROUPING SETS
# (one scan, a hash aggregate per set) instead of one query, and one scan, per figure.
_EXPRS = {
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
    "day": "floor((time + %s) / 86400)::int",  # days since 1970-01-01 in local time: cheap per row
    "relay": "relay_id",
    "link": "reason = 'link_found'",
}
_SETS = {  # figure -> the expressions it is grouped by (report._aggregate's keys)
    "applied": ("applied",), "dry": ("dry",), "reasons": ("reasons",), "locations": ("locations",),
    "kinds": ("kinds",), "hosts": ("hosts",), "exceptions": ("exceptions",), "dkim": ("dkim",),
    "dkim_reasons": ("dkim_reasons",), "senders": ("sender", "applied", "link"),
    "daily": ("day", "applied", "link"), "relays": ("relay", "applied", "link"),
}  # fmt: skip
_NAMES = list(_EXPRS)
_EPOCH = datetime.date(1970, 1, 1)


def _one_pass(where: str) -> str:
    cols = ", ".join(f"{e} AS {n}" for n, e in _EXPRS.items())
    sets = ", ".join("(" + ", ".join(v) + ")" for v in _SETS.values())
    flags = ", ".join(f"GROUPING({n})" for n in _NAMES)
    return (
        f"SELECT {', '.join(_NAMES)}, {flags}, count(*) FROM (SELECT {cols} FROM decisions "
        f"WHERE time >= %s AND time < %s{where}) d GROUP BY GROUPING SETS ({sets})"
    )


def aggregate(
    conn: psycopg.Connection[Any], since: float, until: float, f: Filters
) -> dict[str, Counter[Any]]:
    """The figures report.build() needs, over every relay (or the filtered ones)."""
    where, args = f.sql()
    out: dict[str, Counter[Any]] = {k: Counter() for k in [*report.QUERIES, "out_of_scope", "relays"]}
    offset = datetime.datetime.fromtimestamp(since).astimezone().utcoffset() or datetime.timedelta()
    wanted = {frozenset(v): k for k, v in _SETS.items()}
    k = len(_NAMES)
    for row in conn.execute(_one_pass(where), [offset.total_seconds(), since, until, *args]):
        values, flags, n = row[:k], row[k : 2 * k], int(row[-1])
        grouped = frozenset(name for name, g in zip(_NAMES, flags, strict=True) if g == 0)
        figure = wanted.get(grouped)
        if figure is None:
            continue
        key = tuple(values[_NAMES.index(x)] for x in _SETS[figure])
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
    for event, n in conn.execute(
        "SELECT action, count(*) FROM requests WHERE status = 'ok' AND done_at >= %s AND done_at < %s"
        + relay_where
        + " GROUP BY 1",
        [since, until, *relay_args],
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
        "SELECT relay_id, queue_id, arrival, size, sender_domain, reason, location, ref, seen FROM held "
        "ORDER BY arrival, relay_id"
    ).fetchall()
    held = [HeldRow(*r) for r in rows if r[1]]
    seen: dict[str, float] = {}
    for r in rows:
        seen[r[0]] = max(seen.get(r[0], 0.0), float(r[8]))
    return held, seen, open_requests(conn)
