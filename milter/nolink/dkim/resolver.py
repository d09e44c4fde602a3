"""DNS for DKIM keys: our own resolver, explicit outcomes, a TTL cache shared by threads.

Outcomes are never guessed: a time-out or SERVFAIL is TEMP (the message gets a temperror, never a
fail); NXDOMAIN or no TXT record is NOTFOUND (permerror). Pinned keys (dkim.pinned_keys) answer
without DNS.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.resolver

from ..config import parse_nameserver

Status = Literal["ok", "notfound", "temp"]
NEGATIVE_TTL = 60.0
MIN_TTL, MAX_TTL = 30.0, 3600.0


@dataclass(frozen=True, slots=True)
class Answer:
    status: Status
    record: bytes = b""  # the DKIM key record (TXT strings joined), when status is ok
    detail: str = ""
    source: Literal["dns", "cache", "pinned"] = "dns"
    ttl: float = 0.0  # seconds the answer may be cached (0: MIN_TTL)


class TtlCache:
    """A bounded LRU of answers that expire with their TTL. Thread-safe."""

    def __init__(self, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.size = size
        self.clock = clock
        self._d: OrderedDict[str, tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Answer | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is None:
                return None
            if hit[0] <= self.clock():
                del self._d[key]
                return None
            self._d.move_to_end(key)
            return hit[1]

    def put(self, key: str, answer: Answer, ttl: float) -> None:
        if self.size <= 0 or ttl <= 0:
            return
        with self._lock:
            self._d[key] = (self.clock() + ttl, answer)
            self._d.move_to_end(key)
            while len(self._d) > self.size:
                self._d.popitem(last=False)

    def __len__(self) -> int:
        return len(self._d)


def pick_key_record(strings: list[bytes]) -> bytes:
    """Of several TXT records, the DKIM key (v=DKIM1 or p=); dkimpy's own lookup takes the first."""
    for s in strings:
        if s.lstrip().startswith(b"v=DKIM1"):
            return s
    for s in strings:
        if b"p=" in s:
            return s
    return strings[0] if strings else b""


Lookup = Callable[[str, float], Answer]


class KeyResolver:
    """Finds DKIM key records: pinned keys, then the cache, then DNS."""

    def __init__(
        self,
        nameservers: tuple[str, ...] = (),
        timeout: float = 2.0,
        cache_size: int = 10000,
        pinned: dict[str, bytes] | None = None,
        lookup: Lookup | None = None,
        observer: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.timeout = timeout
        self.pinned = {k.lower().rstrip("."): v for k, v in (pinned or {}).items()}
        self.cache = TtlCache(cache_size)
        self.observer = observer  # (outcome, source, seconds): metrics hook
        self._lookup = lookup or self._dns_lookup
        if lookup is None:
            r = dns.resolver.Resolver(configure=not nameservers)
            if nameservers:
                pairs = [parse_nameserver(n) for n in nameservers]
                r.nameservers = [h for h, _ in pairs]
                r.nameserver_ports = {h: p for h, p in pairs}
            r.timeout = timeout
            r.lifetime = timeout
            r.cache = None  # ours, with its own bounds
            self._resolver = r

    def _dns_lookup(self, name: str, timeout: float) -> Answer:
        try:
            ans = self._resolver.resolve(name, "TXT", lifetime=timeout, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return Answer("notfound", detail="NXDOMAIN")
        except (dns.resolver.NoNameservers, dns.exception.Timeout) as e:
            return Answer("temp", detail=type(e).__name__)
        except dns.exception.DNSException as e:
            return Answer("temp", detail=type(e).__name__)
        if ans.rrset is None:
            return Answer("notfound", detail="no TXT record")
        strings = [b"".join(rd.strings) for rd in ans.rrset]
        return Answer("ok", pick_key_record(strings), ttl=float(ans.rrset.ttl))

    def lookup(self, name: str, deadline: float) -> Answer:
        """The key record at name (s._domainkey.d), within deadline (time.monotonic())."""
        key = name.lower().rstrip(".")
        pinned = self.pinned.get(key)
        if pinned is not None:
            return Answer("ok", pinned, source="pinned")
        hit = self.cache.get(key)
        if hit is not None:
            self._observe(hit.status, "cache", 0.0)
            return hit
        left = min(self.timeout, deadline - time.monotonic())
        if left <= 0:
            return Answer("temp", detail="per-message DNS budget used up")
        return self._fetch(key, left)

    def dns_only(self, name: str, deadline: float) -> Answer:
        """DNS (or cache) even for a pinned name: to notice a pinned key that no longer matches DNS."""
        key = name.lower().rstrip(".")
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        left = min(self.timeout, deadline - time.monotonic())
        ans = self._fetch(key, left) if left > 0 else Answer("temp", detail="per-message DNS budget used up")
        if ans.status == "temp":  # the pinned key decides; do not pay the time-out on every message
            self.cache.put(key, Answer("temp", detail=ans.detail, source="cache"), NEGATIVE_TTL)
        return ans

    def _fetch(self, key: str, timeout: float) -> Answer:
        t = time.monotonic()
        ans = self._lookup(key, timeout)
        self._observe(ans.status, "dns", time.monotonic() - t)
        if ans.status == "notfound":
            self.cache.put(key, Answer("notfound", detail=ans.detail, source="cache"), NEGATIVE_TTL)
        elif ans.status == "ok":
            ttl = min(max(ans.ttl, MIN_TTL), MAX_TTL)
            self.cache.put(key, Answer("ok", ans.record, source="cache"), ttl)
        return ans

    def _observe(self, status: str, source: str, seconds: float) -> None:
        if self.observer is not None:
            self.observer(status, source, seconds)
