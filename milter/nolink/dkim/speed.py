"""Pure-Python hot spots of dkimpy 1.1, replaced by equivalents that do the same work in C.

Profiled per RSA-2048 verification of a 10 KiB letter (cProfile, this machine): dkimpy's int2str
(integer to bytes, one bytearray.append per byte) 0.5 ms, and parsing the ASN.1 public key again
for every message 0.3 ms, of about 3.3 ms. int.to_bytes gives the same bytes (also the same
truncation to `length`); the parsed key of a given record is cached (it is only read). The
signature check itself (pow) is unchanged. tests/test_dkim.py runs with these in place, and
tests/test_dkimspeed.py compares them with the originals.

Profiled again in a worker (py-spy, clean signed letters): the RSA public operation, Python's
pow(s, 65537, n) on 2048-bit numbers, 0.32 ms, and str2int (a shift per byte) 0.06 ms; rfc822_parse
splitting the whole body into lines with a regex to join them again, ~0.2 ms per 10 KiB letter. The
signature is now checked by OpenSSL (cryptography: RSASSA-PKCS1-v1_5 over the digest dkimpy
computed, ~0.02 ms); keys or signatures OpenSSL will not take (too short for the digest, a
signature of the wrong length) go to dkimpy's own code, so the answer is dkimpy's in every case.
The message is split into header lines only; the body's line ends are made CRLF with
bytes.replace, the same bytes as the regex split and join.

Then counted with callgrind (instructions per verification of bench/compare.py's letter, warm key;
3.29 M with c=relaxed/simple, 6.60 M with relaxed/relaxed, before): regexes that scan every byte
in Python's regex engine, where a bytes method does the same in C (relaxed body and header
canonicalization; RE_BTAG, which backtracks on each base64 character of b=; the whitespace
dropped from b= and bh=; the header end); tag=value lists parsed with a regex per tag, the
signature twice and the key record three times per message (now parsed once and kept; errors are
never kept); the key record evaluated twice per message (kept per record); dkimpy's "sig: %r"
debug line built for a logger that drops it; `b"x" in data`, which in CPython 3.11 formats and
discards a TypeError each time.
After: 1.24 M and 1.34 M. The crypto left (SHA-256 of the body, the RSA public operation) is
~0.55 M of it. bench/dkim_verify.py --ab compares dkimpy's own functions with these in one
process; tests/test_dkimspeed.py compares each with the original on generated inputs.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import re
import time
import types
from typing import Any

import dkim
import dkim.canonicalization
import dkim.crypto
import dkim.util
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

_original_int2str = dkim.crypto.int2str
_original_str2int = dkim.crypto.str2int
_original_parse_public_key = dkim.crypto.parse_public_key
_original_verify = dkim.crypto.RSASSA_PKCS1_v1_5_verify
_original_rfc822_parse = dkim.rfc822_parse
_original_parse_tag_value = dkim.util.parse_tag_value
_original_evaluate_pk = dkim.evaluate_pk
_original_btag = dkim.RE_BTAG
_original_validate = dkim.validate_signature_fields
_original_headerprep = dkim.DKIM.verify_headerprep
_original_re = dkim.re
_original_relaxed_headers = dkim.canonicalization.Relaxed.canonicalize_headers
_original_relaxed_body = dkim.canonicalization.Relaxed.canonicalize_body
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha1": hashes.SHA1}
_DIGEST_INFO = {"sha256": 51, "sha1": 35}  # DER DigestInfo lengths, as EMSA-PKCS1-v1_5 builds them
# `b"x" in data` costs a formatted TypeError inside CPython 3.11 (it tries the operand as an int
# first): ~0.2 us each, 30 times per message. A byte is tested as an int, longer needles with find.
LF, TAB = 10, 9
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")


def int2str(n: int, length: int = -1) -> bytearray:
    assert n >= 0
    if length < 0:
        return bytearray(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))
    return bytearray((n & ((1 << (8 * length)) - 1)).to_bytes(length, "big"))


@functools.lru_cache(maxsize=4096)
def _parse_cached(data: bytes) -> Any:
    return _original_parse_public_key(data)


def parse_public_key(data: bytes) -> Any:
    return _parse_cached(bytes(data))


def _replacements() -> list[tuple[Any, str, Any]]:
    """(where, name, replacement) for each dkimpy function this module replaces."""
    relaxed = dkim.canonicalization.Relaxed
    return [
        (dkim.crypto, "int2str", int2str),
        (dkim.crypto, "str2int", str2int),
        (dkim.crypto, "parse_public_key", parse_public_key),
        (dkim, "parse_public_key", parse_public_key),  # dkim/__init__ imported it by name
        (dkim.crypto, "RSASSA_PKCS1_v1_5_verify", rsassa_pkcs1_v1_5_verify),
        (dkim, "RSASSA_PKCS1_v1_5_verify", rsassa_pkcs1_v1_5_verify),  # imported by name too
        (dkim, "rfc822_parse", rfc822_parse),
        (dkim.util, "parse_tag_value", parse_tag_value),
        (dkim, "parse_tag_value", parse_tag_value),  # imported by name
        (dkim, "evaluate_pk", evaluate_pk),
        (dkim, "RE_BTAG", BTAG),
        (dkim, "validate_signature_fields", validate_signature_fields),
        (dkim.DKIM, "verify_headerprep", verify_headerprep),
        (dkim, "re", RE_FOR_DKIMPY),
        (relaxed, "canonicalize_headers", staticmethod(relaxed_headers)),
        (relaxed, "canonicalize_body", staticmethod(relaxed_body)),
    ]


_DKIMPYS_OWN: list[tuple[Any, str, Any]] = []  # what install() replaced, for uninstall()
# The dkimpy releases these replacements were compared with (tests/test_dkimspeed.py). Some replace
# dkimpy internals (verify_headerprep, validate_signature_fields): a later release may change what
# they do, so it keeps its own code, slower but its own, until it has been compared too.
TESTED_DKIMPY = ("1.1.",)


def dkimpy_version() -> str:
    try:
        return importlib.metadata.version("dkimpy")
    except importlib.metadata.PackageNotFoundError:
        return ""


def install(version: str | None = None) -> bool:
    """Put the replacements in place; False (nothing replaced) for a dkimpy release not tested."""
    version = dkimpy_version() if version is None else version
    if not version.startswith(TESTED_DKIMPY):
        logging.getLogger(__name__).warning(
            "dkimpy %s is newer than the releases nolink's DKIM speed-ups were checked against (%s): "
            "using dkimpy's own code (same results, about twice the CPU per signature)",
            version or "(unknown version)",
            ", ".join(v + "x" for v in TESTED_DKIMPY),
        )
        return False
    if not _DKIMPYS_OWN:
        _DKIMPYS_OWN.extend((where, name, vars(where)[name]) for where, name, _ in _replacements())
    for where, name, replacement in _replacements():
        setattr(where, name, replacement)
    return True


def uninstall() -> None:
    """dkimpy's own functions again (bench/dkim_verify.py --ab compares the two in one process)."""
    for where, name, own in _DKIMPYS_OWN:
        setattr(where, name, own)


