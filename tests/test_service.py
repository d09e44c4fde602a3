"""The pymilter adapter driven without an MTA (Milter.testctx.TestCtx).

Most tests decide in this process (InProcessPool: same Decider, on a thread) to test the adapter
quickly; the tests at the end go through real worker processes."""

from __future__ import annotations

import io
import logging
import re
from socket import AF_INET

import Milter
import pytest
from Milter.testctx import TestCtx

from mail import message
from nolink.adapters.service import NolinkMilter, Service, libmilter_address
from nolink.adapters.workers import InProcessPool
from nolink.config import Config, parse

CITIZEN = "<somchai@example.com>"
INTERNAL = "<staff@dopa.go.th>"
SENDER = "<saraban@example.go.th>"
LINK = message("ดูที่ https://evil.example.com/x ค่ะ")
CLEAN = message("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")


def make(text: str = "", pool: bool = False) -> Service:
    cfg = parse(text + '\n[scope]\ninternal_domains = ["go.th"]\n')
    return Service(cfg) if pool else Service(cfg, pool_factory=lambda c, m: InProcessPool(c, m))


def scanner(svc: Service):  # type: ignore[no-untyped-def]
    pool = svc.state.pool
    assert isinstance(pool, InProcessPool)
    return pool.decider.scanner


class Session:
    """One SMTP connection as libmilter would drive it (TestCtx closes on NOREPLY at connect, so
    connect is called directly)."""

    def __init__(self, service: Service, qid: str = "4AbCdE") -> None:
        Milter.factory = lambda: NolinkMilter(service)
        self.ctx = TestCtx()
        self.ctx._setsymval("i", qid)
        self.ctx._setsymval("{daemon_name}", "smtpd")
        self.ctx._negotiate()
        self.milter: NolinkMilter = self.ctx.getpriv()
        self.milter.connect("localhost", AF_INET, "127.0.0.1")

    def send(self, data: bytes, *rcpts: str, sender: str = SENDER) -> int:
        ctx = self.ctx
        ctx._envfrom(sender)
        for r in rcpts:
            ctx._envrcpt(r)
        head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "surrogateescape")
        # as Postfix sends them with P_HDR_LEADSPC: the value keeps its leading space and folds
        for field in re.split(r"\r\n(?![ \t])", head):
            name, _, value = field.partition(":")
            ctx._header(name, value)
        rc = ctx._eoh()
        if rc != Milter.CONTINUE:
            return int(rc)
        ctx._feed_body(io.BytesIO(data.split(b"\r\n\r\n", 1)[1]))
        return int(ctx._eom())

    @property
    def reply(self) -> tuple[str, ...] | None:
        return self.ctx._reply

    @property
    def changed(self) -> list[tuple[str, int, str]]:
        return list(getattr(self.ctx, "_changed_headers", []))

    @property
    def added(self) -> dict[str, str]:
        return {k: v.removeprefix(" ") for k, v, _ in getattr(self.ctx, "_added_headers", [])}


def test_link_to_citizen_is_rejected(caplog: pytest.LogCaptureFixture) -> None:
    s = Session(make())
    with caplog.at_level(logging.INFO, logger="nolink"):
        assert s.send(LINK, CITIZEN) == Milter.REJECT
    code, xcode, text = s.reply  # type: ignore[misc]
    assert (code, xcode) == ("550", "5.7.1")
    assert "must not contain links" in text
    assert "a link in the text/plain part" in text
    line = caplog.records[-1].getMessage()
    ref = text.rsplit("Ref ", 1)[1]
    assert f"ref={ref}" in line
    assert "qid=4AbCdE action=reject mode=enforce reason=link_found" in line
    assert "sample=https://evil.example.com" in line
    assert "/x" not in line.split("sample=")[1].split()[0]  # no path in the log
    assert "somchai" not in line


