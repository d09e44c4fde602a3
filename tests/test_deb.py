"""The Debian package: built by scripts/build-deb.sh, installed, upgraded and purged in a throwaway
root (a mount namespace with overlays over /etc, /usr, /var and /opt: the host sees none of it).

Needs root, dpkg-deb, unshare and overlayfs, and the package's Depends installed (scripts/setup.sh
--test installs them); skipped with the reason otherwise. The build takes 1-3 minutes (the pip cache
keeps tesserocr's compiled wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

DEPENDS = (
    "libmilter1.0.1",
    "tesseract-ocr",
    "tesseract-ocr-tha",
    "tesseract-ocr-eng",
    "libarchive13",
    "libthai0",
)

# Runs inside the namespace: $1 scratch dir (a tmpfs there), $2 the .deb, $3 where results go.
INSIDE = r"""
set -eu
t=$1; deb=$2; out=$3
mount -t tmpfs tmpfs "$t"
for d in etc usr var opt; do
  mkdir -p "$t/$d/u" "$t/$d/w"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$t/$d/u,workdir=$t/$d/w" "/$d"
done
# a host that never had nolink: nothing of an earlier checkout's set-up
rm -rf /etc/nolink /var/lib/nolink /var/spool/postfix/nolink /opt/venvs /etc/systemd/system/nolink.service \
  /etc/systemd/system/multi-user.target.wants/nolink.service
if getent passwd nolink >/dev/null; then userdel nolink; fi
if getent group nolink >/dev/null; then groupdel nolink; fi

dpkg -i "$deb" </dev/null >"$out/install1.log" 2>&1
for p in /opt/venvs/nolink/bin/nolink /usr/bin/nolink /lib/systemd/system/nolink.service \
    /usr/lib/sysusers.d/nolink.conf /usr/lib/tmpfiles.d/nolink.conf /usr/share/man/man8/nolink.8.gz \
    /usr/share/man/man5/nolink.toml.5.gz /etc/nolink/nolink.toml /usr/share/nolink/grafana/nolink.json \
    /usr/share/nolink/prometheus/nolink-rules.yml /var/lib/nolink /var/spool/postfix/nolink; do
  stat -c '%n %U %G %a %F' "$p" >>"$out/stat" 2>&1 || echo "$p missing" >>"$out/stat"
done
readlink /usr/bin/nolink >"$out/link"
ls /etc/systemd/system/multi-user.target.wants/ >"$out/wants" 2>&1 || true
grep '^mode' /etc/nolink/nolink.toml >"$out/mode1"
dpkg-query -W -f='${Conffiles}\n' nolink >"$out/conffiles"
echo '# a local change' >>/etc/nolink/nolink.toml
echo journal >/var/lib/nolink/journal.sqlite.keep
dpkg -i "$deb" </dev/null >"$out/install2.log" 2>&1
tail -1 /etc/nolink/nolink.toml >"$out/conffile_after"
ls /var/lib/nolink >"$out/state_after"
cd /
rc=0; /usr/bin/nolink check-config -c /etc/nolink/nolink.toml >"$out/check.log" 2>&1 || rc=$?
echo $rc >"$out/check.rc"
rc=0; setpriv --reuid=nolink --regid=nolink --init-groups /usr/bin/nolink check-config \
  -c /etc/nolink/nolink.toml >"$out/check_nolink.log" 2>&1 || rc=$?
echo $rc >"$out/check_nolink.rc"
/usr/bin/nolink version >"$out/version" 2>&1 || true
dpkg --purge nolink </dev/null >"$out/purge.log" 2>&1
for p in /opt/venvs /etc/nolink /var/lib/nolink /var/spool/postfix/nolink /usr/bin/nolink \
    /lib/systemd/system/nolink.service /etc/systemd/system/multi-user.target.wants/nolink.service; do
  if [ -e "$p" ] || [ -L "$p" ]; then echo "$p" >>"$out/left"; fi
