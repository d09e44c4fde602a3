"""The nolink command: serve, scan, check-config, show-config, lookup, quarantine, report, central,
setup, version."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TextIO

from .. import __version__
from ..config import Config, as_dict, load
from ..dkim.check import DkimResult, verifier_for
from ..errors import ConfigError, InputError, NolinkError
from ..findings import ScanResult
from ..scope import citizen_domains
from ..versions import versions
from .sources import count_messages, iter_path, lacks_mail_headers, sniff_not_mail

if TYPE_CHECKING:
    from ..central.requests import Request
    from ..ops.quarantine import Queue
    from ..scan import Scanner

EXIT_CLEAN, EXIT_LINK, EXIT_ERROR = 0, 1, 2


class Progress:
    """Progress on stderr, only when stderr is a terminal: a bar with the total and an ETA when
    the number of messages is known in advance (files, directories, Maildirs), else a counter
    (mbox files and stdin, which are read as they stream)."""

    def __init__(self, stream: TextIO, total: int | None = None) -> None:
        self.stream = stream
        self.total = total
        self.on = stream.isatty()
        self.start = self.last = time.monotonic()

    def tick(self, n: int) -> None:
        now = time.monotonic()
        if self.on and now - self.last >= 0.2:
            self.last = now
            self.stream.write("\r" + self.render(n, now - self.start) + "\033[K")
            self.stream.flush()

    def render(self, n: int, elapsed: float) -> str:
        rate = n / max(elapsed, 1e-9)
        if not self.total:
            return f"scanned {n} messages ({rate:,.0f}/s)"
        done = min(n / self.total, 1.0)
        width = max(10, min(40, shutil.get_terminal_size((80, 24)).columns - 50))
        filled = int(done * width)
        left = (self.total - n) / rate if rate > 0 else 0.0
        eta = f"{int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d}"
        bar = "#" * filled + "-" * (width - filled)
        return f"[{bar}] {done:4.0%} {n}/{self.total} messages, {rate:,.0f}/s, ETA {eta}"

    def done(self) -> None:
        if self.on:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _scanner(cfg: Config) -> Scanner:
    """Imported here, not at the top: `nolink serve` never scans in its own process (the workers
    do), so it does not load the finders and extractors at all."""
    from ..scan import Scanner

    return Scanner(cfg)


def _line(name: str, r: ScanResult) -> str:
    first = r.first
    if first is not None:
        more = f" (+{len(r.findings) - 1} more)" if len(r.findings) > 1 else ""
        return f"{name}\tlink\t{first.text!r} at {first.location}{more}"
    if r.errors:
        return f"{name}\terror\t{r.errors[0]}"
    if r.unscannable:
        return f"{name}\tunscannable\t" + "; ".join(f"{u.reason}: {u}" for u in r.unscannable)
    return f"{name}\tclean"


def cmd_scan(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    scanner = _scanner(cfg)
    verifier = verifier_for(cfg.dkim, scanner.psl)
    # scan has no envelope: every message is citizen-bound unless --rcpt says otherwise; scope
    # then applies as in the milter, to links and DKIM alike (no citizen: not scanned at all)
    citizen = not args.rcpt or bool(citizen_domains(args.rcpt, cfg.scope.internal_domains))
    counts = {
        "messages": 0, "link": 0, "clean": 0, "error": 0, "dkim_fail": 0, "not_citizen_bound": 0,
        "unscannable": 0, "findings": 0,
    }  # fmt: skip
    input_error = False
    progress = Progress(err, count_messages(args.paths) if err.isatty() else None)
    for arg in args.paths:
        try:
            for item in iter_path(arg):
                not_mail = "" if not citizen else sniff_not_mail(item.data)
                if not not_mail and lacks_mail_headers(item.data):
                    err.write(
                        f"nolink scan: warning: {item.name} has no mail header (From, To, Subject, ...): "
                        "it is read as a mail message, so text in it may not be checked as a citizen "
                        "would see it; for plain text (an SMS) use: nolink check-text\n"
                    )
                if not_mail:
                    r = ScanResult(errors=(f"not a mail message ({not_mail})",))
                elif citizen:
                    r = scanner.scan(item.data)
                else:
                    r = ScanResult()
                dk = None
                if verifier is not None and citizen and not not_mail and not r.findings and not r.errors:
                    dk = verifier.verify(item.data)  # as the milter: links first, DKIM on the rest
                verdict: str = r.verdict if citizen else "not_citizen_bound"
                if dk is not None and dk.result != "pass" and verdict != "unscannable":
                    verdict = "error" if dk.result == "temperror" else "dkim_fail"
                counts["messages"] += 1
                counts[verdict] += 1
                counts["findings"] += len(r.findings)
                if args.json:
                    obj: dict[str, object] = {
                        "path": item.name,
                        "verdict": verdict,
                        "findings": [f.to_json() for f in r.findings],
                        "error": "; ".join(r.errors) or None,
                        "unchecked": list(r.unchecked),
                        "unscannable": [u.to_json() for u in r.unscannable],
                    }
                    if verifier is not None:
                        obj["dkim"] = dk.to_json() if dk is not None else None
                    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
                elif verdict != "clean" or not args.quiet:
                    out.write(_scan_line(item.name, verdict, r, dk) + "\n")
                progress.tick(counts["messages"])
        except InputError as e:
            input_error = True
            err.write(f"nolink scan: {e}\n")
    progress.done()
    if args.json:
        out.write(json.dumps({"summary": counts}) + "\n")
    else:
        extra = f", {counts['dkim_fail']} failing DKIM" if verifier is not None else ""
        extra += f", {counts['not_citizen_bound']} not citizen-bound" if args.rcpt else ""
        out.write(
            f"{counts['messages']} messages: {counts['link']} with links, {counts['clean']} clean, "
            f"{counts['error']} errors{extra}"
            + (f", {counts['unscannable']} unscannable" if counts["unscannable"] else "")
            + f" ({counts['findings']} links)\n"
        )
    if input_error:
        return EXIT_ERROR
    if counts["link"] or counts["dkim_fail"] or counts["unscannable"]:
        return EXIT_LINK
    return EXIT_ERROR if counts["error"] else EXIT_CLEAN


def _scan_line(name: str, verdict: str, r: ScanResult, dk: DkimResult | None) -> str:
    if verdict == "not_citizen_bound":
        return f"{name}\tnot_citizen_bound\tno --rcpt outside scope.internal_domains: not checked"
    line = _line(name, r)
    if dk is not None and dk.result != "pass":
        line = f"{name}\t{verdict}" + (f"\t{r.errors[0]}" if r.errors else "")
    if dk is not None:
        line += f"\tdkim={dk.result}" + (f" ({dk.reason})" if dk.reason else "")
    return line


def cmd_check_text(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    """An SMS or other plain text: the arguments (joined by spaces), or standard input when none."""
    from ..textcheck import check_text

    if args.text:
        text = " ".join(args.text)
    else:
        data = sys.stdin.buffer.read()  # plain text, never parsed as a mail message
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            err.write(f"nolink check-text: standard input is not UTF-8 (byte {e.start}); convert it first\n")
            return EXIT_ERROR
    r = check_text(text, _scanner(cfg).text)
    if args.json:
        out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
    else:
        out.write(r.verdict + "\n")
        for f in r.findings:
            out.write(f"  {f.text!r} -> {f.url} ({f.kind}) @{f.offset}\n")
    return EXIT_LINK if r.findings else EXIT_CLEAN


def cmd_check_config(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    from ..ops.checks import deployment_checks

    checks = deployment_checks(cfg)
    bad = [c for c in checks if not c.ok]
    head = "config OK" if not bad else "config has problems"
    out.write(f"{head}: {cfg.source} (sha256 {cfg.digest or '-'}, mode {cfg.mode})\n")
    for c in checks:
        out.write(f"  {'FAIL' if not c.ok else 'warn' if c.warning else 'ok  '}  {c.what}\n")
    return 1 if bad else 0


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False)


def _toml_table(out: TextIO, name: str, table: dict[str, object]) -> None:
    """Scalars first, then sub-tables ("" is the top level, which has no [header])."""
    if name:
        out.write(f"\n[{name}]\n")
    for k, v in table.items():
        if not isinstance(v, dict):
            out.write(f"{_toml_key(k)} = {_toml_value(v)}\n")
    for k, v in table.items():
        if isinstance(v, dict):
            _toml_table(out, f"{name}.{k}" if name else k, v)


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k)


def cmd_show_config(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    out.write(f"# effective configuration from {cfg.source}\n")
    table = as_dict(cfg)
    exceptions = table.pop("exceptions", [])
    if not cfg.central.dsn:
        table.pop("central", None)  # [central] present means on: off, it is left out
    _toml_table(out, "", table)
    for e in exceptions:  # an array of tables: [[exceptions]], after every other table
        out.write("\n[[exceptions]]\n")
        for k, v in e.items():
            out.write(f"{k} = {v.isoformat() if hasattr(v, 'isoformat') else _toml_value(v)}\n")
    return 0


def under_journald(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True when stream is the journal's own stream (systemd sets JOURNAL_STREAM=DEV:INODE of it):
    the journal stamps each line itself. Anywhere else a line needs its own time stamp."""
    dev, _, ino = env.get("JOURNAL_STREAM", "").partition(":")
    try:
        st = os.fstat(stream.fileno())
        return (st.st_dev, st.st_ino) == (int(dev), int(ino))
    except (ValueError, OSError, AttributeError, io.UnsupportedOperation):
        return False


