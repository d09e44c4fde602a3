"""One verdict per message: scope, scan result and config in; action, reason and reply out."""

from __future__ import annotations

import datetime
import re
import secrets
import socket
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from . import allowlist
from .config import Config
from .dkim.check import DkimResult
from .findings import Link, Location, ScanResult, Unscanned
from .scope import Envelope, citizen_domains, out_of_scope

Action = Literal["accept", "reject", "quarantine", "tempfail"]
HEADER = "X-Nolink-Verdict"
AUTH_RESULTS = "Authentication-Results"
OUT_OF_SCOPE = frozenset(("not_citizen_bound", "not_our_sender", "not_policed_listener"))
_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\%`]')
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def new_ref() -> str:
    """A short reference id an admin can grep for (in the reply, the header and the log)."""
    return secrets.token_hex(5).upper()


def safe(text: str, limit: int = 80) -> str:
    """Attacker-controlled text made fit for an SMTP reply, a header or a log: ASCII, no quotes."""
    return _UNSAFE.sub("?", text)[:limit]


_BARE = re.compile(r"[A-Za-z0-9._:/+@-]+")


def logval(text: str, limit: int = 160) -> str:
    """A value for the key=value log line that no text can turn into another field: bare when it
    is one plain token, else in double quotes with backslash, quote, "=" and every character outside
    printable ASCII escaped, so "x reason=clean" becomes "x reason\\x3dclean" and a reader (or
    `grep reason=clean`) can never mistake it for a field."""
    text = text[:limit]
    if text and _BARE.fullmatch(text):
        return text
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif c == "=" or c < " " or c == "\x7f":
            out.append(f"\\x{ord(c):02x}")
        elif c > "~":
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|.)")


def unquote(value: str) -> str:
    """logval()'s inverse: the text a quoted value (from the log line or the header) stands for."""
    if not (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        return value
    return _ESCAPE.sub(lambda m: chr(int(m[1][1:], 16)) if len(m[1]) > 1 else m[1], value[1:-1])


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action  # what the policy says (in dry_run: what would have been done)
    reason: (
        str  # clean, link_found, not_citizen_bound, not_our_sender, not_policed_listener, too_large, error,
        # unscannable
    )
    mode: str
    ref: str
    citizen_domains: int = 0
    finding: Link | None = None
    findings: int = 0
    error: str = ""
    dkim: DkimResult | None = None
    exceptions: tuple[str, ...] = ()  # names of the [[exceptions]] that took findings away
    unscanned: Unscanned | None = None  # reason unscannable: the first content that could not be read
    unscannable: int = 0

    @property
    def in_scope(self) -> bool:
        return self.reason not in OUT_OF_SCOPE

    @property
    def applied(self) -> Action:
        """What actually happens to the message."""
        return self.action if self.mode == "enforce" else "accept"


def describe(loc: Location) -> str:
    """Where a link was, in words for the sender ("a link in the text/html part")."""
    cat = loc.category
    if cat == "subject":
        return "a link in the Subject header"
    if cat == "header":
        return f"a link in the {safe(loc.field.removeprefix('header '), 40)} header"
    if cat == "html_attribute":
        attr = loc.field.rsplit(" ", 1)[-1]
        return f"a link in an HTML {safe(attr, 20)} attribute of the {safe(loc.content_type, 40)} part"
    if cat == "attachment":
        return f"a link in an attachment ({safe(loc.content_type, 60) or 'unknown type'})"
    return f"a link in the {safe(loc.content_type, 40)} part"


def describe_unscanned(u: Unscanned) -> str:
    """What could not be checked, in words for the sender: 'encrypted ZIP "forms.zip"' (ASCII;
    double quotes kept, since an SMTP reply may hold them)."""
    return "".join(c if " " <= c <= "~" and c not in "\\%`" else "?" for c in u.detail)[:120]


def sample(link: Link) -> str:
    """Scheme and host only: enough to recognise the link, nothing of its path or query."""
    try:
        parts = urlsplit(link.url)
        host = parts.hostname or ""
    except ValueError:
        return "?"
    if not host.isascii():
        host = ".".join(_idna_label(x) for x in host.split("."))  # Thai IDNs as xn--, not ????
    return safe(f"{parts.scheme}://{host}", 120)


