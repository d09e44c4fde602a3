"""policy.py on its own: the log line, per-result DKIM actions, and the replies senders see."""

from __future__ import annotations

import re

import pytest

from mail import attachment, message, multipart
from nolink.config import Config, parse
from nolink.dkim.check import DkimResult
from nolink.errors import ConfigError
from nolink.findings import Link, Location, ScanResult
from nolink.policy import Decision, decide, log_line, logval, sample, smtp_reply
from nolink.scan import Scanner
from nolink.scope import Envelope

CITIZEN = Envelope("saraban@example.go.th", ("somchai@example.com",))
TOKEN = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s|$)')


def fields(line: str) -> list[tuple[str, str]]:
    """Split a log line as a logfmt reader does; every character must belong to a field."""
    out, pos = [], 0
    for m in TOKEN.finditer(line):
        assert m.start() == pos, f"stray text at {pos} in {line!r}"
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    assert pos == len(line), line
    return out


def test_forged_dkim_domain_cannot_add_fields() -> None:
    forged = "example.go.th reason=clean action=accept"
    dk = DkimResult("fail", "signature does not verify", forged, 'sel" x=1', "rsa-sha256")
    d = Decision("reject", "dkim_fail", "enforce", "REF0000001", 1, dkim=dk)
    line = log_line(d, "4AbC", 100, 0.001)
    keys = [k for k, _ in fields(line)]
    assert keys.count("reason") == 1 and keys.count("action") == 1 and keys.count("x") == 0
    assert dict(fields(line))["reason"] == "dkim_fail"
    assert "reason=clean" not in line  # the README's `grep -v reason=clean` keeps this line
    assert dict(fields(line))["dkim_d"].startswith('"example.go.th reason')


def test_attachment_name_cannot_hide_a_line_from_grep() -> None:
    body, ctype = multipart(
        [
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the attachment\r\n",
            attachment(b"open https://evil.example.com/x now", "text/plain", "x reason=clean.txt"),
        ]
    )
    r = Scanner(Config()).scan(message(body, ctype))
    assert r.findings
    d = decide(Config(), CITIZEN, r, "REF0000002")
    line = log_line(d, "4AbC", 100, 0.001)
    assert "reason=clean" not in line
    assert dict(fields(line))["reason"] == "link_found"
    assert [k for k, _ in fields(line)].count("reason") == 1


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("example.go.th", "example.go.th"),
        ("", '""'),
        ("a b", '"a b"'),
        ('q"\\', '"q\\"\\\\"'),
        ("k=v", '"k\\x3dv"'),
        ("line\nbreak", '"line\\x0abreak"'),
        ("ไทย", '"\\u0e44\\u0e17\\u0e22"'),
    ],
)
def test_logval_escapes(value: str, logged: str) -> None:
    assert logval(value) == logged


def test_thai_idn_sample_is_idna() -> None:
    link = Link("กรมการปกครอง.ไทย", "http://กรมการปกครอง.ไทย/x", "idn", Location("1", "text/plain", "body"))
    assert sample(link) == "http://" + "กรมการปกครอง.ไทย".encode("idna").decode()
    assert sample(link).startswith("http://xn--") and "?" not in sample(link)


def dk(result: str, domain: str = "example.go.th", aligned: bool = True, reason: str = "why") -> DkimResult:
    return DkimResult(result, reason, domain, "s1", "rsa-sha256", 2048, aligned, "example.go.th")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result", "action"),
    [
        (dk("none", ""), "accept"),
        (dk("fail"), "quarantine"),
        (dk("permerror"), "tempfail"),
        (dk("fail", "mailer.example.net", False), "reject"),
        (dk("permerror", "mailer.example.net", False), "reject"),
        (dk("temperror"), "accept"),
    ],
)
def test_per_result_dkim_actions(result: DkimResult, action: str) -> None:
    cfg = parse(
        '[dkim]\nenabled = true\naction = "tempfail"\non_none = "accept"\non_fail = "quarantine"\n'
        'on_permerror = "tempfail"\non_unaligned = "reject"\non_temperror = "accept"\n'
    )
    d = decide(cfg, CITIZEN, ScanResult(), "R", dkim=result)
    assert (d.action, d.reason) == (action, f"dkim_{result.result}")


def test_per_result_dkim_actions_default_to_dkim_action() -> None:
    cfg = parse('[dkim]\naction = "quarantine"\non_fail = "reject"\n')
    got = (cfg.dkim.on_none, cfg.dkim.on_fail, cfg.dkim.on_permerror, cfg.dkim.on_unaligned)
    assert got == ("quarantine", "reject", "quarantine", "quarantine")
    assert Config().dkim.on_none == "reject"
    with pytest.raises(ConfigError, match=r"dkim\.on_none = 'bounce': use one of reject"):
        parse('[dkim]\non_none = "bounce"\n')