def str2int(s: bytes | bytearray) -> int:
    return int.from_bytes(bytes(s), "big")


@functools.lru_cache(maxsize=4096)
def _openssl_key(modulus: int, exponent: int) -> rsa.RSAPublicKey | None:
    try:
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except Exception:  # a key OpenSSL refuses (even modulus, exponent 1, ...): dkimpy's own code
        return None


def rsassa_pkcs1_v1_5_verify(hash: Any, signature: bytes | bytearray, public_key: Any) -> bool:
    """dkimpy's RSASSA_PKCS1_v1_5_verify(hash, signature, key), with OpenSSL doing the RSA."""
    name = str(hash.name).lower()
    algorithm = _HASHES.get(name)
    modulus, exponent = public_key["modulus"], public_key["publicExponent"]
    size = (modulus.bit_length() + 7) // 8
    key = _openssl_key(modulus, exponent) if algorithm is not None else None
    if algorithm is None or key is None or len(signature) != size or size < _DIGEST_INFO[name] + 11:
        return bool(_original_verify(hash, signature, public_key))
    try:
        key.verify(bytes(signature), hash.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm()))
    except InvalidSignature:
        return False
    except Exception:
        return bool(_original_verify(hash, signature, public_key))
    return True


def _header_end(message: bytes) -> tuple[int, int] | None:
    """Where the empty line after the header block starts and ends: the first match of the regex
    (\\A|\\r?\\n)\\r?\\n, found with bytes.find (the regex took 20 us on a 10 KiB letter)."""
    if message[:1] == b"\n":
        return 0, 1
    if message[:2] == b"\r\n":
        return 0, 2
    crlf = message.find(b"\n\r\n")
    lf = message.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(message))  # only one before it
    if lf < 0:
        lf = crlf  # the first line end followed by an empty line
    if lf < 0:
        return None
    start = lf - 1 if lf and message[lf - 1] == 13 else lf
    return start, lf + 2 if message[lf + 1] == 10 else lf + 3