def _idna_label(label: str) -> str:
    if label.isascii():
        return label
    try:
        return label.encode("idna").decode("ascii")
    except UnicodeError:
        try:
            return "xn--" + label.encode("punycode").decode("ascii")
        except UnicodeError:
            return "?"


def dkim_problem(r: DkimResult) -> str:
    """What is wrong with the message's DKIM, in words for the sender."""
    if r.result == "none":
        return "this message has no DKIM signature"
    if r.result == "temperror":
        return "its DKIM key could not be looked up just now"
    return f"its DKIM signature does not count: {safe(r.sender_problem, 200)}"


def dkim_code(r: DkimResult) -> str:
    """RFC 7372: 20 no passing signature, 21 none acceptable, 22 none aligned with the author."""
    if r.result in ("fail", "permerror") and r.domain and not r.aligned:
        return "22"
    if any(x in r.reason for x in ("rsa-sha1", "bits", "l=")):
        return "21"
    return "20"


def error_text(ref: str) -> str:
    return f"Temporary failure in the link check; try again later. Ref {ref}"


def reply_text(cfg: Config, d: Decision) -> str:
    """The one-line SMTP reply text for a decision that refuses or defers the message."""
    deferred = d.applied == "tempfail"
    if d.reason == "link_found" and d.finding is not None:
        if deferred:  # links.action = "tempfail": the sender's server keeps it and retries
            text = (
                "Message deferred: mail from this agency to citizens must not contain links "
                f"(Cabinet resolution of 18 Nov 2025). Found {describe(d.finding.location)}. Your server "
                f"will retry; it is not delivered while it contains the link. Ref {d.ref}"
            )
        else:
            text = cfg.links.reject_text.replace("{where}", describe(d.finding.location)).replace(
                "{ref}", d.ref
            )
    elif d.reason == "dkim_temperror" and deferred:
        text = (
            "Message deferred: the DKIM signature of its From domain could not be checked just now "
            f"(key lookup failed); your server will retry. Ref {d.ref}"
        )
    elif d.reason.startswith("dkim_") and d.dkim is not None:
        if deferred:
            text = (
                "Message deferred: mail from this agency to citizens must carry a valid DKIM signature "
                f"of its From domain; {dkim_problem(d.dkim)}. Your server will retry. Ref {d.ref}"
            )
        else:
            text = cfg.dkim.reject_text.replace("{problem}", dkim_problem(d.dkim)).replace("{ref}", d.ref)
    elif d.reason == "unscannable" and d.unscanned is not None:
        if deferred:
            text = (
                "Message deferred: it holds an attachment that could not be checked for links "
                f"({describe_unscanned(d.unscanned)}). Ref {d.ref}"
            )
        else:
            text = (
                "Message refused: mail from this agency to citizens must not contain links, and it holds "
                f"an attachment that could not be checked ({describe_unscanned(d.unscanned)}). "
                f"Send it unencrypted, or without links. Ref {d.ref}"
            )
    elif d.reason == "too_large":
        text = (
            "Message refused: it is larger than the link check accepts "
            f"({cfg.milter.max_message_size} bytes); send it smaller. Ref {d.ref}"
        )
    else:
        text = error_text(d.ref)
    # the admin's text is checked at load (one ASCII line); the parts filled in are already safe()
    return _NOT_PRINTABLE.sub("?", text)[:450].replace("%", "%%")


def smtp_reply(cfg: Config, d: Decision) -> tuple[str, str, str] | None:
    """(code, enhanced code, text) for reject and tempfail; None for accept and quarantine."""
    dk = d.dkim if d.reason.startswith("dkim_") else None
    if d.applied == "reject":
        if d.reason == "too_large":  # a retry cannot help: RFC 3463 5.3.4, message too big for system
            return "552", "5.3.4", reply_text(cfg, d)
        return "550", f"5.7.{dkim_code(dk)}" if dk else "5.7.1", reply_text(cfg, d)
    if d.applied == "tempfail":
        if dk is not None:
            enhanced = "4.4.3" if dk.result == "temperror" else f"4.7.{dkim_code(dk)}"
        else:
            enhanced = "4.7.1" if d.reason in ("link_found", "unscannable") else "4.3.0"
        return "451", enhanced, reply_text(cfg, d)
    return None