def log_format(stream: TextIO, env: Mapping[str, str]) -> str:
    if under_journald(stream, env):
        return "%(levelname)s %(message)s"
    return "%(asctime)s %(levelname)s %(message)s"


def cmd_serve(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    import logging

    logging.basicConfig(stream=err, level=logging.INFO, format=log_format(err, os.environ))
    # One line per message: the format names no source line, thread or process, so the record need
    # not look them up (the logging HOWTO's "Optimization"): 11.4 -> 6.1 us per line (timeit).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if getattr(args, "no_milter", False):
        from .textapi import serve_only  # an SMS-only host: no pymilter, no socket for Postfix

        return serve_only(cfg)
    # OCR that cannot run would tempfail every message with an image, for days: refuse now, with
    # check-config's words. A journal that cannot be written must not stop mail (it never does):
    # said loudly at start instead of nothing at all.
    from ..ops.checks import journal_checks, serve_checks

    bad = [c.what for c in serve_checks(cfg) if not c.ok]
    if bad:
        raise ConfigError(f"{bad[0]} (serve refuses to start: see nolink check-config)")
    for c in journal_checks(cfg):
        if not c.ok:
            logging.getLogger("nolink").error("%s; decisions are not journaled until it is fixed", c.what)
    from .service import serve  # imports pymilter: only the milter needs it

    return serve(cfg, args.config)  # builds the Scanner, so a bad PSL fails before the socket opens


def _journals(args: argparse.Namespace, cfg: Config) -> list[str]:
    paths = list(args.journal or []) or ([cfg.journal.path] if cfg.journal.path else [])
    if not paths:
        raise NolinkError("the journal is off (journal.path is empty): give --journal FILE")
    return paths


def _central_on(args: argparse.Namespace, cfg: Config) -> bool:
    """The central record answers when [central] is set and no --journal FILE was given."""
    return bool(cfg.central.dsn) and not getattr(args, "journal", None)


def cmd_lookup(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    from ..ops import lookup

    if _central_on(args, cfg):
        from ..central import queries
        from ..central.db import connect

        with connect(cfg.central, autocommit=True, application="nolink lookup") as conn:
            found = queries.lookup(conn, args.id)
    else:
        found = lookup.find(_journals(args, cfg), args.id)
    if args.json:
        out.write(json.dumps(found, ensure_ascii=False, indent=1) + "\n")
    elif not found:
        out.write(
            f"{args.id}: not in the journal. Out-of-scope messages (to internal recipients, other "
            "senders or listeners) are only counted; entries older than journal.retention_days are gone.\n"
        )
    else:
        out.write(
            "\n\n".join(
                (f"Relay {d['relay_id']}: " if "relay_id" in d else "") + lookup.describe(d) for d in found
            )
            + "\n"
        )
    return 0 if found else 1


def _age(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def _quarantine_central(args: argparse.Namespace, cfg: Config, out: TextIO) -> int:
    """list --all, and release/delete by REF or queue id on whichever relay holds the message."""
    from ..central import queries, requests
    from ..central.db import connect
    from ..ops.quarantine import QueueError, operator

    with connect(cfg.central, autocommit=True, application="nolink quarantine") as conn:
        if args.action == "list":
            held, seen, pending = queries.held_everywhere(conn)
            if args.json:
                obj = {
                    "held": [h.to_json() for h in held],
                    "relays_seen_seconds_ago": {k: int(time.time() - v) for k, v in seen.items()},
                    "pending_requests": [r.to_json() for r in pending],
                }
                out.write(json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
                return 0
            out.write(
                f"{'RELAY':<16} {'QUEUE ID':<12} {'AGE':>7} {'SIZE':>8}  {'SENDER DOMAIN':<24} {'REASON':<14} {'REF':<10}  WHERE\n"
            )
            for h in held:
                out.write(
                    f"{h.relay_id:<16} {h.queue_id:<12} {_age(time.time() - h.arrival):>7} {h.size:>8}  "
                    f"{h.sender_domain or '-':<24} {h.reason or '-':<14} {h.ref or '-':<10}  {h.location or '-'}\n"
                )
            out.write(f"{len(held)} message(s) held on {len(seen)} relay(s)")
            stale = [k for k, v in seen.items() if time.time() - v > max(3 * cfg.central.poll_seconds, 120)]
            out.write(f"; not heard from lately: {', '.join(stale)}\n" if stale else "\n")
            for r in pending:
                out.write(
                    f"pending request {r.id}: {r.action} {r.queue_id} on {r.relay_id}, asked by {r.requested_by} "
                    f"{_age(time.time() - r.requested_at)} ago ({r.status})\n"
                )
            return 0
        if not args.ids:
            raise NolinkError(
                f"nolink quarantine {args.action}: give the ref(s) or queue id(s), see nolink quarantine list --all"
            )
        if not args.reason.strip():
            raise QueueError(f"say why with --reason TEXT: the {args.action} is recorded with it")
        timeout = cfg.central.request_timeout if args.timeout is None else args.timeout
        rc = 0
        results = []
        for key in args.ids:
            r = requests.submit(conn, key, args.action, args.reason, operator(), args.relay or "")
            r = requests.wait(conn, r.id, timeout)
            results.append(r)
            if r.status != "ok":
                rc = EXIT_ERROR
            if not args.json:
                out.write(_request_line(key, r, timeout))
        if args.json:
            out.write(json.dumps([r.to_json() for r in results], ensure_ascii=False, indent=1) + "\n")
        return rc


def _request_line(key: str, r: Request, timeout: float) -> str:
    if r.status == "ok":
        return f"{key}: {r.result} on relay {r.relay_id} (request {r.id}, by {r.done_by})\n"
    if r.status == "error":
        return f"{key}: relay {r.relay_id} could not {r.action} {r.queue_id}: {r.result} (request {r.id})\n"
    return (
        f"{key}: request {r.id} is still {r.status}: relay {r.relay_id} has not answered in {timeout:g} s "
        "(is its nolink serve running?); it runs once when the relay is back (nolink quarantine list --all)\n"
    )


def cmd_quarantine(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    from ..ops.quarantine import Queue

    if cfg.central.dsn and not args.postfix_config and (args.all or args.action in ("release", "delete")):
        return _quarantine_central(args, cfg, out)
    if args.all:
        raise NolinkError("nolink quarantine list --all reads the central record: configure [central]")
    q = Queue(args.postfix_config, cfg.journal.path)
    if args.action == "list":
        held = q.held()
        if args.json:
            out.write(json.dumps([h.to_json() for h in held], ensure_ascii=False, indent=1) + "\n")
            return 0
        out.write(
            f"{'QUEUE ID':<12} {'AGE':>7} {'Q.BYTES':>8}  {'SENDER DOMAIN':<24} {'REASON':<14} {'REF':<10}  WHERE\n"
        )
        for h in held:
            out.write(
                f"{h.queue_id:<12} {_age(h.age):>7} {h.size:>8}  {h.sender_domain or '-':<24} "
                f"{h.reason or '-':<14} {h.ref or '-':<10}  {h.where or '-'}\n"
            )
        out.write(f"{len(held)} message(s) held\n")
        if held:  # the two sizes differ, and both are right: say which is which
            out.write(
                "Q.BYTES: Postfix's queue file (envelope and the headers added after nolink decided); "
                "the journal (lookup, show) has the size of the message as nolink checked it\n"
            )
        return 0
    if args.action == "show":
        return _quarantine_show(args, cfg, q, out)
    if not args.ids:
        raise NolinkError(
            f"nolink quarantine {args.action}: give the queue id(s), see nolink quarantine list"
        )
    done = q.release(args.ids, args.reason) if args.action == "release" else q.delete(args.ids, args.reason)
    if args.json:
        out.write(json.dumps({"action": args.action, "queue_ids": done}) + "\n")
    else:
        verb = "released (sent on now, not scanned again)" if args.action == "release" else "deleted"
        out.write("".join(f"{qid}: {verb}\n" for qid in done))
    return 0


def _quarantine_show(args: argparse.Namespace, cfg: Config, q: Queue, out: TextIO) -> int:
    from ..ops.lookup import describe

    if len(args.ids) != 1:
        raise NolinkError("nolink quarantine show: give one queue id")
    qid = args.ids[0]
    held = q.get(qid)
    headers = q.headers(qid)
    links, unchecked = q.rescan(qid, _scanner(cfg))
    if args.json:
        obj = {
            **held.to_json(),
            "headers": [[k, v] for k, v in headers],
            "journal": held.entry or None,
            "findings": [link.to_json() for link in links],
            "unchecked": unchecked,
        }
        out.write(json.dumps(obj, ensure_ascii=False, indent=1) + "\n")
        return 0
    out.write(
        f"Queue id {qid}, held {_age(held.age)}, {held.size} bytes in the queue (Postfix's queue file), "
        f"{held.recipients} recipient(s)\n\nHeaders:\n"
    )
    for k, v in headers:
        out.write(f"  {k}: {_readable(k, v)}\n")
    out.write("\nJournal:\n")
    if held.entry:
        out.write(describe({**held.entry, "events": []}) + "\n")
    else:
        out.write("  (no journal entry for this queue id)\n")
    out.write(f"\nLinks in the held copy ({len(links)}):\n")
    for link in links:
        out.write(f"  {link.text!r} -> {link.url} ({link.kind}) at {link.location}\n")
    for u in unchecked:
        out.write(f"  not checked: {u}\n")
    return 0


# headers a reviewer reads as text: RFC 2047 encoded words decoded (Thai in base64 is unreadable)
_DECODED = frozenset(("from", "to", "cc", "reply-to", "sender", "subject"))


def _readable(name: str, value: str) -> str:
    from ..decode import header_text

    text = " ".join(value.split())
    if name.lower() not in _DECODED or "=?" not in text:
        return text
    decoded = " ".join(header_text(value).split())
    return "".join(c if c.isprintable() else "?" for c in decoded)  # no terminal control characters


def cmd_report(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    import datetime

    from ..ops import report, report_html

    now = datetime.datetime.now().astimezone()
    since = report.parse_when(args.since, now)
    until = report.parse_when(args.until, now, end=True) if args.until else now
    reasons = {e.name: e.reason for e in cfg.exceptions}
    if _central_on(args, cfg):
        from ..central import queries
        from ..central.db import connect

        f = queries.Filters(args.relay or "", args.sender_domain or "", args.reason or "")
        with connect(cfg.central, autocommit=True, application="nolink report") as conn:
            got: dict[str, object] = {}

            def aggregate(s: float, u: float) -> dict[str, object]:
                got.update(queries.aggregate(conn, s, u, f))
                return got

            r = report.build(["central"], since, until, reasons, aggregate)  # type: ignore[arg-type]
            r["by_relay"] = queries.by_relay(got)  # type: ignore[arg-type]
            r["filters"] = {"relay": f.relay, "sender_domain": f.sender_domain, "reason": f.reason}
    elif args.relay or args.sender_domain or args.reason:
        raise NolinkError(
            "--relay, --sender-domain and --reason filter the central record: configure [central]"
        )
    else:
        r = report.build(_journals(args, cfg), since, until, reasons)
    if args.format == "json":
        out.write(json.dumps(r, ensure_ascii=False, indent=1) + "\n")
    elif args.format == "csv":
        out.write(report.csv_text(r))
    elif args.format == "html":
        out.write(report_html.html(r))
    else:
        out.write(report.text(r))
    return 0


def cmd_central(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    """nolink central migrate | status: the central PostgreSQL record ([central])."""
    from ..central import schema
    from ..central.db import connect

    if not cfg.central.dsn:
        raise NolinkError("nolink central: [central] is not configured (central.dsn)")
    with connect(cfg.central, autocommit=True, application="nolink central") as conn:
        if args.action == "migrate":
            before, after = schema.migrate(conn, cfg.central.retention_days)
            out.write(
                f"schema version {before} -> {after}"
                if before != after
                else f"schema version {after}: up to date"
            )
            out.write(f"; partitions: {', '.join(p for p in schema.partitions(conn))}\n")
            return 0
        schema.check(conn)
        rows = conn.execute(
            "SELECT relay_id, shipped_id, shipped_time, last_ship, version FROM relays ORDER BY 1"
        ).fetchall()
        now = time.time()
        if args.json:
            keys = ("relay_id", "shipped_id", "shipped_time", "last_ship", "version")
            out.write(json.dumps([dict(zip(keys, r, strict=True)) for r in rows], indent=1) + "\n")
            return 0
        out.write(f"{'RELAY':<20} {'SHIPPED ID':>10} {'LAST SHIP':>10}  VERSION\n")
        for relay, mark, _t, last, ver in rows:
            out.write(f"{relay:<20} {mark:>10} {_age(now - last) if last else '-':>10}  {ver or '-'}\n")
        return 0


def cmd_setup(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    """nolink setup postfix [--apply]: the main.cf lines (Postfix's syntax) that attach nolink."""
    from ..ops import postfix_setup as ps

    pc = ps.Postconf(args.config_dir or "")
    ours, changes = ps.plan(pc, cfg.milter.socket)
    where = f" -c {args.config_dir}" if args.config_dir else ""
    if not changes:
        out.write(f"Postfix{where} already passes mail to nolink ({ours}); nothing to change\n")
        return 0
    if not args.apply:
        same = ours == cfg.milter.socket
        out.write(
            f"# main.cf lines for nolink at {ours}"
            + ("" if same else f" (milter.socket {cfg.milter.socket} in Postfix's syntax)")
            + ":\n"
        )
        for c in changes:
            out.write(f"{c.line}\n")
        out.write(f"# apply them with: nolink setup postfix --apply{where} (main.cf is backed up first)\n")
        return 0
    main_cf = pc.main_cf()
    saved = ps.backup(main_cf)
    pc.set(changes)
    for c in changes:
        out.write(f"set {c.line}  (was: {c.old or '(empty)'})\n")
    out.write(f"backup of the previous main.cf: {saved}\nnow run: postfix{where} reload\n")
    return 0


def cmd_version(args: argparse.Namespace, cfg: Config | None, out: TextIO, err: TextIO) -> int:
    from ..links.ocr import describe_install

    for k, v in {**versions(), **describe_install()}.items():
        out.write(f"{k} {v}\n")
    return 0


DESCRIPTION = """Keep links out of government mail to citizens.

nolink is a Postfix milter: Postfix hands it every message before queuing it, and a message
bound for a citizen that contains a link anywhere a citizen could follow it (or, with DKIM
checking on, that lacks a valid DKIM signature aligned with its From domain) is rejected, held
or deferred, as the configuration says. Each decision is one log line and counted in
Prometheus metrics."""

# --help shows these sections, and scripts/make_man.py makes them the man page's: one source.
EPILOG = """FILES
  /etc/nolink/nolink.toml
      the configuration, read when -c is not given (see nolink.toml(5))
  /var/spool/postfix/nolink/nolink.sock
      the default milter socket (milter.socket); Postfix names it unix:nolink/nolink.sock
  /var/lib/nolink/journal.sqlite
      the decision journal (journal.path), read by lookup, quarantine and report

SIGNALS
  SIGTERM, SIGINT
      serve refuses new messages at once (451 4.3.2 at MAIL FROM), lets the messages being
      decided finish (at most milter.timeout + 5 s) and exits 0
  SIGHUP, SIGUSR1
      serve re-reads and validates the whole configuration and starts new workers for it;
      a bad file is refused and the old configuration keeps serving; messages in flight
      finish under the old one (systemctl reload nolink sends SIGUSR1 after check-config)

EXIT STATUS
  scan
      0 every message clean; 1 a link somewhere, or (dkim.enabled) a message whose DKIM
      result is not pass; 2 a usage error, an unreadable path, a bad config, or a message
      that could not be checked (and no link found)
  check-config
      0 the config is valid and every check passed (warnings allowed); 1 otherwise
  serve
      0 after SIGTERM or SIGINT; 1 when the milter loop failed; 2 a bad config, or the
      socket is in use by a running process
  lookup
      0 found; 1 not in the journal; 2 no readable journal
  setup postfix
      0 printed, applied, or nothing to change; 2 postconf failed or main.cf could not be
      backed up (nothing changed)
  quarantine, report
      0 done; 2 a message not in the hold queue, a Postfix tool or the journal failed, a bad date;
      with [central], 2 also when the holding relay answered with an error or not within the timeout
      (the request stays pending and runs when the relay is back)
  central
      0 done; 2 PostgreSQL cannot be reached, refuses the login, or has a newer schema
  any command
      2 a usage error (unknown command or option)

ENVIRONMENT
  JOURNAL_STREAM
      set by systemd: when standard error is the journal, log lines carry no time stamp of
      their own (the journal adds it)
  NOTIFY_SOCKET
      set by systemd for Type=notify: serve reports READY=1 once the socket accepts

SEE ALSO
  nolink.toml(5), postconf(5), opendkim(8)"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nolink",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"nolink {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "-c", "--config", metavar="FILE", help="config file (default /etc/nolink/nolink.toml)"
        )

    s = sub.add_parser("scan", help="scan .eml files, directories, mbox files, Maildirs or - (stdin)")
    with_config(s)
    s.add_argument(
        "paths", nargs="+", metavar="PATH", help=".eml files, directories, mbox files, Maildirs; - for stdin"
    )
    s.add_argument("--json", action="store_true", help="one JSON object per message, then a summary")
    s.add_argument("-q", "--quiet", action="store_true", help="print only messages that are not clean")
    s.add_argument(
        "--rcpt",
        action="append",
        default=[],
        metavar="ADDR",
        help="envelope recipient, for scope (repeatable); without it every message is citizen-bound",
    )
    s.set_defaults(func=cmd_scan)

    c = sub.add_parser("check-config", help="validate the config; exit 0 if it is good, 1 if not")
    with_config(c)
    c.set_defaults(func=cmd_check_config)

    sc = sub.add_parser("show-config", help="print the effective config, defaults filled in")
    with_config(sc)
    sc.set_defaults(func=cmd_show_config)

    sv = sub.add_parser("serve", help="run the milter for Postfix (and text_api, when configured)")
    with_config(sv)
    sv.add_argument(
        "--no-milter", action="store_true", help="serve only the text API (text_api.listen), no milter"
    )
    sv.set_defaults(func=cmd_serve)

    ct = sub.add_parser(
        "check-text", help="check plain text (an SMS) for links; exit 0 clean, 1 link, 2 error"
    )
    with_config(ct)
    ct.add_argument("text", nargs="*", metavar="TEXT", help="the text (words joined by spaces); none: stdin")
    ct.add_argument("--json", action="store_true", help='print {"verdict", "findings": [...]}')
    ct.set_defaults(func=cmd_check_text)

    lk = sub.add_parser("lookup", help="what happened to one message and why (by Ref or queue id)")
    with_config(lk)
    lk.add_argument("id", metavar="REF|QUEUE_ID")
    lk.add_argument("--json", action="store_true", help="the journal entries as JSON")
    lk.add_argument("--journal", action="append", metavar="FILE", help="journal file (default journal.path)")
    lk.set_defaults(func=cmd_lookup)

    q = sub.add_parser("quarantine", help="list, show, release or delete messages in Postfix's hold queue")
    with_config(q)
    q.add_argument("action", choices=("list", "show", "release", "delete"))
    q.add_argument(
        "ids", nargs="*", metavar="QUEUE_ID|REF", help="queue ids; with [central] also refs, on any relay"
    )
    q.add_argument("--reason", default="", metavar="TEXT", help="why (required for release and delete)")
    q.add_argument("--json", action="store_true")
    q.add_argument("--all", action="store_true", help="list: what every relay holds ([central])")
    q.add_argument(
        "--relay", metavar="RELAY", help="release/delete: the relay, when a ref or id matches on several"
    )
    q.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="release/delete: wait this long for the relay (central.request_timeout)",
    )
    q.add_argument(
        "-C",
        dest="postfix_config",
        metavar="CONFIG_DIR",
        help="Postfix instance's configuration directory, as postqueue -c (default: the default instance)",
    )
    q.set_defaults(func=cmd_quarantine)

    rp = sub.add_parser("report", help="the compliance report over a period, from the journal(s)")
    with_config(rp)
    rp.add_argument(
        "--since", required=True, metavar="DATE|Nd", help="2026-11-01, or 30d for the last 30 days"
    )
    rp.add_argument("--until", metavar="DATE", help="last day included (default: now)")
    rp.add_argument("--format", choices=("text", "csv", "json", "html"), default="text")
    rp.add_argument(
        "--journal", action="append", metavar="FILE", help="journal file, repeatable to merge several relays"
    )
    rp.add_argument("--relay", metavar="RELAY", help="only this relay ([central])")
    rp.add_argument("--sender-domain", metavar="DOMAIN", help="only mail from this sender domain ([central])")
    rp.add_argument("--reason", metavar="REASON", help="only this reason, e.g. link_found ([central])")
    rp.set_defaults(func=cmd_report)

    ce = sub.add_parser("central", help="the central PostgreSQL record of several relays ([central])")
    with_config(ce)
    ce.add_argument(
        "action", choices=("migrate", "status"),
        help="migrate: create or upgrade the schema, partitions ahead, retention; status: each relay's shipping",
    )  # fmt: skip
    ce.add_argument("--json", action="store_true")
    ce.set_defaults(func=cmd_central)
    su = sub.add_parser("setup", help="attach nolink to Postfix: print (or --apply) the main.cf lines")
    su.add_argument("what", choices=("postfix",), help="what to set up")
    su.add_argument("--config", metavar="FILE", help="nolink's config file (default /etc/nolink/nolink.toml)")
    su.add_argument(
        "-c",
        "--config-dir",
        metavar="DIR",
        help="Postfix instance's configuration directory, as postconf -c (default: the default instance)",
    )
    su.add_argument(
        "--apply", action="store_true", help="set them with postconf -e, after a backup of main.cf"
    )
    su.set_defaults(func=cmd_setup)

    v = sub.add_parser("version", help="print the versions of nolink and its libraries")
    v.set_defaults(func=cmd_version, config=None)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else EXIT_ERROR
    if args.command == "version":
        return int(args.func(args, None, out, err))
    try:
        cfg = load(args.config)
        return int(args.func(args, cfg, out, err))
    except ConfigError as e:
        err.write(f"nolink: config error: {e}\n")
        return 1 if args.command == "check-config" else EXIT_ERROR
    except NolinkError as e:
        err.write(f"nolink: {e}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
