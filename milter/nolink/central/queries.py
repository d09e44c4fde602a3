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


def _pg(sql: str, where: str) -> str:
    """A report query of ops/report.py for PostgreSQL, with the filters' conditions."""
    out = sql.replace(report._W, report._W + where).replace("?", "%s")
    return out.replace(
        "date(time, 'unixepoch', 'localtime')",
        "to_char(to_timestamp(time + %s) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    )


def aggregate(
    conn: psycopg.Connection[Any], since: float, until: float, f: Filters
) -> dict[str, Counter[Any]]:
    """The figures report.build() needs, over every relay (or the filtered ones)."""
    where, args = f.sql()
    out: dict[str, Counter[Any]] = {k: Counter() for k in [*report.QUERIES, "out_of_scope", "relays"]}
    offset = datetime.datetime.fromtimestamp(since).astimezone().utcoffset() or datetime.timedelta()
    for name, q in report.QUERIES.items():
        if name == "events":
            continue
        params: list[Any] = [since, until, *args]
        if name == "daily":
            params = [offset.total_seconds(), *params]
        for *key, n in conn.execute(_pg(q, where), params):
            out[name][key[0] if len(key) == 1 else tuple(key)] += int(n)
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
    for relay, applied, link, n in conn.execute(
        f"SELECT relay_id, applied, reason = 'link_found', count(*) FROM decisions WHERE time >= %s AND time < %s{where} "
        "GROUP BY 1, 2, 3",
        [since, until, *args],
    ):
        out["relays"][(relay, applied, link)] += int(n)
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
