"""The shipped Prometheus rules and Grafana dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

RULES = ROOT / "config" / "prometheus" / "nolink-rules.yml"
RULE_TESTS = ROOT / "tests" / "prometheus" / "nolink-rules.test.yml"
DASHBOARD = ROOT / "config" / "grafana" / "nolink.json"
promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    promtool is None, reason="promtool is not installed (scripts/setup.sh --test)"
)


@needs_promtool
def test_rules_are_valid() -> None:
    r = subprocess.run(
        [str(promtool), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 18 rules found" in r.stdout


@needs_promtool
def test_every_alert_has_a_passing_unit_test() -> None:
    r = subprocess.run(
        [str(promtool), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=RULE_TESTS.parent,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    alerts = {
        line.split(":", 1)[1].strip()
        for line in RULES.read_text().splitlines()
        if line.strip().startswith("- alert:")
    }
    tested = set(re.findall(r"alertname:\s*(\w+)", RULE_TESTS.read_text()))
    assert alerts == tested


def test_dashboard_is_provisionable() -> None:
    d = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all("nolink_" in t["expr"] for t in p["targets"]), p["title"]
    titles = " ".join(p["title"] for p in d["panels"]).lower()
    for word in (
        "action",
        "refused",
        "reason",
        "links",
        "dkim",
        "dns",
        "decision time",
        "size",
        "connections",
        "errors",
        "mode",
        "build",
    ):
        assert word in titles, word


def test_dashboard_is_what_the_generator_writes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = DASHBOARD.read_text()
    subprocess.run(["python3", str(ROOT / "scripts" / "make_dashboard.py")], check=True, capture_output=True)
    assert DASHBOARD.read_text() == before, (
        "config/grafana/nolink.json is stale: run scripts/make_dashboard.py"
    )
