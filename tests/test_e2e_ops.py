"""Reload and stop against running nolink processes behind a real Postfix."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from harness import Nolink, Parts, Postfix, Rig, Sink, free_port_udp, have_postfix, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]

SCOPE = '[scope]\ninternal_domains = ["go.th"]\n'
CITIZEN = "somchai@example.com"


class Ops(Rig):
    def start(self, parts: Parts) -> None:
        self.sink = parts.add(Sink(self.base).start())
        self.reloading = parts.add(Nolink(self.base, "reload", 'mode = "dry_run"\n' + SCOPE).start())
        # a decision that takes 3 s by construction: the DKIM key lookup goes to a dead DNS port
        slow_dkim = f'[dkim]\nenabled = true\nnameservers = ["127.0.0.1:{free_port_udp()}"]\ntimeout = 3.0\nbudget = 3.0\n'
        self.draining = parts.add(Nolink(self.base, "drain", SCOPE + slow_dkim).start())
        self.postfix = parts.add(
            Postfix(
                self.base,
                self.sink,
                {"reload": f"unix:{self.reloading.socket}", "drain": f"unix:{self.draining.socket}"},
                non_smtpd_milter="",
            ).start()
        )


@pytest.fixture(scope="module")
def ops() -> Iterator[Ops]:
    o = Ops()
    try:
        yield o
    finally:
        o.stop()


def letter(body: str = "ดูที่ https://evil.example.com/x ค่ะ") -> bytes:
    m = uuid.uuid4().hex[:12]
    return (
        f"From: <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: {m}\r\nMessage-ID: <{m}@example.go.th>\r\n"
        "Date: Mon, 16 Feb 2026 09:00:00 +0700\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body
        + "\r\n"
    ).encode()


def reload(n: Nolink, expect: str) -> None:
    count = sum(expect in line for line in n.lines())
    assert n.proc is not None
    n.proc.send_signal(signal.SIGUSR1)
    wait_until(
        lambda: sum(expect in line for line in n.lines()) > count, 15, what=f"'{expect}' in nolink's log"
    )


def test_sigusr1_with_a_good_config_changes_the_next_message(ops: Ops) -> None:
    n = ops.reloading
    assert ops.postfix.send("reload", letter(), [CITIZEN])[0] == 250  # dry_run delivers
    n.write_config(SCOPE)  # enforce
    reload(n, "reloaded ")
    code, text = ops.postfix.send("reload", letter(), [CITIZEN])
    assert code == 550 and text.startswith(b"5.7.1")
    m = n.samples()
    assert m['nolink_config_reloads_total{result="success"}'] == 1
    assert m["nolink_config_last_reload_successful"] == 1
    assert any('mode="enforce"' in k for k in m if k.startswith("nolink_config_info"))
    assert n.proc is not None and n.proc.poll() is None  # same process, same socket


def test_sigusr1_with_a_broken_config_keeps_the_old_one(ops: Ops) -> None:
    n = ops.reloading
    n.config.write_text(n.config.read_text() + '\n[links]\naction = "bounce"\n')
    reload(n, "reload refused")
    assert any("links.action = 'bounce'" in line for line in n.lines())
    code, _ = ops.postfix.send("reload", letter(), [CITIZEN])
    assert code == 550  # still enforcing
    m = n.samples()
    assert m['nolink_config_reloads_total{result="failure"}'] == 1
    assert m["nolink_config_last_reload_successful"] == 0
    n.write_config(SCOPE)
    reload(n, "reloaded ")
    assert n.samples()["nolink_config_last_reload_successful"] == 1


def test_sigterm_lets_the_message_in_flight_finish_and_exits_zero(ops: Ops) -> None:
    n = ops.draining
    signed = (
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.go.th; s=s1; c=relaxed/relaxed; h=from:to:subject;"
        b" bh=AAAA; b=AAAA\r\n"
    ) + letter("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")
    result: list[tuple[int, bytes]] = []
    sender = threading.Thread(target=lambda: result.append(ops.postfix.send("drain", signed, [CITIZEN])))
    t0 = time.monotonic()
    sender.start()
    time.sleep(1.0)  # the message is now with nolink, waiting for its DKIM key
    assert n.proc is not None
    n.proc.send_signal(signal.SIGTERM)
    sender.join(30)
    code, text = result[0]
    # decided by the stopping nolink (451 4.4.3: key lookup failed), not cut (Postfix's 451 4.7.1)
    assert (code, text[:5]) == (451, b"4.4.3"), text
    assert time.monotonic() - t0 >= 3.0
    assert n.proc.wait(60) == 0
    lines = n.lines()
    assert any("stopping: waiting for 1 message(s) in flight" in x for x in lines)
    assert any("reason=dkim_temperror" in x for x in lines)
    assert lines[-1].endswith("nolink stopped")
