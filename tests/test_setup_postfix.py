"""nolink setup postfix against a private Postfix configuration directory: lines Postfix accepts
(postfix check), OpenDKIM kept first, the libmilter form never written, idempotent."""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import MASTER_DIST, have_postfix, private_dir
from nolink.adapters.cli import main
from nolink.ops.postfix_setup import milter_list, postfix_address

OPENDKIM = "inet:127.0.0.1:8891"


@pytest.mark.parametrize(
    ("socket", "queue", "want"),
    [
        ("unix:/var/spool/postfix/nolink/nolink.sock", "/var/spool/postfix", "unix:nolink/nolink.sock"),
        ("local:/var/spool/postfix/nolink/nolink.sock", "/var/spool/postfix", "unix:nolink/nolink.sock"),
        ("unix:/run/nolink/nolink.sock", "/var/spool/postfix", "unix:/run/nolink/nolink.sock"),
        ("inet:30040", "/var/spool/postfix", "inet:127.0.0.1:30040"),
        ("inet:8890@127.0.0.1", "/var/spool/postfix", "inet:127.0.0.1:8890"),
        ("inet:8890@[::1]", "/var/spool/postfix", "inet:[::1]:8890"),
        ("inet6:8890@::1", "/var/spool/postfix", "inet:[::1]:8890"),
    ],
)
def test_address_in_postfix_syntax(socket: str, queue: str, want: str) -> None:
    assert postfix_address(socket, queue) == want
    assert "@" not in want  # "garbage after numerical service" in Postfix


def test_list_keeps_others_in_front_and_replaces_the_libmilter_form() -> None:
    ours = "inet:127.0.0.1:8890"
    assert milter_list(OPENDKIM, ours, "inet:8890@127.0.0.1") == f"{OPENDKIM}, {ours}"
    assert (
        milter_list(f"{OPENDKIM} inet:8890@127.0.0.1", ours, "inet:8890@127.0.0.1") == f"{OPENDKIM}, {ours}"
    )
    assert milter_list(f"{ours}, {OPENDKIM}", ours, "x") == f"{ours}, {OPENDKIM}"  # never moved
    assert milter_list("", ours, "x") == ours
    braces = "{ inet:127.0.0.1:8891, default_action=accept }"
    assert milter_list(braces, ours, "x") == f"{braces}, {ours}"


@pytest.fixture()
def instance() -> Iterator[Path]:
    why = have_postfix()
    if why:
        pytest.skip(why)
    base = private_dir()
    conf, queue, data = base / "postfix", base / "queue", base / "data"
    for d in (conf, queue, data):
        d.mkdir()
    shutil.chown(data, "postfix")
    (conf / "main.cf").write_text(
        f"compatibility_level = 3.6\nqueue_directory = {queue}\ndata_directory = {data}\n"
        "mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = 127.0.0.1\n"
        f"smtpd_milters = {OPENDKIM}\nnon_smtpd_milters = $smtpd_milters\n"
    )
    shutil.copy(MASTER_DIST, conf / "master.cf")
    yield conf
    shutil.rmtree(base, ignore_errors=True)


def setup(conf: Path, tmp_path: Path, socket: str, *extra: str) -> tuple[int, str]:
    cfg = tmp_path / "nolink.toml"
    cfg.write_text(f'[milter]\nsocket = "{socket}"\n')
    out, err = io.StringIO(), io.StringIO()
    rc = main(["setup", "postfix", "--config", str(cfg), "-c", str(conf), *extra], out, err)
    assert err.getvalue() == ""
    return rc, out.getvalue()


def postconf(conf: Path, name: str) -> str:
    return subprocess.run(
        ["postconf", "-c", str(conf), "-h", name], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_prints_then_applies_idempotently(instance: Path, tmp_path: Path) -> None:
    before = (instance / "main.cf").read_text()
    rc, printed = setup(instance, tmp_path, "inet:30040")
    assert rc == 0 and f"smtpd_milters = {OPENDKIM}, inet:127.0.0.1:30040\n" in printed
    assert "milter_protocol = 6\n" in printed and "milter_default_action = tempfail\n" in printed
    assert "non_smtpd_milters" not in printed  # $smtpd_milters carries it along
    assert (instance / "main.cf").read_text() == before  # printing changes nothing

    rc, _ = setup(instance, tmp_path, "inet:30040", "--apply")
    assert rc == 0
    (backup,) = instance.glob("main.cf.nolink-*")
    assert backup.read_text() == before
    assert postconf(instance, "smtpd_milters") == f"{OPENDKIM}, inet:127.0.0.1:30040"  # OpenDKIM first
    assert postconf(instance, "milter_protocol") == "6"
    assert postconf(instance, "milter_default_action") == "tempfail"
    check = subprocess.run(["postfix", "-c", str(instance), "check"], capture_output=True, text=True)
    assert check.returncode == 0 and "garbage" not in check.stderr, check.stderr

    after = (instance / "main.cf").read_text()
    rc, again = setup(instance, tmp_path, "inet:30040", "--apply")
    assert rc == 0 and "nothing to change" in again
    assert (instance / "main.cf").read_text() == after and len(list(instance.glob("main.cf.nolink-*"))) == 1


def test_unix_socket_inside_the_queue_directory_is_relative(instance: Path, tmp_path: Path) -> None:
    queue = postconf(instance, "queue_directory")
    rc, _ = setup(instance, tmp_path, f"unix:{queue}/nolink/nolink.sock", "--apply")
    assert rc == 0
    assert postconf(instance, "smtpd_milters") == f"{OPENDKIM}, unix:nolink/nolink.sock"
    assert subprocess.run(["postfix", "-c", str(instance), "check"], capture_output=True).returncode == 0
