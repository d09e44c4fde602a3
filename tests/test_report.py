"""nolink report and nolink lookup over journals with a known set of rows: exact figures."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
from pathlib import Path

import pytest

from nolink.adapters.cli import main
from nolink.config import Config
from nolink.dkim.check import DkimResult
from nolink.findings import Link, Location
from nolink.ops import journal, report, report_html
from nolink.policy import Decision
from nolink.scope import Envelope

LOC = {
    "text_plain": Location("1", "text/plain", "body", 5),
    "html_attribute": Location("2", "text/html", "attr a href"),
    "subject": Location("", "", "header Subject", 0),
    "attachment": Location("3", "application/pdf", "attachment a.pdf"),
}

# dkimpy's own words for a changed body, as DkimResult.reason keeps them for the log
BODY_HASH = "body hash mismatch (got b'Vq2YmZ9ahx3ZUqAEtFY1uRk2ZA==', expected b'47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=')"


def at(day: int, month: int = 11) -> float:
    return datetime.datetime(2026, month, day, 12, 0).timestamp()


def put(
    conn,
    t: float,
    ref: str,
    action: str,
    reason: str,
    sender: str,
    mode: str = "enforce",
    where: str = "",
    url: str = "",
    dkim: str = "",
    exceptions: tuple[str, ...] = (),
    qid: str = "",
) -> None:  # type: ignore[no-untyped-def]
    f = Link(url, url, "scheme", LOC[where]) if where else None
    dk = DkimResult(dkim, BODY_HASH if dkim != "pass" else "", sender, "s1") if dkim else None  # type: ignore[arg-type]
    d = Decision(action, reason, mode, ref, 1, f, 1 if f else 0, dkim=dk, exceptions=exceptions)  # type: ignore[arg-type]
    r = list(
        journal.row(
            d, Envelope(f"x@{sender}", ("c@example.com",), "smtpd"), qid or ref[:6], 1000, 0.002, Config()
        )
    )
    r[0] = t
    conn.execute(journal._INSERT, r)


@pytest.fixture
def journals(tmp_path: Path) -> tuple[str, str]:
    a, b = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    c = journal.connect(a)
    put(
        c,
        at(2),
        "R1",
        "reject",
        "link_found",
        "dopa.go.th",
        where="text_plain",
        url="https://evil.example.com/x",
    )
    put(
        c,
        at(2),
        "R2",
        "reject",
        "link_found",
        "dopa.go.th",
        where="html_attribute",
        url="https://evil.example.com/y",
    )
    put(
        c,
        at(2),
        "R3",
        "quarantine",
        "link_found",
        "rd.go.th",
        where="subject",
        url="http://www.rd.go.th",
        qid="HOLD3",
    )
    put(c, at(2), "R4", "accept", "clean", "dopa.go.th", dkim="pass")
    put(c, at(3), "R5", "tempfail", "dkim_temperror", "rd.go.th", dkim="temperror")
    put(c, at(3), "R6", "reject", "dkim_fail", "rd.go.th", dkim="fail")
    put(
        c,
        at(3),
        "R7",
        "reject",
        "link_found",
        "dopa.go.th",
        mode="dry_run",
        where="attachment",
        url="https://files.example.org/f",
    )
    put(c, at(3), "R8", "accept", "clean", "rd.go.th", dkim="pass", exceptions=("tax-portal",))
    put(
        c,
        at(30, 10),
        "R9",
        "reject",
        "link_found",
        "dopa.go.th",
        where="text_plain",
        url="https://old.example/",
    )
    c.execute("INSERT INTO out_of_scope VALUES ('2026-11-02', 'smtpd', 'not_citizen_bound', 5)")
    c.execute("INSERT INTO out_of_scope VALUES ('2026-10-01', 'smtpd', 'not_citizen_bound', 7)")
    c.execute(
        "INSERT INTO events (time, queue_id, ref, event, user, reason) VALUES (?, 'HOLD3', 'R3', 'release', 'somsak', 'ok')",
        (at(3),),
    )
    c.close()
    c = journal.connect(b)
    put(
        c,
        at(2),
        "R10",
        "reject",
        "link_found",
        "mi.go.th",
        where="text_plain",
        url="https://evil.example.com/z",
    )
    c.close()
    return a, b


def period() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime(2026, 12, 1).astimezone()
    return report.parse_when("2026-11-01", now), report.parse_when("2026-11-03", now, end=True)


def test_figures_are_exact(journals: tuple[str, str]) -> None:
    r = report.build(list(journals), *period())
    assert r["messages"] == {
        "checked": 9,
        "refused": 4,
        "held": 1,
        "deferred": 1,
        "delivered": 3,
        "with_links": 5,
        "out_of_scope": 5,
    }
    assert r["dry_run"] == {
        "messages": 1,
        "would_have_been": {"refused": 1, "deferred": 0, "held": 0, "delivered": 0},
    }
    assert r["by_reason"] == {"link_found": 5, "clean": 2, "dkim_temperror": 1, "dkim_fail": 1}
    assert r["by_location"] == {"text_plain": 2, "html_attribute": 1, "subject": 1, "attachment": 1}
    assert r["top_link_hosts"] == [
        {"host": "evil.example.com", "messages": 3},
        {"host": "files.example.org", "messages": 1},
        {"host": "www.rd.go.th", "messages": 1},
    ]
    assert r["dkim"]["checked"] == 4 and r["dkim"]["pass"] == 2 and r["dkim"]["pass_share"] == 0.5
    assert r["dkim"]["failures"] == {"fail": 1, "none": 0, "permerror": 0} and r["dkim"]["dns_trouble"] == 1
    assert r["exceptions"] == {"tax-portal": 1}
    assert r["quarantine"] == {"released": 1, "deleted": 0}
    senders = {s["domain"]: s for s in r["by_sender_domain"]}
    assert senders["dopa.go.th"] == {
        "domain": "dopa.go.th",
        "checked": 4,
        "refused": 2,
        "held": 0,
        "deferred": 0,
        "delivered": 2,
        "with_links": 3,
    }
    assert senders["rd.go.th"] == {
        "domain": "rd.go.th",
        "checked": 4,
        "refused": 1,
        "held": 1,
        "deferred": 1,
        "delivered": 1,
        "with_links": 1,
    }
    assert senders["mi.go.th"]["refused"] == 1
    assert [
        (d["day"], d["checked"], d["refused"], d["held"], d["deferred"], d["delivered"]) for d in r["daily"]
    ] == [
        ("2026-11-01", 0, 0, 0, 0, 0),
        ("2026-11-02", 5, 3, 1, 0, 1),
        ("2026-11-03", 4, 1, 0, 1, 2),
    ]


def test_one_journal_alone(journals: tuple[str, str]) -> None:
    assert report.build([journals[0]], *period())["messages"]["checked"] == 8


def test_text_csv_json_from_the_command(journals: tuple[str, str]) -> None:
    base = [
        "report",
        "--since",
        "2026-11-01",
        "--until",
        "2026-11-03",
        "--journal",
        journals[0],
        "--journal",
        journals[1],
    ]
    out = io.StringIO()
    assert main([*base, "--format", "json"], out, out) == 0
    r = json.loads(out.getvalue())
    assert r["messages"]["refused"] == 4 and r["journals"] == list(journals)
    out = io.StringIO()
    assert main([*base, "--format", "csv"], out, out) == 0
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0] == ["section", "key", "field", "value"]
    assert ["messages", "", "checked", "9"] in rows and ["messages", "", "held", "1"] in rows
    assert ["top_link_hosts", "evil.example.com", "messages", "3"] in rows
    assert ["daily", "2026-11-02", "refused", "3"] in rows
    assert ["dkim", "", "pass_share", "0.5"] in rows
    out = io.StringIO()
    assert main(base, out, out) == 0
    t = out.getvalue()
    assert re.search(r"^  checked\s+9$", t, re.M) and re.search(r"^  refused\s+4$", t, re.M)
    assert re.search(r"^  evil\.example\.com\s+3$", t, re.M) and re.search(r"^  tax-portal\s+1$", t, re.M)
    assert re.search(r"^  pass\s+2 \(50\.0%\)$", t, re.M)


def test_html_is_self_contained_with_charts(journals: tuple[str, str]) -> None:
    page = report_html.html(report.build(list(journals), *period()))
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") >= 5
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        "http://www.rd.go.th", ""
    )
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert "สรุปผล" in page and "Summary" in page and "@media print" in page
    assert "evil.example.com" in page


def test_bad_period_is_a_clear_error(journals: tuple[str, str]) -> None:
    err = io.StringIO()
    assert main(["report", "--since", "last week", "--journal", journals[0]], err, err) == 2
    assert "is not a date" in err.getvalue()
    err = io.StringIO()
    assert (
        main(["report", "--since", "2026-11-05", "--until", "2026-11-01", "--journal", journals[0]], err, err)
        == 2
    )
    assert "must be after" in err.getvalue()


def test_lookup_by_ref_and_by_queue_id(journals: tuple[str, str]) -> None:
    out = io.StringIO()
    assert main(["lookup", "r3", "--journal", journals[0]], out, out) == 0
    t = out.getvalue()
    assert "Ref R3, queue id HOLD3" in t and "held in Postfix's hold queue" in t and "a link was found" in t
    assert "http://www.rd.go.th (scheme) in header Subject @0" in t and "released by somsak: ok" in t
    out = io.StringIO()
    assert main(["lookup", "R7", "--journal", journals[0], "--json"], out, out) == 0
    (entry,) = json.loads(out.getvalue())
    assert entry["mode"] == "dry_run" and entry["applied"] == "accept" and entry["action"] == "reject"
    out = io.StringIO()
    assert main(["lookup", "NOSUCHREF", "--journal", journals[0]], out, out) == 1
    assert "not in the journal" in out.getvalue()


def test_missing_journal_is_a_clear_error(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["lookup", "R1", "--journal", str(tmp_path / "none.sqlite")], err, err) == 2
    assert "no journal there" in err.getvalue()
    assert not (tmp_path / "none.sqlite").exists()


def test_exception_reasons_and_dkim_failure_reasons_are_shown(journals: tuple[str, str]) -> None:
    r = report.build(list(journals), *period(), {"tax-portal": "memo 0823/512", "unused": "x"})
    assert r["exception_reasons"] == {"tax-portal": "memo 0823/512"}  # only the exceptions used
    # issue 22 item 5: nolink's reason names, not dkimpy's texts with body hashes in them
    assert r["dkim"]["failure_reasons"] == {"body_changed": 2}
    t = report.text(r)
    assert re.search(r"^  tax-portal\s+1  memo 0823/512$", t, re.M)
    assert re.search(r"^  why: body_changed\s+2$", t, re.M) and "expected b'" not in t
    h = report_html.html(r)
    assert '<td class="">memo 0823/512</td>' in h
    assert '<td class="">body_changed</td><td class="n">2</td>' in h and "expected b'" not in h
    assert "overflow-wrap: anywhere" in h  # long cells wrap inside the page instead of overflowing


@pytest.mark.parametrize(
    ("reason", "name"),
    [
        ("no DKIM signature", "no_signature"),
        (BODY_HASH, "body_changed"),
        ("signature does not verify", "signature_mismatch"),
        ("the From header is not signed (not in h=)", "from_not_signed"),
        ("d=evil.example is not aligned with the From domain example.go.th", "not_aligned"),
        ("signature expired (x=)", "expired"),
        ("no key record at s1._domainkey.example.go.th (NXDOMAIN)", "no_key"),
        ("key lookup for s1._domainkey.example.go.th failed: timeout", "key_lookup_failed"),
        ("key at s1._domainkey.example.go.th is revoked (empty p=)", "key_revoked"),
        ("RSA key of 512 bits is below dkim.min_rsa_bits = 1024", "weak_key"),
        ("rsa-sha1 signatures are not accepted (RFC 8301)", "rsa_sha1"),
        ("something new", "other"),
    ],
)
def test_dkim_reason_names(reason: str, name: str) -> None:
    from nolink.dkim.reasons import NAMES, reason_name

    assert reason_name(reason) == name and name in NAMES
