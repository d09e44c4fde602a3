"""The scanner's shortcuts (issue 12, less CPU per message) give exactly what the long way gives.

Each shortcut is compared with the plain path on generated texts made of the pieces a Thai letter
and a disguised link are made of (dates, "ก.พ.", digits and dots, Thai IDNs, defanged forms), and
on real links that a wrong shortcut would skip.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nolink.findings import Location
from nolink.links.normalize import normalize
from nolink.links.text import TextFinder, TextOptions, _Hits, hit_pattern, restart, windows
from nolink.psl import load

WHERE = Location("1", "text/plain", "body")
FAST = TextFinder(load())
FAST_EMAIL = TextFinder(load(), TextOptions(count_email=True))


def plain_finder(options: TextOptions | None = None) -> TextFinder:
    """A finder whose hit pattern matches every character: every text and window is searched."""
    f = TextFinder(load(), options)
    f._hit = _Hits(re.compile(r"[\s\S]"))
    return f


PLAIN = plain_finder()
PLAIN_EMAIL = plain_finder(TextOptions(count_email=True))

PIECES = [
    "ลงวันที่ ๑๖ ก.พ. ๒๕๖๙",
    "ก.พ.",
    "พ.ศ.",
    "ส.ส.ไทย",
    "มท ๐๘๒๓.๒/ว ๕๒๗",
    "๑.๒",
    "ข้อ 1.2.3",
    "1.2.3.4",
    "1.2.3.4/24",
    "/x",
    ":8080",
    "เรียน",
    "ท่าน",
    "ประเทศไทย",
    "ไทย",
    ".ไทย",
    "คอม",
    ".คอม",
    "กรมการปกครอง",
    "ดูที่",
    "ค่ะ",
    "ฯ",
    "ๆ",
    ".",
    "..",
    ":",
    "@",
    "[.]",
    "(dot)",
    " dot ",
    "จุด",
    "hxxp",
    "https",
    "://",
    "www",
    "example",
    "com",
    "go.th",
    "xn--o3cw4h",
    "report.zip",
    "Co.Ltd",
    "a",
    "7z",
    "๒๕๖๙",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    ".\n",
    "/",
    "-",
    "_",
    "\u200b",
    "。",
]

texts = st.lists(st.sampled_from(PIECES), max_size=40).map("".join)


def found(f: TextFinder, text: str) -> list[tuple[str, str, str, str]]:
    return [(x.text, x.url, x.kind, str(x.location)) for x in f.find(text, WHERE)]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_hit_filter_changes_no_finding(text: str) -> None:
    assert found(FAST, text) == found(PLAIN, text)
    assert found(FAST_EMAIL, text) == found(PLAIN_EMAIL, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(texts, min_size=2, max_size=30).map(" ".join))
def test_hit_filter_on_longer_texts(text: str) -> None:
    """Many windows, only some of them holding hits (the spans between hits are skipped)."""
    assert found(FAST, text) == found(PLAIN, text)


REAL = [
    "ดูรายละเอียดที่ภาษี.ไทยค่ะ",
    "กรมการปกครอง.ไทย",
    "ร้านค้า.คอม",
    "เข้า http://1.2.3.4/form ค่ะ",
    "1.2.3.4:8080",
    "http:// example.com",
    "hxxps://evil[.]example[.]com/x",
    "www.example.com",
    "dla.go.th",
    "example.xn--o3cw4h",
    "ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ " * 20 + "ดูที่ evil.example.com ค่ะ",
    "ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ " * 20 + "ดูที่ https://evil.example.com/x ค่ะ",
    "ข้อ 1.2.3 www.x.com.pdf",
    "//files.example.org/a",
]


@pytest.mark.parametrize("text", REAL)
def test_hit_filter_keeps_real_links(text: str) -> None:
    """A pattern that skipped any of these would lose a link a citizen could follow."""
    assert found(FAST, text) == found(PLAIN, text) != []
    assert FAST._hit.pattern.search(normalize(text).text) is not None


def test_hit_pattern_spells_out_the_thai_suffixes() -> None:
    """The suffix "คอม" is spelled out: without it ร้านค้า.คอม would be skipped."""
    assert hit_pattern(frozenset({"com", "ไทย"})).search("ร้านค้า.คอม") is None
    assert hit_pattern(load().top_labels()).search("ร้านค้า.คอม") is not None
    # a suffix list with a last label beginning with a digit makes every ".<digit>" a hit
    assert hit_pattern(frozenset({"com"})).search("ข้อ 1.2") is None
    assert hit_pattern(frozenset({"com", "3x"})).search("ข้อ 1.2") is not None


def test_thai_letter_has_no_hit() -> None:
    letter = "เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ มท ๐๘๒๓.๒/ว ๕๒๗ ข้อ 1.2.3 โทร. 0 2123 4567\r\n" * 30
    assert FAST._hit.pattern.search(normalize(letter).text) is None
    assert found(FAST, letter) == found(PLAIN, letter) == []


@settings(max_examples=1000, deadline=None)
@given(st.lists(texts, max_size=8).map(" ".join))
def test_hits_search_as_the_pattern_does(text: str) -> None:
    """_Hits (str.find for ":" and "@", a regex from "." for the rest) finds what the pattern does."""
    hits = FAST._hit
    assert hits.any(text) == (hits.pattern.search(text) is not None)
    spans = windows(text)
    want = [(a, b) for a, b in spans if hits.pattern.search(text, a, b) is not None]
    assert hits.spans(text, spans) == want


EXOTIC = [
    "ｈｔｔｐｓ：／／",
    "。",
    "\u00a0",
    "\u3000",
    "\U0001d41e",  # mathematical bold e
    "\U0001d7ce",  # mathematical bold 0
    "\U0001f600",  # an astral character the table leaves alone
    "\u200b",
    "\u202e",
    "\u0332",
    "\u00ad",
    "[",
    "]",
    "{",
    "\\",
    "[dot",
    "[.",
    "hxxp[:]",
    "\udc80",  # a raw header byte as the parser keeps it
    "ก",
    "เรียน",
    "a",
    "example",
    ".com",
    "www,a,b",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES + EXOTIC), max_size=30).map("".join))
def test_normalize_one_pass_for_both_tables(text: str) -> None:
    """normalize's start (_start: one search, or none, for the table's and _TRIGGER_AB's
    characters) gives what the two searches from 0 gave: whether to translate, and the first
    _TRIGGER_AB character of the text it searches."""
    from nolink.links import normalize as nm

    p, translate = nm._start(text)
    assert translate == bool(nm._NEEDS_TRANSLATE.search(text))
    s = text.translate(nm._TRANSLATE) if translate else text
    first = nm._TRIGGER_AB.search(s)
    assert (first.start() if first else None) == (m.start() if (m := nm._TRIGGER_AB.search(s, p)) else None)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.sampled_from(PIECES + EXOTIC + ["\u0e5b", "\u0e7d", "\u0e80", "\u00e9", "\u0100"]), max_size=30
    ).map("".join)
)
def test_plain_text_is_ascii_and_thai_only(text: str) -> None:
    """_plain_text: every character ASCII or Thai-block, none whose low byte is one of [\\]{}."""
    from nolink.links import normalize as nm

    def plain(c: str) -> bool:
        o = ord(c)
        return (o < 0x80 or 0xE00 <= o < 0xE80) and chr(o & 0xFF) not in "[\\]{}"

    assert nm._plain_text(text) == all(plain(c) for c in text)
    if nm._plain_text(text):
        assert nm._NEEDS_ANY.search(text) is None and not nm._has_astral(text)


HEADER_LINES = [
    b"From: Saraban <saraban@example.go.th>",
    b"To: <somchai@example.com>",
    b"Subject: letter",
    b"Subject: =?utf-8?b?4LiU4Li54LiX4Li14LmI?=",
    b"Message-ID: <1@example.go.th>",
    b"DKIM-Signature: v=1; a=rsa-sha256; h=from:to:subject:message-id:date;",
    b"\tb=abc",
    b" bh=def",
    b"MIME-Version: 1.0",
    b"Content-Type: text/plain; charset=utf-8",
    b"Content-Type: text/html",
    b"Content-Type: multipart/mixed; boundary=b",
    b'Content-Type: Multipart/Alternative; boundary="b"',
    b"Content-Type: message/rfc822",
    b"Content-Type: Message/Partial; id=1",
    b"Content-Type: message/delivery-status",
    b"Content-Type: (c) multipart/mixed",
    b"Content-Type: multipart",
    b"Content-Transfer-Encoding: base64",
    b"Content-Transfer-Encoding: 8bit",
    b"Content-Disposition: attachment; filename=a.txt",
    b"X-Note: a message/ about multipart",
    b"X-Thai: \xe0\xb8\x81",
    b"From nobody",
    b": no name",
    b"no colon",
]
BODIES = [
    b"",
    b"hello www.example.com\r\n",
    b"--b\r\nContent-Type: text/plain\r\n\r\nhttps://a.example.com/\r\n--b--\r\n",
    b"Content-Type: text/plain\r\n\r\nwww.x.com\r\n",
    "ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ https://evil.example.com/x".encode(),
    b"aHR0cHM6Ly9hLmV4YW1wbGUuY29tLw==\r\n",
]


def _walked(msg: object) -> list[object]:
    from nolink.mime import HeaderBlock, walk

    out: list[object] = []
    for item in walk(msg, 10):  # type: ignore[arg-type]
        if isinstance(item, HeaderBlock):
            defects = [(type(x).__name__, str(x)) for x in item.message.defects]
            out.append((item.number, list(item.message.raw_items()), defects))
        else:
            out.append(item)
    return out


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(st.sampled_from(HEADER_LINES), max_size=8),
    st.sampled_from([b"\r\n", b"\n"]),
    st.sampled_from(BODIES),
)
def test_parse_fast_path_reads_as_the_full_parse(lines: list[bytes], eol: bytes, body: bytes) -> None:
    """mime.parse's header-only parse of a single-part message gives the walk the full parse gives."""
    import email
    import email.policy

    from nolink.mime import _Part, parse

    data = eol.join(lines) + eol + eol + body
    full = email.message_from_bytes(data, _class=_Part, policy=email.policy.compat32)
    assert _walked(parse(data)) == _walked(full)


