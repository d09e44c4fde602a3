"""lookup, report and quarantine list --all on the central record (two relays shipped to a real PostgreSQL)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from centralkit import add_rows, config
from nolink.adapters.cli import main
from nolink.central import schema
from nolink.central.db import connect
from nolink.central.shipper import Shipper


@pytest.fixture(scope="module")
def fleet(pg, tmp_path_factory):  # type: ignore[no-untyped-def]
    """relay1: 40 refused from a.go.th and 10 delivered; relay2: 5 held from b.go.th, 20 delivered."""
    tmp = tmp_path_factory.mktemp("fleet")
    db = pg.database()
    now = time.time()
    c1, c2 = config(pg, db, tmp, "relay1"), config(pg, db, tmp, "relay2")
    add_rows(c1.journal.path, 40, 0, now - 3600, sender="a.go.th")
    add_rows(c1.journal.path, 10, 40, now - 3600, applied="accept", sender="a.go.th")
    add_rows(c2.journal.path, 5, 0, now - 7200, applied="quarantine", sender="b.go.th")
    add_rows(c2.journal.path, 20, 5, now - 7200, applied="accept", sender="b.go.th")
    add_rows(
        c2.journal.path,
        1,
        25,
        now - 60,
        ref="FINDME0001",
        queue_id="4XYZ12345",
        applied="quarantine",
        sender="b.go.th",
    )
    for c in (c1, c2):
        with connect(c.central, autocommit=True) as conn:
            schema.migrate(conn)
        s = Shipper(c.central, c.journal.path)
        while s.step():
            pass
    toml = tmp / "reviewer.toml"
    toml.write_text(
        f'[journal]\npath = ""\n[central]\ndsn = "{pg.dsn(db)}"\npassword_file = "{tmp / "relay1.password"}"\nrelay_id = "desk"\n'
    )
    return str(toml), pg, db


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_lookup_finds_a_ref_whatever_relay_decided_it(fleet) -> None:  # type: ignore[no-untyped-def]
    toml, _, _ = fleet
    rc, out, _ = run("lookup", "-c", toml, "findme0001")
    assert rc == 0 and out.startswith("Relay relay2: Ref FINDME0001, queue id 4XYZ12345")
    assert "held in Postfix's hold queue" in out
    rc, out, _ = run("lookup", "-c", toml, "4XYZ12345", "--json")
    assert rc == 0 and [d["relay_id"] for d in json.loads(out)] == ["relay2"]
    assert run("lookup", "-c", toml, "NOSUCHREF")[0] == 1


def test_report_counts_both_relays_exactly_and_filters(fleet) -> None:  # type: ignore[no-untyped-def]
    toml, _, _ = fleet
    rc, out, err = run("report", "-c", toml, "--since", "2d", "--format", "json")
    assert rc == 0, err
    r = json.loads(out)
    assert r["messages"]["checked"] == 76 and r["messages"]["refused"] == 40 and r["messages"]["held"] == 6
    assert {x["relay"]: x["checked"] for x in r["by_relay"]} == {"relay1": 50, "relay2": 26}
    assert sum(d["checked"] for d in r["daily"]) == 76
    rc, out, _ = run("report", "-c", toml, "--since", "2d", "--format", "json", "--relay", "relay2")
    assert json.loads(out)["messages"]["checked"] == 26
    rc, out, _ = run(
        "report",
        "-c",
        toml,
        "--since",
        "2d",
        "--format",
        "json",
        "--sender-domain",
        "A.go.th",
        "--reason",
        "link_found",
    )
    r = json.loads(out)
    assert r["messages"]["checked"] == 40 and r["by_relay"] == [
        {
            "relay": "relay1",
            "checked": 40,
            "refused": 40,
            "held": 0,
            "deferred": 0,
            "delivered": 0,
            "with_links": 40,
        }
    ]
    rc, out, _ = run("report", "-c", toml, "--since", "2d")
    assert "By relay: checked / refused" in out and "relay1  50 / 40 / 0 / 0 / 10 / 40" in out
    rc, out, _ = run("report", "-c", toml, "--since", "2d", "--format", "csv")
    assert "by_relay,relay2,checked,26" in out
    rc, out, _ = run("report", "-c", toml, "--since", "2d", "--format", "html")
    assert "By relay" in out and '<td class="">relay2</td>' in out


def test_filters_without_central_are_refused(tmp_path: Path) -> None:
    (tmp_path / "j.sqlite").touch()
    rc, _, err = run("report", "--journal", str(tmp_path / "j.sqlite"), "--since", "2d", "--relay", "x")
    assert rc == 2 and "configure [central]" in err


def test_quarantine_list_all_shows_every_relay_and_pending_requests(fleet) -> None:  # type: ignore[no-untyped-def]
    toml, pg, db = fleet
    now = time.time()
    with pg.admin(db) as c:
        c.execute(
            "INSERT INTO held (relay_id, queue_id, arrival, size, sender_domain, reason, location, ref, seen) VALUES "
            "('relay2', '4XYZ12345', %s, 1234, 'b.go.th', 'link_found', '1 text/plain body @3', 'FINDME0001', %s), "
            "('relay2', '', 0, 0, '', '', '', '', %s), ('relay1', '', 0, 0, '', '', '', '', %s)",
            (now - 90, now, now, now - 3600),
        )
    rc, out, err = run("quarantine", "list", "--all", "-c", toml)
    assert rc == 0, err
    assert "relay2           4XYZ12345" in out and "FINDME0001" in out and "link_found" in out
    assert "1 message(s) held on 2 relay(s); not heard from lately: relay1" in out
    # a release for a relay that does not answer stays pending and is listed
    rc, out, _ = run(
        "quarantine", "release", "FINDME0001", "--reason", "checked by phone", "--timeout", "0.5", "-c", toml
    )
    assert rc == 2 and "is still pending: relay relay2 has not answered" in out
    rc, out, _ = run("quarantine", "list", "--all", "-c", toml)
    assert "release 4XYZ12345 on relay2" in out and "(pending)" in out
    rc, _, err = run("quarantine", "release", "NOTHELD99", "--reason", "x", "-c", toml)
    assert rc == 2 and "no relay holds a message" in err


# -- the report's daily summary (schema 2) ---------------------------------------------------------


def _diverse_journal(path: str) -> int:
    """Rows over twelve local days, at midnight, noon and just before the next midnight, of every
    kind the report counts: refused, held, dry run, DKIM, exceptions, SMS."""
    from nolink.ops import journal
    from test_report import at, put

    conn = journal.connect(path)
    n = 0
    with conn:
        for day in range(1, 13):
            for dt in (-12 * 3600, 0, 12 * 3600 - 0.25):
                t = at(day) + dt
                put(
                    conn,
                    t,
                    f"A{n}",
                    "reject",
                    "link_found",
                    "mof.go.th",
                    where="text_plain",
                    url=f"https://h{day % 3}.example.com",
                )
                put(
                    conn,
                    t,
                    f"B{n}",
                    "quarantine",
                    "link_found",
                    "dopa.go.th",
                    where="attachment",
                    url="http://x.example",
                )
                put(conn, t, f"C{n}", "accept", "clean", "rd.go.th", dkim="pass", exceptions=("tax-portal",))
                put(
                    conn,
                    t,
                    f"D{n}",
                    "reject",
                    "link_found",
                    "mof.go.th",
                    mode="dry_run",
                    where="subject",
                    url="https://d.example",
                )
                put(conn, t, f"E{n}", "tempfail", "dkim_temperror", "rd.go.th", dkim="temperror")
                put(
                    conn,
                    t,
                    f"S{n}",
                    "reject",
                    "link_found",
                    "BANK",
                    where="text_plain",
                    url="https://s.example",
                )
                n += 6
        conn.execute("UPDATE decisions SET channel = 'sms' WHERE ref LIKE 'S%'")
    conn.close()
    return n


def _same(pg, db: str, path: str, summary: bool) -> None:  # type: ignore[no-untyped-def]
    import datetime

    from nolink.central import queries
    from nolink.ops import report
    from test_report import at

    periods = [(at(2) - 5 * 3600, at(10) + 3 * 3600), (at(3) - 12 * 3600, at(9) - 12 * 3600),
               (at(4) - 3600, at(4) + 3600), (at(1) - 86400, at(13) + 86400)]  # fmt: skip
    with pg.admin(db) as conn:
        for s, u in periods:
            since, until = (datetime.datetime.fromtimestamp(x).astimezone() for x in (s, u))
            local = report.build([path], since, until)
            central = report.build(
                [path], since, until, None, lambda a, b: queries.aggregate(conn, a, b, queries.Filters())
            )
            assert central == local, (since, until)
            whole_days = queries._plan(conn, s, u)[1]
            assert (whole_days is not None) == (summary and u - s > 86400), (since, until, whole_days)
            assert central["messages"]["checked"] > 0 and central["sms"]["checked"] > 0


def test_the_report_from_the_daily_summary_is_the_local_report(pg, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TZ", "Asia/Bangkok")  # days that are not UTC days
    time.tzset()
    try:
        db = pg.database()
        cfg = config(pg, db, tmp_path, "r1")
        total = _diverse_journal(cfg.journal.path)
        with connect(cfg.central, autocommit=True) as conn:
            schema.migrate(conn)
        s = Shipper(cfg.central, cfg.journal.path)
        while s.step():
            pass
        again = Shipper(cfg.central, cfg.journal.path)  # the same rows shipped again: counted once
        again._pg_conn()
        again.mark = 0
        while again.step():
            pass
        with pg.admin(db) as c:
            assert c.execute("SELECT utc_offset FROM summary_settings").fetchone() == (7 * 3600,)
            assert c.execute("SELECT count(*) FROM decisions").fetchone() == (total,)
            assert c.execute("SELECT sum(count) FROM decision_days").fetchone() == (total,)
            assert c.execute("SELECT count(*) FROM decision_days").fetchone()[0] < total / 2
        _same(pg, db, cfg.journal.path, summary=True)
        with pg.admin(db) as c:  # a reviewer in another time zone: the raw rows, the same figures
            c.execute("UPDATE summary_settings SET utc_offset = 0")
        _same(pg, db, cfg.journal.path, summary=False)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_migrating_a_schema_1_database_counts_its_rows_into_the_summary(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    cfg = config(pg, db, tmp_path, "r1")
    _diverse_journal(cfg.journal.path)
    with pg.admin(db) as c:  # what nolink 1's migrate made, and rows its shippers sent
        c.execute(
            "CREATE TABLE nolink_schema (version integer NOT NULL, migrated_at timestamptz NOT NULL "
            "DEFAULT now(), nolink text NOT NULL DEFAULT '')"
        )
        c.execute(schema.MIGRATIONS[1])
        c.execute("INSERT INTO nolink_schema (version) VALUES (1)")
    import sqlite3

    from nolink.ops import journal

    with sqlite3.connect(cfg.journal.path) as local, pg.admin(db) as c:
        cols = ", ".join(journal.COLUMNS)
        rows = local.execute(f"SELECT 'r1', id, {cols} FROM decisions").fetchall()
        with c.cursor() as cur:
            marks = ", ".join(["%s"] * (len(journal.COLUMNS) + 2))
            cur.executemany(f"INSERT INTO decisions (relay_id, local_id, {cols}) VALUES ({marks})", rows)
    with connect(cfg.central, autocommit=True) as conn:
        assert schema.migrate(conn) == (1, schema.SCHEMA_VERSION)
    with pg.admin(db) as c:
        assert c.execute("SELECT sum(count) FROM decision_days").fetchone() == (len(rows),)
    _same(pg, db, cfg.journal.path, summary=True)


def test_a_release_done_on_the_relay_itself_is_seen_centrally(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`nolink quarantine release -C DIR` on the relay writes a journal event; the shipper sends it:
    list --all stops showing the message before the relay's next snapshot, lookup shows the
    release, the report counts it (once, although a central request's release is also an event)."""
    from nolink.ops import journal

    db = pg.database()
    c1 = config(pg, db, tmp_path, "relay1")
    now = time.time()
    add_rows(c1.journal.path, 1, 0, now - 600, ref="HELDREF001", queue_id="5ABC12345", applied="quarantine")
    add_rows(c1.journal.path, 1, 1, now - 500, ref="HELDREF002", queue_id="5ABC67890", applied="quarantine")
    with connect(c1.central, autocommit=True) as conn:
        schema.migrate(conn)
    s = Shipper(c1.central, c1.journal.path)
    while s.step():
        pass
    with pg.admin(db) as c:  # relay1's last snapshot of its hold queue: both held
        c.execute(
            "INSERT INTO held (relay_id, queue_id, arrival, size, reason, ref, seen) VALUES "
            "('relay1', '5ABC12345', %s, 1, 'link_found', 'HELDREF001', %s), "
            "('relay1', '5ABC67890', %s, 1, 'link_found', 'HELDREF002', %s), ('relay1', '', 0, 0, '', '', %s)",
            (now - 600, now, now - 500, now, now),
        )
    toml = tmp_path / "desk.toml"
    toml.write_text(
        f'[journal]\npath = ""\n[central]\ndsn = "{pg.dsn(db)}"\npassword_file = "{tmp_path / "relay1.password"}"\n'
    )
    rc, out, _ = run("quarantine", "list", "--all", "-c", str(toml))
    assert rc == 0 and "5ABC12345" in out and "2 message(s) held" in out
    journal.record_event(c1.journal.path, "5ABC12345", "HELDREF001", "release", "somchai", "sender confirmed")
    s.step()
    assert s.stats.events == 1
    rc, out, _ = run("quarantine", "list", "--all", "-c", str(toml))
    assert "5ABC12345" not in out and "5ABC67890" in out and "1 message(s) held" in out
    rc, out, _ = run("lookup", "HELDREF001", "-c", str(toml))
    assert "released by somchai: sender confirmed" in out, out
    rc, _, err = run("quarantine", "release", "HELDREF001", "--reason", "again", "-c", str(toml))
    assert rc == 2 and "no relay holds" in err  # never asked twice
    # a central request answered ok whose event is shipped too: one release, not two
    with pg.admin(db) as c:
        c.execute(
            "INSERT INTO requests (relay_id, queue_id, ref, action, reason, requested_by, requested_at, "
            "status, result, done_by, done_at) VALUES ('relay1', '5ABC67890', 'HELDREF002', 'release', "
            "'ok by phone', 'rev', %s, 'ok', 'released', 'nolink on relay1', %s)",
            (now, now),
        )
    rc, out, _ = run("report", "-c", str(toml), "--since", "1d", "--format", "json")
    assert json.loads(out)["quarantine"] == {"released": 2, "deleted": 0}
    journal.record_event(
        c1.journal.path, "5ABC67890", "HELDREF002", "release", "rev (central request 1)", "ok by phone"
    )
    again = Shipper(c1.central, c1.journal.path)  # a restart: events resume from their own mark
    again.step()
    assert again.stats.events == 1
    rc, out, _ = run("report", "-c", str(toml), "--since", "1d", "--format", "json")
    assert json.loads(out)["quarantine"] == {"released": 2, "deleted": 0}
    rc, out, _ = run("lookup", "HELDREF002", "-c", str(toml))
    assert out.count("released by") == 1 and "rev (central request 1)" in out
    with pg.admin(db) as c:
        assert c.execute("SELECT count(*) FROM events").fetchone() == (2,)
