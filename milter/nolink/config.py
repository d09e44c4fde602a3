"""Configuration: TOML into frozen dataclasses, validated key by key.

Every error names the key, the value given and what is allowed, e.g.
``links.action = "bounce": use one of reject, quarantine, tempfail, accept``.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_origin, get_type_hints

from .errors import ConfigError

DEFAULT_PATH = "/etc/nolink/nolink.toml"
ACTIONS = ("reject", "quarantine", "tempfail", "accept")
DEFAULT_REJECT_TEXT = (
    "Message refused: mail from this agency to citizens must not contain links "
    "(Cabinet resolution of 18 Nov 2025). Found {where}. Remove the link and send again. Ref {ref}"
)
DEFAULT_HEADERS = (
    "Subject",
    "From",
    "To",
    "Cc",
    "Reply-To",
    "Sender",
    "List-*",
    "Content-Base",
    "Content-Location",
    "Organization",
    "Comments",
    "Keywords",
)


def _choice(*allowed: str) -> dict[str, Any]:
    return {"choices": allowed}


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


def cores() -> int:
    """The cores this process may run on: the default number of decision workers."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class MilterConfig:
    socket: str = "unix:/var/spool/postfix/nolink/nolink.sock"
    socket_mode: str = field(default="0660", metadata={"pattern": "octal"})
    spool_threshold: int = field(default=1024 * 1024, metadata=_range(0, 1 << 40))
    on_error: str = field(default="tempfail", metadata=_choice("tempfail", "accept"))
    timeout: float = field(default=60.0, metadata=_range(0.1, 3600))
    max_message_size: int = field(default=64 * 1024 * 1024, metadata=_range(0, 1 << 40))
    dry_run_header: bool = True
    # RFC 8601 authserv-id of the Authentication-Results header nolink adds; "": the host name
    authserv_id: str = field(default="", metadata={"pattern": "authserv_id"})
    # decisions run in this many worker processes (default: one per core)
    workers: int = field(default_factory=cores, metadata=_range(1, 1024))
    # address-space limit of each worker (RLIMIT_AS), bytes; 0: none
    worker_memory: int = field(
        default=2 * 1024**3, metadata={"range": (0, 1 << 44), "min_nonzero": 256 * 1024**2}
    )
    # a worker whose resident size is above this after a message is replaced (it gives memory back:
    # OCR and PDF rendering leave a worker's heap large), bytes; 0: never
    worker_max_rss: int = field(
        default=256 * 1024**2, metadata={"range": (0, 1 << 44), "min_nonzero": 64 * 1024**2}
    )


@dataclass(frozen=True, slots=True)
class ScopeConfig:
    internal_domains: tuple[str, ...] = ()
    sender_domains: tuple[str, ...] = ()
    daemon_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LinksConfig:
    action: str = field(default="reject", metadata=_choice(*ACTIONS))
    reject_text: str = field(default=DEFAULT_REJECT_TEXT, metadata={"pattern": "ascii"})
    count_email: bool = False
    headers: tuple[str, ...] = DEFAULT_HEADERS
    max_depth: int = field(default=100, metadata=_range(1, 10000))
    scan_attachments: bool = True
    max_archive_depth: int = field(default=3, metadata=_range(0, 20))
    max_pdf_pages: int = field(default=50, metadata=_range(0, 100000))
    scan_qr: bool = True
    max_image_pixels: int = field(default=40_000_000, metadata=_range(0, 1 << 34))
    psl_file: str = "bundled"
    # content nolink recognises but cannot open or had to stop reading (encrypted, too deep, budget)
    on_unscannable: str = field(default="reject", metadata=_choice(*ACTIONS))
    # the per-message budget: using one up makes the message unscannable, never clean
    max_total_bytes: int = field(default=50_000_000, metadata=_range(0, 1 << 40))
    max_total_pixels: int = field(default=100_000_000, metadata=_range(0, 1 << 40))
    max_total_pdf_pages: int = field(default=100, metadata=_range(0, 100000))
    max_scan_seconds: float = field(default=10.0, metadata=_range(0.1, 3600))
    # OCR: web addresses printed in images and scanned pages (links/ocr.py)
    ocr: bool = True
    ocr_languages: tuple[str, ...] = field(default=("tha", "eng"), metadata={"pattern": "languages"})
    ocr_budget: float = field(default=6.0, metadata=_range(0, 3600))  # OCR seconds per message
    ocr_cache_size: int = field(default=2000, metadata=_range(0, 10_000_000))  # images remembered