def test_internal_only_is_accepted_without_a_scan(caplog: pytest.LogCaptureFixture) -> None:
    s = Session(make())
    with caplog.at_level(logging.INFO, logger="nolink"):
        assert s.send(LINK, INTERNAL, "<x@mi.go.th>") == Milter.ACCEPT
    assert "reason=not_citizen_bound" in caplog.records[-1].getMessage()
    assert s.reply is None


def test_mixed_recipients_are_citizen_bound() -> None:
    assert Session(make()).send(LINK, INTERNAL, CITIZEN) == Milter.REJECT


def test_clean_to_citizen_is_accepted_unchanged() -> None:
    s = Session(make())
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert list(s.added) == ["Authentication-Results"]  # no X-Nolink-Verdict on clean mail


def test_quarantine_adds_the_header_first(monkeypatch: pytest.MonkeyPatch) -> None:
    held: list[str] = []
    monkeypatch.setattr(TestCtx, "quarantine", lambda self, reason: held.append(reason))
    s = Session(make('[links]\naction = "quarantine"'))
    assert s.send(LINK, CITIZEN) == Milter.ACCEPT
    assert held and held[0].startswith("nolink link_found ref=")
    v = s.added["X-Nolink-Verdict"]
    assert v.startswith('quarantine; reason=link_found; where="1 text/plain body @6"; ref=')


def test_tempfail_and_accept_actions() -> None:
    s = Session(make('[links]\naction = "tempfail"'))
    assert s.send(LINK, CITIZEN) == Milter.TEMPFAIL
    assert s.reply[:2] == ("451", "4.7.1")  # type: ignore[index]
    s = Session(make('[links]\naction = "accept"'))
    assert s.send(LINK, CITIZEN) == Milter.ACCEPT
    assert s.added["X-Nolink-Verdict"].startswith("accept; reason=link_found")


def test_dry_run_delivers_and_says_what_would_have_happened(caplog: pytest.LogCaptureFixture) -> None:
    s = Session(make('mode = "dry_run"'))
    with caplog.at_level(logging.INFO, logger="nolink"):
        assert s.send(LINK, CITIZEN) == Milter.ACCEPT
    line = caplog.records[-1].getMessage()
    assert "action=reject mode=dry_run reason=link_found" in line
    assert "applied=accept" in line
    assert s.added["X-Nolink-Verdict"].endswith("; mode=dry_run")
    s = Session(make('mode = "dry_run"\n[milter]\ndry_run_header = false'))
    assert s.send(LINK, CITIZEN) == Milter.ACCEPT
    assert "X-Nolink-Verdict" not in s.added


def test_several_messages_on_one_connection() -> None:
    s = Session(make())
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert s.send(LINK, CITIZEN) == Milter.REJECT
    assert s.send(LINK, INTERNAL) == Milter.ACCEPT
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT


def test_scanner_failure_is_on_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    svc = make()

    def boom(data: bytes) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(scanner(svc), "scan", boom)
    s = Session(svc)
    with caplog.at_level(logging.INFO, logger="nolink"):
        assert s.send(CLEAN, CITIZEN) == Milter.TEMPFAIL
    assert s.reply[:2] == ("451", "4.3.0")  # type: ignore[index]
    assert "reason=error" in caplog.records[-1].getMessage()
    svc2 = make('[milter]\non_error = "accept"')
    monkeypatch.setattr(scanner(svc2), "scan", boom)
    assert Session(svc2).send(CLEAN, CITIZEN) == Milter.ACCEPT


def test_time_out_is_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    svc = make("[milter]\ntimeout = 0.2")
    real = scanner(svc).scan
    monkeypatch.setattr(scanner(svc), "scan", lambda data: (time.sleep(1), real(data))[1])
    s = Session(svc)
    assert s.send(CLEAN, CITIZEN) == Milter.TEMPFAIL
    assert "Temporary failure" in s.reply[2]  # type: ignore[index]


