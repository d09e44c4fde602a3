"""nolink setup postfix: the main.cf lines that attach nolink to Postfix, printed or applied.

Postfix writes milter addresses in its own syntax, not libmilter's: `unix:nolink/nolink.sock`
(relative to queue_directory, which chrooted smtpd processes see as /) or `inet:HOST:PORT`.
nolink's `inet:PORT@HOST` form in main.cf makes Postfix log "garbage after numerical service" and
throttle smtpd for 60 s, so it is never written. Milters already in the lists (OpenDKIM, which must
sign first) keep their place; nolink goes after them. Running it twice changes nothing.
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import NolinkError

MILTER_LISTS = ("smtpd_milters", "non_smtpd_milters")
FIXED = (("milter_protocol", "6"), ("milter_default_action", "tempfail"))
# a Postfix list: elements separated by commas and/or white space; { ... } groups one element
_ELEMENT = re.compile(r"\{[^}]*\}|[^\s,{}]+")


class PostfixSetupError(NolinkError):
    """postconf failed, or main.cf could not be backed up."""


@dataclass(frozen=True, slots=True)
class Change:
    name: str
    old: str
    new: str

    @property
    def line(self) -> str:
        return f"{self.name} = {self.new}"


def postfix_address(socket: str, queue_directory: str) -> str:
    """milter.socket in Postfix's syntax. unix:/local: paths inside queue_directory become relative
    (smtpd runs chrooted there by default); inet:PORT[@HOST] becomes inet:HOST:PORT (127.0.0.1 when
    no host is given: libmilter then listens on every address, and Postfix should use loopback)."""
    kind, _, rest = socket.partition(":")
    if kind in ("unix", "local"):
        path = Path(rest)
        q = Path(queue_directory)
        if path.is_absolute() and q.is_absolute() and path.is_relative_to(q) and path != q:
            return f"unix:{path.relative_to(q)}"
        return f"unix:{rest}"
    if kind in ("inet", "inet6"):
        port, _, host = rest.partition("@")
        host = host.strip("[]")
        if not host:
            host = "::1" if kind == "inet6" else "127.0.0.1"
        return f"inet:[{host}]:{port}" if ":" in host else f"inet:{host}:{port}"
    raise PostfixSetupError(f"milter.socket = {socket!r}: not a unix:, local:, inet: or inet6: address")


def split_list(value: str) -> list[str]:
    return _ELEMENT.findall(value)


def _same(element: str, ours: str, socket: str) -> bool:
    """Does this list element already name nolink's socket (in Postfix's or libmilter's syntax)?"""
    address = element.strip("{} ").split()[0] if element.startswith("{") else element
    return address in (ours, socket)


def milter_list(current: str, ours: str, socket: str) -> str:
    """The list with nolink in it: unchanged when it is already there (anywhere), else appended
    after the milters already listed (a DKIM signer stays in front); a libmilter-syntax entry for
    the same socket (which Postfix rejects) is replaced in place."""
    elements = split_list(current)
    if ours in elements:
        return current.strip()
    out = [ours if _same(e, ours, socket) else e for e in elements]
    if ours not in out:
        out.append(ours)
    return ", ".join(out)


class Postconf:
    """postconf for one Postfix instance (config_dir "" is the default one)."""

    def __init__(self, config_dir: str = "") -> None:
        self.config_dir = config_dir
        if shutil.which("postconf", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
            raise PostfixSetupError(
                "postconf is not installed: install Postfix first (apt-get install postfix)"
            )

    def _run(self, *args: str) -> str:
        cmd = ["postconf", *(["-c", self.config_dir] if self.config_dir else []), *args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
        except OSError as e:
            raise PostfixSetupError(f"{' '.join(cmd)}: {e.strerror}") from None
        if r.returncode != 0:
            raise PostfixSetupError(f"{' '.join(cmd)} failed: {r.stderr.strip() or r.returncode}")
        return r.stdout

    def get(self, name: str) -> str:
        return self._run("-h", name).strip()

    def explicit(self, name: str) -> str:
        """The value main.cf itself sets ("" when it leaves the parameter at its default)."""
        return self._run("-n", "-h", name).strip()

    def expanded(self, name: str) -> str:
        """The value with $parameters expanded (non_smtpd_milters = $smtpd_milters)."""
        return self._run("-x", "-h", name).strip()

    def set(self, changes: list[Change]) -> None:
        self._run("-e", *(c.line for c in changes))

    def main_cf(self) -> Path:
        return Path(self.get("config_directory")) / "main.cf"


def plan(pc: Postconf, socket: str) -> tuple[str, list[Change]]:
    """(nolink's address as Postfix writes it, the main.cf settings that must change)."""
    ours = postfix_address(socket, pc.get("queue_directory"))
    changes: list[Change] = []
    for name in MILTER_LISTS:
        old = pc.get(name)
        if ours in split_list(pc.expanded(name)):
            continue  # there already, perhaps through another parameter: nothing to do
        if any(re.search(rf"\$(?:\{{{c.name}\}}|\({c.name}\)|{c.name}\b)", old) for c in changes):
            continue  # non_smtpd_milters = $smtpd_milters: it gets nolink from the list just changed
        new = milter_list(old, ours, socket)
        if new != old:
            changes.append(Change(name, old, new))
    for name, value in FIXED:
        old = pc.explicit(name)  # written out even when it is the default: main.cf says what it relies on
        if old != value:
            changes.append(Change(name, old, value))
    return ours, changes


def backup(main_cf: Path, now: datetime.datetime | None = None) -> Path:
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    dest = main_cf.with_name(f"main.cf.nolink-{stamp}")
    try:
        shutil.copy2(main_cf, dest)
    except OSError as e:
        raise PostfixSetupError(
            f"cannot back up {main_cf} to {dest}: {e.strerror}; nothing changed"
        ) from None
    return dest
