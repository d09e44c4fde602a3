"""dkimspeed's replacements give exactly what dkimpy's own functions give."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dkimkeys import rsa_key
from nolink.dkim import speed as dkimspeed


@given(st.integers(min_value=0, max_value=1 << 4200), st.integers(min_value=-1, max_value=600))
def test_int2str_matches(n: int, length: int) -> None:
    assert dkimspeed.int2str(n, length) == dkimspeed._original_int2str(n, length)


def test_public_key_parse_matches_and_is_cached() -> None:
    record = rsa_key(2048).record
    p = base64.b64decode(record.split(b"p=", 1)[1].split(b";")[0])
    assert dkimspeed.parse_public_key(p) == dkimspeed._original_parse_public_key(p)
    assert dkimspeed.parse_public_key(p) is dkimspeed.parse_public_key(bytearray(p))


def test_installed_for_dkimpy() -> None:
    import dkim
    import dkim.canonicalization
    import dkim.crypto
    import dkim.util

    import nolink.dkim.check  # noqa: F401  (installs)

    assert dkim.crypto.int2str is dkimspeed.int2str
    assert dkim.parse_public_key is dkimspeed.parse_public_key
    assert dkim.RSASSA_PKCS1_v1_5_verify is dkimspeed.rsassa_pkcs1_v1_5_verify
    assert dkim.rfc822_parse is dkimspeed.rfc822_parse
    assert dkim.parse_tag_value is dkim.util.parse_tag_value is dkimspeed.parse_tag_value
    assert dkim.evaluate_pk is dkimspeed.evaluate_pk
    relaxed = dkim.canonicalization.Relaxed
    assert relaxed.canonicalize_headers is dkimspeed.relaxed_headers
    assert relaxed.canonicalize_body is dkimspeed.relaxed_body


@given(st.binary(max_size=600))
def test_str2int_matches(b: bytes) -> None:
    assert dkimspeed.str2int(b) == dkimspeed._original_str2int(b)


_LINE = st.one_of(
    st.sampled_from([b"From: a@example.go.th", b"Subject: x", b" folded", b"\tfolded", b"", b"body line"]),
    st.sampled_from([b"From sender", b"To:", b"a b: c", b"\r", b"X: \xe0\xb8\x81"]),
    st.binary(max_size=12),
)
_SEP = st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b""])


def _parsed(fn, message: bytes):  # type: ignore[no-untyped-def]
    try:
        return fn(message)
    except Exception as e:  # the same failure, too
        return type(e)


@settings(max_examples=1000)
@given(st.lists(st.tuples(_LINE, _SEP), max_size=12))
def test_rfc822_parse_matches(parts: list[tuple[bytes, bytes]]) -> None:
    message = b"".join(line + sep for line, sep in parts)
    assert _parsed(dkimspeed.rfc822_parse, message) == _parsed(dkimspeed._original_rfc822_parse, message)


@settings(max_examples=1000)
@given(st.lists(_SEP | st.sampled_from([b"a", b"\r\n\r\n", b"\n\n", b"\n\r\n", b"\r\r\n\n"]), max_size=12))
def test_header_end_is_the_regex_match(parts: list[bytes]) -> None:
    message = b"".join(parts)
    m = re.search(rb"(?:\A|\r?\n)\r?\n", message)  # what the regex in dkimpy's parse finds
    assert dkimspeed._header_end(message) == (m.span() if m else None)


def test_rfc822_parse_examples() -> None:
    msg = b"From: a@example.go.th\r\nSubject: one\r\n two\r\n\r\nline 1\nline 2\r\n\r\n"
    headers, body = dkimspeed.rfc822_parse(msg)
    assert headers == [[b"From", b" a@example.go.th\r\n"], [b"Subject", b" one\r\n two\r\n"]]
    assert body == b"line 1\r\nline 2\r\n\r\n"
    assert (headers, body) == dkimspeed._original_rfc822_parse(msg)


class _Digest:
    """What dkimpy hands RSASSA_PKCS1_v1_5_verify: a hash object with a name and a digest."""

    def __init__(self, name: str, data: bytes) -> None:
        import hashlib

        self.name = name
        self._d = hashlib.new(name, data).digest()

    def digest(self) -> bytes:
        return self._d


@given(st.binary(max_size=64), st.sampled_from(["sha256", "sha1"]), st.integers(0, 4))
def test_rsa_verify_matches(data: bytes, name: str, tamper: int) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(rsa_key(1024).private, None)
    numbers = key.public_key().public_numbers()  # type: ignore[union-attr]
    public = {"modulus": numbers.n, "publicExponent": numbers.e}
    alg = hashes.SHA256() if name == "sha256" else hashes.SHA1()
    sig = bytearray(key.sign(data, padding.PKCS1v15(), alg))  # type: ignore[union-attr, call-arg]
    if tamper == 1:
        sig[5] ^= 1  # a signature of something else
    elif tamper == 2:
        sig = sig[:-1]  # the wrong length: dkimpy's own code decides
    elif tamper == 3:
        sig = bytearray(numbers.n.to_bytes(128, "big"))  # not below the modulus
    h = _Digest(name, data if tamper != 4 else data + b"x")  # 4: the message changed
    got = dkimspeed.rsassa_pkcs1_v1_5_verify(h, sig, public)
    assert got == dkimspeed._original_verify(h, sig, public)
    assert got == (tamper == 0)


def test_rsa_verify_of_a_short_key_is_dkimpys() -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(rsa_key(384).private, None)  # too short for SHA-256
    numbers = key.public_key().public_numbers()  # type: ignore[union-attr]
    public = {"modulus": numbers.n, "publicExponent": numbers.e}
    h = _Digest("sha256", b"x")
    import dkim.crypto

    for fn in (dkimspeed.rsassa_pkcs1_v1_5_verify, dkimspeed._original_verify):
        try:
            fn(h, b"\x01" * 48, public)
        except dkim.crypto.DigestTooLargeError:
            continue
        raise AssertionError(f"{fn} did not raise DigestTooLargeError")


# -- relaxed canonicalization ------------------------------------------------------------------------

_BYTES = st.sampled_from(
    [
        b" ",
        b"  ",
        b"\t",
        b" \t ",
        b"\r\n",
        b"\n",
        b"\r",
        b"\r\r\n",
        b"\r\n ",
        b"\r\n\t",
        b"a",
        b"Zz",
        b"\xe0\xb8\x81",
        b"\x0b",
        b"\x0c",
        b"\x00",
        b"=",
        b";",
        b":",
        b"\xff",
    ]
)
_TEXT = st.lists(st.one_of(_BYTES, st.binary(max_size=6)), max_size=30).map(b"".join)


@settings(max_examples=500)
@given(
    st.lists(st.tuples(st.one_of(_TEXT, st.sampled_from([b"From", b"DKIM-Signature "])), _TEXT), max_size=6)
)
def test_relaxed_headers_match(headers: list[tuple[bytes, bytes]]) -> None:
    as_parsed = [[k, v] for k, v in headers]  # rfc822_parse gives lists, hash_headers tuples
    for given_headers in (headers, as_parsed):
        got = dkimspeed.relaxed_headers(given_headers)
        assert got == dkimspeed._original_relaxed_headers(given_headers)
        assert all(type(h) is tuple for h in got)


@settings(max_examples=1000)
@given(_TEXT, st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b" \r\n", b"\t\r\n\r\n \r\n", b"x"]))
def test_relaxed_body_matches(body: bytes, end: bytes) -> None:
    for b in (body, body + end, body.replace(b"\n", b"\r\n"), b"\r\n".join(body.split(b"\n")) + end):
        assert dkimspeed.relaxed_body(b) == dkimspeed._original_relaxed_body(b)


def test_relaxed_examples() -> None:
    body = "เรียน  ท่าน\t ตาม \r\n\t\r\nหนังสือ \t\r\n\r\n \r\n".encode()
    assert dkimspeed.relaxed_body(body) == "เรียน ท่าน ตาม\r\n\r\nหนังสือ\r\n".encode()
    assert dkimspeed.relaxed_body(body) == dkimspeed._original_relaxed_body(body)
    for empty in (b"", b"\r\n", b" \r\n\r\n"):
        assert dkimspeed.relaxed_body(empty) == dkimspeed._original_relaxed_body(empty) == b""
    h = [[b"Subject ", b" one \r\n\t two\r\n"]]
    assert (
        dkimspeed.relaxed_headers(h)
        == [(b"subject", b"one two\r\n")]
        == dkimspeed._original_relaxed_headers(h)
    )


# -- tag=value lists and key records -----------------------------------------------------------------

_TAG = st.sampled_from(
    [b"v", b"a", b"b", b"bh", b"d", b"h", b"s", b"l", b"x1", b"_x", b"1a", b"", b"\xe0\xb8\x81"]
)
_VALUE = st.one_of(st.sampled_from([b"1", b"rsa-sha256", b" a : b ", b"x=y", b"\xe0\xb8\x81", b""]), _TEXT)
_SPEC = st.tuples(_TAG, st.sampled_from([b"=", b" = ", b"\t=", b"", b"=="]), _VALUE).map(b"".join)


def _outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except Exception as e:  # the same exception, with the same words
        return (type(e), str(e))


@settings(max_examples=1000)
@given(
    st.lists(_SPEC, max_size=8),
    st.sampled_from([b";", b"; ", b" ;\r\n ", b";;"]),
    st.sampled_from([b"", b";", b" ; "]),
)
def test_parse_tag_value_matches(specs: list[bytes], sep: bytes, end: bytes) -> None:
    tag_list = sep.join(specs) + end
    got = _outcome(dkimspeed.parse_tag_value, tag_list)
    assert got == _outcome(dkimspeed._original_parse_tag_value, tag_list)
    assert got == _outcome(dkimspeed.parse_tag_value, tag_list)  # the same once kept
    if isinstance(got, dict):
        got[b"v"] = b"changed"  # evaluate_pk writes to the dict it gets: no other caller sees it
        assert dkimspeed.parse_tag_value(tag_list) == dkimspeed._original_parse_tag_value(tag_list)


def test_parse_tag_value_long_and_str() -> None:
    long = b"v=1; a=rsa-sha256; b=" + b"A" * 9000  # too long to keep
    assert dkimspeed.parse_tag_value(long) == dkimspeed._original_parse_tag_value(long)
    assert _outcome(dkimspeed.parse_tag_value, b"v=1; 2x=y") == _outcome(
        dkimspeed._original_parse_tag_value, b"v=1; 2x=y"
    )


def _key_records() -> list[bytes]:
    from dkimkeys import ed25519_key

    rsa, ed = rsa_key(2048).record, ed25519_key().record
    p = rsa.split(b"p=", 1)[1]
    return [
        rsa,
        ed,
        b"p=" + p,
        b"v=DKIM1; k=rsa; s=tlsrpt; p=" + p,
        b"v=DKIM1; s=email:*; p=" + p,
        b"v=DKIM1; s=other; p=" + p,
        b"v=DKIM2; p=" + p,
        b"v=DKIM1; k=dsa; p=" + p,
        b"v=DKIM1; k=rsa",
        b"v=DKIM1; k=rsa; p=",
        b"v=DKIM1; k=rsa; p=" + p[:40],
        b"v=DKIM1; k=rsa; p=!!!",
        b"v=DKIM1; k=ed25519; p=" + p,
        b"v=DKIM1; p=" + p + b"; p=" + p,
        b"v=DKIM1; k=rsa; p=" + p + b"; t=y",
        b"no tags here",
        b"",
    ]


def test_evaluate_pk_matches_and_is_kept() -> None:
    import dkim

    for record in _key_records():
        for name in (b"s1._domainkey.example.go.th", b"s1._domainkey.example.go.th."):
            got = _outcome(dkimspeed.evaluate_pk, name, record)
            want = _outcome(dkimspeed._original_evaluate_pk, name, record)
            if isinstance(want, tuple) and want and isinstance(want[0], type):
                assert got == want, record  # the same error
                continue
            assert got[1:] == want[1:], record
            assert type(got[0]) is type(want[0])
            if isinstance(want[0], dict):
                assert got[0] == want[0]
            elif want[0] is not None:
                assert bytes(got[0]) == bytes(want[0])
            assert dkimspeed.evaluate_pk(name, record) is dkimspeed.evaluate_pk(b"other", record)
    assert dkim.evaluate_pk is dkimspeed.evaluate_pk


# -- emptying b= before hashing; dkimpy's re.sub(\s+) -------------------------------------------------

_SIG_TAGS = [b"b", b"b=", b" b =", b";b=", b"\tb\r\n =", b"bh=", b"=", b";", b"v=1", b"h=from : b"]
_SIG_SPACE = [b" ", b"\t", b"\r\n ", b"\r\n", b"\n", b"\r", b"\x0b", b"\x0c"]
_SIG_PIECE = (
    st.sampled_from(_SIG_TAGS) | st.sampled_from(_SIG_SPACE) | st.sampled_from([b"AbC+/", b"09==", b"-"])
)


@settings(max_examples=2000)
@given(
    st.lists(_SIG_PIECE | st.binary(max_size=3), max_size=24),
    st.sampled_from([b"", b"\r\n", b"\n", b" \r\n"]),
)
def test_btag_matches(pieces: list[bytes], end: bytes) -> None:
    import dkim

    value = b"".join(pieces) + end
    assert dkimspeed.BTAG.sub(b"\\1", value) == dkimspeed._original_btag.sub(b"\\1", value)
    assert dkim.RE_BTAG is dkimspeed.BTAG


def test_btag_examples() -> None:
    sig = b" v=1; a=rsa-sha256; bh=Zm9v; h=from : to;\r\n b=AbC+/\r\n 09==\r\n"
    assert dkimspeed.BTAG.sub(b"\\1", sig) == b" v=1; a=rsa-sha256; bh=Zm9v; h=from : to;\r\n b="
    assert dkimspeed.BTAG.sub(b"\\1", sig) == dkimspeed._original_btag.sub(b"\\1", sig)
    assert dkimspeed.BTAG.sub(b"x", sig) == dkimspeed._original_btag.sub(b"x", sig)  # dkimpy's own


@given(
    st.lists(
        st.sampled_from([b" ", b"\t", b"\r\n", b"\x0b", b"\x0c", b"\r", b"\n", b"\x1c", b"\xa0"])
        | st.binary(max_size=4)
    ).map(b"".join)
)
def test_re_sub_whitespace_matches(value: bytes) -> None:
    import re

    import dkim

    assert dkimspeed.RE_FOR_DKIMPY.sub(rb"\s+", b"", value) == re.sub(rb"\s+", b"", value)
    assert dkimspeed.RE_FOR_DKIMPY.sub(rb"\s", b"-", value) == re.sub(rb"\s", b"-", value)
    assert dkim.re is dkimspeed.RE_FOR_DKIMPY
    assert dkim.re.match is re.match


# -- check.py's own parsing ---------------------------------------------------------------------------


@given(
    st.lists(
        st.sampled_from([b"Saraban ", b"<", b">", b"saraban", b"@", b"example.go.th", b'"a, b"', b",", b" "])
        | st.sampled_from([b"=?utf-8?b?4Liq4Liy4Lij4Lia4Lij4Lij4LiT?=", b"(c)", b"\xe0\xb8\x81", b"\r\n "]),
        max_size=10,
    ).map(b"".join)
)
def test_from_domain_kept_is_the_same(value: bytes) -> None:
    from nolink.dkim import check

    first = check.from_domain([(b"From", value)])
    assert first == check._from_value_domain(value) == check.from_domain([(b"from", value)])


# -- the signature's tags, checked -------------------------------------------------------------------

_NOW = 1_800_000_000
_FIELD_VALUES = {
    b"v": [b"1", b"2", b""],
    b"a": [b"rsa-sha256", b"rsa-sha1", b"ed25519-sha256", b"rsa-md5"],
    b"b": [b"AbC+/9==", b"Ab C+\r\n /9==", b"AbC", b"A!bC", b"====", b" ", b"\xe0\xb8\x81AAA"],
    b"bh": [b"Zm9v", b"Zm9 v", b"Zm9", b"Z!m9"],
    b"d": [b"example.go.th", b"Example.GO.th", b"exa(mple).th", b"\xe0\xb8\x81.th", b"th", b""],
    b"i": [b"@example.go.th", b"a@mail.example.go.th", b"example.go.th", b"@other.th", b"x.example.go.th"],
    b"h": [b"from : to"],
    b"s": [b"s1"],
    b"l": [b"0", b"123", b"1" * 77, b"-1", b"1 2", b""],
    b"q": [b"dns/txt", b"dns", b""],
    b"t": [str(_NOW - 60).encode(), str(_NOW + 36001).encode(), str(_NOW + 36000).encode(), b"x", b"0"],
    b"x": [str(_NOW + 60).encode(), str(_NOW - 36001).encode(), str(_NOW - 36000).encode(), b"1.5", b"0"],
    b"cv": [b"pass", b"fail", b"none", b"other"],
    b"z": [b"From:a"],
}
_SIG_FIELDS = st.fixed_dictionaries(
    {},
    optional={k: st.sampled_from(v) for k, v in _FIELD_VALUES.items()},
)


# the tags a DKIM-Signature must have, with valid values
_REQUIRED_TAGS = {
    b"v": b"1",
    b"a": b"rsa-sha256",
    b"b": b"AAAA",
    b"bh": b"AAAA",
    b"d": b"e.th",
    b"h": b"from",
    b"s": b"s",
}


@settings(max_examples=3000)
@given(_SIG_FIELDS, st.booleans())
def test_validate_signature_fields_matches(sig: dict[bytes, bytes], complete: bool) -> None:
    from unittest import mock

    if complete:  # mostly the required tags, so the later checks are reached
        sig = _REQUIRED_TAGS | sig
    with mock.patch("time.time", return_value=_NOW + 0.5):
        got = _outcome(dkimspeed.validate_signature_fields, sig)
        assert got == _outcome(dkimspeed._original_validate, sig)


def test_validate_signature_fields_installed_and_arc_is_dkimpys() -> None:
    import dkim

    assert dkim.validate_signature_fields is dkimspeed.validate_signature_fields
    sig = {b"i": b"1"} | {k: v for k, v in _REQUIRED_TAGS.items() if k != b"v"}
    arc = [b"i", b"a", b"b", b"d", b"h", b"s"]
    assert _outcome(dkimspeed.validate_signature_fields, sig, arc, True) is None
    assert _outcome(dkimspeed.validate_signature_fields, sig) == (dkim.ValidationError, "missing b'v'=")


# -- picking and checking the signature ---------------------------------------------------------------

_SIGNATURE = st.sampled_from(
    [
        b" v=1; a=rsa-sha256; c=relaxed/simple; d=example.go.th; s=s1; h=From : To;\r\n bh=Zm9v; b=AbC+\r\n",
        b" v=1; a=rsa-sha256; d=example.go.th; s=s1; h=from:to:FROM; bh=Zm9v; b=AbC+; t=0; x=1",
        b" v=1; a=rsa-sha256; d=example.go.th; s=s1; h=from; bh=Zm9v\r\n",  # no b=
        b" v=1; a=rsa-sha256; d=example.go.th; d=x.th; s=s1; h=from; bh=Zm9v; b=AbC+",  # twice d=
        b" v=1; a; d=example.go.th",  # a tag without =
        b" v=2; a=rsa-sha256; d=example.go.th; s=s1; h=from; bh=Zm9v; b=AbC+",
        b" ",
    ]
)


@settings(max_examples=300)
@given(st.lists(_SIGNATURE, max_size=3), st.integers(0, 3), st.booleans())
def test_verify_headerprep_matches(signatures: list[bytes], idx: int, debug: bool) -> None:
    import logging

    import dkim

    message = b"".join(b"DKIM-Signature:" + s + (b"" if s.endswith(b"\r\n") else b"\r\n") for s in signatures)
    message += b"From: a@example.go.th\r\nTo: b@example.com\r\n\r\nbody\r\n"
    logger = logging.getLogger("dkimpy")
    level = logger.level
    logger.setLevel(logging.DEBUG if debug else logging.WARNING)  # at DEBUG, dkimpy's own runs
    try:
        ours, theirs = dkim.DKIM(message), dkim.DKIM(message)
        got = _outcome(dkimspeed.verify_headerprep, ours, idx)
        assert got == _outcome(dkimspeed._original_headerprep, theirs, idx)
    finally:
        logger.setLevel(level)
    for attr in ("signature_fields", "domain", "selector"):
        assert getattr(ours, attr) == getattr(theirs, attr)
    assert getattr(ours, "include_headers", None) == getattr(theirs, "include_headers", None)
    assert dkim.DKIM.verify_headerprep is dkimspeed.verify_headerprep


def test_uninstall_gives_dkimpys_own_back_and_install_again() -> None:
    import dkim
    import dkim.canonicalization

    try:
        dkimspeed.uninstall()
        assert dkim.rfc822_parse is dkimspeed._original_rfc822_parse
        assert dkim.RE_BTAG is dkimspeed._original_btag
        assert dkim.util.parse_tag_value is dkimspeed._original_parse_tag_value
        assert dkim.canonicalization.Relaxed.canonicalize_body is dkimspeed._original_relaxed_body
        assert dkim.re is dkimspeed._original_re
    finally:
        dkimspeed.install()
    assert dkim.rfc822_parse is dkimspeed.rfc822_parse
    assert dkim.canonicalization.Relaxed.canonicalize_body is dkimspeed.relaxed_body


def test_an_untested_dkimpy_release_keeps_its_own_code(caplog: pytest.LogCaptureFixture) -> None:
    import dkim

    try:
        dkimspeed.uninstall()
        assert dkimspeed.install("1.2.0") is False
        assert dkim.rfc822_parse is dkimspeed._original_rfc822_parse
        assert dkim.DKIM.verify_headerprep is dkimspeed._original_headerprep
        assert "dkimpy 1.2.0 is newer" in caplog.text
    finally:
        assert dkimspeed.install() is True
    assert dkimspeed.dkimpy_version().startswith(dkimspeed.TESTED_DKIMPY)
    assert dkim.DKIM.verify_headerprep is dkimspeed.verify_headerprep
