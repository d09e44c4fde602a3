"""Metrics: closed label sets, zero-initialised counters, exact movement per decision."""

from __future__ import annotations

import re

import Milter
import pytest
from prometheus_client import generate_latest

from nolink.config import parse
from nolink.errors import ConfigError
from nolink.metrics import ACTIONS, KINDS, LOCATIONS, MODES, REASONS, Metrics
from test_service import CITIZEN, CLEAN, INTERNAL, LINK, Session, dkim_service, make, scanner

ALLOWED_LABELS = {
    "action", "mode", "reason", "location", "kind", "result", "outcome", "stage", "le", "verdict", "dialect",
    "version", "python", "pymilter", "dkimpy", "tldextract", "psl_source", "psl_version", "config_hash",
    "header", "cause",
}  # fmt: skip


def samples(m: Metrics) -> dict[str, float]:
    out = {}
    for line in generate_latest(m.registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_every_labelled_counter_starts_at_zero() -> None:
    s = samples(Metrics())
    for a in ACTIONS:
        for mode in MODES:
            assert s[f'nolink_messages_total{{action="{a}",mode="{mode}"}}'] == 0
    for r in REASONS:
        assert s[f'nolink_decisions_total{{reason="{r}"}}'] == 0
    for loc in LOCATIONS:
        for k in KINDS:
            assert s[f'nolink_links_total{{kind="{k}",location="{loc}"}}'] == 0
    assert s['nolink_errors_total{stage="eom"}'] == 0
    assert s['nolink_config_reloads_total{result="failure"}'] == 0
    assert s['nolink_texts_total{verdict="link"}'] == 0
    assert s['nolink_texts_total{verdict="clean"}'] == 0
    assert s["nolink_text_check_duration_seconds_count"] == 0


def test_labels_come_from_closed_sets_only() -> None:
    svc = make()
    Session(svc).send(LINK, CITIZEN)
    for name in samples(svc.metrics):
        for label, value in re.findall(r'(\w+)="([^"]*)"', name):
            assert label in ALLOWED_LABELS, name
            assert "@" not in value and "example.com" not in value, name


def test_counters_move_exactly() -> None:
    svc = make()
    s = Session(svc)
    assert s.send(LINK, CITIZEN) == Milter.REJECT
    assert s.send(CLEAN, CITIZEN) == Milter.ACCEPT
    assert s.send(LINK, INTERNAL) == Milter.ACCEPT
    s.milter.close()
    m = samples(svc.metrics)
    assert m['nolink_messages_total{action="reject",mode="enforce"}'] == 1
    assert m['nolink_messages_total{action="accept",mode="enforce"}'] == 2
    assert m['nolink_decisions_total{reason="link_found"}'] == 1
    assert m['nolink_decisions_total{reason="clean"}'] == 1
    assert m['nolink_decisions_total{reason="not_citizen_bound"}'] == 1
    assert m['nolink_links_total{kind="scheme",location="text_plain"}'] == 1
    assert m["nolink_decision_duration_seconds_count"] == 2  # out-of-scope messages are not timed
    assert m["nolink_message_size_bytes_count"] == 3
    assert m["nolink_connections_total"] == 1
    assert m["nolink_connections_active"] == 0
    assert m['nolink_config_info{config_hash="' + svc.state.config.digest + '",mode="enforce"}'] == 1
    assert m["nolink_config_last_reload_successful"] == 1


def test_dry_run_counts_what_would_have_been_done() -> None:
    svc = make('mode = "dry_run"')
    Session(svc).send(LINK, CITIZEN)
    assert samples(svc.metrics)['nolink_messages_total{action="reject",mode="dry_run"}'] == 1


def test_dkim_results_are_counted() -> None:
    svc = dkim_service()
    Session(svc).send(CLEAN, CITIZEN)
    m = samples(svc.metrics)
    assert m['nolink_dkim_results_total{result="none"}'] == 1
    assert m['nolink_decisions_total{reason="dkim_none"}'] == 1


def test_scanner_errors_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    svc = make()

    def boom(data: bytes) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(scanner(svc), "scan", boom)
    Session(svc).send(CLEAN, CITIZEN)
    m = samples(svc.metrics)
    assert m['nolink_errors_total{stage="scan"}'] == 1
    assert m['nolink_messages_total{action="tempfail",mode="enforce"}'] == 1


def test_build_info_names_the_psl() -> None:
    svc = make()
    info = next(k for k in samples(svc.metrics) if k.startswith("nolink_build_info{"))
    assert 'psl_source="bundled"' in info
    assert re.search(r'psl_version="\d{4}-\d{2}-\d{2}"', info)


@pytest.mark.parametrize("listen", ["127.0.0.1:9428", "[::1]:9428", ":9428", ""])
def test_listen_syntax_ok(listen: str) -> None:
    parse(f'[metrics]\nlisten = "{listen}"')


@pytest.mark.parametrize(
    "listen", ["localhost:9428", "127.0.0.1", "::1:9428", "127.0.0.1:0", "127.0.0.1:99999"]
)
def test_listen_syntax_errors(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        parse(f'[metrics]\nlisten = "{listen}"')