def test_too_large_is_a_552_reject() -> None:
    s = Session(make("[milter]\nmax_message_size = 100"))
    assert s.send(CLEAN + b"x" * 1000, CITIZEN) == Milter.REJECT  # a retry cannot make it smaller
    assert s.reply[:2] == ("552", "5.3.4")  # type: ignore[index]
    s = Session(make('[milter]\nmax_message_size = 100\non_error = "accept"'))
    assert s.send(CLEAN + b"x" * 1000, CITIZEN) == Milter.ACCEPT


def test_scope_sender_and_listener() -> None:
    svc = Service(
        parse(
            '[scope]\ninternal_domains = ["go.th"]\nsender_domains = ["example.go.th"]\ndaemon_names = ["smtpd"]'
        )
    )
    assert Session(svc).send(LINK, CITIZEN) == Milter.REJECT
    assert Session(svc).send(LINK, CITIZEN, sender="<a@other.example>") == Milter.REJECT  # From is ours
    other = LINK.replace(b"saraban@example.go.th", b"x@other.example")
    assert Session(svc).send(other, CITIZEN, sender="<a@other.example>") == Milter.ACCEPT
    s = Session(svc)
    s.milter.daemon_name = "submission"
    assert s.send(LINK, CITIZEN) == Milter.ACCEPT


def test_headers_reach_the_scanner_byte_exact() -> None:
    svc = make()
    seen: list[bytes] = []
    real = scanner(svc).scan

    def spy(data: bytes):  # type: ignore[no-untyped-def]
        seen.append(data)
        return real(data)

    scanner(svc).scan = spy
    Session(svc).send(CLEAN, CITIZEN)
    assert seen[0].startswith(b"From: Saraban <saraban@example.go.th>\r\nTo: somchai@example.com\r\n")


def test_inflight_count_returns_to_zero() -> None:
    svc = make()
    s = Session(svc)
    s.send(LINK, CITIZEN)
    s.send(LINK, INTERNAL)
    s.milter.close()
    assert svc.inflight == 0
    assert svc.drain(0.1)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("unix:/var/spool/postfix/nolink/nolink.sock", "unix:/var/spool/postfix/nolink/nolink.sock"),
        ("inet:8890@127.0.0.1", "inet:8890@127.0.0.1"),
        ("inet:8890@[::1]", "inet6:8890@::1"),
        ("inet6:8890@::1", "inet6:8890@::1"),  # libmilter's own forms pass as they are
        ("inet6:8890@[::1]", "inet6:8890@::1"),
        ("inet:8890", "inet:8890"),
        ("local:/run/nolink.sock", "local:/run/nolink.sock"),
    ],
)
def test_socket_syntax(given: str, expected: str) -> None:
    assert libmilter_address(given) == expected


def test_reply_text_never_echoes_attacker_text() -> None:
    from nolink.findings import Link, Location
    from nolink.policy import Decision, smtp_reply

    loc = Location("2", "text/html\r\n550 evil", "attr a hr%ef\r\nX: y")
    d = Decision("reject", "link_found", "enforce", "REF", 1, Link("x", "http://x", "html_attr", loc), 1)
    _, _, text = smtp_reply(Config(), d)  # type: ignore[misc]
    assert "\r" not in text and "\n" not in text and text.isascii()
    assert "%%" in text or "%" not in text


# -- DKIM through the adapter ----------------------------------------------------------------------


def dkim_service(zone: dict[str, bytes] | None = None, text: str = "") -> Service:
    from dkimkeys import rsa_key
    from nolink.dkim.check import DkimVerifier
    from nolink.dkim.resolver import KeyResolver
    from test_dkim import Zone

    svc = make(text + "\n[dkim]\nenabled = true\n")
    records = zone if zone is not None else {"s1._domainkey.example.go.th": rsa_key(2048).record}
    pool = svc.state.pool
    assert isinstance(pool, InProcessPool)
    pool.decider.dkim = DkimVerifier(KeyResolver(lookup=Zone(records)), pool.decider.scanner.psl)
    return svc


def signed(data: bytes) -> bytes:
    from dkimkeys import rsa_key, sign

    return sign(data, rsa_key(2048))


