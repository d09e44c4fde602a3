"""The hold queue, seen through Postfix's own tools and joined with the journal by queue id.

postqueue -j lists it, postcat -q shows a message, postsuper -H releases and -d deletes. config_dir
("-C DIR") is passed to each as `-c DIR`, so a second Postfix instance works the way postqueue -c
does. The reason shown comes from the journal, else from the X-Nolink-Verdict header nolink put on
the message (nolink removes arriving copies of that header, so the held copy says only what nolink
said).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from ..errors import NolinkError
from ..findings import Link
from ..policy import HEADER, unquote
from ..scan import Scanner
from . import journal

log = logging.getLogger("nolink")
QUEUE_ID = re.compile(r"^[0-9A-Za-z]{5,32}$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^;]*)')


class QueueError(NolinkError):
    """Postfix's queue tools failed or the message is not in the hold queue."""


@dataclass(frozen=True, slots=True)
class Held:
    queue_id: str
    arrival: float
    size: int
    sender_domain: str
    recipients: int
    reason: str = ""
    where: str = ""
    ref: str = ""
    entry: dict[str, Any] = field(default_factory=dict)  # the journal row, when there is one

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.arrival)

    def to_json(self) -> dict[str, Any]:
        return {
            "queue_id": self.queue_id,
            "arrival_time": int(self.arrival),
            "age_seconds": int(self.age),
            "size": self.size,
            "sender_domain": self.sender_domain,
            "recipients": self.recipients,
            "reason": self.reason,
            "where": self.where,
            "ref": self.ref,
        }


def check_ids(ids: list[str]) -> None:
    for q in ids:
        if not QUEUE_ID.match(q):
            raise QueueError(f"{q!r} is not a Postfix queue id (letters and digits, as postqueue -j shows)")