def header_value(d: Decision) -> str:
    # where= as the log line writes it: quoted, escaped, lossless (a "›" or a quote is \u203a, \")
    where = f"; where={_quoted(str(d.finding.location))}" if d.finding is not None else ""
    if d.unscanned is not None:
        where = f"; where={_quoted(str(d.unscanned.location))}; unscannable={d.unscanned.reason}"
    dk = f"; dkim={d.dkim.result}" if d.dkim is not None else ""
    mode = "" if d.mode == "enforce" else f"; mode={d.mode}"
    return f"{d.action}; reason={d.reason}{where}{dk}; ref={d.ref}{mode}"


def authserv_id(cfg: Config) -> str:
    """milter.authserv_id, or this host's name."""
    return cfg.milter.authserv_id or socket.gethostname() or "localhost"


_COMMENT = re.compile(r"^\s*(?:\([^()]*\)\s*)*")


def authserv_of(value: str) -> str:
    """The authserv-id an Authentication-Results value starts with ("" if none), lower-cased."""
    rest = _COMMENT.sub("", value.replace("\r\n", " ").replace("\n", " "))
    m = re.match(r"[^\s;()]+", rest)
    return m.group(0).lower().rstrip(".") if m else ""


def _ar_value(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9._+-]+", text):
        return text
    return '"' + safe(text, 120) + '"'


def _ar_method(r: DkimResult) -> str:
    out = f"dkim={r.result}"
    if r.result != "pass" and r.sender_problem:
        out += f" reason={_ar_value(r.sender_problem)}"
    if r.domain:
        out += f" header.d={_ar_value(r.domain)}"
    if r.selector:
        out += f" header.s={_ar_value(r.selector)}"
    if r.algorithm:
        out += f" header.a={_ar_value(r.algorithm)}"
    return out


def auth_results(authserv: str, d: Decision) -> str:
    """The Authentication-Results value (RFC 8601) for a message nolink lets through or holds:
    nolink's DKIM result for each signature (as nolink counts them: alignment and key rules
    included), "dkim=none" for none, or "none" when DKIM was not checked."""
    r = d.dkim
    if r is None:
        return f"{authserv}; none"
    if r.signatures:
        methods = [_ar_method(x) for x in r.signatures]
    elif r.result == "none":
        methods = ["dkim=none"]
    else:  # no single From, or a message dkimpy cannot parse: no signature to name
        methods = [_ar_method(r)]
    return f"{authserv}; " + "; ".join(methods)


