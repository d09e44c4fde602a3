"""Operations: the systemd unit, readiness notification, SIGTERM, check-config's deployment checks."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from nolink.config import parse
from nolink.ops.checks import socket_checks

UNIT = ROOT / "systemd" / "nolink.service"
analyze = shutil.which("systemd-analyze")


def installed_unit(tmp_path: Path) -> Path:
    """The unit as scripts/install-systemd.sh writes it (paths pointing at this checkout)."""
    out = tmp_path / "nolink.service"
    out.write_text(UNIT.read_text().replace("/opt/nolink", str(ROOT)))
    return out


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
def test_unit_verifies_clean(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(analyze), "verify", str(installed_unit(tmp_path))], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == "" and r.stdout.strip() == ""


@pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")
def test_unit_exposure_is_at_most_2(tmp_path: Path) -> None:
    r = subprocess.run(
        [str(analyze), "security", "--offline=yes", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    m = re.search(r"Overall exposure level for nolink.service: (\d+\.\d)", r.stdout + r.stderr)
    assert m, r.stdout + r.stderr
    print(f"\nsystemd-analyze security exposure: {m.group(1)}")
    assert float(m.group(1)) <= 2.0


def test_unit_runs_check_config_before_start_and_reload() -> None:
    unit = UNIT.read_text()
    assert "Type=notify" in unit
    assert "ExecStartPre=/opt/nolink/.venv/bin/nolink check-config -c /etc/nolink/nolink.toml" in unit
    reloads = re.findall(r"^ExecReload=(.*)$", unit, re.M)
    assert reloads == [
        "/opt/nolink/.venv/bin/nolink check-config -c /etc/nolink/nolink.toml",
        "/bin/kill -USR1 $MAINPID",
    ]
    assert "SIGHUP" not in re.sub(r"#.*", "", unit)
    tmpfiles = (ROOT / "systemd" / "nolink.tmpfiles").read_text()
    assert "d /var/spool/postfix/nolink 2750 nolink postfix -" in tmpfiles
    assert (ROOT / "systemd" / "nolink.sysusers").read_text().splitlines()[-1].startswith("u nolink ")


def exec_start(config: Path) -> list[str]:
    line = next(x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart="))
    argv = shlex.split(line.split("=", 1)[1].replace("/etc/nolink/nolink.toml", str(config)))
    assert argv[0] == "/opt/nolink/.venv/bin/nolink"
    return [sys.executable, "-m", "nolink", *argv[1:]]


def write_config(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    sock = tmp_path / "run" / "nolink.sock"
    cfg = tmp_path / "nolink.toml"
    # the journal too lives in the test's directory: a real `nolink serve` would write /var/lib/nolink
    cfg.write_text(
        f'{extra}\n[milter]\nsocket = "unix:{sock}"\ntimeout = 5.0\n[metrics]\nlisten = ""\n'
        f'[journal]\npath = "{tmp_path}/journal.sqlite"\n'
    )
    return cfg, sock


def test_ready_arrives_only_once_the_socket_accepts(tmp_path: Path) -> None:
    cfg, sock = write_config(tmp_path)
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(30)
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path), PYTHONPATH=str(ROOT / "milter"))
    proc = subprocess.Popen(exec_start(cfg), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        messages = []
        while not any("READY=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(sock))  # raises if READY came before the socket listened
        ready = next(m for m in messages if "READY=1" in m)
        assert f"MAINPID={proc.pid}" in ready
        assert "STATUS=serving" in ready
        proc.send_signal(signal.SIGTERM)
        stopping = listener.recv(4096).decode()
        assert "STOPPING=1" in stopping
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def test_sigterm_with_nothing_in_flight_exits_zero(tmp_path: Path) -> None:
    cfg, sock = write_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "milter"))
    proc = subprocess.Popen(exec_start(cfg), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # possibly before libmilter's loop runs: still graceful
        assert proc.wait(30) == 0
        assert b"nolink stopped" in proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()


def test_abstract_notify_socket() -> None:
    from nolink.adapters.notify import notify

    name = f"nolink-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        assert notify("READY=1", env={"NOTIFY_SOCKET": "@" + name})
        assert s.recv(100) == b"READY=1"
    assert not notify("READY=1", env={})


# -- check-config --------------------------------------------------------------------------------

needs_postfix_group = pytest.mark.skipif(
    subprocess.run(["getent", "group", "postfix"], capture_output=True, check=False).returncode != 0,
    reason="no postfix group (install Postfix)",
)


def checks_for(d: Path, mode: str = "0660") -> list[tuple[bool, str]]:
    cfg = parse(f'[milter]\nsocket = "unix:{d}/nolink.sock"\nsocket_mode = "{mode}"\n')
    return [(c.ok, c.what) for c in socket_checks(cfg)]


@needs_postfix_group
def test_socket_directory_checks(tmp_path: Path) -> None:
    d = tmp_path / "sockdir"
    # missing: serve creates it, so a warning (ok) that says so, not a failure
    assert (
        checks_for(d)[0][0] is True and "does not exist yet; nolink serve creates it" in checks_for(d)[0][1]
    )
    d.mkdir()
    d.chmod(0o750)
    result = checks_for(d)
    assert result[0][0] is False and "chgrp postfix" in result[0][1]
    shutil.chown(d, group="postfix")
    d.chmod(0o750)
    if os.getegid() != __import__("grp").getgrnam("postfix").gr_gid:
        assert "chmod g+s" in checks_for(d)[0][1]
    d.chmod(0o2750)
    assert checks_for(d) == [(True, f"socket directory {d}: owner root, group postfix, mode 2750")]
    assert "denies group postfix" in checks_for(d, "0600")[0][1]


def test_inet_socket_check() -> None:
    assert socket_checks(parse('[milter]\nsocket = "inet:8890@127.0.0.1"')) == [
        __import__("nolink.ops.checks", fromlist=["Check"]).Check(True, "milter socket inet:8890@127.0.0.1")
    ]


@pytest.mark.parametrize(
    ("sock", "ok", "warning", "says"),
    [
        ("inet6:8890@::1", True, False, "milter socket inet6:8890@::1"),
        ("inet:8890@[::1]", True, False, "milter socket inet:8890@[::1]"),
        ("inet:8890@localhost", True, False, "milter socket inet:8890@localhost"),
        ("inet:8890", True, True, "every IPv4 address; to keep it local write inet:8890@127.0.0.1"),
        ("inet6:8890", True, True, "every address; to keep it local write inet6:8890@::1"),
        ("inet:8890@::1", False, False, "write inet6:8890@::1 or inet:8890@[::1]"),
        ("inet:99999@127.0.0.1", False, False, "the port must be 1-65535"),
        ("inet:8890@", False, False, "nothing after @"),
        # issue 22 item 4: the suggestion keeps the configured port
        ("inet:30040", True, True, "to keep it local write inet:30040@127.0.0.1"),
        ("inet6:30040", True, True, "to keep it local write inet6:30040@::1"),
        ("inet:30040@", False, False, "write e.g. inet:30040@127.0.0.1"),
        ("tcp:8890", False, False, "write unix:/path (or local:/path)"),
    ],
)
def test_libmilter_socket_forms(sock: str, ok: bool, warning: bool, says: str) -> None:
    (c,) = socket_checks(parse(f'[milter]\nsocket = "{sock}"'))
    assert (c.ok, c.warning) == (ok, warning) and says in c.what


@needs_postfix_group
def test_local_socket_form_is_checked_like_unix(tmp_path: Path) -> None:
    cfg = parse(f'[milter]\nsocket = "local:{tmp_path}/missing/nolink.sock"\n')
    (c,) = socket_checks(cfg)
    assert c.ok and c.warning and "does not exist yet" in c.what


def test_a_second_serve_on_a_live_socket_refuses_to_start(tmp_path: Path) -> None:
    cfg, sock = write_config(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "milter"))
    first = subprocess.Popen(exec_start(cfg), env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as c:
                    c.connect(str(sock))
                break
            except OSError:
                assert first.poll() is None, first.stderr.read()  # type: ignore[union-attr]
                time.sleep(0.05)
        inode = sock.stat().st_ino
        second = subprocess.run(
            exec_start(cfg), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert second.returncode == 2
        assert f"milter.socket {sock} is in use" in second.stderr and "systemctl stop nolink" in second.stderr
        assert sock.stat().st_ino == inode  # the first one's socket was left alone
        with socket.socket(socket.AF_UNIX) as c:
            c.connect(str(sock))  # and it still accepts
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    finally:
        if first.poll() is None:
            first.kill()


def test_a_stale_socket_file_does_not_block_a_start(tmp_path: Path) -> None:
    from nolink.adapters.service import refuse_live_socket

    cfg, sock = write_config(tmp_path)
    sock.parent.mkdir()
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))  # bound, never listening, then closed: what a crash leaves
    refuse_live_socket(parse(cfg.read_text()))  # does not raise
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock.with_name("live.sock")))
        s.listen()
        live = parse(f'[milter]\nsocket = "local:{sock.with_name("live.sock")}"\n')
        with pytest.raises(Exception, match="is in use"):
            refuse_live_socket(live)


@needs_postfix_group
def test_check_config_command(tmp_path: Path) -> None:
    from nolink.adapters.cli import main

    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

    d = tmp_path / "sock"
    d.mkdir()
    shutil.chown(d, group="postfix")
    d.chmod(0o2750)
    good = tmp_path / "good.toml"
    good.write_text(
        f'[milter]\nsocket = "unix:{d}/nolink.sock"\n[dkim]\nenabled = true\nnameservers = ["[::1]:53"]\n'
    )
    out = Out()
    assert main(["check-config", "-c", str(good)], out, out) == 0  # type: ignore[arg-type]
    assert "  ok    DKIM on; DNS servers ::1 port 53" in out.text
    bad = tmp_path / "bad.toml"
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    bad.write_text(f'[milter]\nsocket = "unix:{closed}/nolink.sock"\n')
    out = Out()
    assert main(["check-config", "-c", str(bad)], out, out) == 1  # type: ignore[arg-type]
    assert "FAIL  socket directory" in out.text
    bad.write_text(f'[milter]\nsocket = "unix:{tmp_path}/missing/nolink.sock"\n')
    out = Out()
    assert main(["check-config", "-c", str(bad)], out, out) == 0  # type: ignore[arg-type]
    assert "warn  socket directory" in out.text
    bad.write_text('[dkim]\nnameservers = ["dns.example"]\n')
    out = Out()
    assert main(["check-config", "-c", str(bad)], out, out) == 1  # type: ignore[arg-type]
    assert "dkim.nameservers: 'dns.example' is not an address" in out.text


@pytest.mark.parametrize(
    ("domains", "warning", "says"),
    [
        ("[]", True, "every message is citizen-bound"),
        ('["th"]', True, '"th" is a whole top-level domain'),
        ('["co.th"]', True, '"co.th" is a public suffix: anyone can register'),
        ('["go.th", "mi.th", "dopa.go.th"]', False, "scope.internal_domains: go.th, mi.th, dopa.go.th"),
    ],
)
def test_internal_domains_checks(domains: str, warning: bool, says: str) -> None:
    from nolink.ops.checks import scope_checks
    from nolink.psl import load

    checks = scope_checks(parse(f"[scope]\ninternal_domains = {domains}\n"), load())
    assert [c.warning for c in checks] == [warning] and says in checks[0].what
    assert all(c.ok for c in checks)  # warned, not refused: the file is valid


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        (
            "*.go.th",
            'can never match: entries are not patterns, they match whole labels already; write "go.th"',
        ),
        ("https://dopa.go.th", 'write only the domain, e.g. "go.th"'),
    ],
)
def test_internal_domains_that_can_never_match_are_refused(entry: str, says: str) -> None:
    from nolink.errors import ConfigError

    with pytest.raises(ConfigError) as e:
        parse(f'[scope]\ninternal_domains = ["{entry}"]\n')
    assert says in str(e.value)


def test_check_config_prints_the_scope_warning() -> None:
    from nolink.adapters.cli import main

    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

    out = Out()
    main(["check-config", "-c", str(ROOT / "config" / "nolink.toml")], out, out)  # type: ignore[arg-type]
    assert "  warn  scope.internal_domains is empty: every message is citizen-bound" in out.text


def test_unit_tags_its_lines_nolink() -> None:
    assert re.search(r"^SyslogIdentifier=nolink$", UNIT.read_text(), re.M)


def test_time_stamp_only_when_not_under_journald(tmp_path: Path) -> None:
    from nolink.adapters.cli import log_format

    with (tmp_path / "log").open("w") as f:
        st = os.fstat(f.fileno())
        assert "%(asctime)s" in log_format(f, {})  # a terminal, a file, a pipe: no one else stamps it
        assert "%(asctime)s" not in log_format(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        # inherited from a parent whose stderr was the journal, but this one's is not
        assert "%(asctime)s" in log_format(f, {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert "%(asctime)s" in log_format(f, {"JOURNAL_STREAM": "garbage"})
