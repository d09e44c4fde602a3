"""DKIM verification of citizen-bound mail, with dkimpy, under rules stricter than dkimpy's own.

A signature counts (pass) only if it verifies and: d= is aligned with the From domain (relaxed:
same organisational domain by the PSL; strict: equal); the algorithm is rsa-sha256 with a key of at
least dkim.min_rsa_bits, or ed25519-sha256 (never rsa-sha1, RFC 8301); From is in h=; l=, if any,
covers the whole canonical body; x= has not passed; t= is not in the future (beyond
dkim.max_clock_skew); the key record's k= and h= agree with the signature. A message with more than
one From header, or a From with several addresses, never passes.

The message result is the best over all signatures: pass > temperror > fail > permerror > none.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import dkim
import dkim.util
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList

from ..config import DkimConfig
from ..decode import header_text
from .resolver import KeyResolver
from .speed import install as _faster_dkimpy

if TYPE_CHECKING:  # the milter process, which does not scan, need not load the PSL library
    from ..psl import PublicSuffixList

_faster_dkimpy()  # same results, ~0.8 ms less per RSA verification (see dkimspeed.py)

log = logging.getLogger("nolink")
Result = Literal["pass", "fail", "none", "temperror", "permerror"]
RANK = {"pass": 0, "temperror": 1, "fail": 2, "permerror": 3, "none": 4}
ALGORITHMS = {b"rsa-sha256": b"rsa", b"ed25519-sha256": b"ed25519"}


@dataclass(frozen=True, slots=True)
class DkimResult:
    result: Result
    reason: str = ""
    domain: str = ""
    selector: str = ""
    algorithm: str = ""
    key_bits: int = 0
    aligned: bool = False
    from_domain: str = ""
    # what is wrong in words fit for the sender: no library internals and none of the signature's
    # or the key record's own text (d=, s=, a=, k= are the sender's words; the log quotes them);
    # "" when reason says it in nolink's words only
    problem: str = ""
    # every signature's own result, in header order (for Authentication-Results)
    signatures: tuple[DkimResult, ...] = ()

    @property
    def sender_problem(self) -> str:
        return self.problem or self.reason

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "aligned": self.aligned,
            "domain": self.domain,
            "selector": self.selector,
            "algorithm": self.algorithm,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class DkimPolicy:
    alignment: str = "relaxed"
    min_rsa_bits: int = 1024
    max_clock_skew: float = 300.0
    budget: float = 5.0


def _tags(record: bytes) -> dict[bytes, bytes]:
    try:
        # dkim.util's, looked up per call: speed.py's cached one (bench/dkim_verify.py --ab swaps it)
        return {k.lower(): v for k, v in dkim.util.parse_tag_value(record).items()}
    except InvalidTagValueList:
        return {}


def from_domain(headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    """(domain, problem): the RFC 5322 From domain, or why there is no single one."""
    froms = [v for k, v in headers if k.lower() == b"from"]
    if not froms:
        return "", "the message has no From header"
    if len(froms) > 1:
        return "", "the message has more than one From header"
    if len(froms[0]) <= _KEPT_FROM_LEN:
        return _kept_from_value_domain(froms[0])
    return _from_value_domain(froms[0])


def _from_value_domain(value: bytes) -> tuple[str, str]:
    """from_domain of one From header's raw value (a pure function of it)."""
    text = header_text(value.decode("utf-8", "surrogateescape"))
    addrs = [a for _, a in email.utils.getaddresses([text]) if a]
    if len(addrs) != 1 or "@" not in addrs[0]:
        return "", "the From header does not hold exactly one address"
    d = addrs[0].rpartition("@")[2].strip().strip(".").lower()
    if not d.isascii():
        try:
            d = d.encode("idna").decode("ascii")
        except UnicodeError:
            return "", "the From domain is not a valid domain name"
    return d, ""


# A relay sees the same few From headers again and again; parsing one (RFC 2047, getaddresses) took
# ~20 us of the ~0.3 ms a verification costs. The last 1024 short ones are kept (at most ~0.5 MB).
_KEPT_FROM_LEN = 256
_kept_from_value_domain = functools.lru_cache(maxsize=1024)(_from_value_domain)
_H_SEPARATOR = re.compile(rb"\s*:\s*")


