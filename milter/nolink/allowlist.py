"""Named exceptions ([[exceptions]] in the config): which findings of a message they take away.

An exception is narrow by construction: every condition it names must hold (sender, sender
domain, every citizen recipient domain), and with link_host only links to exactly that host are
taken away. Expired exceptions (the day after `until`) take nothing away.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from urllib.parse import urlsplit

from .config import NamedException
from .findings import Link
from .scope import Envelope, citizen_domains, domain_of


def link_host(link: Link) -> str:
    """The host a link leads to, lower-case, without a trailing dot ("" when it has none)."""
    try:
        return (urlsplit(link.url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


def message_matches(ex: NamedException, env: Envelope, internal: tuple[str, ...]) -> bool:
    """Do the sender and recipient conditions of ex hold for this envelope?"""
    sender = env.sender.strip().strip("<>").strip().lower()
    if ex.sender and sender != ex.sender:
        return False
    if ex.sender_domain and domain_of(sender) != ex.sender_domain:
        return False
    if ex.recipient_domain:
        domains = citizen_domains(env.recipients, internal)
        if not domains or domains != {ex.recipient_domain}:
            return False
    return True


def apply(
    exceptions: Iterable[NamedException],
    env: Envelope,
    internal: tuple[str, ...],
    findings: tuple[Link, ...],
    today: datetime.date,
) -> tuple[tuple[Link, ...], tuple[str, ...]]:
    """(the findings that still count, the names of the exceptions that took some away)."""
    active = [e for e in exceptions if not e.expired(today) and message_matches(e, env, internal)]
    if not active or not findings:
        return findings, ()
    kept: list[Link] = []
    used: list[str] = []
    for link in findings:
        host = link_host(link)
        ex = next((e for e in active if not e.link_host or e.link_host == host), None)
        if ex is None:
            kept.append(link)
        elif ex.name not in used:
            used.append(ex.name)
    return tuple(kept), tuple(used)
