"""The nolink command: serve, scan, check-config, show-config, version."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from . import __version__
from .config import Config, as_dict, load
from .dkimcheck import verifier_for
from .errors import ConfigError, InputError, NolinkError
from .findings import ScanResult
from .scan import Scanner
from .scope import citizen_domains
from .sources import iter_path
from .versions import versions

EXIT_CLEAN, EXIT_LINK, EXIT_ERROR = 0, 1, 2


class Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.start = self.last = time.monotonic()

    def tick(self, n: int) -> None:
        now = time.monotonic()
        if self.on and now - self.last >= 0.2:
            self.last = now
            rate = n / max(now - self.start, 1e-9)
            self.stream.write(f"\rscanned {n} messages ({rate:,.0f}/s)")
            self.stream.flush()

    def done(self) -> None:
        if self.on:
            self.stream.write("\r\033[K")
            self.stream.flush()


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
    scanner = Scanner(cfg)
    verifier = verifier_for(cfg.dkim, scanner.psl)
    # scan has no envelope: every message is citizen-bound unless --rcpt says otherwise
    citizen = not args.rcpt or bool(citizen_domains(args.rcpt, cfg.scope.internal_domains))
    counts = {"messages": 0, "link": 0, "clean": 0, "error": 0, "unscannable": 0, "findings": 0}
    input_error = False
    progress = Progress(err)
    for arg in args.paths:
        try:
            for item in iter_path(arg):
                r = scanner.scan(item.data)
                dk = verifier.verify(item.data) if verifier is not None and citizen else None
                verdict = r.verdict
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
                elif verdict != "clean" or not args.quiet or (dk is not None and dk.result != "pass"):
                    dkim_note = f"\tdkim={dk.result}" + (f" ({dk.reason})" if dk.reason else "") if dk else ""
                    out.write(_line(item.name, r) + dkim_note + "\n")
                progress.tick(counts["messages"])
        except InputError as e:
            input_error = True
            err.write(f"nolink scan: {e}\n")
    progress.done()
    if args.json:
        out.write(json.dumps({"summary": counts}) + "\n")
    else:
        out.write(
            f"{counts['messages']} messages: {counts['link']} with links, {counts['clean']} clean, "
            f"{counts['error']} errors"
            + (f", {counts['unscannable']} unscannable" if counts["unscannable"] else "")
            + f" ({counts['findings']} links)\n"
        )
    if input_error:
        return EXIT_ERROR
    if counts["link"] or counts["unscannable"]:
        return EXIT_LINK
    return EXIT_ERROR if counts["error"] else EXIT_CLEAN


def cmd_check_config(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    from .checks import deployment_checks

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
    _toml_table(out, "", as_dict(cfg))
    return 0


def cmd_serve(args: argparse.Namespace, cfg: Config, out: TextIO, err: TextIO) -> int:
    import logging

    from .service import serve  # imports pymilter: only the milter needs it

    logging.basicConfig(stream=err, level=logging.INFO, format="%(levelname)s %(message)s")
    return serve(cfg, args.config)  # builds the Scanner, so a bad PSL fails before the socket opens


def cmd_version(args: argparse.Namespace, cfg: Config | None, out: TextIO, err: TextIO) -> int:
    for k, v in versions().items():
        out.write(f"{k} {v}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nolink", description="Keep links out of government mail to citizens.")
    p.add_argument("--version", action="version", version=f"nolink {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "-c", "--config", metavar="FILE", help="config file (default /etc/nolink/nolink.toml)"
        )

    s = sub.add_parser("scan", help="scan .eml files, directories, mbox files, Maildirs or - (stdin)")
    with_config(s)
    s.add_argument("paths", nargs="+", metavar="PATH")
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

    sv = sub.add_parser("serve", help="run the milter for Postfix")
    with_config(sv)
    sv.set_defaults(func=cmd_serve)

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
