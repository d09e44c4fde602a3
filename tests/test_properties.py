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
    "\u202e",
    "\u200e",
    "\u0332",
    "\ufe52",
    "𝐞",
    "\u00b7",
    " ://",
    " . ไทย",
    "ภาษี.ไทยค่ะ",
    ".\n",
    "\r\n ",
    "Best",
    " at ",
    "file:///C:/",
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
# Charset names and labels that once raised inside scan_message (idna, punycode, undefined, a NUL)
# or that hide text (EBCDIC on ASCII), in every place a charset is named.
CHARSETS = [
    "idna", "punycode", "undefined", "utf-8\x00", "\x00", "rot13", "base64", "hex", "zlib", "uu",
    "unicode-escape", "raw-unicode-escape", "utf-7", "utf-16", "utf-32", "cp037", "cp500", "cp1140",
    "cp273", "cp1026", "cp875", "tis-620", "windows-874", "x-unknown", "", "'", '"', "utf-8'en'",
]  # fmt: skip
charset_bits = st.sampled_from(CHARSETS).flatmap(
    lambda cs: st.sampled_from(
        [
            f"Content-Type: text/plain; charset={cs}\r\n".encode("latin-1"),
            f'Content-Type: text/html; charset="{cs}"\r\n'.encode("latin-1"),
            f"Subject: =?{cs}?Q?https://e.example.com?=\r\n".encode("latin-1"),
            f"Subject: =?{cs}?B?aHR0cHM6Ly9lLmV4YW1wbGUuY29t?=\r\n".encode("latin-1"),
            f"Content-Disposition: attachment; filename*={cs}''www.e.example.com%FF.pdf\r\n".encode(
                "latin-1"
            ),
            f"Content-Disposition: attachment; filename*0*={cs}''a%E0; filename*1=b.txt\r\n".encode(
                "latin-1"
            ),
            f'Content-Type: application/pdf; name="=?{cs}?B?eHh4?="\r\n'.encode("latin-1"),
        ]
    )
)
mimeish = st.lists(
    st.one_of(st.sampled_from(MIME_BITS), charset_bits, st.binary(max_size=8)), max_size=60
).map(b"".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mimeish, st.binary(max_size=2000)))
def test_scanning_arbitrary_bytes_never_raises(data: bytes) -> None:
    r = scan_message(data)
    assert r.verdict in ("link", "clean", "error", "unscannable")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(CHARSETS),
    st.sampled_from(CHARSETS),
    st.binary(max_size=200),
    st.sampled_from(["8bit", "base64", "quoted-printable"]),
)
def test_any_charset_label_anywhere_never_raises(cs: str, cs2: str, body: bytes, cte: str) -> None:
    data = (
        (
            f"Subject: =?{cs2}?Q?x?= =?{cs}?B?eHh4?=\r\nFrom: =?{cs}?Q?a?= <a@example.go.th>\r\n"
            f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            f"Content-Type: text/plain; charset={cs}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode("latin-1")
        + body
        + (
            f"\r\n--b\r\nContent-Type: text/html; charset={cs2}\r\n"
            f"Content-Disposition: attachment; filename*={cs}''a%E0%B8.html\r\n\r\n"
        ).encode("latin-1")
        + body
        + b"\r\n--b--\r\n"
    )
    r = scan_message(data)
    assert r.verdict in ("link", "clean", "error", "unscannable")
    assert not any("not checked" in e for e in r.errors), r.errors