def test_parse_fast_path_is_taken_for_a_signed_letter() -> None:
    """A DKIM-signed letter names Message-ID in h=: still the fast path (its payload is bytes)."""
    from nolink.mime import parse

    data = b"\r\n".join(HEADER_LINES[:8]) + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
    assert parse(data)._payload == b"hello\r\n"  # type: ignore[attr-defined]


SPACING = [
    "\r\n",
    "\n",
    "\n\n",
    " \n",
    "\n ",
    "  ",
    " ",
    "\t",
    "http:// ",
    "a: ",
    "a:\r\n",
    "//\r\n",
    "\\\\\r\n",
    "x/\r\n",
    ":\n\n",
    "\x0c",
    "\u2003",
    "a.b",
    "ก.พ.",
    "www.example.com",
]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(PIECES + SPACING), max_size=40).map("".join), st.integers(0, 400))
def test_windows_from_a_restart_point(text: str, before: int) -> None:
    """From restart(s, x), windows() gives the windows of s that begin there or later, and none
    of the windows before it reaches it."""
    r = restart(text, min(before, len(text)))
    whole = windows(text)
    assert windows(text, r) == [w for w in whole if w[0] >= r] or len(whole) >= 256
    assert all(b < r - 1 for a, b in whole if a < r)


def test_restart_skips_the_cold_lines_of_a_letter() -> None:
    letter = "เรียน ท่าน ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ \r\n" * 50 + "\r\nดูที่ https://evil.example.com/x ค่ะ\r\n"
    h = FAST._hit.first(letter)
    assert h == letter.index("https:") + 5
    r = restart(letter, h)
    assert 0 < r <= letter.index("ดูที่")
    assert found(FAST, letter) == found(PLAIN, letter) != []


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(HEADER_LINES), min_size=1, max_size=8), st.sampled_from([b"\r\n", b"\n"]))
def test_header_block_as_the_feed_parser_reads_it(lines: list[bytes], eol: bytes) -> None:
    """mime._header_block stores what email's parser stores for a header block, or declines
    (None) where the parser notes a defect or reads an envelope line."""
    import email
    import email.policy

    from nolink.mime import _HEADER_LINE, _header_block, _Part

    head = eol.join(lines) + eol
    if not all(_HEADER_LINE.match(x) for x in lines):
        return  # parse() does not ask _header_block then
    got = _header_block(head)
    ref = email.message_from_bytes(head + eol, _class=_Part, policy=email.policy.compat32)
    if got is None:
        assert ref.defects or ref.get_unixfrom() or any(x.startswith(b"From ") for x in lines)
        return
    if got.get_content_type().startswith(("multipart/", "message/")):
        return  # parse() reads the whole message then (the body decides the defects)
    assert not ref.defects
    for attr in ("_headers", "_unixfrom", "_charset", "preamble", "epilogue", "_default_type", "policy"):
        assert getattr(got, attr) == getattr(ref, attr), attr


