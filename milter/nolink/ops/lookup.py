"""nolink lookup: what happened to one message and why, from the journal (by ref or queue id)."""

from __future__ import annotations

import datetime
import sqlite3
from typing import Any

from . import journal

OUTCOME = {
    "reject": "refused (550): the sender got the error and the message was not sent",
    "tempfail": "deferred (451): the sender's server was told to try again later",
    "quarantine": "held in Postfix's hold queue for review",
    "accept": "delivered",
}
REASONS = {
    "clean": "no link was found",
    "link_found": "a link was found",
    "dkim_fail": "its DKIM signature did not verify",
    "dkim_none": "it carried no DKIM signature",
    "dkim_permerror": "its DKIM signature could not be used",
    "dkim_temperror": "its DKIM key could not be looked up",
    "too_large": "it was too large to check",
    "error": "it could not be checked",
}


def find(paths: list[str], key: str) -> list[dict[str, Any]]:
    """Journal rows whose ref or queue id is key (case-insensitive), with their events, oldest first."""
    out: list[dict[str, Any]] = []
    for path in paths:
        conn = journal.connect_ro(path)
        try:
            rows = conn.execute(
                "SELECT * FROM decisions WHERE ref = ? OR queue_id = ? ORDER BY time",
                (key.upper(), key.upper()),
            ).fetchall()
            for r in rows:
                d = dict(r)
                d.pop("id", None)
                d["journal"] = path
                ev = conn.execute(
                    "SELECT time, event, user, reason FROM events WHERE queue_id = ? AND queue_id != '' ORDER BY time",
                    (d["queue_id"],),
                ).fetchall()
                d["events"] = [dict(e) for e in ev]
                out.append(d)
        except sqlite3.Error as e:
            raise journal.JournalError(f"{path}: cannot read the journal: {e}") from None
        finally:
            conn.close()
    return sorted(out, key=lambda d: d["time"])


def when(t: float) -> str:
    return datetime.datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def describe(d: dict[str, Any]) -> str:
    """A journal row in words, for the administrator on the phone with the sender."""
    lines = [f"Ref {d['ref']}, queue id {d['queue_id'] or '-'}, {when(d['time'])}"]
    who = d["sender_domain"] or "(no sender domain)"
    lines.append(
        f"  from {who} to {d['rcpt_domains']} citizen recipient domain(s), {d['size']} bytes as nolink checked it, "
        f"listener {d['listener'] or '-'}"
    )
    why = REASONS.get(d["reason"], d["reason"])
    if d["mode"] == "dry_run":
        lines.append(
            f"  dry run: it would have been {OUTCOME.get(d['action'], d['action']).split(':')[0]}; it was delivered"
        )
    else:
        lines.append(f"  {OUTCOME.get(d['applied'], d['applied'])}")
    lines.append(f"  because {why} (reason={d['reason']}, action={d['action']}, mode={d['mode']})")
    if d["location"]:
        lines.append(
            f"  first link: {d['sample']} ({d['kind']}) in {d['location']}; {d['findings']} link(s) in all"
        )
    if d["dkim_result"]:
        sig = f" d={d['dkim_domain']} s={d['dkim_selector']}" if d["dkim_domain"] else ""
        extra = f": {d['dkim_reason']}" if d["dkim_reason"] and d["dkim_result"] != "pass" else ""
        lines.append(f"  DKIM {d['dkim_result']}{sig}{extra}")
    if d["exceptions"]:
        lines.append(f"  links let through by exception(s): {d['exceptions']}")
    for e in d.get("events", []):
        lines.append(f"  {when(e['time'])}: {e['event']}d by {e['user']}: {e['reason']}")
    lines.append(f"  decided in {d['ms']:g} ms by nolink {d['version']} (config {d['config_digest'] or '-'})")
    return "\n".join(lines)