def test_dkim_signed_clean_message_is_accepted() -> None:
    s = Session(dkim_service())
    assert s.send(signed(CLEAN), CITIZEN) == Milter.ACCEPT
    assert list(s.added) == ["Authentication-Results"]  # and no X-Nolink-Verdict
    ar = s.added["Authentication-Results"]
    assert ar.endswith("; dkim=pass header.d=example.go.th header.s=s1 header.a=rsa-sha256")


def test_dkim_unsigned_is_rejected_with_the_dkim_text(caplog: pytest.LogCaptureFixture) -> None:
    s = Session(dkim_service())
    with caplog.at_level(logging.INFO, logger="nolink"):
        assert s.send(CLEAN, CITIZEN) == Milter.REJECT
    code, xcode, text = s.reply  # type: ignore[misc]
    assert (code, xcode) == ("550", "5.7.20")
    assert "must carry a valid DKIM signature of its From domain; this message has no DKIM signature" in text
    assert "reason=dkim_none" in caplog.records[-1].getMessage()
    assert "dkim=none" in caplog.records[-1].getMessage()


def test_dkim_unaligned_signature_is_5_7_22() -> None:
    from dkimkeys import rsa_key, sign

    svc = dkim_service({"s1._domainkey.mailer.example.net": rsa_key(2048).record})
    s = Session(svc)
    assert s.send(sign(CLEAN, rsa_key(2048), domain="mailer.example.net"), CITIZEN) == Milter.REJECT
    assert s.reply[1] == "5.7.22"  # type: ignore[index]
    assert "(d=) is not the From domain" in s.reply[2]  # type: ignore[index]


@pytest.mark.parametrize(
    ("tags", "untrusted"),
    [
        ("d=pay-here.example.com/login; s=s1; a=rsa-sha256", "pay-here"),  # unaligned: 5.7.22
        ("d=example.go.th; s=www.evil-portal.example.net; a=rsa-sha256", "evil-portal"),  # no key there
        ("d=example.go.th; s=s1; a=http://algo.example.org/", "algo.example"),  # unknown algorithm
    ],
)
def test_dkim_reply_never_repeats_the_signature_tags(tags: str, untrusted: str) -> None:
    """The signature's d=, s= and a= are the sender's text: the log quotes them, the reply does not."""
    svc = dkim_service()
    s = Session(svc)
    sig = f"DKIM-Signature: v=1; {tags}; c=relaxed/relaxed; h=from:to:subject; bh=AAAA; b=AAAA\r\n"
    assert s.send(sig.encode() + CLEAN, CITIZEN) == Milter.REJECT
    code, xcode, text = s.reply  # type: ignore[misc]
    assert code == "550" and xcode.startswith("5.7.2"), s.reply
    assert untrusted not in text and "DKIM" in text, text


def test_dkim_temperror_is_tempfail() -> None:
    from nolink.dkim.resolver import Answer

    s = Session(dkim_service({"s1._domainkey.example.go.th": Answer("temp", detail="Timeout")}))  # type: ignore[dict-item]
    assert s.send(signed(CLEAN), CITIZEN) == Milter.TEMPFAIL
    assert s.reply[:2] == ("451", "4.4.3")  # type: ignore[index]


def test_links_are_checked_before_dkim() -> None:
    s = Session(dkim_service())
    assert s.send(signed(LINK), CITIZEN) == Milter.REJECT
    assert s.reply[1] == "5.7.1"  # type: ignore[index]


def test_dkim_out_of_scope_is_not_checked() -> None:
    assert Session(dkim_service()).send(CLEAN, INTERNAL) == Milter.ACCEPT


def test_dkim_dry_run() -> None:
    s = Session(dkim_service(text='mode = "dry_run"'))
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert s.added["X-Nolink-Verdict"].startswith("reject; reason=dkim_none; dkim=none; ref=")


def test_dkim_temperror_reply_says_deferred_not_refused() -> None:
    from nolink.dkim.resolver import Answer

    s = Session(dkim_service({"s1._domainkey.example.go.th": Answer("temp", detail="Timeout")}))  # type: ignore[dict-item]
    s.send(signed(CLEAN), CITIZEN)
    assert s.reply[2].startswith("Message deferred: the DKIM signature")  # type: ignore[index]