def rfc822_parse(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """dkimpy's rfc822_parse: ([name, value] of each header, body with CRLF line ends)."""
    end = _header_end(message)
    head, body = (message[: end[0]], message[end[1] :]) if end else (message, b"")
    lines = head.replace(b"\r\n", b"\n").split(b"\n") if head else []  # the same as re.split(\r?\n)
    if end is None and lines and not lines[-1]:
        lines.pop()  # the message ends with a line end: that empty line ends the header block
    headers: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b"\t", b" "):
            headers[-1][1] += line + b"\r\n"  # IndexError on a leading continuation, as dkimpy
            continue
        m = _FIELD_NAME.match(line)
        if m is not None:
            headers.append([m.group(1), line[m.end(0) :] + b"\r\n"])
        elif not line.startswith(b"From "):
            raise dkim.MessageFormatError(f"Unexpected characters in RFC822 header: {line!r}")
    if LF in body.replace(b"\r\n", b""):  # a bare LF: made CR LF (most bodies have none)
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return headers, body


def _squeeze(value: bytes) -> bytes:
    """Each run of spaces and tabs as one space (dkimpy's compress_whitespace), without a regex."""
    if TAB in value:
        value = value.replace(b"\t", b" ")
    while value.find(b"  ") >= 0:  # halves every run; runs never merge, as they are split by others
        value = value.replace(b"  ", b" ")
    return value


