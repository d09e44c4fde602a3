"""Issue 11, adversarial speed: a text of a few tokens repeated is searched once per distinct unit
(text.TextFinder._by_unit) and normalize runs each half of its patterns only around its own
triggers. These fast paths must find exactly what the plain search finds, wherever the link sits."""

from __future__ import annotations

import pytest

from conftest import HERE
from mail import message
from nolink import scan_message
from nolink.links import text as text_module
from nolink.links.normalize import normalize
from nolink.links.text import TextFinder

MB = 1_000_000
FILLERS = ["\u202ea.b ", "https :", "a.b ", "ก . ", ".\n", "x at ", "p:", "www, "]


@pytest.mark.parametrize("filler", FILLERS)
def test_link_after_a_million_characters_of_repeats_is_found(finder: TextFinder, filler: str) -> None:
    head = filler * (MB // len(filler))
    s = head + " evil.example.com/x"
    found = [(x.url, x.location.offset) for x in finder.find(s, HERE)]
    assert ("http://evil.example.com/x", len(head) + 1) in found


def test_link_at_the_end_of_a_1_mb_message_of_repeats_is_found() -> None:
    body = ("\u202ea.b " * (MB // 5) + "\r\nhttps://evil.example.com/login\r\n").encode()
    r = scan_message(message(body, "text/plain; charset=utf-8", "8bit"))
    assert r.verdict == "link"
    assert "https://evil.example.com/login" in [x.url for x in r.findings]


REPEATED = [
    # (unit, count): the texts below repeat these, with links among them
    "a.b x.com ",
    "http:// example.com ",
    "http://\texample.com/a ",
    "see\\\\ www.dla.go.th ",
    "login at portal.example.app ",
    "user at example dot com ",
    "user@example.com mailto:a@b.co ",
    "ดูรายละเอียดที่ภาษี.ไทยค่ะ ",
    "\u202emoc.elpmaxe.live ",
    "you.Best regards. ",
    "192.168.1.1:8080 1.2.3.4 ",
    "x.com.\n",
]


@pytest.mark.parametrize("unit", REPEATED)
def test_search_by_unit_finds_what_the_plain_search_finds(
    finder: TextFinder, email_finder: TextFinder, unit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = "a.b " * 3000 + unit * 2000 + "tail.example.org"
    for f in (finder, email_finder):
        fast = [(x.text, x.url, x.kind, x.location.offset) for x in f.find(s, HERE)]
        norm = normalize(s)
        spans = text_module.windows(norm.text)
        assert f._by_unit(norm.text, 0, len(norm.text), {}) is not None  # the fast path is taken
        monkeypatch.setattr(text_module, "_UNIT_MIN", 10**12)  # the plain search, for reference
        plain = [(x.text, x.url, x.kind, x.location.offset) for x in f.find(s, HERE)]
        monkeypatch.undo()
        assert fast == plain
        assert fast  # every text above holds links
        assert len(spans) >= 1


@pytest.mark.parametrize(
    "s",
    [
        # distinct units, then repeated ones, then a link: chunks of either kind, cut at whitespace
        " ".join(f"w{i}.example{i}" for i in range(30_000)) + " a.b" * 100_000 + " evil.example.com/x",
        "a.b " * 100_000 + " ".join(f"w{i}.x{i}" for i in range(30_000)) + " evil.example.com/x",
        # a chunk may not end after a slash: the scheme's one space is kept
        ("a.b " * 16_383 + "http:// ") * 4 + "x",
        "https :" * 40_000 + " http://\tevil.example.com" + " x.y" * 50_000,
    ],
)
def test_search_in_chunks_finds_what_the_plain_search_finds(
    finder: TextFinder, s: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(s) > 4 * text_module._CHUNK
    fast = [(x.text, x.url, x.kind, x.location.offset) for x in finder.find(s, HERE)]
    monkeypatch.setattr(text_module, "_UNIT_MIN", 10**12)
    plain = [(x.text, x.url, x.kind, x.location.offset) for x in finder.find(s, HERE)]
    assert fast == plain
    assert fast


def test_units_that_hardly_repeat_are_searched_as_they_are(finder: TextFinder) -> None:
    s = " ".join(f"word{i}.example{i}" for i in range(20_000))
    assert finder._by_unit(s, 0, len(s), {}) is None


def test_disguised_dot_soon_after_another_is_undone() -> None:
    # two "\t." triggers 42 characters apart, a space 48 characters after the first inside the
    # second disguise: the window of the first used to end there, cutting the second in two
    first = "a.com\t.\tb"
    s = first + " " + "x" * 30 + " example\t.      com"
    assert "example.com" in normalize(s).text


@pytest.mark.parametrize(
    "s",
    [
        "a.b x.com //x.com www.dla.go.th ดูที่ภาษี.ไทยค่ะ a-b.c-d.com/x?y#z ab_c.com a..b .a.a",
        "(evil.example.com) 'x.org' <y.net> =z.io [w.app] /q.com -r.com .s.com ก.ไทย",
        "\u0e48ก.ไทย é.com x.com/path\\\\x 1.2.3.4/24 192.168.1.1/x .a" * 3,
    ],
)
def test_search_without_colon_or_at_is_the_full_search(s: str) -> None:
    # _URL_D (branch 2 alone) serves text with no ":" nor "@": the other branches need one
    full = [(m.span(), m.lastgroup, m.group("port", "path")) for m in text_module._URL.finditer(s)]
    short = [(m.span(), m.lastgroup, m.group("port", "path")) for m in text_module._URL_D.finditer(s)]
    assert full == short
    assert full


def test_a_window_never_ends_inside_a_scheme() -> None:
    # a window of normalize ended 256 characters after its trigger ("[.]") when no space came
    # first: here between the two slashes of "ftp://" (which, canonical, opens no window of its
    # own), whose "ftp:/" the cut window then "undid" into "ftp:///"
    s = "a[.]b" + "x" * 247 + "ftp://example.com"
    assert s.index("ftp://") + 4 == 1 + 255  # the first slash at trigger + 255
    assert normalize(s).text == "a.b" + "x" * 247 + "ftp://example.com"


def test_canonical_schemes_open_no_window_but_disguised_ones_are_undone() -> None:
    plain = "http://a.example.com https://b.example.com ftp://c.example.com FTPS://d.example.com"
    assert normalize(plain).as_written
    for disguised, shown in [
        ("hxxp://evil.example.com", "http://evil.example.com"),
        ("hXXps://evil.example.com", "https://evil.example.com"),
        ("http:/evil.example.com", "http://evil.example.com"),
        ("http:///evil.example.com", "http://evil.example.com"),
        ("fxp://evil.example.com", "ftp://evil.example.com"),
        ("https :// evil.example.com", "https:// evil.example.com"),
    ]:
        assert normalize("http://ok.example.com " * 50 + disguised).text.endswith(shown), disguised


def test_a_spelled_out_dot_skipped_as_covered_is_covered() -> None:
    # "[" opens a window that ends at the space after the second "dot" (the first space 96 or more
    # characters after it); the first "dot" (at 49) was taken as covered by that window, and the
    # second, 46 characters after the first, as covered by the first: its " dot " was cut in two
    s = "[" + "a" * 47 + " dot " + "b" * 41 + " dot com"
    assert (s.index("dot"), s.rindex("dot")) == (49, 95)
    assert normalize(s).text == "[" + "a" * 47 + "." + "b" * 41 + ".com"
