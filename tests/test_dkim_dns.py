"""DKIM keys from a real DNS server: dnsmasq on a loopback port."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from dkimkeys import ed25519_key, letter, rsa_key, sign
from harness import Dnsmasq, free_port_udp, have_dnsmasq
from nolink.dkim.check import DkimPolicy, DkimVerifier
from nolink.dkim.resolver import KeyResolver
from nolink.psl import load

pytestmark = pytest.mark.skipif(bool(have_dnsmasq()), reason=have_dnsmasq() or "ok")


@pytest.fixture(scope="module")
def dns() -> Iterator[Dnsmasq]:
    d = Dnsmasq(
        {
            "s2048._domainkey.example.go.th": rsa_key(2048).record,
            "s1024._domainkey.example.go.th": rsa_key(1024).record,
            "ed._domainkey.example.go.th": ed25519_key().record,
            "revoked._domainkey.example.go.th": b"v=DKIM1; k=rsa; p=",
        }
    ).start()
    yield d
    d.stop()


def verifier(nameserver: str, **policy: object) -> DkimVerifier:
    return DkimVerifier(KeyResolver((nameserver,), timeout=0.5), load(), DkimPolicy(**policy))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("selector", "key"), [("s2048", rsa_key(2048)), ("s1024", rsa_key(1024)), ("ed", ed25519_key())]
)
def test_keys_from_dns_verify(dns: Dnsmasq, selector: str, key) -> None:  # type: ignore[no-untyped-def]
    r = verifier(dns.nameserver).verify(sign(letter(), key, selector=selector))
    assert (r.result, r.selector) == ("pass", selector)


def test_long_key_split_across_txt_strings(dns: Dnsmasq) -> None:
    assert len(rsa_key(2048).record) > 255  # so dnsmasq serves it as several strings
    assert verifier(dns.nameserver).verify(sign(letter(), rsa_key(2048), selector="s2048")).result == "pass"


def test_nxdomain_and_revoked_are_permerror(dns: Dnsmasq) -> None:
    v = verifier(dns.nameserver)
    r = v.verify(sign(letter(), rsa_key(2048), selector="missing"))
    assert (r.result, "NXDOMAIN" in r.reason or "no TXT" in r.reason) == ("permerror", True)
    assert v.verify(sign(letter(), rsa_key(2048), selector="revoked")).result == "permerror"


def test_dead_server_is_temperror_within_the_budget() -> None:
    dead = f"127.0.0.1:{free_port_udp()}"  # nothing listens: queries time out
    v = verifier(dead, budget=1.5)
    t = time.monotonic()
    r = v.verify(sign(letter(), rsa_key(2048), selector="s2048"))
    assert r.result == "temperror"
    assert time.monotonic() - t < 1.5 + 1.0  # the budget, plus slack for a loaded machine


def test_ipv6_nameserver_syntax_is_accepted() -> None:
    KeyResolver(("[::1]:53", "127.0.0.1", "192.0.2.1:5353"))
