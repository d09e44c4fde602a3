"""Two relays, each its own private Postfix and nolink, one central PostgreSQL: a message held on
relay b is listed and released from relay a's command line and reaches b's sink; the report counts
both exactly; lookup finds a ref from either; a release asked while b is down runs when b is back."""

from __future__ import annotations

import io
import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import Nolink, Parts, Postfix, Sink, have_postfix, private_dir, wait_until
from nolink.adapters.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]
CITIZEN = "somchai@example.com"


class Relay:
    def __init__(self, base: Path, name: str, parts: Parts, dsn: str, pw: Path) -> None:
        self.name = name
        self.sink = parts.add(Sink(base).start())
        self.nolink = Nolink(base, name, "")
        self.postfix = Postfix(base, self.sink, {name: f"unix:{self.nolink.socket}"}, non_smtpd_milter="")
        self.nolink.write_config(
            '[scope]\ninternal_domains = ["go.th"]\n[links]\naction = "quarantine"\nocr = false\n'
            f'[central]\ndsn = "{dsn}"\npassword_file = "{pw}"\nrelay_id = "{name}"\n'
            f'postfix_config_dir = "{self.postfix.conf}"\nmigrate_at_start = true\npoll_seconds = 0.5\n'
        )
        parts.add(self.nolink.start())
        parts.add(self.postfix.start())

    def send(self, body: str) -> str:
        m = uuid.uuid4().hex[:12]
        data = (
            f"From: <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: {m}\r\nMessage-ID: <{m}@example.go.th>\r\n"
            f"Date: Mon, 16 Feb 2026 09:00:00 +0700\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        ).encode()
        assert self.postfix.send(self.name, data, [CITIZEN])[0] == 250
        return m


def cli(relay: Relay, *argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main([*argv, "-c", str(relay.nolink.config)], out, err)
    return rc, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def fleet(pg) -> Iterator[tuple[Relay, Relay, object, str]]:  # type: ignore[no-untyped-def]
    base = private_dir()
    db = pg.database()
    pw = base / "pw"
    pw.write_text("owner-secret\n")
    parts = Parts()
    try:
        a = Relay(base / "a", "a", parts, pg.dsn(db), pw)
        b = Relay(base / "b", "b", parts, pg.dsn(db), pw)
        yield a, b, pg, db
    finally:
        parts.stop()


def central_held(pg, db: str, relay: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with pg.admin(db) as c:
        return [
            tuple(r)
            for r in c.execute(
                "SELECT queue_id, ref FROM held WHERE relay_id = %s AND queue_id != ''", (relay,)
            )
        ]


def shipped(pg, db: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with pg.admin(db) as c:
        return dict(c.execute("SELECT relay_id, count(*) FROM decisions GROUP BY 1").fetchall())


def test_held_on_b_released_from_a_and_counted_for_both(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, pg, db = fleet
    a.send("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")  # clean: delivered by a
    marker = b.send("ดูที่ https://evil.example.com/x ค่ะ")  # held by b
    qid = wait_until(lambda: b.postfix.held(), 20, what="held on b")[0]
    wait_until(lambda: central_held(pg, db, "b"), 20, what="b's hold queue published")
    wait_until(lambda: shipped(pg, db) == {"a": 1, "b": 1}, 20, what="both shipped")
    ref = central_held(pg, db, "b")[0][1]
    rc, out = cli(a, "quarantine", "list", "--all")
    assert rc == 0 and f"b                {qid}" in out and ref in out and "link_found" in out
    rc, out = cli(a, "lookup", ref)
    assert rc == 0 and out.startswith(f"Relay b: Ref {ref}, queue id {qid}")
    rc, out = cli(b, "report", "--since", "1d", "--format", "json")
    r = json.loads(out)
    assert r["messages"]["checked"] == 2 and r["messages"]["held"] == 1 and r["messages"]["delivered"] == 1
    assert {x["relay"]: x["checked"] for x in r["by_relay"]} == {"a": 1, "b": 1}
    rc, out = cli(
        a, "quarantine", "release", ref, "--reason", "link checked with the sender", "--timeout", "20"
    )
    assert rc == 0 and f"{qid}: released" in out and "on relay b" in out, out
    assert (
        b"X-Nolink-Verdict: quarantine"
        in wait_until(lambda: b.sink.find(marker.encode()), 20, what="delivery")[0]
    )
    assert not a.sink.find(marker.encode())
    rc, out = cli(a, "lookup", ref)
    assert "released by root" in out and "link checked with the sender" in out


def test_a_release_asked_while_the_relay_is_down_runs_once_when_it_is_back(fleet) -> None:  # type: ignore[no-untyped-def]
    a, b, pg, db = fleet
    marker = b.send("ดูที่ https://evil.example.com/y ค่ะ")
    wait_until(lambda: len(central_held(pg, db, "b")) == 1, 20, what="published")
    qid = central_held(pg, db, "b")[0][0]
    assert b.nolink.stop(signal.SIGTERM) == 0
    rc, out = cli(a, "quarantine", "release", qid, "--reason", "ok by phone", "--timeout", "1")
    assert rc == 2 and "is still pending: relay b has not answered" in out
    rc, out = cli(a, "quarantine", "list", "--all")
    assert f"release {qid} on b" in out and "(pending)" in out
    b.nolink.start()
    wait_until(lambda: b.sink.find(marker.encode()), 30, what="released after the restart")
    with pg.admin(db) as c:
        rows = c.execute("SELECT status, done_by FROM requests WHERE queue_id = %s", (qid,)).fetchall()
    assert rows == [("ok", "nolink on b")]
    assert len(b.sink.find(marker.encode())) == 1
