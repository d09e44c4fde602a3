"""[central] with real `nolink serve` processes: never blocked by PostgreSQL, kill -9 while shipping."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from centralkit import add_rows
from harness import Nolink, Parts, Postfix, Sink, have_postfix, private_dir, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path


def central(pg, db: str, base: Path, dsn: str = "", extra: str = "") -> str:  # type: ignore[no-untyped-def]
    pw = base / "pw"
    pw.write_text("owner-secret\n")
    return (
        f'[links]\nocr = false\n[central]\ndsn = "{dsn or pg.dsn(db)}"\npassword_file = "{pw}"\n'
        f'relay_id = "r1"\nmigrate_at_start = true\nbatch_size = 250\npoll_seconds = 0.5\n{extra}'
    )


def test_an_unreachable_database_never_blocks_the_milter(pg, base: Path) -> None:  # type: ignore[no-untyped-def]
    n = Nolink(base, "down", central(pg, "x", base, dsn="host=127.0.0.1 port=1 dbname=x user=y"))
    add_rows(str(n.journal), 7)
    n.start()  # the socket accepts: the shipper connects in the background
    try:
        wait_until(
            lambda: n.samples().get('nolink_central_errors_total{cause="connect"}', 0) > 0, 20, what="error"
        )
        s = n.samples()
        assert s["nolink_central_unshipped_rows"] == 7 and s["nolink_central_ship_lag_seconds"] > 0
        assert any("ERROR central: cannot reach PostgreSQL at 127.0.0.1 port 1" in x for x in n.lines())
    finally:
        assert n.stop() == 0


def test_kill_9_while_shipping_then_restart_every_row_once(pg, base: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    n = Nolink(base, "kill", central(pg, db, base))
    total = 20000
    add_rows(str(n.journal), total)

    def shipped() -> int:
        try:
            with pg.admin(db) as c:
                return int(c.execute("SELECT count(*) FROM decisions").fetchone()[0])
        except Exception:
            return 0

    n.start()
    try:
        wait_until(lambda: shipped() > 0, 30, what="first rows shipped")
        n.stop(signal.SIGKILL)
        partial = shipped()
        assert 0 < partial < total, "the kill should land while shipping (make total larger)"
        n.start()
        wait_until(lambda: shipped() >= total, 60, step=0.3, what="all rows shipped")
        time.sleep(1.0)
        with pg.admin(db) as c:
            got = c.execute(
                "SELECT count(*), count(DISTINCT local_id), min(local_id), max(local_id) FROM decisions"
            ).fetchone()
            mark = c.execute("SELECT shipped_id FROM relays WHERE relay_id = 'r1'").fetchone()
        assert got == (total, total, 1, total) and mark == (total,)
        wait_until(lambda: n.samples()["nolink_central_unshipped_rows"] == 0, 10, what="backlog 0")
    finally:
        n.stop()


def test_postgresql_down_30_s_while_mail_flows_every_decision_arrives_once() -> None:
    """Real Postfix + nolink serve, a steady sender, and PostgreSQL stopped for 30 s in the middle:
    mail keeps being decided and journaled, and once PostgreSQL is back every local row is in the
    central record exactly once (by local id, ref and count, and in the summary)."""
    import shutil
    import sqlite3
    import threading
    import uuid

    from pgserver import PgServer, have_postgres

    if have_postgres():
        pytest.skip(have_postgres())
    base = private_dir()
    pg = PgServer().init().start()  # its own server: the other tests' one keeps running
    parts = Parts()
    codes: list[int] = []
    stop = threading.Event()
    try:
        db = pg.database()
        sink = parts.add(Sink(base).start())
        n = Nolink(base, "outage", "")
        postfix = Postfix(base, sink, {"outage": f"unix:{n.socket}"}, non_smtpd_milter="")
        n.write_config(
            '[scope]\ninternal_domains = ["go.th"]\n'
            + central(pg, db, base, extra=f'postfix_config_dir = "{postfix.conf}"\n')
        )
        parts.add(n.start())
        parts.add(postfix.start())

        def send_steadily() -> None:
            i = 0
            while not stop.is_set():
                m = uuid.uuid4().hex[:12]
                body = f"ดูที่ https://evil.example.com/{m}" if i % 3 == 0 else f"เรียน ท่าน หนังสือที่ {i}"
                data = (
                    f"From: <saraban@example.go.th>\r\nTo: <somchai@example.com>\r\nSubject: {m}\r\n"
                    f"Message-ID: <{m}@example.go.th>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
                ).encode()
                codes.append(postfix.send("outage", data, ["somchai@example.com"])[0])
                i += 1
                time.sleep(0.05)

        def central_rows() -> int:
            try:
                with pg.admin(db) as c:
                    return int(c.execute("SELECT count(*) FROM decisions").fetchone()[0])
            except Exception:
                return -1

        sender = threading.Thread(target=send_steadily, daemon=True)
        sender.start()
        wait_until(lambda: central_rows() >= 5, 60, step=0.3, what="the first rows shipped")
        pg.stop("immediate")
        before = len(codes)
        time.sleep(30)  # PostgreSQL away for 30 s; the sender keeps sending
        during = len(codes) - before
        s = n.samples()
        pg.start()
        assert during > 0, "no mail was decided while PostgreSQL was down"
        assert (
            s.get('nolink_central_errors_total{cause="insert"}', 0)
            + s.get('nolink_central_errors_total{cause="connect"}', 0)
            > 0
        )
        assert s["nolink_central_unshipped_rows"] > 0
        time.sleep(3)  # and a little more mail after it is back
        stop.set()
        sender.join(150)
        assert not sender.is_alive()
        assert set(codes) <= {250, 550}, codes  # every message decided: delivered or refused

        def local() -> list[tuple[int, str]]:
            with sqlite3.connect(n.journal) as c:
                return [tuple(r) for r in c.execute("SELECT id, ref FROM decisions ORDER BY id")]

        wait_until(lambda: len(local()) == len(codes), 30, what="every decision journaled locally")
        wait_until(lambda: central_rows() == len(codes), 120, step=0.5, what="every row shipped")
        time.sleep(2)  # a row shipped twice would show up now
        with pg.admin(db) as c:
            got = [tuple(r) for r in c.execute("SELECT local_id, ref FROM decisions ORDER BY local_id")]
            summary = c.execute("SELECT sum(count) FROM decision_days").fetchone()
        assert got == local() and len(got) == len(codes) and summary == (len(codes),)
        assert codes.count(550) > 0 and codes.count(250) > 0
        wait_until(lambda: n.samples()["nolink_central_unshipped_rows"] == 0, 20, what="backlog 0")
    finally:
        stop.set()
        parts.stop()
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)