def decide(
    cfg: Config,
    env: Envelope,
    result: ScanResult | None,
    ref: str,
    size: int = 0,
    error: str = "",
    dkim: DkimResult | None = None,
    today: datetime.date | None = None,
) -> Decision:
    """The verdict. result is None when the message was not scanned (out of scope, too large, error).

    Named exceptions take their findings away first; the rest of the verdict is as if those links
    had never been there (their names stay on the Decision, for the log, journal and metrics)."""
    mode = cfg.mode
    why_not = out_of_scope(env, cfg.scope)
    n_citizen = len(citizen_domains(env.recipients, cfg.scope.internal_domains))
    if why_not:
        return Decision("accept", why_not, mode, ref, n_citizen)
    if error:
        return Decision(_on_error(cfg), "error", mode, ref, n_citizen, error=error)
    if size > cfg.milter.max_message_size:
        # a retry cannot make it smaller: refused (552 5.3.4), unless on_error lets unchecked mail go
        too_large: Action = "accept" if cfg.milter.on_error == "accept" else "reject"
        return Decision(too_large, "too_large", mode, ref, n_citizen)
    if result is None:
        return Decision(_on_error(cfg), "error", mode, ref, n_citizen, error="not scanned")
    findings: tuple[Link, ...] = result.findings
    used: tuple[str, ...] = ()
    if cfg.exceptions and findings:
        findings, used = allowlist.apply(
            cfg.exceptions, env, cfg.scope.internal_domains, findings, today or datetime.date.today()
        )
    if findings:
        action: Action = cfg.links.action  # type: ignore[assignment]
        return Decision(
            action, "link_found", mode, ref, n_citizen, findings[0], len(findings), exceptions=used
        )
    if result.errors:
        return Decision(
            _on_error(cfg), "error", mode, ref, n_citizen, error=result.errors[0], exceptions=used
        )
    unscannable: Decision | None = None
    if result.unscannable:
        act: Action = cfg.links.on_unscannable  # type: ignore[assignment]
        unscannable = Decision(
            act,
            "unscannable",
            mode,
            ref,
            n_citizen,
            unscanned=result.unscannable[0],
            unscannable=len(result.unscannable),
            exceptions=used,
        )
        if act != "accept":
            return unscannable
        # accepted anyway: DKIM still decides below
    if cfg.dkim.enabled and dkim is None:
        return Decision(
            _on_error(cfg), "error", mode, ref, n_citizen, error="DKIM not checked", exceptions=used
        )
    if dkim is not None and dkim.result != "pass":
        return Decision(
            dkim_action(cfg, dkim), f"dkim_{dkim.result}", mode, ref, n_citizen, dkim=dkim, exceptions=used
        )
    if unscannable is not None:
        return replace(unscannable, dkim=dkim)
    return Decision("accept", "clean", mode, ref, n_citizen, dkim=dkim, exceptions=used)


def dkim_action(cfg: Config, r: DkimResult) -> Action:
    """OpenDKIM-style per-result actions: on_unaligned (a signature by another domain), then
    on_none, on_fail, on_permerror, on_temperror; each empty one falls back to dkim.action."""
    c = cfg.dkim
    if r.result == "temperror":
        act = c.on_temperror
    elif r.result in ("fail", "permerror") and r.domain and not r.aligned:
        act = c.on_unaligned or c.action
    else:
        act = {"none": c.on_none, "fail": c.on_fail, "permerror": c.on_permerror}.get(
            r.result, ""
        ) or c.action
    return act  # type: ignore[return-value]


def _on_error(cfg: Config) -> Action:
    return "tempfail" if cfg.milter.on_error == "tempfail" else "accept"


def _quoted(text: str, limit: int = 160) -> str:
    """Always in quotes (free text), escaped as logval() does."""
    v = logval(text, limit)
    return v if v.startswith('"') else f'"{v}"'


def log_line(d: Decision, queue_id: str, size: int, seconds: float) -> str:
    """One key=value line per decided message; no bodies, no addresses, no full URLs."""
    fields = [
        f"qid={safe(queue_id, 32) or '-'}",
        f"action={d.action}",
        f"mode={d.mode}",
        f"reason={d.reason}",
        f"ref={d.ref}",
        f"rcpt_domains={d.citizen_domains}",
    ]
    if d.mode != "enforce":
        fields.append(f"applied={d.applied}")
    if d.finding is not None:
        fields += [
            f"where={_quoted(str(d.finding.location))}",
            f"sample={logval(sample(d.finding), 120)}",
            f"links={d.findings}",
        ]
    if d.unscanned is not None:
        fields += [
            f"where={_quoted(str(d.unscanned.location))}",
            f"unscannable={d.unscanned.reason}",
            f"detail={_quoted(d.unscanned.detail, 120)}",
            f"unscannable_parts={d.unscannable}",
        ]
    if d.dkim is not None:
        fields.append(f"dkim={d.dkim.result}")
        if d.dkim.domain:
            fields.append(f"dkim_d={logval(d.dkim.domain, 80)} dkim_s={logval(d.dkim.selector, 40)}")
        if d.dkim.result != "pass":
            fields.append(f"dkim_reason={_quoted(d.dkim.reason)}")
    if d.error:
        fields.append(f"error={_quoted(d.error)}")
    if d.exceptions:
        fields.append(f"exception={','.join(d.exceptions)}")
    fields += [f"size={size}", f"ms={seconds * 1000:.1f}"]
    return " ".join(fields)
