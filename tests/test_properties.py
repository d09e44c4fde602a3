"""Property tests: nothing raises on arbitrary input; every finding is where it says it is."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nolink import scan_message
from nolink.findings import Location
from nolink.links.text import TextFinder
from nolink.psl import load

FINDER = TextFinder(load())
WHERE = Location("1", "text/plain", "body")

FRAGMENTS = [
    "http",
    "https",
    "hxxp",
    "://",
    ":\\\\",
    "__",
    "www",
    ".",
    "[.]",
    "(dot)",
    " dot ",
    "จุด",
    "com",
    "go.th",
    "ไทย",
    "กรม",
    "ค่ะ",
    "/",
    "?",
    "#",
    ":",
    "8080",
    "@",
    "\u200b",
    "\u00ad",
    "ｈｔｔｐ",
    "。",
    " ",
    "\n",
    "(",
    ")",
    "[",
    "]",
    ",",
    "ฯลฯ",
    "…",
    "xn--o3cw4h",
    "1.2.3.4",
    "example",
    "-",
    "_",
    "'",
    '"',
    "<",
    ">",
    "h t t p",
]
urlish = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=3)), max_size=40).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(urlish, st.text(max_size=200)))
def test_link_text_is_the_original_at_its_offset(s: str) -> None:
    for link in FINDER.find(s, WHERE):
        off = link.location.offset
        assert 0 <= off <= len(s)
        assert s[off : off + len(link.text)] == link.text
        assert link.text


MIME_BITS = [
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"Content-Type: text/html; charset=tis-620\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Subject: =?UTF-8?B?",
    b"?=\r\n",
    b"\r\n",
    b"--x\r\n",
    b"--x--\r\n",
    b"<a href=",
    b"http://e.example.com",
    b"=\r\n",
    b"PK\x03\x04",
    b"%PDF-1.4",
    b"\xff\xfe",
    b"=?",
    b"\x00",
]
mimeish = st.lists(st.one_of(st.sampled_from(MIME_BITS), st.binary(max_size=8)), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mimeish, st.binary(max_size=2000)))
def test_scanning_arbitrary_bytes_never_raises(data: bytes) -> None:
    r = scan_message(data)
    assert r.verdict in ("link", "clean", "error", "unscannable")
