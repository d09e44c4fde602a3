"""The milter adapter with the journal and named exceptions (driven by Milter.testctx, no MTA)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import Milter

from mail import message
from test_service import CITIZEN, CLEAN, INTERNAL, LINK, Session, dkim_service, make, signed

PORTAL = message("แบบฟอร์มที่ https://portal.example.go.th/form ค่ะ")
EXCEPTION = '[[exceptions]]\nname = "portal"\nlink_host = "portal.example.go.th"\n'


def journal_rows(path: str) -> list[tuple[str, str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT queue_id, applied, reason, exceptions FROM decisions ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_every_final_decision_is_journaled_once(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    svc = make(f'[journal]\npath = "{path}"\n')
    assert Session(svc, "QLINK1").send(LINK, CITIZEN) == Milter.REJECT
    assert Session(svc, "QCLEAN1").send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert Session(svc, "QINT1").send(LINK, INTERNAL) == Milter.ACCEPT  # out of scope: counted only
    svc.close()
    assert journal_rows(str(path)) == [
        ("QLINK1", "reject", "link_found", ""),
        ("QCLEAN1", "accept", "clean", ""),
    ]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT reason, count FROM out_of_scope").fetchall() == [("not_citizen_bound", 1)]


def test_a_broken_journal_changes_no_verdict(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    svc = make(f'[journal]\npath = "{tmp_path / "file" / "j.sqlite"}"\n')
    assert Session(svc).send(LINK, CITIZEN) == Milter.REJECT
    assert Session(svc).send(CLEAN, CITIZEN) == Milter.ACCEPT
    svc.close()
    reg = svc.metrics.registry
    assert (reg.get_sample_value("nolink_journal_errors_total") or 0) >= 1
    assert reg.get_sample_value("nolink_journal_dropped_total") == 2


def test_excepted_link_still_needs_dkim() -> None:
    """With DKIM on, a message whose only link is excepted is DKIM-checked like a clean one."""
    svc = dkim_service(text=EXCEPTION)
    assert Session(svc).send(signed(PORTAL), CITIZEN) == Milter.ACCEPT
    s = Session(svc)
    assert s.send(PORTAL, CITIZEN) == Milter.REJECT
    assert s.reply is not None and s.reply[1] == "5.7.20"  # no DKIM signature
    assert svc.metrics.registry.get_sample_value("nolink_exceptions_total", {"name": "portal"}) == 2
