"""issue 22, "the first hour": traps a new admin met, one test each (items not tested elsewhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

ENV = {"PYTHONPATH": str(ROOT / "milter"), "PATH": "/usr/bin:/bin"}
needs_debian_tessdata = pytest.mark.skipif(
    not os.path.exists("/usr/share/tesseract-ocr/5/tessdata/tha.traineddata"),
    reason="Debian's tesseract-ocr-tha is not installed (scripts/setup.sh installs it)",
)


def nolink(
    *argv: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nolink", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        check=False,
        timeout=120,
    )


# -- 1. OCR data where Debian puts it ------------------------------------------------------------


@needs_debian_tessdata
def test_ocr_finds_debian_data_when_tesserocr_looks_elsewhere(tmp_path: Path) -> None:
    """A PyPI tesserocr wheel looks in its own (empty) tessdata: simulated by TESSDATA_PREFIX
    pointing at an empty directory. The engine, check-config and version use Debian's data."""
    wheel = {"TESSDATA_PREFIX": str(tmp_path)}
    v = nolink("version", env=wheel)
    assert v.returncode == 0, v.stderr
    assert "tessdata /usr/share/tesseract-ocr/5/tessdata/" in v.stdout
    assert "tesseract-languages " in v.stdout and "tha" in v.stdout.split("tesseract-languages ")[1]
    assert any(line.startswith("tesseract 5.") for line in v.stdout.splitlines())
    code = "from nolink.links.ocr import engine_for; e = engine_for(('tha', 'eng')); print(e.page_langs)"
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**ENV, **wheel}, check=False
    )
    assert r.returncode == 0 and r.stdout.strip() == "tha", r.stderr