DEFAULT_DKIM_TEXT = (
    "Message refused: mail from this agency to citizens must carry a valid DKIM signature of its "
    "From domain; {problem}. Ask the mail administrator to check DKIM signing. Ref {ref}"
)


def parse_nameserver(text: str) -> tuple[str, int]:
    """ "192.0.2.1", "192.0.2.1:5353", "::1", "[::1]:53" -> (address, port)."""
    t = text.strip()
    if t.startswith("["):
        host, _, rest = t[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif t.count(":") == 1:
        host, port = t.split(":")
    else:
        host, port = t, "53"
    try:
        ipaddress.ip_address(host)
        p = int(port)
        if not 0 < p < 65536:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f'dkim.nameservers: {text!r} is not an address; write "192.0.2.53", "192.0.2.53:5353" '
            'or "[2001:db8::53]:53"'
        ) from None
    return host, p


@dataclass(frozen=True, slots=True)
class DkimConfig:
    enabled: bool = False
    action: str = field(default="reject", metadata=_choice(*ACTIONS))
    on_temperror: str = field(default="tempfail", metadata=_choice(*ACTIONS))
    # as OpenDKIM's On-NoSignature, On-BadSignature, On-KeyNotFound: unset ones take dkim.action
    on_none: str = field(default="", metadata=_choice(*ACTIONS))
    on_fail: str = field(default="", metadata=_choice(*ACTIONS))
    on_permerror: str = field(default="", metadata=_choice(*ACTIONS))
    on_unaligned: str = field(default="", metadata=_choice(*ACTIONS))
    alignment: str = field(default="relaxed", metadata=_choice("relaxed", "strict"))
    min_rsa_bits: int = field(default=1024, metadata=_range(512, 16384))
    max_clock_skew: float = field(default=300.0, metadata=_range(0, 86400))
    nameservers: tuple[str, ...] = field(default=(), metadata={"pattern": "nameservers"})
    timeout: float = field(default=2.0, metadata=_range(0.05, 60))
    budget: float = field(default=5.0, metadata=_range(0.05, 600))
    cache_size: int = field(default=10000, metadata=_range(0, 10_000_000))
    reject_text: str = field(default=DEFAULT_DKIM_TEXT, metadata={"pattern": "ascii"})
    pinned_keys: tuple[tuple[str, str], ...] = field(default=(), metadata={"table": True})

    def __post_init__(self) -> None:
        for k in ("on_none", "on_fail", "on_permerror", "on_unaligned"):  # unset: as dkim.action
            if not getattr(self, k):
                object.__setattr__(self, k, self.action)


def parse_listen(listen: str, key: str = "metrics.listen") -> tuple[str, int] | None:
    """ "127.0.0.1:9428", "[::1]:9428", ":9428" (all IPv4 addresses) -> (address, port); "" -> None."""
    if not listen:
        return None
    host, sep, port = listen.rpartition(":")
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        if not sep or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError
        if bare:
            ipaddress.ip_address(bare)
            if ":" in bare and not host.startswith("["):
                raise ValueError
    except ValueError:
        raise ConfigError(
            f'{key} = {listen!r}: write "HOST:PORT" with an IP address, e.g. "127.0.0.1:9428" '
            'or "[::1]:9428", or "" to turn the endpoint off'
        ) from None
    return bare or "0.0.0.0", int(port)


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    listen: str = field(default="127.0.0.1:9428", metadata={"pattern": "listen"})