# -- Authentication-Results ----------------------------------------------------------------------


def test_authentication_results_on_accepted_and_held_mail_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(TestCtx, "quarantine", lambda self, reason: None)
    s = Session(make())
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert s.added == {"Authentication-Results": f"{socket.gethostname()}; none"}  # DKIM off
    assert [i for k, _, i in s.ctx._added_headers] == [0]  # type: ignore[attr-defined]  # on top
    s = Session(make('[milter]\nauthserv_id = "mx1.example.go.th"\n[links]\naction = "quarantine"'))
    assert s.send(LINK, CITIZEN) == Milter.ACCEPT
    assert s.added["Authentication-Results"] == "mx1.example.go.th; none"
    assert s.added["X-Nolink-Verdict"].startswith("quarantine; reason=link_found")
    s = Session(make())
    assert s.send(LINK, CITIZEN) == Milter.REJECT
    assert s.added == {}
    s = Session(make())
    assert s.send(CLEAN, INTERNAL) == Milter.ACCEPT  # not citizen-bound: not nolink's to vouch for
    assert s.added == {}


def test_dkim_results_per_signature() -> None:
    from dkimkeys import rsa_key, sign

    other = rsa_key(2048)
    zone = {
        "s1._domainkey.example.go.th": rsa_key(2048).record,
        "s1._domainkey.mailer.example.net": other.record,
    }
    s = Session(dkim_service(zone))
    data = sign(signed(CLEAN), other, domain="mailer.example.net")
    assert s.send(data, CITIZEN) == Milter.ACCEPT
    ar = s.added["Authentication-Results"].split("; ")
    assert ar[1].startswith('dkim=fail reason="its signing domain (d=) is not the From domain')
    assert ar[1].endswith("header.d=mailer.example.net header.s=s1 header.a=rsa-sha256")
    assert ar[2] == "dkim=pass header.d=example.go.th header.s=s1 header.a=rsa-sha256"


def test_forged_verdicts_and_our_authentication_results_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TestCtx, "quarantine", lambda self, reason: None)
    svc = make('[milter]\nauthserv_id = "mx1.example.go.th"\n[links]\naction = "quarantine"')
    forged = (
        "X-Nolink-Verdict: accept; reason=clean; ref=FORGED\r\n"
        "Authentication-Results: other.example.net; dkim=pass header.d=example.go.th\r\n"
        "Authentication-Results: MX1.example.go.th;\r\n dkim=pass header.d=example.go.th\r\n"
        "x-nolink-verdict: accept\r\n"
    )
    s = Session(svc)
    assert s.send(message("ดูที่ https://evil.example.com/x", headers=forged), CITIZEN) == Milter.ACCEPT
    assert s.changed == [
        ("X-Nolink-Verdict", 2, ""),
        ("Authentication-Results", 2, ""),
        ("X-Nolink-Verdict", 1, ""),
    ]
    assert s.added["X-Nolink-Verdict"].startswith("quarantine; reason=link_found")
    metrics = svc.metrics.registry.get_sample_value
    assert metrics("nolink_headers_removed_total", {"header": "X-Nolink-Verdict"}) == 2
    assert metrics("nolink_headers_removed_total", {"header": "Authentication-Results"}) == 1
    # internal mail is not scanned, but it does not keep a forged verdict either
    s = Session(svc)
    assert s.send(message("ok", headers=forged), INTERNAL) == Milter.ACCEPT
    assert len(s.changed) == 3 and s.added == {}
    s = Session(svc)
    assert s.send(CLEAN, INTERNAL) == Milter.ACCEPT and s.changed == []


# -- through real worker processes ------------------------------------------------------------------