class Queue:
    def __init__(self, config_dir: str | None = None, journal_path: str = "") -> None:
        self.config_dir = config_dir
        self.journal_path = journal_path

    def _run(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        args = [argv[0], *(["-c", self.config_dir] if self.config_dir else []), *argv[1:]]
        try:
            return subprocess.run(args, capture_output=True, timeout=120, check=False)
        except FileNotFoundError:
            raise QueueError(f"{argv[0]} not found: is Postfix installed (and /usr/sbin on PATH)?") from None

    # -- reading -----------------------------------------------------------------------------------

    def held(self) -> list[Held]:
        p = self._run("postqueue", "-j")
        if p.returncode != 0:
            raise QueueError(f"postqueue -j failed: {p.stderr.decode(errors='replace').strip()}")
        rows = [json.loads(x) for x in p.stdout.decode(errors="replace").splitlines() if x.strip()]
        hold = [r for r in rows if r.get("queue_name") == "hold"]
        entries = self._entries([str(r["queue_id"]) for r in hold])
        out = []
        for r in hold:
            qid = str(r["queue_id"])
            entry = entries.get(qid, {})
            if entry:
                reason, where, ref = entry["reason"], entry["location"], entry["ref"]
            else:  # not journaled (journal off or broken): what nolink wrote on the message
                v = self.verdict(qid)
                reason, where, ref = v.get("reason", ""), v.get("where", ""), v.get("ref", "")
            sender = str(r.get("sender", ""))
            out.append(
                Held(
                    qid,
                    float(r.get("arrival_time", 0)),
                    int(r.get("message_size", 0)),
                    sender.rpartition("@")[2].lower() if "@" in sender else "",
                    len(r.get("recipients", [])),
                    reason,
                    where,
                    ref,
                    entry,
                )
            )
        return sorted(out, key=lambda h: h.arrival)

    def get(self, qid: str) -> Held:
        check_ids([qid])
        for h in self.held():
            if h.queue_id == qid:
                return h
        raise QueueError(f"{qid} is not in the hold queue (see nolink quarantine list)")

    def message(self, qid: str) -> bytes:
        """The held message as Postfix keeps it (headers and body, no envelope records)."""
        check_ids([qid])
        p = self._run("postcat", "-h", "-b", "-q", qid)
        if p.returncode != 0:
            raise QueueError(f"postcat -q {qid} failed: {p.stderr.decode(errors='replace').strip()}")
        return p.stdout.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def headers(self, qid: str) -> list[tuple[str, str]]:
        check_ids([qid])
        p = self._run("postcat", "-h", "-q", qid)
        if p.returncode != 0:
            raise QueueError(f"postcat -q {qid} failed: {p.stderr.decode(errors='replace').strip()}")
        msg = BytesHeaderParser(policy=compat32).parsebytes(p.stdout)
        return [(k, str(v)) for k, v in msg.items()]

    def verdict(self, qid: str) -> dict[str, str]:
        """The fields of nolink's X-Nolink-Verdict header on a held message ({} when none)."""
        try:
            values = [v for k, v in self.headers(qid) if k.lower() == HEADER.lower()]
        except QueueError:
            return {}
        return parse_verdict(values[-1]) if values else {}

    def _entries(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not self.journal_path or not ids:
            return {}
        try:
            conn = journal.connect_ro(self.journal_path)
        except journal.JournalError as e:
            log.warning("%s", e)
            return {}
        try:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT * FROM decisions WHERE queue_id IN ({marks}) ORDER BY time", ids
            ).fetchall()
        except sqlite3.Error as e:
            log.warning("journal %s: %s", self.journal_path, e)
            return {}
        finally:
            conn.close()
        return {r["queue_id"]: dict(r) for r in rows}

    def rescan(self, qid: str, scanner: Scanner) -> tuple[list[Link], list[str]]:
        """Every link in the held copy with its location, and what could not be checked."""
        r = scanner.scan(self.message(qid))
        return list(r.findings), [*r.errors, *r.unchecked]

    # -- acting ------------------------------------------------------------------------------------

    def release(self, ids: list[str], reason: str, user: str | None = None) -> list[str]:
        return self._act(ids, reason, "release", user)

    def delete(self, ids: list[str], reason: str, user: str | None = None) -> list[str]:
        return self._act(ids, reason, "delete", user)

    def _act(self, ids: list[str], reason: str, event: str, user: str | None = None) -> list[str]:
        """user: who asked (default: this process's operator(); a central request: its requester)."""
        check_ids(ids)
        if not reason.strip():
            raise QueueError(f"say why with --reason TEXT: the {event} is recorded with it")
        held = {h.queue_id: h for h in self.held()}
        missing = [q for q in ids if q not in held]
        if missing:
            raise QueueError(f"not in the hold queue: {', '.join(missing)} (see nolink quarantine list)")
        user = user or operator()
        done = []
        for qid in ids:
            if event == "release":
                p = self._run("postsuper", "-H", qid)
                ok = f"{qid}: released from hold" in p.stderr.decode(errors="replace")
                if ok:
                    self._run("postqueue", "-i", qid)  # send now, not at the next queue run
            else:
                p = self._run("postsuper", "-d", qid, "hold")
                ok = f"{qid}: removed" in p.stderr.decode(errors="replace")
            if not ok:
                raise QueueError(
                    f"postsuper could not {event} {qid}: {p.stderr.decode(errors='replace').strip()}"
                )
            ref = held[qid].ref
            log.warning(
                "quarantine %s qid=%s ref=%s user=%s reason=%s",
                event,
                qid,
                ref or "-",
                user,
                json.dumps(reason),
            )
            _syslog(f"quarantine {event} qid={qid} ref={ref or '-'} user={user} reason={json.dumps(reason)}")
            if self.journal_path:
                journal.record_event(self.journal_path, qid, ref, event, user, reason)
            done.append(qid)
        return done


def operator() -> str:
    """Who is acting: the user sudo was run by, else this process's user."""
    sudo = os.environ.get("SUDO_USER", "")
    try:
        me = getpass.getuser()
    except (KeyError, OSError):
        me = str(os.getuid())
    return f"{sudo} (via sudo as {me})" if sudo and sudo != me else me


def _syslog(text: str) -> None:
    """Mail-system actions belong in the mail log as well (syslog facility mail)."""
    try:
        import syslog

        syslog.openlog("nolink", syslog.LOG_PID, syslog.LOG_MAIL)
        syslog.syslog(syslog.LOG_NOTICE, text)
    except OSError:
        pass


def parse_verdict(value: str) -> dict[str, str]:
    """ "quarantine; reason=link_found; where="1 text/plain body @3"; ref=ABC" -> fields."""
    action, _, rest = value.strip().partition(";")
    out = {"action": action.strip()}
    for m in _FIELD.finditer(rest):
        out[m.group(1)] = unquote(m.group(2).strip())
    return out