def _in_words(detail: str) -> str:
    """A dkimpy exception text as the sender may read it: what is wrong, no internals."""
    if detail.startswith("body hash mismatch"):
        return "the signature does not match the message body (the body was changed after signing)"
    for tag in ("t=", "x=", "l=", "i=", "d=", "b=", "bh=", "v=", "q=", "c="):
        if detail.startswith(tag) or f"{tag[:-1]}= " in detail[:12]:
            return f"the signature's {tag} tag is not valid"
    if "algorithm" in detail:
        return "the signature uses an unknown algorithm"
    if detail.startswith("missing "):
        return "the signature lacks a required tag"
    return "the signature does not verify"


def verifier_for(cfg: DkimConfig, psl: PublicSuffixList) -> DkimVerifier | None:
    """The verifier a configuration asks for (None when dkim.enabled is false)."""
    if not cfg.enabled:
        return None
    pinned = {k: v.encode("ascii", "replace") for k, v in cfg.pinned_keys}
    resolver = KeyResolver(cfg.nameservers, cfg.timeout, cfg.cache_size, pinned)
    policy = DkimPolicy(cfg.alignment, cfg.min_rsa_bits, cfg.max_clock_skew, cfg.budget)
    return DkimVerifier(resolver, psl, policy)


class DkimVerifier:
    """Verifies messages. One per configuration; thread-safe (a DKIM object per call)."""

    def __init__(
        self, resolver: KeyResolver, psl: PublicSuffixList, policy: DkimPolicy | None = None
    ) -> None:
        self.resolver = resolver
        self.psl = psl
        self.policy = policy or DkimPolicy()
        self.on_pinned_mismatch: Callable[[str], None] | None = None  # metrics hook

    def org(self, domain: str) -> str:
        return self.psl.split(domain).registered or domain

    def aligned(self, d: str, from_dom: str) -> bool:
        if self.policy.alignment == "strict":
            return d == from_dom
        return self.org(d) == self.org(from_dom)

    def verify(self, message: bytes, now: float | None = None) -> DkimResult:
        deadline = time.monotonic() + self.policy.budget
        wall = time.time() if now is None else now
        try:
            d = dkim.DKIM(message, minkey=0, timeout=self.policy.budget)
        except Exception as e:
            return DkimResult("permerror", f"message cannot be parsed for DKIM: {type(e).__name__}")
        fdom, problem = from_domain(d.headers)
        if problem:
            return DkimResult("fail", problem)
        sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
        if not sigs:
            return DkimResult("none", "no DKIM signature", from_domain=fdom)
        best: DkimResult | None = None
        each: list[DkimResult] = []
        for i, raw in enumerate(sigs):
            r = self._one(d, i, raw, fdom, wall, deadline)
            each.append(r)
            if best is None or RANK[r.result] < RANK[best.result]:
                best = r
        assert best is not None
        return replace(best, signatures=tuple(each))

    def _one(self, d: dkim.DKIM, idx: int, raw: bytes, fdom: str, wall: float, deadline: float) -> DkimResult:
        tags = _tags(raw)
        dom = tags.get(b"d", b"").decode("ascii", "replace").lower().strip()
        sel = tags.get(b"s", b"").decode("ascii", "replace").strip()
        alg = tags.get(b"a", b"").strip()

        def res(result: Result, reason: str, bits: int = 0, problem: str = "") -> DkimResult:
            return DkimResult(
                result,
                reason,
                dom,
                sel,
                alg.decode("ascii", "replace"),
                bits,
                bool(dom) and self.aligned(dom, fdom),
                fdom,
                problem,
            )

        if not dom or not sel or not alg or b"b" not in tags or b"bh" not in tags or b"h" not in tags:
            return res("permerror", "signature lacks a required tag (a, b, bh, d, h or s)")
        if alg == b"rsa-sha1":
            return res("fail", "rsa-sha1 signatures are not accepted (RFC 8301)")
        if alg not in ALGORITHMS:
            return res(
                "permerror",
                f"unknown algorithm {alg.decode('ascii', 'replace')}",
                problem="the signature uses an unknown algorithm (a=)",
            )
        signed = [h.strip().lower() for h in _H_SEPARATOR.split(tags[b"h"])]
        if b"from" not in signed:
            return res("fail", "the From header is not signed (not in h=)")
        try:
            if b"x" in tags and int(tags[b"x"]) < wall:
                return res("fail", "signature expired (x=)")
            if b"t" in tags and int(tags[b"t"]) > wall + self.policy.max_clock_skew:
                return res("fail", "signature timestamp t= is in the future")
        except ValueError:
            return res("permerror", "malformed t= or x=")
        if not self.aligned(dom, fdom):
            return res(
                "fail",
                f"d={dom} is not aligned with the From domain {fdom}",
                problem="its signing domain (d=) is not the From domain nor a parent of it",
            )

        name = f"{sel}._domainkey.{dom}"
        ans = self.resolver.lookup(name, deadline)
        if ans.status == "temp":
            return res(
                "temperror", f"key lookup for {name} failed: {ans.detail}", problem="its key lookup failed"
            )
        if ans.status == "notfound":
            return res(
                "permerror",
                f"no key record at {name} ({ans.detail})",
                problem="there is no key record for its selector (s=) in its signing domain (d=)",
            )
        if ans.source == "pinned":
            self._compare_pinned(name, ans.record, deadline)
        bad_key = "the key record for its selector (s=) does not hold a usable key"
        key = _tags(ans.record)
        if not key:
            return res("permerror", f"key record at {name} cannot be parsed", problem=bad_key)
        if not key.get(b"p", b"").strip():
            return res(
                "permerror", f"key at {name} is revoked (empty p=)", problem="its key is revoked (empty p=)"
            )
        ktype = key.get(b"k", b"rsa").strip().lower()
        if ktype != ALGORITHMS[alg]:
            return res(
                "permerror",
                f"key type k={ktype.decode('ascii', 'replace')} does not match a={alg.decode()}",
                problem="its key type (k=) does not match its algorithm (a=)",
            )
        if b"h" in key and b"sha256" not in [x.strip().lower() for x in key[b"h"].split(b":")]:
            return res("permerror", "key record h= does not allow sha256")

        try:
            dkim.evaluate_pk(name.encode(), ans.record)  # dkimpy's verify() would only log a bad key
        except dkim.KeyFormatError as e:
            return res("permerror", f"bad key: {e}", problem=bad_key)
        except Exception as e:
            return res("permerror", f"bad key: {type(e).__name__}", problem=bad_key)

        def dnsfunc(_name: bytes, timeout: float = 0) -> bytes:
            return ans.record

        try:
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.KeyFormatError as e:
            return res("permerror", f"bad key: {e}", problem=bad_key)
        except dkim.DKIMException as e:  # dkimpy's words (hashes, bytes reprs) are for the log only
            return res("fail", f"{e}", problem=_in_words(str(e)))
        except Exception as e:
            return res(
                "permerror",
                f"verification error: {type(e).__name__}",
                problem="the signature cannot be checked",
            )
        bits = int(d.keysize or 0)
        if not ok:
            return res("fail", "signature does not verify", bits)
        if ALGORITHMS[alg] == b"rsa" and bits < self.policy.min_rsa_bits:
            return res(
                "fail",
                f"RSA key of {bits} bits is below dkim.min_rsa_bits = {self.policy.min_rsa_bits}",
                bits,
            )
        if b"l" in tags:
            try:
                canon = CanonicalizationPolicy.from_c_value(
                    tags.get(b"c", b"simple/simple")
                ).canonicalize_body(d.body)
                if int(tags[b"l"]) < len(canon):
                    return res("fail", f"l= signs only {int(tags[b'l'])} of {len(canon)} body bytes", bits)
            except Exception:
                return res("fail", "l= cannot be checked", bits)
        return res("pass", "", bits)

    def _compare_pinned(self, name: str, pinned: bytes, deadline: float) -> None:
        published = self.resolver.dns_only(name, deadline)
        if published.status == "ok" and _tags(published.record).get(b"p", b"").replace(b" ", b"") != _tags(
            pinned
        ).get(b"p", b"").replace(b" ", b""):
            log.warning(
                "pinned DKIM key for %s differs from the one published in DNS; verifying with the pinned key",
                name,
            )
            if self.on_pinned_mismatch is not None:
                self.on_pinned_mismatch(name)