def test_check_config_fix_text_names_the_data_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The languages are installed (Debian's directory has them) but this Tesseract reads another
    directory: the fix is not "apt-get install" what is installed."""
    from nolink.config import parse
    from nolink.links import ocr
    from nolink.ops.checks import ocr_checks

    monkeypatch.setattr(ocr, "installed_languages", lambda: ("/wheel/tessdata/", ["osd"]))
    monkeypatch.setattr(
        ocr, "debian_languages", lambda: ("/usr/share/tesseract-ocr/5/tessdata/", ["eng", "tha"])
    )
    (c,) = ocr_checks(parse("[links]\nocr = true\n"))
    assert not c.ok and "apt-get install" not in c.what
    assert "/usr/share/tesseract-ocr/5/tessdata/" in c.what and "--no-binary tesserocr" in c.what


def test_serve_refuses_to_start_when_ocr_cannot_run(tmp_path: Path) -> None:
    cfg = tmp_path / "nolink.toml"
    cfg.write_text(
        f'[milter]\nsocket = "unix:{tmp_path}/s/nolink.sock"\n[metrics]\nlisten = ""\n'
        f'[journal]\npath = "{tmp_path}/j.sqlite"\n[links]\nocr = true\nocr_languages = ["tha", "zzz"]\n'
    )
    r = nolink("serve", "-c", str(cfg))
    assert r.returncode == 2
    assert "zzz not installed" in r.stderr and "serve refuses to start" in r.stderr
    assert not (tmp_path / "s" / "nolink.sock").exists()


# -- 2. check-config validates what serve validates, one line per section -----------------------


def _config(tmp_path: Path, extra: str) -> Path:
    cfg = tmp_path / "nolink.toml"
    cfg.write_text(f'[milter]\nsocket = "unix:{tmp_path}/s/nolink.sock"\n[metrics]\nlisten = ""\n{extra}')
    return cfg


def test_check_config_prints_one_line_per_section(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    cfg = _config(
        tmp_path,
        f'[journal]\npath = "{tmp_path}/j/journal.sqlite"\n'
        f'[text_api]\nlisten = "127.0.0.1:9"\ntoken_file = "{token}"\n',
    )
    r = nolink("check-config", "-c", str(cfg))
    assert r.returncode == 0, r.stdout
    lines = [line[8:] for line in r.stdout.splitlines()[1:]]
    for section in ("journal ", "text API ", "OCR ", "workers: "):
        assert sum(line.startswith(section) for line in lines) == 1, (section, r.stdout)
    assert f"bearer token from {token}" in r.stdout


def test_check_config_fails_on_a_missing_token_file(tmp_path: Path) -> None:
    cfg = _config(tmp_path, f'[text_api]\nlisten = "127.0.0.1:9"\ntoken_file = "{tmp_path}/no-token"\n')
    r = nolink("check-config", "-c", str(cfg))
    assert r.returncode == 1
    assert "FAIL  text_api.token_file" in r.stdout and "cannot read it" in r.stdout


def test_check_config_fails_and_serve_warns_on_a_journal_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    cfg = _config(tmp_path, f'[journal]\npath = "{tmp_path}/file/sub/journal.sqlite"\n[links]\nocr = false\n')
    r = nolink("check-config", "-c", str(cfg))
    assert r.returncode == 1 and "FAIL  journal " in r.stdout and "cannot create it" in r.stdout
    # serve still runs (a broken journal never stops mail) but says so at start, once
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "-c", str(cfg)],
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "s" / "nolink.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "ERROR journal " in err and "decisions are not journaled until it is fixed" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run check-config as another user")
def test_check_config_fails_on_a_journal_directory_this_user_cannot_write(tmp_path: Path) -> None:
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="nolink-check-"))  # pytest's tmp_path is root's, 0700
    top.chmod(0o755)
    state = top / "state"
    state.mkdir(mode=0o755)  # root's, not writable by nobody
    cfg = _config(top, f'[journal]\npath = "{state}/journal.sqlite"\n[links]\nocr = false\n')
    cfg.chmod(0o644)
    r = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable, "-m", "nolink",
         "check-config", "-c", str(cfg)],
        capture_output=True, text=True, cwd="/", env=ENV, check=False,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    import shutil

    shutil.rmtree(top)
    assert "FAIL  journal " in r.stdout and "(nobody) cannot create it" in r.stdout


# -- 11. README's quick start and install section -------------------------------------------------


def _section(text: str, title: str) -> str:
    return text.split(f"\n## {title}", 1)[1].split("\n## ", 1)[0]


def test_readme_install_opens_with_the_package_and_says_what_the_defaults_do() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = _section(readme, "Quick start")
    assert "127.0.0.1:9428" in quick and "/var/lib/nolink/journal.sqlite" in quick and "root-owned" in quick
    install = _section(readme, "Install")
    commands = [
        line.split("#")[0].strip() for line in install.split("```sh", 1)[1].split("```")[0].splitlines()
    ]
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert [c for c in commands if c][:2] == [
        f"apt install ./nolink_{version}_amd64.deb",
        "nolink setup postfix",
    ]
    assert "<this repository>" not in readme
    script = (ROOT / "scripts" / "install-systemd.sh").read_text()
    assert "chmod -R a+rX" in install and "mandb" in install  # what install-systemd.sh also does
    assert 'echo "chmod -R a+rX' in script and "running mandb" in script


# -- 10. the tests take their ports from NOLINK_TEST_PORTS ------------------------------------------


def test_free_port_honours_the_port_range(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import harness

    monkeypatch.setenv("NOLINK_TEST_PORTS", "30480-30489")
    monkeypatch.setattr(harness, "_next_port", {})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 30480))  # in use: skipped
        tcp = [harness.free_port() for _ in range(5)]
    assert all(30481 <= p <= 30489 for p in tcp) and len(set(tcp)) == 5
    assert 30480 <= harness.free_port_udp() <= 30489
    monkeypatch.setenv("NOLINK_TEST_PORTS", "30499")
    with pytest.raises(ValueError, match="LOW-HIGH"):
        harness.free_port()
    monkeypatch.delenv("NOLINK_TEST_PORTS")
    assert harness.port_range() is None


# -- 8. SIGTERM when idle: out at once, socket file gone --------------------------------------------


def test_sigterm_when_idle_exits_at_once_and_removes_the_socket() -> None:
    import grp
    import shutil
    import time

    from harness import Nolink, private_dir

    try:
        grp.getgrnam("postfix")
    except KeyError:
        pytest.skip("no postfix group (scripts/setup.sh --test installs Postfix)")
    base = private_dir()
    n = Nolink(base, "idle", "[links]\nocr = false\n")
    try:
        n.start()
        assert n.socket.exists()
        time.sleep(0.5)
        start = time.monotonic()
        rc = n.stop()
        took = time.monotonic() - start
    finally:
        n.stop()
        shutil.rmtree(base, ignore_errors=True)
    assert rc == 0
    assert took < 2.0, f"took {took:.1f} s to stop with nothing in flight"  # it was about 6 s
    assert not n.socket.exists()