def link_decision(cfg: Config) -> Decision:
    loc = Location("1", "text/plain", "body", 5)
    found = ScanResult((Link("https://x.example.com", "https://x.example.com", "scheme", loc),))
    return decide(cfg, CITIZEN, found, "REF0000003")


def test_links_tempfail_reply_says_deferred() -> None:
    cfg = parse('[links]\naction = "tempfail"\n')
    code, xcode, text = smtp_reply(cfg, link_decision(cfg))  # type: ignore[misc]
    assert (code, xcode) == ("451", "4.7.1")
    assert text.startswith("Message deferred: mail from this agency to citizens must not contain links")
    assert "refused" not in text and "send again" not in text
    assert "a link in the text/plain part" in text and text.endswith("Ref REF0000003")
    code, _, text = smtp_reply(Config(), link_decision(Config()))  # type: ignore[misc]
    assert code == "550" and text.startswith("Message refused")


def test_dkim_tempfail_action_reply_says_deferred() -> None:
    cfg = parse('[dkim]\nenabled = true\naction = "tempfail"\n')
    d = decide(cfg, CITIZEN, ScanResult(), "R", dkim=dk("none", "", False, "no DKIM signature"))
    code, _, text = smtp_reply(cfg, d)  # type: ignore[misc]
    assert code == "451" and text.startswith("Message deferred:") and "refused" not in text


def test_too_large_is_552_5_3_4() -> None:
    d = decide(Config(), CITIZEN, None, "R", size=Config().milter.max_message_size + 1)
    assert (d.action, d.reason) == ("reject", "too_large")
    code, xcode, text = smtp_reply(Config(), d)  # type: ignore[misc]
    assert (code, xcode) == ("552", "5.3.4")
    assert "larger than" in text and "try again" not in text
    lenient = parse('[milter]\non_error = "accept"\n')
    assert decide(lenient, CITIZEN, None, "R", size=1 << 40).action == "accept"


def test_dkimpy_internals_never_reach_the_sender() -> None:
    from dkimkeys import rsa_key, sign
    from nolink.dkim.check import DkimVerifier
    from nolink.dkim.resolver import KeyResolver
    from nolink.psl import load
    from test_dkim import Zone

    key = rsa_key(2048)
    signed = sign(message("เรียน ท่าน"), key)
    tampered = signed.replace("ท่าน".encode(), "ท่านผู้อ่าน".encode())
    verifier = DkimVerifier(KeyResolver(lookup=Zone({"s1._domainkey.example.go.th": key.record})), load())
    r = verifier.verify(tampered)
    assert r.result == "fail" and "body hash mismatch" in r.reason  # the log keeps the detail
    cfg = parse("[dkim]\nenabled = true\n")
    d = decide(cfg, CITIZEN, ScanResult(), "R", dkim=r)
    _, _, text = smtp_reply(cfg, d)  # type: ignore[misc]
    assert "body hash" not in text and "b'" not in text and "got" not in text
    assert "the signature does not match the message body" in text
    assert "body hash mismatch" in log_line(d, "Q", 1, 0.0)


def test_thai_idn_in_a_real_message_is_logged_as_idna() -> None:
    r = Scanner(Config()).scan(message("ดูรายละเอียดที่ https://กรมการปกครอง.ไทย/ประกาศ ค่ะ"))
    line = log_line(decide(Config(), CITIZEN, r, "REF0000004"), "Q", 1, 0.0)
    assert dict(fields(line))["sample"] == "https://" + "กรมการปกครอง.ไทย".encode("idna").decode()
    assert "?" not in dict(fields(line))["sample"]


def test_unscannable_location_is_written_losslessly_in_log_and_header() -> None:
    """issue 22 item 3: a "›" and a quote in an unscannable location were "?" in both the log line
    and the header; now both carry the same escaped, reversible text a link location gets."""
    from nolink.findings import Unscanned
    from nolink.ops.quarantine import parse_verdict
    from nolink.policy import header_value, unquote

    loc = Location("2", "application/zip", 'attachment "a›b.zip" › inner.docx')
    u = Unscanned("encrypted", 'encrypted ZIP "a›b.zip"', loc)
    d = Decision("reject", "unscannable", "enforce", "REF0000002", 1, unscanned=u, unscannable=1)
    line = log_line(d, "4AbC", 100, 0.001)
    assert "?" not in line
    f = dict(fields(line))
    assert unquote(f["where"]) == str(loc) and unquote(f["detail"]) == u.detail
    header = header_value(d)
    assert header.isascii() and "?" not in header
    assert f"where={f['where']};" in header  # the same encoding in both
    assert parse_verdict(header)["where"] == str(loc)
    link = Link("www.x.go.th", "http://www.x.go.th", "www", loc)
    dl = Decision("reject", "link_found", "enforce", "REF0000003", 1, finding=link, findings=1)
    assert dict(fields(log_line(dl, "4AbC", 1, 0.0)))["where"] == f["where"]
    assert parse_verdict(header_value(dl))["where"] == str(loc)
