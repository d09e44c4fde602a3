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
from nolink.adapters.cli import main

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
        "summary": {
            "messages": 2, "link": 1, "clean": 1, "error": 0, "dkim_fail": 0, "not_citizen_bound": 0,
            "unscannable": 0, "findings": 1,
        }
    }  # fmt: skip


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
    assert objs[1]["verdict"] == "dkim_fail"  # the milter would refuse it: so does the exit status
    assert objs[2]["summary"]["dkim_fail"] == 1 and objs[2]["summary"]["clean"] == 1
    assert rc == 1
    _, out, _ = run(
        "scan", "--json", "-c", str(cfg), "--rcpt", "staff@dopa.go.th", str(tmp_path / "unsigned.eml")
    )
    assert json.loads(out.splitlines()[0])["dkim"] is None  # not citizen-bound: not checked
    rc, out, _ = run("scan", "-c", str(cfg), str(tmp_path / "unsigned.eml"))
    assert "\tdkim_fail\tdkim=none (no DKIM signature)" in out
    assert "0 clean, 0 errors, 1 failing DKIM (0 links)" in out and rc == 1
    assert run("scan", "-c", str(cfg), str(tmp_path / "signed.eml"))[0] == 0
    _, out, _ = run("scan", "--json", str(tmp_path / "unsigned.eml"))
    assert "dkim" not in json.loads(out.splitlines()[0])  # dkim.enabled is false by default


def test_rcpt_scope_applies_to_links_too(files: Path) -> None:
    cfg = files / "nolink.toml"
    cfg.write_text('[scope]\ninternal_domains = ["go.th"]\n')
    rc, out, _ = run("scan", "-c", str(cfg), "--rcpt", "staff@dopa.go.th", str(files / "a.eml"))
    assert rc == 0  # the milter accepts a link to staff: so does scan
    assert (
        out.splitlines()[0]
        == f"{files / 'a.eml'}\tnot_citizen_bound\tno --rcpt outside scope.internal_domains: not checked"
    )
    assert "1 not citizen-bound" in out
    rc, out, _ = run(
        "scan",
        "--json",
        "-c",
        str(cfg),
        "--rcpt",
        "staff@dopa.go.th",
        "--rcpt",
        "x@example.com",
        str(files / "a.eml"),
    )
    assert rc == 1 and json.loads(out.splitlines()[0])["verdict"] == "link"  # one citizen: all of it


def test_files_that_are_not_mail_are_said_so(tmp_path: Path) -> None:
    from mail import pdf

    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    (tmp_path / "letter.pdf").write_bytes(pdf("hello"))
    (tmp_path / "notes.txt").write_bytes("บันทึก ไม่มีหัวจดหมาย\n".encode())
    rc, out, _ = run("scan", str(tmp_path))
    lines = out.splitlines()
    assert lines[0] == f"{tmp_path / 'letter.pdf'}\terror\tnot a mail message (a PDF document)"
    assert lines[1] == f"{tmp_path / 'notes.txt'}\terror\tnot a mail message (no header at its start)"
    assert lines[2] == f"{tmp_path / 'photo.png'}\terror\tnot a mail message (a PNG image)"
    assert "0 clean, 3 errors" in lines[3] and rc == 2


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_with_total_and_eta() -> None:
    from nolink.adapters.cli import Progress

    bar = Progress(Tty(), total=1000).render(250, 5.0)  # 50/s, 750 to go
    assert bar.startswith("[") and "#" in bar and "-" in bar
    assert " 25% 250/1000 messages, 50/s, ETA 0:00:15" in bar
    assert Progress(Tty(), total=None).render(250, 5.0) == "scanned 250 messages (50/s)"


def test_progress_total_is_known_for_files_and_maildirs_only(tmp_path: Path, files: Path) -> None:
    from nolink.adapters.sources import count_messages

    assert count_messages([str(files)]) == 2
    assert count_messages([str(files / "a.eml"), str(files)]) == 3
    for d in ("cur", "new", "tmp"):
        (tmp_path / "Maildir" / d).mkdir(parents=True)
    (tmp_path / "Maildir" / "new" / "1.host").write_bytes(CLEAN)
    (tmp_path / "Maildir" / "tmp" / "2.host").write_bytes(CLEAN)
    assert count_messages([str(tmp_path / "Maildir")]) == 1
    (tmp_path / "box").write_bytes(mbox(CLEAN, CLEAN))
    assert count_messages([str(tmp_path / "box")]) is None  # mbox: counted as it streams
    assert count_messages(["-"]) is None


def test_progress_reaches_a_terminal_only() -> None:
    from nolink.adapters.cli import Progress

    tty = Tty()
    p = Progress(tty, 2)
    p.last -= 1  # as if the last update were a second ago
    p.tick(1)
    assert "1/2 messages" in tty.getvalue() and tty.getvalue().startswith("\r[")
    pipe = io.StringIO()
    p = Progress(pipe, 2)
    p.last -= 1
    p.tick(1)
    p.done()
    assert pipe.getvalue() == ""


def test_sniff_keeps_messages_as_messages() -> None:
    from nolink.adapters.sources import sniff_not_mail

    assert sniff_not_mail(LINK) == ""
    assert sniff_not_mail(b"\xef\xbb\xbfReceived: from x\r\nFrom: a@b\r\n\r\nhi") == ""  # a BOM first
    assert sniff_not_mail(b"\r\nX-Header : v\r\n\r\n") == ""
    assert sniff_not_mail(b"") == "an empty file"
    assert sniff_not_mail(b"%PDF-1.7\n") == "a PDF document"


def test_scan_warns_on_text_without_mail_headers() -> None:
    """issue 22 item 7: text that happens to start "Word: ..." passed as a header-only message,
    clean, without a word; now scan warns and points to check-text (and stays quiet for mail)."""
    r = subprocess.run(
        [sys.executable, "-m", "nolink", "scan", "-"],
        input=b"Note: see www.dopa.go.th today\n",
        capture_output=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "milter"), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert b"has no mail header" in r.stderr and b"nolink check-text" in r.stderr
    from nolink.adapters.sources import lacks_mail_headers

    assert not lacks_mail_headers(LINK) and not lacks_mail_headers(CLEAN)
    assert not lacks_mail_headers(b"From a@b Mon Jan  1 00:00:00 2026\nSubject: x\n\nhi")
    assert lacks_mail_headers(b"Dear: citizen\n\nvisit www.dopa.go.th\n")
