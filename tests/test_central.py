"""[central]: config, check-config, migrations and partitions, and the shipper, against a real PostgreSQL."""

from __future__ import annotations

import datetime
import io
import threading
import time
from pathlib import Path

import pytest

from centralkit import add_rows, config
from nolink.adapters.cli import main
from nolink.central import schema
from nolink.central.db import connect
from nolink.central.shipper import Shipper
from nolink.config import parse
from nolink.errors import ConfigError


class Seen:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.backlog: tuple[int, float] = (-1, -1.0)

    def central_unshipped(self, rows: int, lag_seconds: float) -> None:
        self.backlog = (rows, lag_seconds)

    def central_error(self, cause: str) -> None:
        self.errors.append(cause)


# -- config ---------------------------------------------------------------------------------------


def test_without_central_nothing_is_on() -> None:
    assert parse("").central.dsn == ""


def test_central_needs_a_dsn_and_keeps_passwords_out() -> None:
    with pytest.raises(ConfigError, match=r"central\.dsn is empty"):
        parse("[central]\n")
    with pytest.raises(ConfigError, match="password_file"):
        parse('[central]\ndsn = "host=db user=relay password=secret"\n')
    with pytest.raises(ConfigError, match="password_file"):
        parse('[central]\ndsn = "postgresql://relay:secret@db/nolink"\n')
    with pytest.raises(ConfigError, match=r"central\.sslmode"):
        parse('[central]\ndsn = "host=db"\nsslmode = "sometimes"\n')
    with pytest.raises(ConfigError, match=r"central\.relay_id"):
        parse('[central]\ndsn = "host=db"\nrelay_id = "a b"\n')


def test_relay_id_defaults_to_the_host_name() -> None:
    import socket

    assert parse('[central]\ndsn = "host=db"\n').central.relay_id == socket.gethostname().split(".")[0]


def check_config(tmp_path: Path, text: str) -> tuple[int, str]:
    p = tmp_path / "nolink.toml"
    p.write_text('[milter]\nsocket = "inet:8890@127.0.0.1"\n[links]\nocr = false\n' + text)
    out = io.StringIO()
    rc = main(["check-config", "-c", str(p)], out, io.StringIO())
    return rc, out.getvalue()


def _central_toml(
    pg, db: str, tmp_path: Path, password: str = "owner-secret", dsn: str = "", extra: str = ""
) -> str:  # type: ignore[no-untyped-def]
    pw = tmp_path / "pw"
    pw.write_text(password + "\n")
    return (
        f'[journal]\npath = "{tmp_path / "j.sqlite"}"\n[central]\ndsn = "{dsn or pg.dsn(db)}"\n'
        f'password_file = "{pw}"\nrelay_id = "r1"\n' + extra
    )