@dataclass(frozen=True, slots=True)
class TextApiConfig:
    """POST /v1/check-text, the SMS channel (adapters/textapi.py)."""

    listen: str = field(default="", metadata={"pattern": "text_listen"})  # "": off
    allow_remote: bool = False  # listen on a non-loopback address (put a token in front)
    token_file: str = ""  # a file holding the bearer token clients must send; "": none
    # seconds a connection may take to send each part of a request, or stay idle between two
    timeout: float = field(default=15.0, metadata=_range(0.1, 3600))
    # connections served at once; one more is answered 503 and closed
    max_connections: int = field(default=128, metadata=_range(1, 100_000))


SMS_DIALECTS = ("kannel", "jasmin", "json")
# provider request fields that make the provider add links (URL shortening, click tracking); a
# request that sets one to anything but an empty/false value is refused. Compared without case,
# "_" and "-" (so "ShortenUrls" and "shorten_urls" are one name).
DEFAULT_REFUSE_FIELDS = (
    "shorten_url",
    "shorten_urls",
    "shorturl",
    "tracking_url",
    "track_clicks",
    "click_tracking",
    "link_tracking",
)


@dataclass(frozen=True, slots=True)
class SmsProxyConfig:
    """One [[sms_proxy]] listener: a gateway's own send interface, checked (adapters/smsproxy/)."""

    listen: str = field(default="", metadata={"pattern": "text_listen"})
    dialect: str = field(default="kannel", metadata=_choice(*SMS_DIALECTS))
    upstream: str = ""  # the gateway's or provider's base URL, http:// or https://
    text_field: str = "message"  # json dialect: the field holding the text ("a.b" for nested)
    # nolink's own error or a request it cannot read: "refuse" (an error to the sender) or
    # "forward" (sent on unchecked). An upstream that cannot be reached is always an error.
    on_error: str = field(default="refuse", metadata=_choice("refuse", "forward"))
    allow_remote: bool = False  # listen on a non-loopback address (put TLS and a firewall in front)
    refuse_fields: tuple[str, ...] = DEFAULT_REFUSE_FIELDS
    client_timeout: float = field(default=10.0, metadata=_range(0.1, 600))  # seconds per read from a sender
    upstream_timeout: float = field(default=30.0, metadata=_range(0.1, 600))
    max_connections: int = field(default=256, metadata=_range(1, 100_000))  # concurrent senders


@dataclass(frozen=True, slots=True)
class JournalConfig:
    path: str = "/var/lib/nolink/journal.sqlite"  # "" turns the journal off
    retention_days: int = field(default=400, metadata=_range(1, 36600))
    queue_size: int = field(default=10000, metadata=_range(10, 10_000_000))


SSLMODES = ("", "disable", "allow", "prefer", "require", "verify-ca", "verify-full")


@dataclass(frozen=True, slots=True)
class CentralConfig:
    """[central]: the record shared by several relays on PostgreSQL (nolink/central/). dsn = "": off."""

    dsn: str = (
        ""  # a libpq connection string ("host=db.example.go.th dbname=nolink user=relay1") or "service=NAME"
    )
    password_file: str = (
        ""  # a file whose first line is the password; "": libpq's own (PGPASSFILE, ~/.pgpass)
    )
    relay_id: str = field(default="", metadata={"pattern": "relay_id"})  # "": this host's name
    postfix_config_dir: str = ""  # the Postfix instance release requests act on; "": Postfix's default
    # passed to libpq as they are ("": libpq's default, or what the dsn says)
    sslmode: str = field(default="", metadata=_choice(*SSLMODES))
    sslrootcert: str = ""
    sslcert: str = ""
    sslkey: str = ""
    retention_days: int = field(default=400, metadata=_range(1, 36600))
    migrate_at_start: bool = False  # nolink serve creates or upgrades the schema (needs the owner's rights)
    batch_size: int = field(default=1000, metadata=_range(1, 100000))  # rows per INSERT transaction
    connect_timeout: int = field(default=5, metadata=_range(1, 600))  # seconds, libpq's connect_timeout
    request_timeout: float = field(
        default=60.0, metadata=_range(0, 86400)
    )  # quarantine release waits this long
    poll_seconds: float = field(default=30.0, metadata=_range(0.2, 3600))  # requests and hold-queue snapshot