def relaxed_headers(headers: list[Any]) -> list[tuple[bytes, bytes]]:
    """dkimpy's relaxed header canonicalization: lower-case names; values unfolded (CR LF or LF
    dropped), runs of WSP as one space, stripped, ended by CR LF."""
    out = []
    for header in headers:
        name, value = header[0], header[1]
        if LF in value:
            value = value.replace(b"\r\n", b"").replace(b"\n", b"")  # a CR not before LF stays
        out.append((name.lower().rstrip(), _squeeze(value).strip() + b"\r\n"))
    return out


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's relaxed body canonicalization. Its regexes scan every byte in Python's regex engine
    (0.36 ms for a 10 KiB letter of Thai text); here each step runs only where it changes bytes."""
    if body.find(b" \r\n") >= 0 or body.find(b"\t\r\n") >= 0:  # WSP at the end of a line goes
        lines = body.split(b"\r\n")
        last = lines.pop()  # not followed by CR LF: its WSP stays
        body = b"\r\n".join([line.rstrip(b" \t") for line in lines] + [last])
    canon = dkim.canonicalization
    return bytes(canon.correct_empty_body(canon.strip_trailing_lines(_squeeze(body))))


_CACHED_LEN = 4096  # longer lists or records (none real) are not kept: at most ~2 MB in each cache


def _tag_list(tag_list: bytes) -> dict[bytes, bytes]:
    tags: dict[bytes, bytes] = {}
    specs = tag_list.strip().split(b";")
    if not specs[-1]:
        specs.pop()  # one trailing ";" is allowed
    for spec in specs:
        key, eq, value = spec.partition(b"=")
        key = key.strip()
        if not eq or not key[:1].isalpha():  # bytes.isalpha: ASCII letters only, as dkimpy's regex
            raise dkim.util.InvalidTagSpec(spec)
        if key in tags:
            raise dkim.util.DuplicateTag(key)
        tags[key] = value.strip()
    return tags


_tag_list_cached = functools.lru_cache(maxsize=512)(_tag_list)


def parse_tag_value(tag_list: bytes) -> dict[bytes, bytes]:
    """dkimpy's parse_tag_value (RFC 6376 3.2 tag=value lists), without a regex per tag; the last
    lists parsed are kept, as each message's signature is parsed twice (by check.py, then by
    dkimpy) and the key record on every message. Each caller gets its own dict (evaluate_pk
    writes to it)."""
    if type(tag_list) is not bytes:
        return dict(_original_parse_tag_value(tag_list))
    if len(tag_list) > _CACHED_LEN:
        return _tag_list(tag_list)
    return dict(_tag_list_cached(tag_list))  # an error is raised again on each call, never kept


@functools.lru_cache(maxsize=512)
def _key(record: bytes) -> tuple[Any, ...]:
    return tuple(_original_evaluate_pk(b"", record))


def evaluate_pk(name: bytes, s: bytes) -> tuple[Any, ...]:
    """dkimpy's evaluate_pk (key record to key, bits, k=, s=tlsrpt), once per key record: check.py
    and dkimpy each evaluated it on every message. The name only appears in the error for an empty
    record, and errors are not kept: they are raised by dkimpy's own code, with the caller's name."""
    if not s or type(s) is not bytes or len(s) > _CACHED_LEN:
        return tuple(_original_evaluate_pk(name, s))
    try:
        return _key(s)
    except Exception:
        return tuple(_original_evaluate_pk(name, s))


_BTAG_START = re.compile(rb"[;\s]b\s*=")  # dkimpy's FWS, (\s*\r?\n)?\s+ or nothing, is any \s*
_B64_RUN = re.compile(rb"[\sA-Za-z0-9+/=]*")


class BTag:
    """dkimpy's RE_BTAG, the regex that empties b= in the signature header before it is hashed.
    Its (FWS base64-char)* nests optional repeats and backtracks on every character (60 us per
    signature). Here: the same matches, as a plain prefix search; the value is the longest run of
    whitespace and base64 characters, up to its last base64 character, and a CR LF or LF that ends
    the header goes with it."""

    pattern = _original_btag.pattern

    def sub(self, repl: Any, string: Any, count: int = 0) -> Any:
        if repl != b"\\1" or count or type(string) is not bytes:
            return _original_btag.sub(repl, string, count)
        out = []
        pos = 0
        while (m := _BTAG_START.search(string, pos)) is not None:
            start = m.end()
            out.append(string[pos:start])  # the text before and "b=" itself stay
            run = _B64_RUN.match(string, start)
            pos = start + len(string[start : run.end() if run else start].rstrip())
            if string[pos:] in (b"\r\n", b"\n"):
                pos = len(string)
        out.append(string[pos:])
        return b"".join(out)


BTAG = BTag()


def _sub_for_dkimpy(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
    if pattern == rb"\s+" and repl == b"" and type(string) is bytes and not count and not flags:
        return b"".join(string.split())
    return re.sub(pattern, repl, string, count=count, flags=flags)


# The re module as dkimpy's functions see it: the same names (copied, so no lookup goes through a
# failed attribute search), but re.sub(rb"\s+", b"", value), four times per signature on b= and bh=
# (2 to 10 us each), is bytes.split and join. Both drop exactly the six ASCII whitespace bytes.
RE_FOR_DKIMPY = types.ModuleType("re", re.__doc__)
RE_FOR_DKIMPY.__dict__.update({k: v for k, v in vars(re).items() if not k.startswith("__")})
RE_FOR_DKIMPY.sub = _sub_for_dkimpy  # type: ignore[attr-defined]


_BASE64 = re.compile(rb"[\s0-9A-Za-z+/]+[\s=]*$")
_DOMAIN_SPECIALS = re.compile(rb"[()<>\[\]:;@\\,]")
_LENGTH = re.compile(rb"\d{,76}$")
_DECIMAL = re.compile(rb"\d+$")
_REQUIRED = (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
_SLOP = 36000  # dkimpy's 10 hours of leeway for t= and x=


def validate_signature_fields(sig: dict[bytes, bytes], *args: Any, **kwargs: Any) -> None:
    """dkimpy's validate_signature_fields for a DKIM-Signature (ARC's calls, with arguments, go to
    dkimpy's own): the same checks in the same order, raising the same ValidationError words, with
    compiled regexes instead of a lookup in re's cache per check (11 us per signature)."""
    if args or kwargs or any(type(v) is not bytes for v in sig.values()):
        _original_validate(sig, *args, **kwargs)
        return
    invalid = dkim.ValidationError
    for field in _REQUIRED:
        if field not in sig:
            raise invalid(f"missing {field!r}=")
    if sig[b"a"] not in dkim.HASH_ALGORITHMS:
        raise invalid(f"unknown signature algorithm: {sig[b'a']!r}")
    b = sig[b"b"]
    if _BASE64.match(b) is None or len(b"".join(b.split())) % 4:
        raise invalid(f"b= value is not valid base64 ({b!r})")
    # dkimpy matches bh= against b='s pattern (again, so it passes here); only the length counts
    if len(b"".join(sig[b"bh"].split())) % 4:
        raise invalid(f"bh= value is not valid base64 ({sig[b'bh']!r})")
    if b"cv" in sig and sig[b"cv"] not in (b"pass", b"fail", b"none"):
        raise invalid(f"cv= value is not valid ({sig[b'cv']!r})")
    d = sig[b"d"]
    if d.isascii() and _DOMAIN_SPECIALS.search(d):  # dkimpy checks ASCII domains only
        raise invalid(f"d= value is not valid ({d!r})")
    if b"i" in sig:
        i = sig[b"i"]
        if not i.lower().endswith(d.lower()) or i[-len(d) - 1] not in (64, 46):  # "@", "."
            raise invalid(f"i= domain is not a subdomain of d= (i={i!r} d={d!r})")
    if b"l" in sig and _LENGTH.match(sig[b"l"]) is None:
        raise invalid(f"l= value is not a decimal integer ({sig[b'l']!r})")
    if b"q" in sig and sig[b"q"] != b"dns/txt":
        raise invalid(f"q= value is not dns/txt ({sig[b'q']!r})")
    signed_at = None
    if b"t" in sig:
        if _DECIMAL.match(sig[b"t"]) is None:
            raise invalid(f"t= value is not a decimal integer ({sig[b't']!r})")
        signed_at = int(sig[b"t"])
        if signed_at > int(time.time()) + _SLOP:
            raise invalid(f"t= value is in the future ({sig[b't']!r})")
    if b"v" in sig and sig[b"v"] != b"1":
        raise invalid(f"v= value is not 1 ({sig[b'v']!r})")
    if b"x" in sig:
        if _DECIMAL.match(sig[b"x"]) is None:
            raise invalid(f"x= value is not a decimal integer ({sig[b'x']!r})")
        expires = int(sig[b"x"])
        if expires < int(time.time()) - _SLOP:
            raise invalid(f"x= value is past ({sig[b'x']!r})")
        if signed_at and expires < signed_at:
            raise invalid(f"x= value is less than t= value (x={sig[b'x']!r} t={sig[b't']!r})")


