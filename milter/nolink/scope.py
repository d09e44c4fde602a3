"""Which messages nolink polices: citizen-bound mail from our senders on our listeners."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import ScopeConfig


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the MTA told us about one message, addresses as given (with or without <>)."""

    sender: str = ""
    recipients: tuple[str, ...] = ()
    daemon_name: str = ""
    from_domains: tuple[str, ...] = ()  # domains of the From header(s)


def domain_of(address: str) -> str:
    """The domain of an address, lower-case, IDN as punycode ("" when there is none)."""
    a = address.strip().strip("<>").strip()
    if "@" not in a:
        return ""
    d = a.rpartition("@")[2].strip().strip(".").lower()
    if d.startswith("[") or d.isascii():
        return d
    try:
        return d.encode("idna").decode("ascii")
    except UnicodeError:
        return d


def under(domain: str, parents: Iterable[str]) -> bool:
    """True when domain equals one of parents or sits below it on whole labels."""
    return bool(domain) and any(domain == p or domain.endswith("." + p) for p in parents)


def citizen_domains(recipients: Iterable[str], internal: tuple[str, ...]) -> set[str]:
    """Recipient domains outside the internal ones (all of them when none are configured)."""
    domains = {domain_of(r) for r in recipients}
    return {d for d in domains if not under(d, internal)}


def out_of_scope(env: Envelope, cfg: ScopeConfig) -> str:
    """The reason a message is not policed, or "" when it is.

    A message to internal and citizen recipients together is citizen-bound as a whole: one
    SMTP transaction gets one answer, and the citizen copy must not leave with a link.
    """
    if cfg.daemon_names and env.daemon_name not in cfg.daemon_names:
        return "not_policed_listener"
    if cfg.sender_domains:
        senders = {domain_of(env.sender), *env.from_domains}
        if not any(under(d, cfg.sender_domains) for d in senders):
            return "not_our_sender"
    if not citizen_domains(env.recipients, cfg.internal_domains):
        return "not_citizen_bound"
    return ""
