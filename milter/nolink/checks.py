"""What breaks deployments, checked before anything is served (nolink check-config, ExecStartPre).

Each check says what is wrong and what to run; the socket checks mirror the most common milter
complaint, Postfix getting "Permission denied" on the socket.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

from .config import Config, parse_listen, parse_nameserver
from .errors import NolinkError


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str
    warning: bool = False  # ok, but worth the admin's attention (printed as "warn")


def _name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def socket_checks(cfg: Config) -> list[Check]:
    sock = cfg.milter.socket
    if sock.startswith("inet:"):
        port, _, host = sock[5:].partition("@")
        ok = port.isdigit() and 0 < int(port) < 65536 and bool(host)
        return [
            Check(
                ok,
                f"milter socket {sock}"
                + ("" if ok else ": write inet:PORT@ADDRESS, e.g. inet:8890@127.0.0.1"),
            )
        ]
    if not sock.startswith(("unix:", "local:")):
        return [Check(False, f"milter.socket = {sock!r}: write unix:/path or inet:PORT@ADDRESS")]
    path = sock.split(":", 1)[1]
    d = os.path.dirname(path) or "."
    fix = f"run: install -d -o nolink -g postfix -m 2750 {d}  (the systemd set-up does it with tmpfiles.d)"
    try:
        st = os.stat(d)
    except FileNotFoundError:
        try:
            grp.getgrnam("postfix")
        except KeyError:
            return [
                Check(
                    False,
                    f"socket directory {d} does not exist and there is no postfix group; is Postfix installed?",
                )
            ]
        # nolink serve creates it itself (group postfix, setgid, 2750): not a reason to refuse to start
        return [
            Check(
                True,
                f"socket directory {d} does not exist yet; nolink serve creates it (group postfix, mode 2750)"
                f", or {fix}",
                warning=True,
            )
        ]
    if not stat.S_ISDIR(st.st_mode):
        return [Check(False, f"{d} is not a directory")]
    mode = stat.S_IMODE(st.st_mode)
    group = _name(st.st_gid)
    desc = f"socket directory {d}: owner {_user(st.st_uid)}, group {group}, mode {mode:04o}"
    out = []
    try:
        postfix_gid = grp.getgrnam("postfix").gr_gid
    except KeyError:
        return [Check(False, f"{desc}: there is no postfix group; is Postfix installed?")]
    sock_mode = int(cfg.milter.socket_mode, 8)
    if st.st_gid == postfix_gid:
        if not mode & 0o010:
            out.append(Check(False, f"{desc}: group postfix cannot enter it; run: chmod g+x {d}"))
        elif not (mode & 0o2000 or os.getegid() == postfix_gid):
            out.append(Check(False, f"{desc}: the socket would not get group postfix; run: chmod g+s {d}"))
        elif sock_mode & 0o060 != 0o060:
            out.append(
                Check(
                    False, f'milter.socket_mode = {cfg.milter.socket_mode!r} denies group postfix; use "0660"'
                )
            )
        else:
            out.append(Check(True, desc))
    elif mode & 0o001 and sock_mode & 0o006 == 0o006:
        out.append(Check(True, f"{desc} (open to every local user: prefer group postfix, mode 2750)"))
    else:
        out.append(
            Check(False, f"{desc}: Postfix cannot reach the socket; run: chgrp postfix {d} && chmod 2750 {d}")
        )
    if not os.access(d, os.W_OK | os.X_OK):
        out.append(
            Check(
                False,
                f"{d}: this user ({_user(os.geteuid())}) cannot create the socket there; run: chown nolink {d}",
            )
        )
    return out


def deployment_checks(cfg: Config) -> list[Check]:
    from .scan import Scanner

    out: list[Check] = []
    try:
        psl = Scanner(cfg).psl
        out.append(Check(True, f"Public Suffix List: {psl.source} ({psl.version})"))
    except NolinkError as e:
        out.append(Check(False, str(e)))
    out.extend(socket_checks(cfg))
    out.extend(ocr_checks(cfg))
    listen = parse_listen(cfg.metrics.listen)
    out.append(Check(True, f"metrics endpoint {cfg.metrics.listen}" if listen else "metrics endpoint off"))
    if cfg.dkim.enabled:
        servers = [parse_nameserver(n) for n in cfg.dkim.nameservers]
        if servers:
            out.append(Check(True, "DKIM on; DNS servers " + ", ".join(f"{h} port {p}" for h, p in servers)))
        elif os.access("/etc/resolv.conf", os.R_OK):
            out.append(Check(True, "DKIM on; DNS servers from /etc/resolv.conf"))
        else:
            out.append(Check(False, "DKIM on, but no dkim.nameservers and /etc/resolv.conf cannot be read"))
    else:
        out.append(Check(True, "DKIM off (dkim.enabled = false)"))
    return out


def ocr_checks(cfg: Config) -> list[Check]:
    """With links.ocr on: is Tesseract there, with every language of links.ocr_languages?"""
    lc = cfg.links
    if not lc.ocr:
        return [Check(True, "OCR off (links.ocr = false): text in images is not read")]
    from .links import ocr

    langs = lc.ocr_languages
    try:
        path, have = ocr.installed_languages()
    except ocr.OcrUnavailable as e:
        return [
            Check(
                False,
                f"links.ocr is on but {e}; install: apt-get install tesseract-ocr "
                + " ".join(ocr.debian_package(x) for x in langs)
                + " (or set links.ocr = false)",
            )
        ]
    missing = [x for x in langs if x not in have]
    if missing:
        return [
            Check(
                False,
                f"links.ocr_languages = {list(langs)}: {', '.join(missing)} not installed in {path}; run: "
                f"apt-get install {' '.join(ocr.debian_package(x) for x in missing)} (or set links.ocr = false)",
            )
        ]
    return [Check(True, f"OCR on: Tesseract languages {'+'.join(langs)} ({path})")]
