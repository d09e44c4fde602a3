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
from collections.abc import Callable
from typing import Any

from ..dkim.reasons import reason_name
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


_W = "FROM decisions WHERE time >= ? AND time < ? AND channel = 'mail'"
QUERIES = {
    # the SMS proxy's decisions (channel sms): counted beside mail, never inside its figures
    "sms": "SELECT applied, reason, COUNT(*) FROM decisions WHERE time >= ? AND time < ? AND channel = 'sms' GROUP BY 1, 2",
    "sms_senders": "SELECT sender_domain, applied, reason = 'link_found', COUNT(*) FROM decisions "
    "WHERE time >= ? AND time < ? AND channel = 'sms' GROUP BY 1, 2, 3",
    "applied": f"SELECT applied, COUNT(*) {_W} GROUP BY 1",
    "dry": f"SELECT action, COUNT(*) {_W} AND mode = 'dry_run' GROUP BY 1",
    "reasons": f"SELECT reason, COUNT(*) {_W} GROUP BY 1",
    "locations": f"SELECT category, COUNT(*) {_W} AND category != '' GROUP BY 1",
    "kinds": f"SELECT kind, COUNT(*) {_W} AND kind != '' GROUP BY 1",
    "hosts": f"SELECT sample, COUNT(*) {_W} AND sample != '' GROUP BY 1",
    "exceptions": f"SELECT exceptions, COUNT(*) {_W} AND exceptions != '' GROUP BY 1",
    "dkim": f"SELECT dkim_result, COUNT(*) {_W} AND dkim_result != '' GROUP BY 1",
    "dkim_reasons": f"SELECT dkim_reason, COUNT(*) {_W} AND dkim_result NOT IN ('', 'pass') AND dkim_reason != '' GROUP BY 1",
    "senders": f"SELECT sender_domain, applied, reason = 'link_found', COUNT(*) {_W} GROUP BY 1, 2, 3",
    "daily": f"SELECT date(time, 'unixepoch', 'localtime'), applied, reason = 'link_found', COUNT(*) {_W} GROUP BY 1, 2, 3",
    "events": "SELECT event, COUNT(*) FROM events WHERE time >= ? AND time < ? GROUP BY 1",
}


def _aggregate(paths: list[str], since: float, until: float) -> dict[str, Counter[Any]]:
    """Each figure counted by SQLite (one pass over the time index per query), summed over journals."""
    out: dict[str, Counter[Any]] = {k: Counter() for k in [*QUERIES, "out_of_scope"]}
    d0, d1 = journal.day_of(since), journal.day_of(until - 1e-6)
    for path in paths:
        conn = journal.connect_ro(path)
        try:
            for name, sql in QUERIES.items():
                for *key, n in conn.execute(sql, (since, until)):
                    out[name][key[0] if len(key) == 1 else tuple(key)] += int(n)
            for reason, n in conn.execute(
                "SELECT reason, SUM(count) FROM out_of_scope WHERE day >= ? AND day <= ? GROUP BY 1", (d0, d1)
            ):
                out["out_of_scope"][reason] += int(n)
        except sqlite3.Error as e:
            raise journal.JournalError(f"{path}: cannot read the journal: {e}") from None
        finally:
            conn.close()
    return out


def _host(sample: str) -> str:
    return sample.split("://", 1)[-1]


def _split(c: Counter[Any]) -> dict[str, Counter[str]]:
    """(key, applied, has_link) counts -> key: {checked, refused, held, ..., with_links}."""
    out: dict[str, Counter[str]] = {}
    for (key, applied, link), n in c.items():
        x = out.setdefault(key, Counter())
        x["checked"] += n
        x[APPLIED.get(applied, applied)] += n
        if link:
            x["with_links"] += n
    return out