def _word_hits_plain(s: str) -> list[int]:
    """normalize._word_hits without its guard characters: every word searched."""
    from nolink.links import normalize as nm

    hits = []
    for w in nm._TRIGGER_WORDS:
        i = s.find(w)
        while i >= 0:
            hits.append(i)
            i = s.find(w, i + nm._REACH)
    m = nm._TRIGGER_SCHEME.search(s)
    while m is not None:
        hits.append(m.start())
        m = nm._TRIGGER_SCHEME.search(s, m.start() + nm._REACH)
    return sorted(hits)


WORD_PIECES = [
    "dot",
    "DOT",
    "Dot",
    "จุด",
    " .",
    "\t.",
    "(.",
    "(/",
    "www,",
    "WWW,",
    "Www,",
    ". ไทย",
    "__",
    " :/",
    "\t:/",
    " /",
    "\t/",
    "hxxps:/",
    "https://",
    "p:\\\\",
    "d",
    "D",
    ".",
    "/",
    ":",
    "_",
    ",",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES + WORD_PIECES), max_size=30).map("".join))
def test_word_hits_with_guards(text: str) -> None:
    from nolink.links.normalize import _word_hits

    assert _word_hits(text) == _word_hits_plain(text)


def test_trigger_codes_are_the_class() -> None:
    from nolink.links import normalize as nm

    assert sorted(nm._TRIGGER_AB_CODES) == [c for c in range(0x110000) if nm._TRIGGER_AB.match(chr(c))]


C_PIECES = ["ดอท", "ทับ", " /", "\t/", " .", "\t.", "ก", "a", " ", "w w w . d l a", "คอม", "ไทย", "\u0514"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES + WORD_PIECES + C_PIECES), max_size=30).map("".join))
def test_c_words_miss_no_word(text: str) -> None:
    """normalize's third pass looks only for the words _c_words says the text holds: read off the
    B pass's hits and the UTF-16 low bytes, it never misses one a plain search finds."""
    from nolink.links import normalize as nm

    _p, _t, lows = nm._start_utf16(text)
    got = set(nm._c_words(text, nm._word_hits(text), lows))
    assert {w for w in nm._C_WORDS if w in text} <= got