def test_check_config_says_what_is_wrong_with_the_database(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    rc, out = check_config(
        tmp_path, _central_toml(pg, db, tmp_path, dsn="host=127.0.0.1 port=1 dbname=x user=y")
    )
    assert rc == 1 and "FAIL  central: cannot reach PostgreSQL at 127.0.0.1 port 1" in out
    rc, out = check_config(tmp_path, _central_toml(pg, db, tmp_path, password="wrong"))
    assert rc == 1 and "refused the password of user nolink_owner" in out and "wrong" not in out
    rc, out = check_config(tmp_path, _central_toml(pg, db, tmp_path))
    assert rc == 1 and "run nolink central migrate" in out
    rc, out = check_config(tmp_path, _central_toml(pg, db, tmp_path, extra="migrate_at_start = true\n"))
    assert rc == 0 and "nolink serve migrates it" in out
    # migrate, then a newer nolink's schema
    p = tmp_path / "nolink.toml"
    assert main(["central", "migrate", "-c", str(p)], io.StringIO(), io.StringIO()) == 0
    rc, out = check_config(tmp_path, _central_toml(pg, db, tmp_path))
    assert rc == 0 and f"relay r1 logs in as nolink_owner, schema version {schema.SCHEMA_VERSION}" in out
    with pg.admin(db) as c:
        c.execute("INSERT INTO nolink_schema (version) VALUES (99)")
    rc, out = check_config(tmp_path, _central_toml(pg, db, tmp_path))
    assert (
        rc == 1
        and f"schema version 99, newer than this nolink knows ({schema.SCHEMA_VERSION}): upgrade" in out
    )
    err = io.StringIO()
    assert main(["central", "migrate", "-c", str(p)], io.StringIO(), err) == 2
    assert "newer than this nolink knows" in err.getvalue()


# -- schema ---------------------------------------------------------------------------------------


def test_migrate_is_idempotent_and_two_at_once_migrate_once(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    cfg = config(pg, db, tmp_path)
    results: list[tuple[int, int]] = []

    def run() -> None:
        with connect(cfg.central, autocommit=True) as c:
            results.append(schema.migrate(c))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    v = schema.SCHEMA_VERSION
    assert sorted(results) == [(0, v), (v, v), (v, v)]
    with connect(cfg.central, autocommit=True) as c:
        assert schema.migrate(c) == (v, v)
        assert c.execute("SELECT count(*) FROM nolink_schema").fetchone() == (v,)
        parts = schema.partitions(c)
    this = datetime.datetime.now(datetime.UTC)
    assert f"decisions_{this:%Y_%m}" in parts and "decisions_default" in parts
    assert len([p for p in parts if p != "decisions_default"]) == schema.MONTHS_AHEAD + 1


def test_retention_drops_whole_old_months(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    cfg = config(pg, db, tmp_path)
    with connect(cfg.central, autocommit=True) as c:
        schema.migrate(c)
        schema.ensure_partitions(c, datetime.date(2025, 1, 15), ahead=2)  # Jan, Feb, Mar 2025
        old = datetime.datetime(2025, 1, 20, tzinfo=datetime.UTC).timestamp()
        c.execute(
            "INSERT INTO decisions (relay_id, local_id, time, ref, action, applied, mode, reason) "
            "VALUES ('r', 1, %s, 'OLD', 'reject', 'reject', 'enforce', 'link_found')",
            (old,),
        )
        now = datetime.datetime(2025, 4, 10, tzinfo=datetime.UTC)
        assert schema.drop_old_partitions(c, 60, now) == [
            "decisions_2025_01"
        ]  # Feb ends Mar 1: kept (< 60 d)
        assert c.execute("SELECT count(*) FROM decisions WHERE ref = 'OLD'").fetchone() == (0,)
        assert "decisions_2025_02" in schema.partitions(c)


# -- shipping -------------------------------------------------------------------------------------


def central_rows(pg, db: str, relay: str = "relay1") -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    with pg.admin(db) as c:
        return [
            tuple(r)
            for r in c.execute("SELECT local_id, ref FROM decisions WHERE relay_id = %s ORDER BY 1", (relay,))
        ]


def ship_all(s: Shipper, limit: int = 100) -> None:
    for _ in range(limit):
        if not s.step():
            return


def test_shipping_twice_sends_nothing_twice_and_resumes_from_the_mark(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    cfg = config(pg, db, tmp_path)
    path = cfg.journal.path
    add_rows(path, 250)
    seen = Seen()
    s = Shipper(cfg.central, path, seen)
    ship_all(s)
    assert seen.backlog == (0, 0.0) and not seen.errors
    rows = central_rows(pg, db)
    assert [r[0] for r in rows] == list(range(1, 251))
    # a second shipper from mark 0 (the batch sent again after a crash before the mark): no duplicates
    again = Shipper(cfg.central, path, Seen())
    again.mark = 0
    again._pg_conn()
    again.mark = 0
    ship_all(again)
    assert len(central_rows(pg, db)) == 250
    # a new shipper (a restart) starts from the central mark; new rows only
    add_rows(path, 30, start=250)
    restarted = Shipper(cfg.central, path, Seen())
    restarted.step()
    assert restarted.stats.shipped == 30
    assert len(central_rows(pg, db)) == 280


def test_the_journal_may_have_more_columns_than_the_central_table(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    db = pg.database()
    cfg = config(pg, db, tmp_path)
    path = cfg.journal.path
    add_rows(path, 3)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE decisions SET channel = 'sms'")  # the column of issue 21's journal migration
        c.execute("ALTER TABLE decisions ADD COLUMN something_new TEXT NOT NULL DEFAULT 'x'")
    ship_all(Shipper(cfg.central, path, Seen()))
    with pg.admin(db) as c:
        assert c.execute("SELECT count(*), min(channel) FROM decisions").fetchone() == (3, "sms")


def test_postgresql_down_then_up_every_row_arrives_once(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    cfg = config(pg, db, tmp_path)
    path = cfg.journal.path
    add_rows(path, 10)
    with connect(cfg.central, autocommit=True) as c:
        schema.migrate(c)
    seen = Seen()
    s = Shipper(cfg.central, path, seen, idle=0.1).start()
    try:
        deadline = time.monotonic() + 20
        while len(central_rows(pg, db)) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        pg.stop("immediate")
        try:
            for i in range(5):  # decisions keep being journaled locally while PostgreSQL is away
                add_rows(path, 20, start=10 + 20 * i)
                time.sleep(0.3)
            time.sleep(1.0)
            assert seen.backlog[0] > 0 and seen.backlog[1] > 0
        finally:
            pg.start()
        deadline = time.monotonic() + 40
        while len(central_rows(pg, db)) < 110 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        s.stop()
    rows = central_rows(pg, db)
    assert [r[0] for r in rows] == list(range(1, 111))
    assert seen.backlog == (0, 0.0)
    assert set(seen.errors) <= {"connect", "insert"} and seen.errors


def test_the_shipped_roles_let_each_do_its_job_and_no_more(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    db = pg.database()
    owner = config(pg, db, tmp_path)
    with connect(owner.central, autocommit=True) as c:
        schema.migrate(c)
        c.execute((Path(__file__).parent.parent / "config" / "central" / "roles.sql").read_text())
        for user, role in (
            ("relay1", "nolink_relay"),
            ("rev", "nolink_reviewer"),
            ("audit", "nolink_reader"),
        ):
            c.execute(f"DROP ROLE IF EXISTS {user}")
            c.execute(f"CREATE ROLE {user} LOGIN PASSWORD 'pw-{user}' IN ROLE {role}")
    relay = parse(
        f'[journal]\npath = "{tmp_path / "r.sqlite"}"\n[central]\ndsn = "{pg.dsn(db, "relay1")}"\n'
        f'password_file = "{tmp_path / "relay1.pw"}"\nrelay_id = "relay1"\n'
    )
    (tmp_path / "relay1.pw").write_text("pw-relay1\n")
    add_rows(relay.journal.path, 5)
    seen = Seen()
    ship_all(Shipper(relay.central, relay.journal.path, seen))
    assert seen.backlog == (0, 0.0) and not seen.errors
    with psycopg.connect(pg.dsn(db, "audit") + " password=pw-audit", autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM decisions").fetchone() == (5,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "INSERT INTO requests (relay_id, queue_id, action, reason, requested_by, requested_at) VALUES ('relay1', 'ABC123', 'release', 'x', 'audit', 0)"
            )
    with psycopg.connect(pg.dsn(db, "rev") + " password=pw-rev", autocommit=True) as c:
        c.execute(
            "INSERT INTO requests (relay_id, queue_id, action, reason, requested_by, requested_at) VALUES ('relay1', 'ABC123', 'release', 'x', 'rev', 0)"
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM decisions")


def test_at_start_a_refused_password_or_a_newer_schema_is_logged_and_retried(
    pg, tmp_path: Path, caplog
) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    bad = config(pg, db, tmp_path, "wrongpw", password="not-the-password")
    add_rows(bad.journal.path, 3)
    seen = Seen()
    Shipper(bad.central, bad.journal.path, seen).step()
    assert seen.errors == ["connect"] and seen.backlog[0] == 3
    assert (
        "refused the password of user nolink_owner" in caplog.text and "not-the-password" not in caplog.text
    )
    good = config(pg, db, tmp_path, "newer")
    with connect(good.central, autocommit=True) as c:
        schema.migrate(c)
        c.execute("INSERT INTO nolink_schema (version) VALUES (%s)", (schema.SCHEMA_VERSION + 1,))
    add_rows(good.journal.path, 2)
    seen = Seen()
    Shipper(good.central, good.journal.path, seen).step()
    assert seen.errors == ["schema"] and seen.backlog == (2, seen.backlog[1])
    assert "newer than this nolink knows" in caplog.text


def test_a_row_shipped_again_from_an_older_mark_is_never_a_second_row(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The key is (relay_id, local_id, time) because PostgreSQL wants the partition key in a
    partitioned table's unique keys; a row's time is written once by the journal and shipped
    bit for bit (repr of the double), so a row sent again has the same three values and lands in
    the same partition: ON CONFLICT catches it there, in whichever partition it is."""
    import os

    db = pg.database()
    cfg = config(pg, db, tmp_path)
    path = cfg.journal.path
    this_month = time.time() + 0.123456789012
    next_month = schema.next_month(schema.month_start(datetime.datetime.now(datetime.UTC).date()))
    old = datetime.datetime(2020, 2, 29, 23, 59, 59, 999999, tzinfo=datetime.UTC).timestamp()
    add_rows(path, 70, 0, this_month)
    add_rows(path, 70, 70, next_month.timestamp() + 1 / 3)  # next month's partition
    add_rows(path, 70, 140, old)  # no partition: decisions_default
    ship_all(Shipper(cfg.central, path, Seen()))

    def placed() -> list[tuple[str, int]]:
        with pg.admin(db) as c:
            return [
                (str(p), int(n))
                for p, n in c.execute(
                    "SELECT tableoid::regclass, count(*) FROM decisions GROUP BY 1 ORDER BY 1"
                )
            ]

    first = placed()
    assert sorted(n for _, n in first) == [70, 70, 70] and any(p == "decisions_default" for p, _ in first)
    for mark in (0, 37, 139, 205):  # the mark lost or rolled back (a restored backup), then a restart
        with pg.admin(db) as c:
            c.execute("UPDATE relays SET shipped_id = %s, shipped_time = 0", (mark,))
        os.unlink(path + ".shipped")
        again = Shipper(cfg.central, path, Seen())
        ship_all(again)
        assert again.stats.shipped == 210 - mark  # sent again, all of it above the mark ...
        assert placed() == first  # ... and not one row more, in any partition
    with pg.admin(db) as c:
        assert c.execute(
            "SELECT count(*) FROM (SELECT relay_id, local_id FROM decisions GROUP BY 1, 2 HAVING count(*) > 1) d"
        ).fetchone() == (0,)
        assert c.execute("SELECT sum(count) FROM decision_days").fetchone() == (210,)


def test_a_new_journal_file_is_shipped_whole_beside_the_old_rows(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Why time is in the key beyond partitioning: a journal re-created (ids from 1 again) holds
    other decisions under the old ids; they are kept, not taken for rows already shipped. The new
    file may have grown past the old mark before the shipper looks: it notices by the row at the
    mark having another time than the one shipped."""
    import os

    db = pg.database()
    cfg = config(pg, db, tmp_path)
    path = cfg.journal.path
    add_rows(path, 50, 0, time.time() - 100)
    ship_all(Shipper(cfg.central, path, Seen()))
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)
    add_rows(path, 80, 1000, time.time())  # more rows than the old mark (50)
    s = Shipper(cfg.central, path, Seen())
    ship_all(s)
    with pg.admin(db) as c:
        assert c.execute("SELECT count(*), count(DISTINCT local_id) FROM decisions").fetchone() == (130, 80)
        assert c.execute("SELECT shipped_id FROM relays").fetchone() == (80,)
