"""nolink report: the agency's compliance figures over a period, from one or more journals.

build() reads the journals (several relays' journals are simply added up) and returns a plain
dict; text(), csv_rows() and the HTML writer (report_html.py) only present it.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import sqlite3
from collections import Counter
from typing import Any

from ..errors import NolinkError
from . import journal

APPLIED = {"reject": "refused", "tempfail": "deferred", "quarantine": "held", "accept": "delivered"}
LOCATION_NAMES = {
    "subject": "Subject header",
    "header": "other header",
    "text_plain": "plain text",
    "text_html": "HTML text",
    "html_attribute": "HTML attribute (href, src, ...)",
    "attachment": "attachment (PDF, Office, ZIP, QR)",
}


class ReportError(NolinkError):
    """The period or the journals given to nolink report are not usable."""


def parse_when(text: str, now: datetime.datetime, end: bool = False) -> datetime.datetime:
    """ "7d" (days before now), "2026-11-01" (the start of that day; with end=True the end of it),
    or "2026-11-01T08:00"."""
    t = text.strip()
    m = re.fullmatch(r"(\d+)d", t)
    if m:
        return now - datetime.timedelta(days=int(m.group(1)))
    try:
        if len(t) == 10:
            day = datetime.date.fromisoformat(t)
            start = datetime.datetime.combine(day, datetime.time()).astimezone()
            return start + datetime.timedelta(days=1) if end else start
        return datetime.datetime.fromisoformat(t).astimezone()
    except ValueError:
        raise ReportError(f"{text!r} is not a date: write 7d, 2026-11-01 or 2026-11-01T08:00") from None


def _rows(
    paths: list[str], since: float, until: float
) -> tuple[list[sqlite3.Row], list[sqlite3.Row], Counter[str]]:
    decisions: list[sqlite3.Row] = []
    events: list[sqlite3.Row] = []
    oos: Counter[str] = Counter()
    d0 = journal.day_of(since)
    d1 = journal.day_of(until - 1e-6)
    for path in paths:
        conn = journal.connect_ro(path)
        try:
            decisions += conn.execute(
                "SELECT * FROM decisions WHERE time >= ? AND time < ? ORDER BY time", (since, until)
            ).fetchall()
            events += conn.execute(
                "SELECT * FROM events WHERE time >= ? AND time < ?", (since, until)
            ).fetchall()
            for r in conn.execute(
                "SELECT reason, SUM(count) AS n FROM out_of_scope WHERE day >= ? AND day <= ? GROUP BY reason",
                (d0, d1),
            ):
                oos[r["reason"]] += int(r["n"])
        except sqlite3.Error as e:
            raise journal.JournalError(f"{path}: cannot read the journal: {e}") from None
        finally:
            conn.close()
    return decisions, events, oos


def _host(sample: str) -> str:
    return sample.split("://", 1)[-1]


def build(paths: list[str], since: datetime.datetime, until: datetime.datetime) -> dict[str, Any]:
    if until <= since:
        raise ReportError(f"--until ({until:%Y-%m-%d %H:%M}) must be after --since ({since:%Y-%m-%d %H:%M})")
    rows, events, oos = _rows(paths, since.timestamp(), until.timestamp())
    applied = Counter(APPLIED.get(r["applied"], r["applied"]) for r in rows)
    dry = [r for r in rows if r["mode"] == "dry_run"]
    would = Counter(r["action"] for r in dry)
    reasons = Counter(r["reason"] for r in rows)
    locations = Counter(r["category"] for r in rows if r["category"])
    kinds = Counter(r["kind"] for r in rows if r["kind"])
    hosts = Counter(_host(r["sample"]) for r in rows if r["sample"])
    exceptions: Counter[str] = Counter()
    for r in rows:
        for name in filter(None, r["exceptions"].split(",")):
            exceptions[name] += 1
    senders: dict[str, Counter[str]] = {}
    for r in rows:
        c = senders.setdefault(r["sender_domain"] or "(none)", Counter())
        c["checked"] += 1
        c[APPLIED.get(r["applied"], r["applied"])] += 1
        if r["reason"] == "link_found":
            c["with_links"] += 1
    dk = [r for r in rows if r["dkim_result"]]
    dk_results = Counter(r["dkim_result"] for r in dk)
    dk_reasons = Counter(r["dkim_reason"] for r in dk if r["dkim_result"] != "pass" and r["dkim_reason"])
    days: dict[str, Counter[str]] = {}
    day = since.astimezone().date()
    while day <= (until - datetime.timedelta(microseconds=1)).astimezone().date():
        days[day.isoformat()] = Counter()
        day += datetime.timedelta(days=1)
    for r in rows:
        c = days.setdefault(journal.day_of(r["time"]), Counter())
        c["checked"] += 1
        c[APPLIED.get(r["applied"], r["applied"])] += 1
        if r["reason"] == "link_found":
            c["with_links"] += 1
    fields = ("checked", "refused", "held", "deferred", "delivered", "with_links")
    return {
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "journals": list(paths),
        "messages": {
            "checked": len(rows),
            "refused": applied["refused"],
            "held": applied["held"],
            "deferred": applied["deferred"],
            "delivered": applied["delivered"],
            "with_links": reasons["link_found"],
            "out_of_scope": sum(oos.values()),
        },
        "dry_run": {
            "messages": len(dry),
            "would_have_been": {APPLIED[a]: would[a] for a in APPLIED},
        },
        "by_reason": dict(reasons.most_common()),
        "out_of_scope": dict(oos.most_common()),
        "by_location": dict(locations.most_common()),
        "by_kind": dict(kinds.most_common()),
        "by_sender_domain": [
            {"domain": d, **{f: c[f] for f in fields}}
            for d, c in sorted(senders.items(), key=lambda kv: (-kv[1]["checked"], kv[0]))
        ],
        "dkim": {
            "checked": len(dk),
            "pass": dk_results["pass"],
            "pass_share": round(dk_results["pass"] / len(dk), 4) if dk else None,
            "failures": {k: dk_results[k] for k in ("fail", "none", "permerror")},
            "dns_trouble": dk_results["temperror"],
            "failure_reasons": dict(dk_reasons.most_common(10)),
        },
        "exceptions": dict(exceptions.most_common()),
        "top_link_hosts": [
            {"host": h, "messages": n} for h, n in sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        "quarantine": {
            "released": sum(1 for e in events if e["event"] == "release"),
            "deleted": sum(1 for e in events if e["event"] == "delete"),
        },
        "daily": [{"day": d, **{f: c[f] for f in fields}} for d, c in sorted(days.items())],
    }


def _table(out: list[str], title: str, items: list[tuple[str, object]]) -> None:
    out.append("")
    out.append(title)
    if not items:
        out.append("  (none)")
    width = max((len(k) for k, _ in items), default=0)
    for k, v in items:
        out.append(f"  {k.ljust(width)}  {v}")


def text(r: dict[str, Any]) -> str:
    m = r["messages"]
    out = [f"nolink report {r['since']} .. {r['until']} ({len(r['journals'])} journal(s))"]
    _table(
        out,
        "Messages to citizens",
        [
            ("checked", m["checked"]),
            ("refused", m["refused"]),
            ("held", m["held"]),
            ("deferred", m["deferred"]),
            ("delivered", m["delivered"]),
            ("with links", m["with_links"]),
            ("out of scope (not checked)", m["out_of_scope"]),
        ],
    )
    d = r["dry_run"]
    _table(
        out,
        f"Dry run ({d['messages']} messages, all delivered): would have been",
        list(d["would_have_been"].items()) if d["messages"] else [],
    )
    _table(out, "By reason", list(r["by_reason"].items()))
    _table(
        out,
        "Where the links were (first link of each message)",
        [(LOCATION_NAMES.get(k, k), v) for k, v in r["by_location"].items()],
    )
    _table(out, "Kind of link", list(r["by_kind"].items()))
    _table(
        out,
        "By sender domain: checked / refused / held / deferred / delivered / with links",
        [
            (
                s["domain"],
                f"{s['checked']} / {s['refused']} / {s['held']} / {s['deferred']} / {s['delivered']} / {s['with_links']}",
            )
            for s in r["by_sender_domain"]
        ],
    )
    k = r["dkim"]
    share = f"{k['pass_share'] * 100:.1f}%" if k["pass_share"] is not None else "-"
    _table(
        out,
        "DKIM (messages without links)",
        [
            ("checked", k["checked"]),
            ("pass", f"{k['pass']} ({share})"),
            *((f"failed: {x}", n) for x, n in k["failures"].items()),
            ("DNS trouble (temperror)", k["dns_trouble"]),
        ],
    )
    _table(out, "Exceptions used (messages)", list(r["exceptions"].items()))
    _table(
        out,
        "Top link hosts (first link of each message)",
        [(h["host"], h["messages"]) for h in r["top_link_hosts"]],
    )
    q = r["quarantine"]
    _table(out, "Hold queue", [("released", q["released"]), ("deleted", q["deleted"])])
    _table(
        out,
        "Daily: checked / refused / held / deferred / delivered",
        [
            (x["day"], f"{x['checked']} / {x['refused']} / {x['held']} / {x['deferred']} / {x['delivered']}")
            for x in r["daily"]
        ],
    )
    return "\n".join(out) + "\n"


def csv_text(r: dict[str, Any]) -> str:
    """Long format, one figure a line (section, key, field, value): pivots in any spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "key", "field", "value"])
    w.writerow(["period", "", "since", r["since"]])
    w.writerow(["period", "", "until", r["until"]])
    for f, v in r["messages"].items():
        w.writerow(["messages", "", f, v])
    w.writerow(["dry_run", "", "messages", r["dry_run"]["messages"]])
    for f, v in r["dry_run"]["would_have_been"].items():
        w.writerow(["dry_run", "would_have_been", f, v])
    for section in ("by_reason", "out_of_scope", "by_location", "by_kind", "exceptions"):
        for k, v in r[section].items():
            w.writerow([section, k, "messages", v])
    for s in r["by_sender_domain"]:
        for f, v in s.items():
            if f != "domain":
                w.writerow(["by_sender_domain", s["domain"], f, v])
    k = r["dkim"]
    for f in ("checked", "pass", "pass_share", "dns_trouble"):
        w.writerow(["dkim", "", f, "" if k[f] is None else k[f]])
    for f, v in k["failures"].items():
        w.writerow(["dkim", "failures", f, v])
    for h in r["top_link_hosts"]:
        w.writerow(["top_link_hosts", h["host"], "messages", h["messages"]])
    for f, v in r["quarantine"].items():
        w.writerow(["quarantine", "", f, v])
    for x in r["daily"]:
        for f, v in x.items():
            if f != "day":
                w.writerow(["daily", x["day"], f, v])
    return buf.getvalue()
