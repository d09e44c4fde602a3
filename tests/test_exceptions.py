"""Named exceptions: each lets through exactly what it names, stops after `until`, is counted under
its name; empty and overlapping ones are refused when the config loads."""

from __future__ import annotations

import datetime
import io

import pytest

from nolink.adapters.cli import cmd_show_config
from nolink.config import parse
from nolink.errors import ConfigError
from nolink.findings import Link, Location, ScanResult
from nolink.metrics import Metrics
from nolink.ops.checks import exception_checks
from nolink.policy import decide, log_line
from nolink.scope import Envelope

TODAY = datetime.date(2026, 12, 1)
BASE = '[scope]\ninternal_domains = ["go.th"]\n'
TAX = """
[[exceptions]]
name = "tax-portal"
reason = "memo 0823/512"
sender_domain = "rd.go.th"
link_host = "efiling.rd.go.th"
until = 2026-12-31
"""


def link(url: str, where: str = "body") -> Link:
    return Link(url, url, "scheme", Location("1", "text/plain", where))


def env(sender: str = "notice@rd.go.th", *rcpts: str) -> Envelope:
    return Envelope(f"<{sender}>", tuple(f"<{r}>" for r in rcpts or ("somchai@example.com",)))


def verdict(
    cfg_text: str, e: Envelope, *urls: str, today: datetime.date = TODAY
) -> tuple[str, tuple[str, ...], int]:
    d = decide(parse(BASE + cfg_text), e, ScanResult(tuple(link(u) for u in urls)), "R", today=today)
    return d.reason, d.exceptions, d.findings


def test_link_to_exactly_the_named_host_from_the_named_sender_domain_passes() -> None:
    assert verdict(TAX, env(), "https://efiling.rd.go.th/pay") == ("clean", ("tax-portal",), 0)


@pytest.mark.parametrize(
    "e,url",
    [
        (env("notice@rd.go.th"), "https://evil.efiling.rd.go.th/"),  # a subdomain is another host
        (env("notice@rd.go.th"), "https://efiling.rd.go.th.evil.com/"),
        (env("notice@rd.go.th"), "https://rd.go.th/"),
        (env("notice@mail.rd.go.th"), "https://efiling.rd.go.th/"),  # sender_domain is exact
        (env("notice@dopa.go.th"), "https://efiling.rd.go.th/"),
        (env(""), "https://efiling.rd.go.th/"),  # a bounce has no sender
    ],
)
def test_it_never_widens(e: Envelope, url: str) -> None:
    assert verdict(TAX, e, url) == ("link_found", (), 1)


def test_other_links_in_the_same_message_still_count() -> None:
    reason, used, n = verdict(TAX, env(), "https://efiling.rd.go.th/a", "https://evil.example.com/")
    assert (reason, used, n) == ("link_found", ("tax-portal",), 1)
    d = decide(
        parse(BASE + TAX),
        env(),
        ScanResult((link("https://efiling.rd.go.th/a"), link("https://evil.example.com/"))),
        "R",
        today=TODAY,
    )
    assert d.finding is not None and "evil.example.com" in d.finding.url


def test_until_is_the_last_day_it_applies() -> None:
    assert verdict(TAX, env(), "https://efiling.rd.go.th/", today=datetime.date(2026, 12, 31))[0] == "clean"
    assert verdict(TAX, env(), "https://efiling.rd.go.th/", today=datetime.date(2027, 1, 1)) == (
        "link_found",
        (),
        1,
    )


def test_recipient_domain_must_be_every_citizen_domain() -> None:
    ex = '[[exceptions]]\nname = "bank"\nrecipient_domain = "ktb.co.th"\nlink_host = "ktb.co.th"\n'
    assert verdict(ex, env("a@dopa.go.th", "ops@ktb.co.th"), "https://ktb.co.th/")[0] == "clean"
    # an internal recipient beside it does not matter; a second citizen domain does
    assert (
        verdict(ex, env("a@dopa.go.th", "ops@ktb.co.th", "staff@dopa.go.th"), "https://ktb.co.th/")[0]
        == "clean"
    )
    assert (
        verdict(ex, env("a@dopa.go.th", "ops@ktb.co.th", "somchai@example.com"), "https://ktb.co.th/")[0]
        == "link_found"
    )