@dataclass(frozen=True, slots=True)
class NamedException:
    """One [[exceptions]] entry: links to link_host (or, without it, every link) in mail that
    matches all the given conditions do not count, until the end of the day `until`."""

    name: str
    reason: str = ""
    sender: str = ""  # an envelope sender address, lower-case
    sender_domain: str = ""  # the envelope sender's domain, exactly
    recipient_domain: str = ""  # every citizen recipient domain must be this one
    link_host: str = ""  # a link to exactly this host name
    until: datetime.date | None = None

    def expired(self, today: datetime.date) -> bool:
        return self.until is not None and today > self.until


@dataclass(frozen=True, slots=True)
class Config:
    mode: str = field(default="enforce", metadata=_choice("enforce", "dry_run"))
    milter: MilterConfig = MilterConfig()
    scope: ScopeConfig = ScopeConfig()
    links: LinksConfig = LinksConfig()
    dkim: DkimConfig = DkimConfig()
    metrics: MetricsConfig = MetricsConfig()
    text_api: TextApiConfig = TextApiConfig()
    journal: JournalConfig = JournalConfig()
    central: CentralConfig = CentralConfig()
    exceptions: tuple[NamedException, ...] = field(default=(), metadata={"exceptions": True})
    sms_proxy: tuple[SmsProxyConfig, ...] = field(default=(), metadata={"sms_proxy": True})
    source: str = field(default="(defaults)", compare=False, metadata={"internal": True})
    digest: str = field(default="", compare=False, metadata={"internal": True})


def _describe(t: Any) -> str:
    if get_origin(t) is tuple:
        return "a list of strings"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(t, str(t))


def _check_value(key: str, t: Any, meta: Any, value: Any) -> Any:
    if meta.get("table"):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(
                f'{key} must be a table of strings: write [{key}] and then "name" = "value" lines'
            )
        return tuple(sorted((k.lower().rstrip("."), v) for k, v in value.items()))
    if get_origin(t) is tuple:
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(f'{key} = {value!r}: expected {_describe(t)}, e.g. ["go.th"]')
        if meta.get("pattern") == "nameservers":
            for n in value:
                parse_nameserver(n)
        if meta.get("pattern") == "languages":
            bad = [x for x in value if not x or not all(c.isascii() and (c.isalnum() or c == "_") for c in x)]
            if bad or not value:
                raise ConfigError(
                    f'{key} = {value!r}: list Tesseract language names, e.g. ["tha", "eng"] '
                    "(Debian packages tesseract-ocr-tha, tesseract-ocr-eng)"
                )
        return tuple(value)
    ok = (
        isinstance(value, bool)
        if t is bool
        else isinstance(value, int) and not isinstance(value, bool)
        if t is int
        else isinstance(value, (int, float)) and not isinstance(value, bool)
        if t is float
        else isinstance(value, t)
    )
    if not ok:
        raise ConfigError(f"{key} = {value!r}: expected {_describe(t)}")
    if t is float:
        value = float(value)
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{key} = {value!r}: use one of {', '.join(meta['choices'])}")
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(f"{key} = {value!r}: must be between {lo} and {hi}")
    if meta.get("min_nonzero") and 0 < value < meta["min_nonzero"]:
        raise ConfigError(
            f"{key} = {value!r}: a worker needs at least {meta['min_nonzero']} bytes of address space "
            "(256 MiB); use 0 for no limit"
        )
    if meta.get("pattern") == "octal":
        try:
            if not 0 <= int(value, 8) <= 0o777:
                raise ValueError
        except ValueError:
            raise ConfigError(f'{key} = {value!r}: expected an octal file mode such as "0660"') from None
    if meta.get("pattern") == "listen":
        parse_listen(value)
    if (
        meta.get("pattern") == "authserv_id"
        and value
        and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", value)
    ):
        raise ConfigError(
            f'{key} = {value!r}: write a host name such as "mail.example.go.th" (or "" for this host\'s name)'
        )
    if (
        meta.get("pattern") == "relay_id"
        and value
        and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", value)
    ):
        raise ConfigError(
            f'{key} = {value!r}: write a short name of letters, digits, ".", "_" or "-" such as "relay1" '
            '(or "" for this host\'s name)'
        )
    if meta.get("pattern") == "text_listen":
        parse_listen(value, key)
    if meta.get("pattern") == "ascii" and (not value.isascii() or any(c in value for c in "\r\n")):
        raise ConfigError(f"{key}: SMTP replies must be one line of ASCII; remove non-ASCII characters")
    return value


