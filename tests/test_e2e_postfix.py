"""End to end through a real Postfix: what an SMTP client and the next hop (smtp-sink) see."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator

import pytest

from harness import Nolink, Parts, Postfix, Rig, Sink, have_postfix, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]

SCOPE = '[scope]\ninternal_domains = ["go.th"]\n'
CITIZEN = "somchai@example.com"
INTERNAL = "staff@dopa.go.th"


class Mta(Rig):
    def start(self, parts: Parts) -> None:
        base = self.base
        self.sink = parts.add(Sink(base).start())
        self.enforce = parts.add(Nolink(base, "enforce", SCOPE).start())
        self.quarantine = parts.add(
            Nolink(base, "quarantine", SCOPE + '[links]\naction = "quarantine"\n').start()
        )
        self.dry_run = parts.add(Nolink(base, "dryrun", 'mode = "dry_run"\n' + SCOPE).start())
        self.postfix = parts.add(
            Postfix(
                base,
                self.sink,
                {
                    "enforce": f"unix:{self.enforce.socket}",
                    "quarantine": f"unix:{self.quarantine.socket}",
                    "dryrun": f"unix:{self.dry_run.socket}",
                    "dead": f"unix:{base}/no-such-milter.sock",
                },
                non_smtpd_milter=f"unix:{self.enforce.socket}",
            ).start()
        )

    def not_delivered(self, marker: str, wait: float = 1.5) -> bool:
        self.postfix.flush()
        time.sleep(wait)
        return not [m for m in self.sink.find(marker.encode()) if f"X-Rcpt-Args: <{CITIZEN}>".encode() in m]


@pytest.fixture(scope="module")
def mta() -> Iterator[Mta]:
    m = Mta()
    try:
        yield m
    finally:
        m.stop()


def letter(marker: str, body: str, extra_headers: str = "") -> bytes:
    return (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: test {marker}\r\n"
        f"Message-ID: <{marker}@example.go.th>\r\nDate: Mon, 16 Feb 2026 09:00:00 +0700\r\n"
        f"MIME-Version: 1.0\r\n{extra_headers}"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body}\r\n"
    ).encode()


LINK_BODY = "เรียน ท่าน กรุณาตรวจสอบสิทธิ์ที่ https://evil.example.com/check ค่ะ"
CLEAN_BODY = "เรียน ท่าน ตามหนังสือ มท ๐๘๒๓.๒/ว ๕๒๗ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙"


def marker() -> str:
    return uuid.uuid4().hex[:12]


def test_link_to_citizen_is_rejected(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("enforce", letter(m, LINK_BODY), [CITIZEN])
    assert code == 550
    assert text.startswith(b"5.7.1 Message refused: mail from this agency to citizens must not contain links")
    assert b"a link in the text/plain part" in text
    ref = text.decode().rsplit("Ref ", 1)[1]
    assert any(f"ref={ref}" in line and "action=reject" in line for line in mta.enforce.lines())
    assert mta.not_delivered(m)
    assert "milter-reject: END-OF-MESSAGE" in mta.postfix.log()


def test_same_message_to_internal_recipients_is_delivered(mta: Mta) -> None:
    m = marker()
    code, _ = mta.postfix.send("enforce", letter(m, LINK_BODY), [INTERNAL, "other@mi.go.th"])
    assert code == 250
    assert b"X-Nolink-Verdict" not in mta.delivered(m)


def test_clean_message_to_citizen_is_delivered_unchanged(mta: Mta) -> None:
    m = marker()
    data = letter(m, CLEAN_BODY)
    code, _ = mta.postfix.send("enforce", data, [CITIZEN])
    assert code == 250
    got = mta.delivered(m).replace(b"\r\n", b"\n").rstrip(b"\n")  # smtp-sink ends the dump with a blank line
    assert got.endswith(data.replace(b"\r\n", b"\n").rstrip(b"\n"))


def test_quarantine_holds_with_the_header_and_release_delivers(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("quarantine", letter(m, LINK_BODY), [CITIZEN])
    assert code == 250
    qid = text.decode().rsplit(" ", 1)[1]
    wait_until(lambda: qid in mta.postfix.held(), what="the message in the hold queue")
    raw = mta.postfix.postcat(qid)
    assert b"X-Nolink-Verdict: quarantine; reason=link_found" in raw
    assert mta.not_delivered(m)
    mta.postfix.release(qid)
    assert b"X-Nolink-Verdict: quarantine" in mta.delivered(m)


def test_dry_run_delivers_and_logs_what_would_have_happened(mta: Mta) -> None:
    m = marker()
    code, _ = mta.postfix.send("dryrun", letter(m, LINK_BODY), [CITIZEN])
    assert code == 250
    assert b"X-Nolink-Verdict: reject; reason=link_found" in mta.delivered(m)
    lines = [x for x in mta.dry_run.lines() if "action=reject" in x]
    assert lines and "mode=dry_run" in lines[-1] and "applied=accept" in lines[-1]


def test_milter_down_means_tempfail(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("dead", letter(m, CLEAN_BODY), [CITIZEN])
    assert 400 <= code < 500
    assert text.startswith(b"4.7.1")
    assert mta.not_delivered(m, wait=0.5)


def test_sendmail_submissions_are_policed(mta: Mta) -> None:
    m = marker()
    mta.postfix.sendmail(letter(m, LINK_BODY), CITIZEN)
    wait_until(
        lambda: any(
            "reason=link_found" in x and "action=reject" in x and "qid=-" not in x
            for x in mta.enforce.lines()[-5:]
        ),
        what="nolink's decision on the sendmail submission",
    )
    assert mta.not_delivered(m)
    c = marker()
    mta.postfix.sendmail(letter(c, CLEAN_BODY), CITIZEN)
    assert mta.delivered(c)


def test_ten_megabyte_message_with_the_link_on_its_last_line(mta: Mta) -> None:
    m = marker()
    filler = ("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ " * 3 + "\r\n") * 40_000
    body = filler + "รายละเอียดที่ www.evil.example.com"
    data = letter(m, body)
    assert len(data) > 10_000_000
    code, text = mta.postfix.send("enforce", data, [CITIZEN])
    assert code == 550
    assert b"5.7.1" in text
    assert mta.not_delivered(m)


def test_twenty_concurrent_sessions(mta: Mta) -> None:
    jobs = [(marker(), i % 2 == 0) for i in range(20)]

    def one(job: tuple[str, bool]) -> tuple[str, bool, int]:
        m, has_link = job
        code, _ = mta.postfix.send("enforce", letter(m, LINK_BODY if has_link else CLEAN_BODY), [CITIZEN])
        return m, has_link, code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, jobs))
    for m, has_link, code in results:
        assert code == (550 if has_link else 250), (m, has_link, code)
    for m, has_link, _ in results:
        if not has_link:
            mta.delivered(m)
    time.sleep(1)
    delivered = {m for m, _, _ in results if mta.sink.find(m.encode())}
    assert delivered == {m for m, has_link, _ in results if not has_link}


def test_metrics_move_exactly_as_the_messages_go(mta: Mta) -> None:
    before = mta.enforce.samples()
    for body, rcpt in (
        (LINK_BODY, CITIZEN),
        (CLEAN_BODY, CITIZEN),
        (CLEAN_BODY, CITIZEN),
        (LINK_BODY, INTERNAL),
    ):
        mta.postfix.send("enforce", letter(marker(), body), [rcpt])
    after = mta.enforce.samples()

    def moved(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    assert moved('nolink_messages_total{action="reject",mode="enforce"}') == 1
    assert moved('nolink_messages_total{action="accept",mode="enforce"}') == 3
    assert moved('nolink_decisions_total{reason="link_found"}') == 1
    assert moved('nolink_decisions_total{reason="clean"}') == 2
    assert moved('nolink_decisions_total{reason="not_citizen_bound"}') == 1
    assert moved('nolink_links_total{kind="scheme",location="text_plain"}') == 1
    assert moved("nolink_decision_duration_seconds_count") == 3
    assert moved("nolink_connections_total") >= 4  # one per SMTP session at least (Postfix may reconnect)
    wait_until(
        lambda: mta.enforce.samples()["nolink_connections_active"] == 0, what="milter connections to close"
    )
    assert moved('nolink_errors_total{stage="eom"}') == 0
    assert not [k for k in after if k.endswith("_created")]


def test_every_metric_in_the_dashboard_and_rules_exists(mta: Mta) -> None:
    import re

    from harness import ROOT

    scrape = mta.enforce.scrape()
    live = {
        line.split("{")[0].split(" ")[0] for line in scrape.splitlines() if line and not line.startswith("#")
    }
    # a labelled family whose label values come from the config (nolink_exceptions_total{name}) is
    # declared, without samples, when the config names none
    live |= {line.split()[2] for line in scrape.splitlines() if line.startswith("# TYPE ")}
    for path in ("config/grafana/nolink.json", "config/prometheus/nolink-rules.yml"):
        named = set(re.findall(r"\bnolink_[a-z0-9_]+", (ROOT / path).read_text()))
        named = {n for n in named if n + "_bucket" not in live}  # a histogram's own name, in prose
        assert named, path
        assert named <= live, f"{path} names metrics no nolink exposes: {sorted(named - live)}"


FORGED = (
    "X-Nolink-Verdict: accept; reason=clean; ref=FORGED00001\r\n"
    "Authentication-Results: {host}; dkim=pass header.d=example.go.th header.s=forged\r\n"
    "Authentication-Results: other.example.net; spf=pass smtp.mailfrom=example.go.th\r\n"
)


def test_authentication_results_and_forged_headers_removed(mta: Mta) -> None:
    import socket

    host = socket.gethostname()  # milter.authserv_id defaults to the host name
    m = marker()
    code, _ = mta.postfix.send("enforce", letter(m, CLEAN_BODY, FORGED.format(host=host)), [CITIZEN])
    assert code == 250
    got = mta.delivered(m).decode()
    assert f"Authentication-Results: {host}; none\n" in got.replace("\r\n", "\n")  # DKIM is off here
    assert "X-Nolink-Verdict" not in got and "FORGED" not in got and "header.s=forged" not in got
    assert "Authentication-Results: other.example.net; spf=pass" in got  # another server's: kept
    after = mta.enforce.samples()
    import re

    decided = [x for x in mta.enforce.lines() if "reason=clean" in x]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO qid=", decided[-1])  # not under journald
    assert after['nolink_headers_removed_total{header="X-Nolink-Verdict"}'] >= 1
    assert after['nolink_headers_removed_total{header="Authentication-Results"}'] >= 1


def test_held_copy_says_only_what_nolink_said(mta: Mta) -> None:
    import socket

    m = marker()
    data = letter(m, LINK_BODY, FORGED.format(host=socket.gethostname()))
    code, text = mta.postfix.send("quarantine", data, [CITIZEN])
    assert code == 250
    qid = text.decode().rsplit(" ", 1)[1]
    wait_until(lambda: qid in mta.postfix.held(), what="the message in the hold queue")
    raw = mta.postfix.postcat(qid).decode(errors="replace")
    verdicts = [x for x in raw.splitlines() if x.startswith("X-Nolink-Verdict:")]
    assert len(verdicts) == 1 and verdicts[0].startswith("X-Nolink-Verdict: quarantine; reason=link_found")
    ours = [x for x in raw.splitlines() if x.startswith(f"Authentication-Results: {socket.gethostname()};")]
    assert ours == [f"Authentication-Results: {socket.gethostname()}; none"]
    assert "FORGED" not in raw
