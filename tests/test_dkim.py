"""DKIM rules and DNS outcomes, with an injected key lookup (no network)."""

from __future__ import annotations

import time

import pytest

from dkimkeys import ed25519_key, letter, rsa_key, sign
from nolink.dkim.check import DkimPolicy, DkimVerifier, from_domain
from nolink.dkim.resolver import Answer, KeyResolver, TtlCache
from nolink.psl import load

NAME = "s1._domainkey.example.go.th"


class Zone:
    """An injected DNS: name -> Answer, counting the queries."""

    def __init__(self, records: dict[str, bytes | Answer] | None = None) -> None:
        self.records = dict(records or {})
        self.queries: list[str] = []

    def __call__(self, name: str, timeout: float) -> Answer:
        self.queries.append(name)
        r = self.records.get(name)
        if r is None:
            return Answer("notfound", detail="NXDOMAIN")
        return r if isinstance(r, Answer) else Answer("ok", r, ttl=300)


def verifier(zone: Zone, **policy: object) -> DkimVerifier:
    return DkimVerifier(KeyResolver(lookup=zone), load(), DkimPolicy(**policy))  # type: ignore[arg-type]


def check(msg: bytes, zone: Zone, **policy: object):  # type: ignore[no-untyped-def]
    return verifier(zone, **policy).verify(msg)


def test_rsa2048_aligned_passes() -> None:
    k = rsa_key(2048)
    r = check(sign(letter(), k), Zone({NAME: k.record}))
    assert (r.result, r.aligned, r.domain, r.selector, r.algorithm, r.key_bits) == (
        "pass",
        True,
        "example.go.th",
        "s1",
        "rsa-sha256",
        2048,
    )


def test_ed25519_passes() -> None:
    k = ed25519_key()
    r = check(sign(letter(), k), Zone({NAME: k.record}))
    assert (r.result, r.algorithm) == ("pass", "ed25519-sha256")


def test_no_signature_is_none() -> None:
    r = check(letter(), Zone())
    assert (r.result, r.reason) == ("none", "no DKIM signature")


def test_tampered_body_fails() -> None:
    k = rsa_key(2048)
    msg = sign(letter(), k).replace("ท่าน".encode(), "คุณ".encode())
    r = check(msg, Zone({NAME: k.record}))
    assert r.result == "fail"
    assert "body hash" in r.reason


@pytest.mark.parametrize(
    ("signer", "sender", "alignment", "expected"),
    [
        ("example.go.th", "saraban@mail.example.go.th", "relaxed", "pass"),
        ("mail.example.go.th", "saraban@example.go.th", "relaxed", "pass"),
        ("example.go.th", "saraban@mail.example.go.th", "strict", "fail"),
        ("dla.go.th", "saraban@dopa.go.th", "relaxed", "fail"),  # go.th is a public suffix
        ("ample.com", "saraban@example.com", "relaxed", "fail"),  # not a suffix match on strings
        ("mailer.example.net", "saraban@example.go.th", "relaxed", "fail"),
    ],
)
def test_alignment(signer: str, sender: str, alignment: str, expected: str) -> None:
    k = rsa_key(2048)
    r = check(
        sign(letter(sender), k, domain=signer),
        Zone({f"s1._domainkey.{signer}": k.record}),
        alignment=alignment,
    )
    assert r.result == expected
    assert r.aligned == (expected == "pass")


@pytest.mark.parametrize(
    ("bits", "minimum", "expected"), [(1024, 1024, "pass"), (1024, 2048, "fail"), (512, 1024, "fail")]
)
def test_key_size(bits: int, minimum: int, expected: str) -> None:
    k = rsa_key(bits)
    r = check(sign(letter(), k), Zone({NAME: k.record}), min_rsa_bits=minimum)
    assert r.result == expected
    assert r.key_bits == bits
    if expected == "fail":
        assert f"{bits} bits" in r.reason


def test_rsa_sha1_never_counts() -> None:
    k = rsa_key(2048)
    zone = Zone({NAME: k.record})
    r = check(sign(letter(), k, algorithm=b"rsa-sha1"), zone)
    assert r.result == "fail"
    assert "RFC 8301" in r.reason
    assert zone.queries == []  # refused before any DNS


def test_l_shorter_than_the_body_does_not_count() -> None:
    k = rsa_key(2048)
    signed = sign(letter(), k, length=True)
    zone = Zone({NAME: k.record})
    assert check(signed, zone).result == "pass"  # l= covering the whole body is fine
    r = check(signed + "ดูที่ https://evil.example.com\r\n".encode(), zone)
    assert r.result == "fail"
    assert "l= signs only" in r.reason


def forged(tags: str) -> bytes:
    return (
        f"DKIM-Signature: v=1; a=rsa-sha256; d=example.go.th; s=s1; c=relaxed/relaxed; {tags}; bh=AAAA; b=AAAA\r\n".encode()
        + letter()
    )


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ("h=to:subject", "not in h="),
        (f"h=from:to; x={int(time.time()) - 10}", "expired"),
        (f"h=from:to; t={int(time.time()) + 3600}", "in the future"),
    ],
)
def test_signature_tag_rules(tags: str, reason: str) -> None:
    r = check(forged(tags), Zone())
    assert r.result == "fail"
    assert reason in r.reason