_H_SEPARATOR = re.compile(rb"\s*:\s*")


def verify_headerprep(self: Any, idx: int = 0) -> Any:
    """dkimpy's DKIM.verify_headerprep (pick signature idx, parse and check its tags), without
    building the debug line "sig: %r" (a repr of every tag, ~6 % of a verification) for a logger
    that drops it. With dkimpy's logger at DEBUG, or a logger of the caller's own, dkimpy's runs."""
    logger = self.logger
    if type(logger) is not logging.Logger or logger.isEnabledFor(logging.DEBUG):
        return _original_headerprep(self, idx)
    sigheaders = [(k, v) for k, v in self.headers if k.lower() == b"dkim-signature"]
    if len(sigheaders) <= idx:
        return False
    try:
        sig = dkim.parse_tag_value(sigheaders[idx][1])
        self.signature_fields = sig
    except dkim.InvalidTagValueList as e:
        raise dkim.MessageFormatError(e) from e  # dkimpy: raised while handling e
    dkim.validate_signature_fields(sig)
    self.domain = sig[b"d"]
    self.selector = sig[b"s"]
    include_headers = [h.lower() for h in _H_SEPARATOR.split(sig[b"h"])]
    self.include_headers = tuple(include_headers)
    return sig, include_headers, sigheaders