def test_sender_address_exception() -> None:
    ex = '[[exceptions]]\nname = "one-box"\nsender = "Saraban@Dopa.go.th"\nlink_host = "dopa.go.th"\n'
    assert verdict(ex, env("saraban@dopa.go.th"), "https://dopa.go.th/")[0] == "clean"
    assert verdict(ex, env("other@dopa.go.th"), "https://dopa.go.th/")[0] == "link_found"


def test_without_link_host_every_link_of_the_matching_sender_passes() -> None:
    ex = '[[exceptions]]\nname = "archive"\nsender = "archive@dopa.go.th"\n'
    assert verdict(ex, env("archive@dopa.go.th"), "https://a.example/", "https://b.example/")[0] == "clean"


@pytest.mark.parametrize(
    "text,message",
    [
        ('[[exceptions]]\nname = "x"\n', "is empty"),
        ('[[exceptions]]\nname = "x"\nreason = "because"\n', "is empty"),
        ('[[exceptions]]\nlink_host = "a.com"\n', "needs a name"),
        ('[[exceptions]]\nname = "a b"\nlink_host = "a.com"\n', "needs a name"),
        ('[[exceptions]]\nname = "x"\nlink_host = "https://a.com/"\n', "bare host"),
        ('[[exceptions]]\nname = "x"\nlink_host = "a.com"\nuntil = "soon"\n', "write a date"),
        ('[[exceptions]]\nname = "x"\nlink_host = "a.com"\nhost = "b"\n', "unknown key host"),
        ('[[exceptions]]\nname = "x"\nsender = "rd.go.th"\n', "not an address"),
        ('[[exceptions]]\nname = "x"\nsender = "a@b.th"\nsender_domain = "c.th"\n', "can never apply"),
        (
            '[[exceptions]]\nname = "x"\nlink_host = "a.com"\n[[exceptions]]\nname = "x"\nlink_host = "b.com"\n',
            "used twice",
        ),
        (
            '[[exceptions]]\nname = "a"\nlink_host = "a.com"\n[[exceptions]]\nname = "b"\nsender_domain = "rd.go.th"\n',
            "overlap",
        ),
        (
            '[[exceptions]]\nname = "a"\nsender = "x@rd.go.th"\n[[exceptions]]\nname = "b"\nsender_domain = "rd.go.th"\n',
            "overlap",
        ),
    ],
)
def test_empty_overlapping_and_malformed_exceptions_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_disjoint_exceptions_are_fine() -> None:
    cfg = parse(
        TAX + '[[exceptions]]\nname = "b"\nsender_domain = "rd.go.th"\nlink_host = "www.rd.go.th"\n'
        '[[exceptions]]\nname = "c"\nsender_domain = "dopa.go.th"\n'
    )
    assert [e.name for e in cfg.exceptions] == ["tax-portal", "b", "c"]


def test_check_config_warns_about_expired_and_open_ended_ones() -> None:
    cfg = parse(
        TAX
        + '[[exceptions]]\nname = "old"\nlink_host = "old.example"\nuntil = "2026-01-31"\n[[exceptions]]\nname = "open"\nlink_host = "open.example"\n'
    )
    checks = {c.what.split('"')[1]: c for c in exception_checks(cfg, TODAY)}
    assert not checks["tax-portal"].warning and "until 2026-12-31" in checks["tax-portal"].what
    assert checks["old"].warning and "expired" in checks["old"].what
    assert checks["open"].warning and "no end date" in checks["open"].what
    assert all(c.ok for c in checks.values())


def test_show_config_lists_them_and_reads_back() -> None:
    cfg = parse(BASE + TAX)
    out = io.StringIO()
    cmd_show_config(None, cfg, out, out)  # type: ignore[arg-type]
    assert "[[exceptions]]" in out.getvalue() and 'link_host = "efiling.rd.go.th"' in out.getvalue()
    assert parse(out.getvalue()) == cfg


def test_each_use_is_logged_and_counted_under_its_name() -> None:
    cfg = parse(BASE + TAX)
    m = Metrics()
    m.configured(cfg, "bundled", "x")
    assert m.registry.get_sample_value("nolink_exceptions_total", {"name": "tax-portal"}) == 0
    d = decide(cfg, env(), ScanResult((link("https://efiling.rd.go.th/"),)), "R", today=TODAY)
    m.decided(d, 1, 0.0, None, None)
    assert m.registry.get_sample_value("nolink_exceptions_total", {"name": "tax-portal"}) == 1
    assert "exception=tax-portal" in log_line(d, "Q", 1, 0.0)