def _build(cls: type, table: dict[str, Any], prefix: str) -> Any:
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(table) - set(known))
    if unknown:
        where = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]} in {where}; known keys: {', '.join(sorted(known))}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in table.items():
        f = known[name]
        t = hints[name]
        key = prefix + name
        if f.metadata.get("exceptions"):
            kwargs[name] = _exceptions(value)
        elif f.metadata.get("sms_proxy"):
            kwargs[name] = _sms_proxies(value)
        elif is_dataclass(t) and not f.metadata.get("table"):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table: write [{key}] on its own line")
            kwargs[name] = _build(t, value, key + ".")  # type: ignore[arg-type]
        else:
            kwargs[name] = _check_value(key, t, f.metadata, value)
    return cls(**kwargs)


EXCEPTION_KEYS = ("name", "reason", "sender", "sender_domain", "recipient_domain", "link_host", "until")
CONDITIONS = ("sender", "sender_domain", "recipient_domain", "link_host")


def _exception(i: int, entry: Any) -> NamedException:
    where = f"exceptions[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: write each exception as an [[exceptions]] table")
    unknown = sorted(set(entry) - set(EXCEPTION_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]} in {where}; known keys: {', '.join(EXCEPTION_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError(
            f'{where}.name = {name!r}: every exception needs a name of letters, digits, "-", "_" or "." '
            '(e.g. name = "tax-portal-2026"): it is logged, journaled and a metric label'
        )
    where = f'exception "{name}"'
    values: dict[str, Any] = {"name": name}
    for key in ("reason", *CONDITIONS):
        v = entry.get(key, "")
        if not isinstance(v, str):
            raise ConfigError(f"{where}: {key} = {v!r}: expected a string")
        v = v.strip()
        if key == "sender":
            v = v.strip("<>").lower()
            if v and "@" not in v:
                raise ConfigError(
                    f"{where}: sender = {v!r} is not an address; for a domain use sender_domain"
                )
        elif key != "reason":
            v = v.strip(".").lower()
            if v and ("@" in v or "/" in v or " " in v or ":" in v):
                raise ConfigError(
                    f'{where}: {key} = {v!r}: write a bare host or domain name, e.g. "tax.go.th"'
                )
            if v and not v.isascii():
                try:
                    v = v.encode("idna").decode("ascii")
                except UnicodeError:
                    raise ConfigError(f"{where}: {key} = {v!r} is not a valid domain name") from None
        values[key] = v
    until = entry.get("until")
    if isinstance(until, str):
        try:
            until = datetime.date.fromisoformat(until)
        except ValueError:
            raise ConfigError(f"{where}: until = {until!r}: write a date, e.g. until = 2026-12-31") from None
    if until is not None and (not isinstance(until, datetime.date) or isinstance(until, datetime.datetime)):
        raise ConfigError(f"{where}: until = {until!r}: write a date, e.g. until = 2026-12-31")
    values["until"] = until
    ex = NamedException(**values)
    if not any(getattr(ex, k) for k in CONDITIONS):
        raise ConfigError(
            f"{where} is empty: it names none of {', '.join(CONDITIONS)} and would exempt every "
            "message; name at least the link_host or the sender it is for"
        )
    if ex.sender and ex.sender_domain and ex.sender.rpartition("@")[2] != ex.sender_domain:
        raise ConfigError(
            f"{where}: sender {ex.sender} is not in sender_domain {ex.sender_domain}: it can never apply"
        )
    return ex


def _same_or_unset(a: str, b: str) -> bool:
    return not a or not b or a == b


def overlap(a: NamedException, b: NamedException) -> bool:
    """True when one message and one link could match both exceptions."""
    sa = a.sender.rpartition("@")[2] or a.sender_domain
    sb = b.sender.rpartition("@")[2] or b.sender_domain
    return (
        _same_or_unset(a.sender, b.sender)
        and _same_or_unset(sa, sb)
        and _same_or_unset(a.recipient_domain, b.recipient_domain)
        and _same_or_unset(a.link_host, b.link_host)
    )


def _exceptions(value: Any) -> tuple[NamedException, ...]:
    if not isinstance(value, list):
        raise ConfigError("exceptions must be a list of tables: write [[exceptions]] before each one")
    out = tuple(_exception(i, e) for i, e in enumerate(value))
    for i, a in enumerate(out):
        for b in out[:i]:
            if a.name == b.name:
                raise ConfigError(
                    f'exceptions: the name "{a.name}" is used twice; give each a name of its own'
                )
            if overlap(a, b):
                raise ConfigError(
                    f'exceptions "{b.name}" and "{a.name}" overlap (one message could match both): '
                    "narrow one of them or merge them, so each use is counted under one name"
                )
    return out


def _sms_proxy(i: int, entry: Any) -> SmsProxyConfig:
    where = f"sms_proxy[{i}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: write each SMS proxy as an [[sms_proxy]] table")
    p: SmsProxyConfig = _build(SmsProxyConfig, entry, where + ".")
    addr = parse_listen(p.listen, f"{where}.listen")
    if addr is None:
        raise ConfigError(f'{where}.listen is missing: write listen = "127.0.0.1:13013" (HOST:PORT)')
    if not p.allow_remote and not ipaddress.ip_address(addr[0]).is_loopback:
        raise ConfigError(
            f"{where}.listen = {p.listen!r} is not a loopback address: applications on this host reach "
            '"127.0.0.1:PORT"; to accept other hosts, set allow_remote = true (and put TLS in front)'
        )
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", p.upstream):
        raise ConfigError(
            f"{where}.upstream = {p.upstream!r}: write the gateway's base URL, e.g. "
            '"http://127.0.0.1:13014" (Kannel smsbox) or "https://api.example.com"'
        )
    if p.dialect == "json" and (not p.text_field or any(not x for x in p.text_field.split("."))):
        raise ConfigError(f'{where}.text_field = {p.text_field!r}: name the field, e.g. "message"')
    return p


def _sms_proxies(value: Any) -> tuple[SmsProxyConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError("sms_proxy must be a list of tables: write [[sms_proxy]] before each one")
    out = tuple(_sms_proxy(i, e) for i, e in enumerate(value))
    seen: set[tuple[str, int] | None] = set()
    for i, p in enumerate(out):
        addr = parse_listen(p.listen)
        if addr in seen:
            raise ConfigError(f"sms_proxy[{i}].listen = {p.listen!r} is used twice: give each its own port")
        seen.add(addr)
    return out


def _normalise_domains(cfg: Config) -> Config:
    def norm(key: str, values: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for v in values:
            d = v.strip().strip(".").lower()
            if not d or " " in d or "@" in d:
                raise ConfigError(f'scope.{key}: {v!r} is not a domain name (write e.g. "go.th")')
            if "*" in d or "?" in d:
                fixed = d.replace("*", "").replace("?", "").strip(".") or "go.th"
                raise ConfigError(
                    f"scope.{key}: {v!r} can never match: entries are not patterns, they match whole "
                    f'labels already; write "{fixed}" (it covers every domain below it)'
                )
            if any(c in d for c in "/:[]<>,;\"'"):
                raise ConfigError(
                    f'scope.{key}: {v!r} is not a domain name; write only the domain, e.g. "go.th"'
                )
            try:
                d = d.encode("idna").decode("ascii") if not d.isascii() else d
            except UnicodeError:
                raise ConfigError(f"scope.{key}: {v!r} is not a valid internationalised domain") from None
            out.append(d)
        return tuple(out)

    scope = replace(
        cfg.scope,
        internal_domains=norm("internal_domains", cfg.scope.internal_domains),
        sender_domains=norm("sender_domains", cfg.scope.sender_domains),
    )
    return replace(cfg, scope=scope)


def _check_text_api(t: TextApiConfig) -> None:
    addr = parse_listen(t.listen, "text_api.listen")
    if addr is None or t.allow_remote:
        return
    if not ipaddress.ip_address(addr[0]).is_loopback:
        raise ConfigError(
            f"text_api.listen = {t.listen!r} is not a loopback address: SMS gateways on this host reach "
            '"127.0.0.1:PORT"; to accept other hosts, set text_api.allow_remote = true (and a token_file)'
        )


def _check_central(table: dict[str, Any], c: CentralConfig) -> CentralConfig:
    """[central] present means on: it needs a dsn, and the password never sits in nolink.toml."""
    if "central" not in table:
        return c
    if not c.dsn.strip():
        raise ConfigError(
            'central.dsn is empty: write a libpq connection string, e.g. dsn = "host=db.example.go.th '
            'dbname=nolink user=nolink_relay", or "service=nolink" (pg_service.conf); or remove [central]'
        )
    if re.search(r"(^|\s)password\s*=|://[^/@:]*:[^/@]*@", c.dsn):
        raise ConfigError(
            "central.dsn contains a password: nolink.toml is readable by the admins and shown by show-config; "
            "put the password in a file named by central.password_file (mode 0600), or in ~/.pgpass"
        )
    if not c.relay_id:
        import socket

        host = socket.gethostname().split(".")[0] or "relay"
        c = replace(c, relay_id=host[:63])
    return c


def parse(text: str, source: str = "(string)") -> Config:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML: {e}") from None
    try:
        cfg = _build(Config, table, "")
        cfg = _normalise_domains(cfg)
        _check_text_api(cfg.text_api)
        cfg = replace(cfg, central=_check_central(table, cfg.central))
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return replace(cfg, source=source, digest=hashlib.sha256(text.encode()).hexdigest()[:12])


def load(path: str | Path | None = None) -> Config:
    """Load a config file. None: DEFAULT_PATH when it exists, else the built-in defaults."""
    if path is None:
        if not Path(DEFAULT_PATH).exists():
            return Config()
        path = DEFAULT_PATH
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such file; give an existing file with -c") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {e}") from None
    return parse(text, str(p))


def as_dict(cfg: Any) -> dict[str, Any]:
    """The effective config as plain TOML-able values (for show-config and JSON)."""
    out: dict[str, Any] = {}
    for f in fields(cfg):
        if f.metadata.get("internal"):
            continue
        v = getattr(cfg, f.name)
        if f.metadata.get("table"):
            out[f.name] = dict(v)
        elif f.metadata.get("exceptions"):
            out[f.name] = [
                {k: getattr(e, k) for k in EXCEPTION_KEYS if getattr(e, k) not in ("", None)} for e in v
            ]
        elif f.metadata.get("sms_proxy"):
            out[f.name] = [as_dict(p) for p in v]
        else:
            out[f.name] = as_dict(v) if is_dataclass(v) else list(v) if isinstance(v, tuple) else v
    return out
