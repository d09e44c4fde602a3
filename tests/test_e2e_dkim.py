"""The README's topology end to end: OpenDKIM signs first, nolink verifies after it, through a
real Postfix, with keys served by a real DNS server (dnsmasq)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dkim
import pytest

from dkimkeys import rsa_key
from harness import (
    Dnsmasq,
    Nolink,
    OpenDkim,
    Parts,
    Postfix,
    Rig,
    Sink,
    have_dnsmasq,
    have_opendkim,
    have_postfix,
)

why = have_postfix() or have_dnsmasq() or have_opendkim()
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(why), reason=why or "ok")]

CITIZEN = "somchai@example.com"
KEY = rsa_key(2048)
NAME = "s1._domainkey.example.go.th"


class Chain(Rig):
    def start(self, parts: Parts) -> None:
        self.dns = parts.add(Dnsmasq({NAME: KEY.record}).start())
        self.sink = parts.add(Sink(self.base).start())
        self.signer = parts.add(OpenDkim(self.base, "example.go.th", "s1", KEY.private).start())
        common = f'[scope]\ninternal_domains = ["go.th"]\n[dkim]\nenabled = true\nnameservers = ["{self.dns.nameserver}"]\n'
        self.nolink = parts.add(Nolink(self.base, "dkim", common + "timeout = 1.0\n").start())
        uncached_cfg = common + "timeout = 0.5\nbudget = 1.0\ncache_size = 0\n"
        self.uncached = parts.add(Nolink(self.base, "uncached", uncached_cfg).start())
        signer, nolink, uncached = (f"unix:{x.socket}" for x in (self.signer, self.nolink, self.uncached))
        self.postfix = parts.add(
            Postfix(
                self.base,
                self.sink,
                {"signed": f"{signer},{nolink}", "unsigned": nolink, "uncached": f"{signer},{uncached}"},
                non_smtpd_milter=f"{signer},{nolink}",
            ).start()
        )


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    c = Chain()
    try:
        yield c
    finally:
        c.stop()


def letter(marker: str) -> bytes:
    return (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: test {marker}\r\n"
        f"Date: Mon, 16 Feb 2026 09:00:00 +0700\r\nMessage-ID: <{marker}@example.go.th>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "เรียน ท่าน ตามหนังสือ มท ๐๘๒๓.๒/ว ๕๒๗ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙\r\n"
    ).encode()


def test_signed_by_opendkim_passes_and_still_verifies_at_the_next_hop(chain: Chain) -> None:
    m = uuid.uuid4().hex[:12]
    code, _ = chain.postfix.send("signed", letter(m), [CITIZEN])
    assert code == 250
    got = chain.delivered(m)
    assert b"DKIM-Signature:" in got
    wire = got.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert dkim.verify(wire, dnsfunc=lambda name, timeout=5: KEY.record)
    line = next(x for x in chain.nolink.lines() if "reason=clean" in x)
    assert "dkim=pass dkim_d=example.go.th dkim_s=s1" in line
    import socket

    ar = f"Authentication-Results: {socket.gethostname()}; dkim=pass header.d=example.go.th header.s=s1"
    assert (ar + " header.a=rsa-sha256").encode() in got.replace(b"\r\n", b"\n")


def test_without_the_signer_the_message_is_stopped(chain: Chain) -> None:
    m = uuid.uuid4().hex[:12]
    code, text = chain.postfix.send("unsigned", letter(m), [CITIZEN])
    assert code == 550
    assert text.startswith(
        b"5.7.20 Message refused: mail from this agency to citizens must carry a valid DKIM"
    )
    assert b"this message has no DKIM signature" in text


def test_sendmail_submissions_are_signed_and_verified(chain: Chain) -> None:
    m = uuid.uuid4().hex[:12]
    chain.postfix.sendmail(letter(m), CITIZEN)
    got = chain.delivered(m)
    assert b"DKIM-Signature:" in got


def test_dns_down_is_a_temporary_failure(chain: Chain) -> None:
    chain.dns.stop()
    m = uuid.uuid4().hex[:12]
    code, text = chain.postfix.send("uncached", letter(m), [CITIZEN])
    assert code == 451
    assert text.startswith(b"4.4.3")
    assert any("reason=dkim_temperror" in x for x in chain.uncached.lines())