def build(
    paths: list[str],
    since: datetime.datetime,
    until: datetime.datetime,
    exception_reasons: dict[str, str] | None = None,
    aggregate: Callable[[float, float], dict[str, Counter[Any]]] | None = None,
) -> dict[str, Any]:
    """The figures; exception_reasons (name -> the config's `reason`) explain the exceptions used.
    aggregate: where the counts come from instead of the journals in paths (the central record)."""
    if until <= since:
        raise ReportError(f"--until ({until:%Y-%m-%d %H:%M}) must be after --since ({since:%Y-%m-%d %H:%M})")
    a = (aggregate or (lambda s, u: _aggregate(paths, s, u)))(since.timestamp(), until.timestamp())
    applied = Counter({APPLIED.get(k, k): n for k, n in a["applied"].items()})
    hosts: Counter[str] = Counter()
    for sample, n in a["hosts"].items():
        hosts[_host(sample)] += n
    exceptions: Counter[str] = Counter()
    for names, n in a["exceptions"].items():
        for name in filter(None, names.split(",")):
            exceptions[name] += n
    senders = _split(Counter({(k[0] or "(none)", k[1], k[2]): n for k, n in a["senders"].items()}))
    days: dict[str, Counter[str]] = {}
    day = since.astimezone().date()
    while day <= (until - datetime.timedelta(microseconds=1)).astimezone().date():
        days[day.isoformat()] = Counter()
        day += datetime.timedelta(days=1)
    days.update(_split(a["daily"]))
    dk = a["dkim"]
    checked_dkim = sum(dk.values())
    dkim_reasons: Counter[str] = Counter()  # nolink's names, not dkimpy's texts (hashes, key names)
    for why, n in a["dkim_reasons"].items():
        dkim_reasons[reason_name(why)] += n
    fields = ("checked", "refused", "held", "deferred", "delivered", "with_links")
    sms = a["sms"]
    return {
        "since": since.isoformat(timespec="seconds"),
        "until": until.isoformat(timespec="seconds"),
        "journals": list(paths),
        "messages": {
            "checked": sum(a["applied"].values()),
            "refused": applied["refused"],
            "held": applied["held"],
            "deferred": applied["deferred"],
            "delivered": applied["delivered"],
            "with_links": a["reasons"]["link_found"],
            "out_of_scope": sum(a["out_of_scope"].values()),
        },
        "sms": {
            "checked": sum(sms.values()),
            "refused": sum(n for (ap, _), n in sms.items() if ap == "reject"),
            "sent": sum(n for (ap, _), n in sms.items() if ap == "accept"),
            "with_links": sum(n for (_, r), n in sms.items() if r in ("link_found", "refused_option")),
            "errors": sum(n for (_, r), n in sms.items() if r in ("error", "unreadable", "upstream_error")),
            "by_sender": [
                {"sender": d, "checked": c["checked"], "refused": c["refused"], "with_links": c["with_links"]}
                for d, c in sorted(
                    _split(
                        Counter({(k[0] or "(number)", k[1], k[2]): n for k, n in a["sms_senders"].items()})
                    ).items(),
                    key=lambda kv: (-kv[1]["checked"], kv[0]),
                )
            ],
        },
        "dry_run": {
            "messages": sum(a["dry"].values()),
            "would_have_been": {APPLIED[x]: a["dry"][x] for x in APPLIED},
        },
        "by_reason": dict(a["reasons"].most_common()),
        "out_of_scope": dict(a["out_of_scope"].most_common()),
        "by_location": dict(a["locations"].most_common()),
        "by_kind": dict(a["kinds"].most_common()),
        "by_sender_domain": [
            {"domain": d, **{f: c[f] for f in fields}}
            for d, c in sorted(senders.items(), key=lambda kv: (-kv[1]["checked"], kv[0]))
        ],
        "dkim": {
            "checked": checked_dkim,
            "pass": dk["pass"],
            "pass_share": round(dk["pass"] / checked_dkim, 4) if checked_dkim else None,
            "failures": {k: dk[k] for k in ("fail", "none", "permerror")},
            "dns_trouble": dk["temperror"],
            "failure_reasons": dict(dkim_reasons.most_common(10)),
        },
        "exceptions": dict(exceptions.most_common()),
        "exception_reasons": {n: (exception_reasons or {}).get(n, "") for n in exceptions},
        "top_link_hosts": [
            {"host": h, "messages": n} for h, n in sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        "quarantine": {"released": a["events"]["release"], "deleted": a["events"]["delete"]},
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
    sm = r["sms"]
    _table(
        out,
        "SMS to citizens (the SMS proxy)",
        [
            ("checked", sm["checked"]),
            ("refused", sm["refused"]),
            ("sent", sm["sent"]),
            ("with links", sm["with_links"]),
            ("errors (refused, nothing sent)", sm["errors"]),
        ]
        if sm["checked"]
        else [],
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
            *((f"why: {why}", n) for why, n in k["failure_reasons"].items()),
        ],
    )
    reasons = r.get("exception_reasons", {})
    _table(
        out,
        "Exceptions used (messages)",
        [(k, f"{v}  {reasons[k]}" if reasons.get(k) else v) for k, v in r["exceptions"].items()],
    )
    _table(
        out,
        "Top link hosts (first link of each message)",
        [(h["host"], h["messages"]) for h in r["top_link_hosts"]],
    )
    if r.get("by_relay"):
        _table(
            out,
            "By relay: checked / refused / held / deferred / delivered / with links",
            [
                (
                    x["relay"],
                    f"{x['checked']} / {x['refused']} / {x['held']} / {x['deferred']} / {x['delivered']} / {x['with_links']}",
                )
                for x in r["by_relay"]
            ],
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
    for x in r.get("by_relay", []):
        for f, v in x.items():
            if f != "relay":
                w.writerow(["by_relay", x["relay"], f, v])
    for x in r["daily"]:
        for f, v in x.items():
            if f != "day":
                w.writerow(["daily", x["day"], f, v])
    return buf.getvalue()