def test_real_workers_decide_and_read_a_spooled_body() -> None:
    svc = make("[milter]\nworkers = 1\nspool_threshold = 100", pool=True)
    try:
        s = Session(svc)
        big = LINK + ("\r\nเรียน ท่าน" * 200).encode()
        assert s.send(big, CITIZEN) == Milter.REJECT  # the body went to a file, the worker read it
        assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
        assert s.milter.spool is None
    finally:
        svc.close()


def test_reload_gives_new_messages_new_workers_and_lets_the_old_one_finish(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import time

    conf = tmp_path / "nolink.toml"
    conf.write_text('mode = "dry_run"\n[milter]\nworkers = 1\n[scope]\ninternal_domains = ["go.th"]\n')
    from nolink.config import load

    svc = Service(load(conf))
    try:
        old = Session(svc, "OLD")
        ctx = old.ctx
        ctx._envfrom(SENDER)  # a message in flight under the dry_run config
        ctx._envrcpt(CITIZEN)
        old_pids = svc.state.pool.pids  # type: ignore[union-attr]
        conf.write_text('[milter]\nworkers = 1\n[scope]\ninternal_domains = ["go.th"]\n')
        assert svc.reload(str(conf))
        assert svc.state.config.mode == "enforce" and svc.state.pool.pids != old_pids  # type: ignore[union-attr]
        assert Session(svc).send(LINK, CITIZEN) == Milter.REJECT  # new message, new config
        head, body = LINK.split(b"\r\n\r\n", 1)
        for field in re.split(r"\r\n(?![ \t])", head.decode()):
            name, _, value = field.partition(":")
            ctx._header(name, value)
        ctx._eoh()
        ctx._feed_body(io.BytesIO(body))
        assert ctx._eom() == Milter.ACCEPT  # finished under dry_run, by the old worker
        assert old.added["X-Nolink-Verdict"].endswith("mode=dry_run")
        old.milter.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the old pool closes once its last message ended
            try:
                os.kill(old_pids[0], 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the old worker is still running")
    finally:
        svc.close()


def test_stopping_refuses_new_messages_at_mail_from() -> None:
    svc = make()
    s = Session(svc)
    svc.stopping = True
    assert s.ctx._envfrom(SENDER) == Milter.TEMPFAIL
    assert s.reply == ("451", "4.3.2", "nolink is restarting; try again later")
    assert svc.inflight == 0


def test_sessions_accepted_on_an_inet_listener_get_tcp_nodelay() -> None:
    """Two small replies at end of message (a header, then ACCEPT) must not wait for Postfix's
    delayed ACK: the option set on the listener is inherited by each accepted session."""
    import socket

    from harness import free_port  # honours NOLINK_TEST_PORTS
    from nolink.adapters.service import no_delay_on_listener

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        no_delay_on_listener()
        with socket.create_connection(listener.getsockname()) as client:
            session, _ = listener.accept()
            with session, client:
                assert session.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_over_a_unix_socket_the_steps_that_always_continue_get_no_reply() -> None:
    """Postfix then streams connect, RCPT, headers, DATA and body without a round trip each; the
    steps that can refuse (MAIL FROM while stopping, end of headers, end of message) still answer."""
    from nolink.adapters.service import NO_REPLY_STEPS

    s = Session(make())  # the default milter.socket is a unix socket
    p = s.milter._protocol
    for step in (Milter.P_NR_CONN, Milter.P_NR_RCPT, Milter.P_NR_HDR, Milter.P_NR_DATA, Milter.P_NR_BODY):
        assert p & step
    assert not p & (Milter.P_NR_MAIL | Milter.P_NR_EOH)
    assert s.milter.envrcpt(CITIZEN) == Milter.NOREPLY
    assert s.send(LINK, CITIZEN) == Milter.REJECT  # and the message is still decided

    tcp = Session(make('[milter]\nsocket = "inet:10025@127.0.0.1"\n'))
    assert not tcp.milter._protocol & NO_REPLY_STEPS  # over TCP each step answers (Nagle)
    assert tcp.milter.envrcpt(CITIZEN) == Milter.CONTINUE
    assert tcp.send(LINK, CITIZEN) == Milter.REJECT
