"""The nolink command as an auditor uses it: formats, sources, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from mail import message
from nolink.cli import main

LINK = message("ดูที่ https://evil.example.com/x ค่ะ")
CLEAN = message("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "a.eml").write_bytes(LINK)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.eml").write_bytes(CLEAN)
    return tmp_path


def test_exit_codes(files: Path) -> None:
    assert run("scan", str(files / "sub" / "b.eml"))[0] == 0
    assert run("scan", str(files / "a.eml"))[0] == 1
    assert run("scan", str(files))[0] == 1
    rc, _, err = run("scan", str(files / "missing.eml"))
    assert rc == 2
    assert "no such file" in err
    assert run("scan")[0] == 2
    assert run("frobnicate")[0] == 2


def test_default_output_and_summary(files: Path) -> None:
    _, out, _ = run("scan", str(files))
    lines = out.splitlines()
    assert lines[0].startswith(
        f"{files / 'a.eml'}\tlink\t'https://evil.example.com/x' at 1 text/plain body @"
    )
    assert lines[1] == f"{files / 'sub' / 'b.eml'}\tclean"
    assert lines[2] == "2 messages: 1 with links, 1 clean, 0 errors (1 links)"


def test_json_output(files: Path) -> None:
    _, out, _ = run("scan", "--json", str(files))
    objs = [json.loads(x) for x in out.splitlines()]
    assert objs[0]["path"].endswith("a.eml")
    assert objs[0]["verdict"] == "link"
    assert objs[0]["error"] is None
    assert objs[0]["findings"] == [
        {
            "text": "https://evil.example.com/x",
            "url": "https://evil.example.com/x",
            "kind": "scheme",
            "location": "1 text/plain body @6",
        }
    ]
    assert objs[1]["verdict"] == "clean"
    assert objs[2] == {
        "summary": {"messages": 2, "link": 1, "clean": 1, "error": 0, "unscannable": 0, "findings": 1}
    }


def mbox(*messages: bytes) -> bytes:
    out = b""
    for m in messages:
        body = m.replace(b"\r\n", b"\n").replace(b"\nFrom ", b"\n>From ")
        out += b"From sender@example.go.th Mon Feb 16 09:00:00 2026\n" + body + b"\n\n"
    return out


def test_mbox(tmp_path: Path) -> None:
    p = tmp_path / "archive.mbox"
    p.write_bytes(mbox(CLEAN, LINK, CLEAN + b"\nFrom the desk of the director\n"))
    rc, out, _ = run("scan", "--json", str(p))
    objs = [json.loads(x) for x in out.splitlines()]
    assert [(o["path"], o["verdict"]) for o in objs[:-1]] == [
        (f"{p}:1", "clean"),
        (f"{p}:2", "link"),
        (f"{p}:3", "clean"),
    ]
    assert rc == 1


def test_maildir(tmp_path: Path) -> None:
    for d in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / d).mkdir(parents=True)
    (tmp_path / "Maildir" / "cur" / "1.host:2,S").write_bytes(CLEAN)
    (tmp_path / "Maildir" / "new" / "2.host").write_bytes(LINK)
    (tmp_path / "Maildir" / "tmp" / "3.host").write_bytes(LINK)  # being delivered: not a message yet
    rc, out, _ = run("scan", "--json", str(tmp_path / "Maildir"))
    objs = [json.loads(x) for x in out.splitlines()]
    assert objs[-1]["summary"]["messages"] == 2
    assert rc == 1


def test_stdin() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "nolink", "scan", "-"],
        input=LINK,
        capture_output=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "milter"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert r.returncode == 1
    assert r.stdout.startswith(b"-\tlink\t")
    assert r.stderr == b""  # no progress bar when stderr is not a terminal


def test_quiet_prints_only_findings(files: Path) -> None:
    _, out, _ = run("scan", "-q", str(files))
    assert len(out.splitlines()) == 2


def test_check_config(tmp_path: Path) -> None:
    assert run("check-config", "-c", str(ROOT / "config" / "nolink.toml"))[0] == 0
    # whatever an earlier `nolink serve` left on this machine: a socket directory that does not
    # exist yet is one serve creates itself, a warning and not a failure
    missing = tmp_path / "never-created" / "nolink.sock"
    cfg = tmp_path / "fresh.toml"
    cfg.write_text(f'[milter]\nsocket = "unix:{missing}"\n')
    rc, out, _ = run("check-config", "-c", str(cfg))
    assert rc == 0, out
    assert f"warn  socket directory {missing.parent} does not exist yet; nolink serve creates it" in out
    bad = tmp_path / "bad.toml"
    bad.write_text('[links]\naction = "bounce"\n')
    rc, _, err = run("check-config", "-c", str(bad))
    assert rc == 1
    assert "links.action = 'bounce': use one of reject, quarantine, tempfail, accept" in err


def test_scan_with_bad_config_is_usage_error(tmp_path: Path, files: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("mode = 1\n")
    assert run("scan", "-c", str(bad), str(files))[0] == 2


def test_version() -> None:
    rc, out, _ = run("version")
    assert rc == 0
    assert out.startswith("nolink ")
    assert "tldextract " in out


def test_samples_in_the_readme_command() -> None:
    rc, out, _ = run("scan", str(ROOT / "samples"))
    assert rc == 1
    assert "clean-th.eml\tclean" in out
    assert "link-th.eml\tlink\t'www.dopa.go.th'" in out


def test_big_mbox_is_streamed(tmp_path: Path) -> None:
    p = tmp_path / "big.mbox"
    with p.open("wb") as f:
        for _ in range(2000):
            f.write(mbox(CLEAN))
    rc, out, _ = run("scan", "-q", str(p))
    assert rc == 0
    assert out.strip() == "2000 messages: 0 with links, 2000 clean, 0 errors (0 links)"


def test_scan_reports_dkim_when_enabled(tmp_path: Path) -> None:
    from dkimkeys import letter, rsa_key, sign

    k = rsa_key(2048)
    (tmp_path / "signed.eml").write_bytes(sign(letter(), k))
    (tmp_path / "unsigned.eml").write_bytes(letter())
    cfg = tmp_path / "nolink.toml"
    cfg.write_text(
        '[scope]\ninternal_domains = ["go.th"]\n[dkim]\nenabled = true\nnameservers = ["127.0.0.1:9"]\ntimeout = 0.2\n'
        f'[dkim.pinned_keys]\n"s1._domainkey.example.go.th" = "{k.record.decode()}"\n'
    )
    rc, out, _ = run(
        "scan", "--json", "-c", str(cfg), str(tmp_path / "signed.eml"), str(tmp_path / "unsigned.eml")
    )
    objs = [json.loads(x) for x in out.splitlines()]
    assert objs[0]["dkim"] == {
        "result": "pass",
        "aligned": True,
        "domain": "example.go.th",
        "selector": "s1",
        "algorithm": "rsa-sha256",
        "reason": "",
    }
    assert objs[1]["dkim"]["result"] == "none"
    assert rc == 0  # the exit status speaks of links only
    _, out, _ = run(
        "scan", "--json", "-c", str(cfg), "--rcpt", "staff@dopa.go.th", str(tmp_path / "unsigned.eml")
    )
    assert json.loads(out.splitlines()[0])["dkim"] is None  # not citizen-bound: not checked
    _, out, _ = run("scan", "-c", str(cfg), str(tmp_path / "unsigned.eml"))
    assert "\tclean\tdkim=none (no DKIM signature)" in out
    _, out, _ = run("scan", "--json", str(tmp_path / "unsigned.eml"))
    assert "dkim" not in json.loads(out.splitlines()[0])  # dkim.enabled is false by default
