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
