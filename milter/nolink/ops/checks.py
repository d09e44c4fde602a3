"""What breaks deployments, checked before anything is served (nolink check-config, ExecStartPre).

Each check says what is wrong and what to run; the socket checks mirror the most common milter
complaint, Postfix getting "Permission denied" on the socket.
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
import pwd
import re
import stat
from dataclasses import dataclass

from ..config import Config, parse_listen, parse_nameserver
from ..errors import NolinkError
from ..psl import PublicSuffixList


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
    if sock.startswith(("inet:", "inet6:")):
        return [_inet_check(sock)]
    if not sock.startswith(("unix:", "local:")):
        return [
            Check(
                False,
                f"milter.socket = {sock!r}: write unix:/path (or local:/path), inet:PORT@ADDRESS "
                "(inet:8890@127.0.0.1) or inet6:PORT@ADDRESS (inet6:8890@::1, also inet:8890@[::1])",
            )
        ]
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


def _inet_check(sock: str) -> Check:
    """inet:PORT[@HOST] and inet6:PORT[@HOST] as libmilter reads them (HOST: an address or a name;
    none: every address of the family)."""
    family, _, rest = sock.partition(":")
    port, at, host = rest.partition("@")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not (port.isdigit() and 0 < int(port) < 65536):
        example = "inet:8890@127.0.0.1" if family == "inet" else "inet6:8890@::1"
        return Check(False, f"milter socket {sock}: the port must be 1-65535; write e.g. {example}")
    # the suggestion keeps the configured port: only the address is missing or wrong
    example = f"inet:{port}@127.0.0.1" if family == "inet" else f"inet6:{port}@::1"
    if at and not bare:
        return Check(False, f"milter socket {sock}: nothing after @; write e.g. {example}, or drop the @")
    if bare:
        try:
            if ipaddress.ip_address(bare).version == 6 and family == "inet" and bare == host:
                return Check(
                    False, f"milter socket {sock}: for IPv6 write inet6:{port}@{bare} or inet:{port}@[{bare}]"
                )
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", bare):
                return Check(False, f"milter socket {sock}: {bare!r} is not an address or host name")
        return Check(True, f"milter socket {sock}")
    every = "every IPv4 address" if family == "inet" else "every address"
    return Check(
        True,
        f"milter socket {sock}: libmilter listens on {every}; to keep it local write {example}",
        warning=True,
    )


GOVERNMENT_SUFFIXES = ("go.th", "mi.th")  # public suffixes below which only the state registers


def scope_checks(cfg: Config, psl: PublicSuffixList) -> list[Check]:
    """scope.internal_domains that make every message, or far too many, count as internal or not."""
    domains = cfg.scope.internal_domains
    if not domains:
        return [
            Check(
                True,
                "scope.internal_domains is empty: every message is citizen-bound, mail between your own "
                'staff too; list your domains, e.g. internal_domains = ["go.th"]',
                warning=True,
            )
        ]
    out = []
    for d in domains:
        if "." not in d and psl.is_suffix(d):
            out.append(
                Check(
                    True,
                    f'scope.internal_domains: "{d}" is a whole top-level domain: every address under .{d} '
                    "counts as internal, citizens' included, and is never checked; list your own domains "
                    'instead, e.g. "go.th" or "dopa.go.th"',
                    warning=True,
                )
            )
        elif psl.is_suffix(d) and d not in GOVERNMENT_SUFFIXES:
            out.append(
                Check(
                    True,
                    f'scope.internal_domains: "{d}" is a public suffix: anyone can register a domain below '
                    "it, and mail to all of them counts as internal; list your own domains instead "
                    '(e.g. "example.' + d + '")',
                    warning=True,
                )
            )
    if not out:
        out.append(Check(True, f"scope.internal_domains: {', '.join(domains)}"))
    return out


def deployment_checks(cfg: Config) -> list[Check]:
    from ..scan import Scanner

    out: list[Check] = []
    psl: PublicSuffixList | None = None
    try:
        psl = Scanner(cfg).psl
        out.append(Check(True, f"Public Suffix List: {psl.source} ({psl.version})"))
    except NolinkError as e:
        out.append(Check(False, str(e)))
    out.extend(socket_checks(cfg))
    if psl is not None:
        out.extend(scope_checks(cfg, psl))
    out.extend(ocr_checks(cfg))
    out.extend(journal_checks(cfg))
    out.extend(text_api_checks(cfg))
    out.extend(worker_checks(cfg))
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
    out.extend(exception_checks(cfg, datetime.date.today()))
    out.extend(central_checks(cfg))
    return out


def central_checks(cfg: Config) -> list[Check]:
    """[central]: can this relay reach PostgreSQL, log in, and use the schema there? A failure here
    never stops nolink serve (mail is decided and journaled locally; the shipper retries)."""
    c = cfg.central
    if not c.dsn:
        return []
    from ..central.status import probe

    ok, what = probe(c, cfg.journal.path)
    return [Check(ok, what)]


def exception_checks(cfg: Config, today: datetime.date) -> list[Check]:
    """Named exceptions: what each lets through, and a warning for those past (or near) `until`.
    Empty and overlapping exceptions never get here: the config refuses them when it loads."""
    out = []
    for e in cfg.exceptions:
        what = ", ".join(
            f"{k} {getattr(e, k)}"
            for k in ("sender", "sender_domain", "recipient_domain", "link_host")
            if getattr(e, k)
        )
        if e.link_host == "":
            what += " (every link)"
        if e.until is None:
            out.append(
                Check(
                    True, f'exception "{e.name}": {what}, no end date (add until = YYYY-MM-DD)', warning=True
                )
            )
        elif e.expired(today):
            out.append(
                Check(
                    True,
                    f'exception "{e.name}" expired on {e.until}: it no longer applies; remove it',
                    warning=True,
                )
            )
        elif (e.until - today).days < 14:
            out.append(
                Check(
                    True,
                    f'exception "{e.name}": {what}, ends {e.until} (in {(e.until - today).days} days)',
                    warning=True,
                )
            )
        else:
            out.append(Check(True, f'exception "{e.name}": {what}, until {e.until}'))
    return out


def ocr_checks(cfg: Config) -> list[Check]:
    """With links.ocr on: is Tesseract there, with every language of links.ocr_languages?"""
    lc = cfg.links
    if not lc.ocr:
        return [Check(True, "OCR off (links.ocr = false): text in images is not read")]
    from ..links import ocr

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
    debian_dir, debian_have = ocr.debian_languages()
    if missing and debian_dir and debian_dir != path and all(x in debian_have for x in missing):
        # the packages are installed: this tesserocr looks elsewhere (a PyPI wheel's own Tesseract)
        return [
            Check(
                False,
                f"links.ocr_languages = {list(langs)}: Tesseract looks in {path}, which lacks "
                f"{', '.join(missing)}; Debian's data is in {debian_dir}: run TESSDATA_PREFIX={debian_dir} "
                "nolink ..., or build tesserocr against Debian's Tesseract: pip install --force-reinstall "
                "--no-binary tesserocr tesserocr (scripts/setup.sh does)",
            )
        ]
    if missing:
        return [
            Check(
                False,
                f"links.ocr_languages = {list(langs)}: {', '.join(missing)} not installed in {path}; run: "
                f"apt-get install {' '.join(ocr.debian_package(x) for x in missing)} (or set links.ocr = false)",
            )
        ]
    return [Check(True, f"OCR on: Tesseract languages {'+'.join(langs)} ({path})")]


def serve_checks(cfg: Config) -> list[Check]:
    """What makes serve refuse to start (check-config runs these and more)."""
    return ocr_checks(cfg) if cfg.links.ocr else []


def _nearest_existing(path: str) -> str:
    d = os.path.abspath(path)
    while not os.path.exists(d) and d != os.path.dirname(d):
        d = os.path.dirname(d)
    return d


def journal_checks(cfg: Config) -> list[Check]:
    """journal.path: can this user (the one serve runs as) create or write the journal? serve
    would otherwise run and write nothing (issue 22)."""
    path = cfg.journal.path
    if not path:
        return [
            Check(True, "journal off (journal.path is empty): lookup, quarantine and report have nothing")
        ]
    d = os.path.dirname(os.path.abspath(path))
    me = _user(os.geteuid())
    fix = f"run: install -d -o {me} -m 0750 {d}  (the systemd unit's StateDirectory makes /var/lib/nolink)"
    if os.path.isdir(path):
        return [
            Check(False, f"journal.path = {path!r} is a directory: name a file, e.g. {path}/journal.sqlite")
        ]
    if os.path.exists(path):
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(d, os.W_OK | os.X_OK):
            return [
                Check(
                    False,
                    f"journal {path}: this user ({me}) cannot write it (or its directory, for SQLite's WAL "
                    f"files); run: chown -R {me} {d}",
                )
            ]
        return [Check(True, f"journal {path} (writable; kept {cfg.journal.retention_days} days)")]
    if os.path.isdir(d):
        if not os.access(d, os.W_OK | os.X_OK):
            return [Check(False, f"journal {path}: this user ({me}) cannot create it in {d}; {fix}")]
        return [
            Check(
                True,
                f"journal {path} (created on the first decision; kept {cfg.journal.retention_days} days)",
            )
        ]
    top = _nearest_existing(d)
    if not os.path.isdir(top) or not os.access(top, os.W_OK | os.X_OK):
        return [
            Check(False, f"journal {path}: directory {d} does not exist and {me} cannot create it; {fix}")
        ]
    return [Check(True, f"journal {path}: directory {d} does not exist yet; serve creates it", warning=True)]


def text_api_checks(cfg: Config) -> list[Check]:
    """[text_api]: what serve itself refuses (an unreadable or empty token_file) fails here too."""
    from ..adapters.textapi import read_token

    t = cfg.text_api
    if not t.listen:
        return [Check(True, "text API off (text_api.listen is empty)")]
    try:
        token = read_token(t)
    except NolinkError as e:
        return [Check(False, str(e))]
    auth = f"bearer token from {t.token_file}" if token else "no token (text_api.token_file is empty)"
    return [Check(True, f"text API on {t.listen}, {auth}", warning=not token and t.allow_remote)]


def worker_checks(cfg: Config) -> list[Check]:
    m = cfg.milter
    mem = f"{m.worker_memory // 1024**2} MB address space each" if m.worker_memory else "no memory limit"
    rss = m.worker_max_rss
    recycle = f", recycled above {rss // 1024**2} MB resident" if rss else ""
    cores = os.cpu_count() or 1
    many = m.workers > 2 * cores
    note = f" (more than twice the {cores} cores: they only wait for each other)" if many else ""
    return [
        Check(
            True,
            f"workers: {m.workers} processes, {mem}{recycle}, timeout {m.timeout:g} s{note}",
            warning=many,
        )
    ]