done
# anything named nolink the package made, apart from dpkg's own records and logs (and overlay
# whiteouts, character devices: what the host had, removed)
find "$t"/*/u -name '*nolink*' ! -type c ! -path '*/var/u/lib/dpkg/*' ! -path '*/var/u/log/*' \
  ! -path '*/var/u/cache/*' -printf '%P\n' >>"$out/left_upper" 2>/dev/null || true
"""


def _why_not() -> str:
    if os.geteuid() != 0:
        return "needs root (dpkg -i in a mount namespace)"
    for tool in ("dpkg-deb", "dpkg", "unshare", "setpriv", "git"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    missing = [
        p
        for p in DEPENDS
        if "install ok installed"
        not in subprocess.run(["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout
    ]
    if missing:
        return (
            f"the package's Depends are not installed: {' '.join(missing)} (scripts/setup.sh installs them)"
        )
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if probe.returncode != 0:
        return f"cannot make a mount namespace here: {probe.stderr.decode().strip()}"
    return ""


@pytest.fixture(scope="module")
def results() -> Iterator[Path]:
    why = _why_not()
    if why:
        pytest.skip(why)
    build = subprocess.run(["bash", "scripts/build-deb.sh"], cwd=ROOT, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    deb = Path(build.stdout.strip().splitlines()[-1])
    assert deb.name.startswith("nolink_") and deb.name.endswith(".deb") and deb.exists()
    base = Path(tempfile.mkdtemp(prefix="nolink-deb-"))
    (base / "scratch").mkdir()
    out = base / "out"
    out.mkdir()
    (base / "inside.sh").write_text(INSIDE)
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", str(base / "inside.sh"), str(base / "scratch"),
         str(deb), str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(out.iterdir()))
    assert r.returncode == 0, r.stderr + logs
    yield out
    shutil.rmtree(base, ignore_errors=True)


def read(out: Path, name: str) -> str:
    p = out / name
    return p.read_text() if p.exists() else ""


def test_files_owners_and_modes(results: Path) -> None:
    stat = {line.split()[0]: line.split(None, 1)[1] for line in read(results, "stat").splitlines()}
    assert not [p for p, v in stat.items() if v == "missing"], stat
    assert stat["/etc/nolink/nolink.toml"].startswith("root root 644 regular")
    assert stat["/lib/systemd/system/nolink.service"].startswith("root root 644")
    assert stat["/opt/venvs/nolink/bin/nolink"].startswith("root root 755")
    assert stat["/var/lib/nolink"].startswith("nolink nolink 750 directory")
    assert stat["/var/spool/postfix/nolink"].startswith("nolink postfix 2750 directory")
    assert read(results, "link").strip() == "/opt/venvs/nolink/bin/nolink"
    assert "nolink.service" in read(results, "wants")  # enabled on a fresh install
    assert read(results, "mode1").strip() == 'mode = "dry_run"'  # ... in dry_run
    assert "/etc/nolink/nolink.toml" in read(results, "conffiles")
    assert "nolink setup postfix" in read(results, "install1.log")  # the next step, said once
    assert "nolink setup postfix" not in read(results, "install2.log")
    assert "tessdata /usr/share/tesseract-ocr/5/tessdata/" in read(results, "version")


def test_upgrade_keeps_the_conffile_and_the_journal(results: Path) -> None:
    assert read(results, "conffile_after").strip() == "# a local change"
    assert "journal.sqlite.keep" in read(results, "state_after")


def test_check_config_passes_as_root_and_as_the_nolink_user(results: Path) -> None:
    assert read(results, "check.rc").strip() == "0", read(results, "check.log")
    assert read(results, "check_nolink.rc").strip() == "0", read(results, "check_nolink.log")
    assert "mode dry_run" in read(results, "check.log")


def test_purge_leaves_nothing(results: Path) -> None:
    assert read(results, "left") == ""
    assert read(results, "left_upper") == "", read(results, "left_upper")