def test_t_within_clock_skew_is_fine() -> None:
    k = rsa_key(2048)
    signed = sign(letter(), k)
    v = verifier(Zone({NAME: k.record}))
    assert v.verify(signed, now=time.time() - 100).result == "pass"  # our clock 100 s behind the signer
    assert v.verify(signed, now=time.time() - 1000).result == "fail"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"v=DKIM1; k=rsa; p=", "revoked"),
        (b"v=DKIM1; k=ed25519; p=AAAA", "does not match"),
        (b"v=DKIM1; k=rsa; h=sha1; p=AAAA", "h= does not allow sha256"),
        (b"garbage;;;==", "cannot be parsed"),
        (b"v=DKIM1; k=rsa; p=bm90IGEga2V5", "bad key"),
    ],
)
def test_key_record_problems_are_permerror(record: bytes, reason: str) -> None:
    r = check(sign(letter(), rsa_key(2048)), Zone({NAME: record}))
    assert r.result == "permerror"
    assert reason in r.reason


def test_dns_outcomes() -> None:
    msg = sign(letter(), rsa_key(2048))
    assert check(msg, Zone()).result == "permerror"  # NXDOMAIN
    assert check(msg, Zone({NAME: Answer("notfound", detail="no TXT record")})).result == "permerror"
    r = check(msg, Zone({NAME: Answer("temp", detail="Timeout")}))
    assert (r.result, "Timeout" in r.reason) == ("temperror", True)
    assert check(msg, Zone({NAME: Answer("temp", detail="NoNameservers")})).result == "temperror"  # SERVFAIL


def test_best_signature_wins() -> None:
    k = rsa_key(2048)
    third_party = sign(letter(), k, domain="mailer.example.net", selector="m")
    ours_on_top = sign(third_party, k)
    zone = Zone({NAME: k.record, "m._domainkey.mailer.example.net": k.record})
    assert check(ours_on_top, zone).result == "pass"
    assert check(sign(ours_on_top, k, domain="mailer.example.net", selector="m"), zone).result == "pass"
    # a temporary failure on ours beats a definite failure on theirs: it may pass on retry
    zone.records[NAME] = Answer("temp", detail="Timeout")
    assert check(ours_on_top, zone).result == "temperror"


def test_more_than_one_from_never_passes() -> None:
    k = rsa_key(2048)
    msg = sign(letter(), k)
    twice = msg.replace(b"To: ", b"From: other@example.go.th\r\nTo: ", 1)
    r = check(twice, Zone({NAME: k.record}))
    assert (r.result, r.reason) == ("fail", "the message has more than one From header")


@pytest.mark.parametrize(
    ("header", "domain", "problem"),
    [
        (b"Saraban <saraban@Example.GO.TH>", "example.go.th", ""),
        (b"=?UTF-8?B?4Liq4Liz4LiZ4Lix4LiB4LiH4Liy4LiZ?= <a@example.go.th>", "example.go.th", ""),
        (b"a@x.go.th, b@y.go.th", "", "exactly one address"),
        (b"undisclosed", "", "exactly one address"),
    ],
)
def test_from_domain(header: bytes, domain: str, problem: str) -> None:
    d, p = from_domain([(b"From", b" " + header)])
    assert d == domain
    assert problem in p


def test_pinned_keys_need_no_dns_and_mismatch_is_noticed() -> None:
    k, other = rsa_key(2048), rsa_key(1024)
    zone = Zone({NAME: other.record})
    seen: list[str] = []
    v = DkimVerifier(KeyResolver(lookup=zone, pinned={NAME: k.record}), load())
    v.on_pinned_mismatch = seen.append
    assert v.verify(sign(letter(), k)).result == "pass"
    assert seen == [NAME]
    zone.records[NAME] = k.record
    v2 = DkimVerifier(KeyResolver(lookup=zone, pinned={NAME: k.record}), load())
    v2.on_pinned_mismatch = seen.append
    assert v2.verify(sign(letter(), k)).result == "pass"
    assert seen == [NAME]  # same key: nothing to report


def test_cache_respects_ttl_and_bounds() -> None:
    now = [1000.0]
    c = TtlCache(2, clock=lambda: now[0])
    c.put("a", Answer("ok", b"x"), 10)
    c.put("b", Answer("ok", b"y"), 100)
    assert c.get("a") is not None
    now[0] += 11
    assert c.get("a") is None  # expired
    c.put("c", Answer("ok", b"z"), 100)
    c.put("d", Answer("ok", b"w"), 100)
    assert len(c) == 2 and c.get("b") is None  # least recently used went first


def test_resolver_caches_between_messages() -> None:
    k = rsa_key(2048)
    zone = Zone({NAME: k.record})
    v = verifier(zone)
    for _ in range(3):
        assert v.verify(sign(letter(), k)).result == "pass"
    assert zone.queries == [NAME]


def test_budget_bounds_a_slow_dns() -> None:
    def slow(name: str, timeout: float) -> Answer:
        time.sleep(min(timeout, 0.3))
        return Answer("temp", detail="Timeout")

    k = rsa_key(2048)
    msg = sign(sign(sign(letter(), k, selector="a"), k, selector="b"), k, selector="c")
    v = DkimVerifier(KeyResolver(lookup=slow, timeout=0.3), load(), DkimPolicy(budget=0.5))
    t = time.monotonic()
    r = v.verify(msg)
    assert r.result == "temperror"
    assert time.monotonic() - t < 0.5 + 1.0  # the budget, plus slack for a loaded machine
