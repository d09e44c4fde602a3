"""The rendered text of HTML (links/render.py): what a mail client draws, searched beside the source.

Each case is built as a clerk or an attacker builds it: a visible address with junk hidden inside,
reversed text, CSS generated content; and the clean look-alikes that must stay clean.
"""

from __future__ import annotations

import time

import pytest
from selectolax.lexbor import LexborHTMLParser

from mail import message
from nolink.config import Config
from nolink.findings import Location
from nolink.links import render as render_mod
from nolink.links.html import BLOCK, HtmlFinder
from nolink.links.render import Hints, render
from nolink.links.text import TextFinder
from nolink.policy import decide
from nolink.scan import Scanner
from nolink.scope import Envelope

WHERE = Location("1", "text/html", "body")
CITIZEN = Envelope("saraban@example.go.th", ("somchai@example.com",))
TARGET = "http://www.dla.go.th/form527"


@pytest.fixture(scope="module")
def html(finder: TextFinder) -> HtmlFinder:
    return HtmlFinder(finder)


def found(html: HtmlFinder, doc: str) -> dict[str, str]:
    """url -> location of every link in doc."""
    return {x.url: str(x.location) for x in html.find(doc, WHERE)}


def letter(inner: str, head: str = "") -> str:
    """An HTML letter as a clerk's mail program writes it."""
    return (
        f"<html><head><meta charset=utf-8>{head}</head><body>"
        f"<p>เรียน ท่านผู้มีสิทธิ์</p><p>โปรดยื่นแบบคำร้องที่ {inner} ภายในวันที่ ๑๖ ก.พ. ๒๕๖๙</p>"
        "<p>ขอแสดงความนับถือ</p></body></html>"
    )


# -- hidden text inside a visible address --------------------------------------------------------

HIDDEN = [
    # (name, the address as written in the source)
    ("display none junk", 'www.dla<span style="display:none">zq9x</span>.go.th/form527'),
    ("hidden space", 'www.dla<span style="display:none"> </span>.go.th/form527'),
    ("hidden at sign", 'www.dla<span style="display: none !important">@</span>.go.th/form527'),
    ("hidden saraban@ before the host", '<span style="display:none">saraban@</span>www.dla.go.th/form527'),
    ("visibility hidden", 'www.dla.go<span style="visibility:hidden">@x</span>.th/form527'),
    ("font-size 0", 'www.dla.go<span style="font-size:0px">@x</span>.th/form527'),
    ("font shorthand 0", 'www.dla.go<span style="font:0/0 a">@x</span>.th/form527'),
    ("opacity 0", 'www.dla.go<span style="opacity:0">@x</span>.th/form527'),
    (
        "max-height 0 overflow hidden",
        'www.dla.go<span style="display:inline-block;max-height:0;overflow:hidden">@x</span>.th/form527',
    ),
    (
        "height 0 overflow hidden",
        'www.dla.go<span style="height:0;overflow:hidden;display:inline-block">@</span>.th/form527',
    ),
    ("width 0 overflow hidden", 'www.dla.go<span style="width:0px; overflow: hidden">@x</span>.th/form527'),
    ("hidden attribute", "www.dla.go<span hidden>@x</span>.th/form527"),
    ("white on default white", 'www.dla.go<span style="color:#fff">@x</span>.th/form527'),
    ("white by name", 'www.dla.go<font color="white">@x</font>.th/form527'),
    ("legacy colour without #", 'www.dla.go<font color="ffffff">@x</font>.th/form527'),
    (
        "colour of an ancestor's background",
        '<span style="background-color:rgb(0,51,102);color:#fff">www.dla.go'
        '<b style="color:#003366">@x</b>.th/form527</span>',
    ),
    (
        "bgcolor of a table cell",
        '<table><tr><td bgcolor="#FFFFCC">www.dla.go<span style="color:#ffffcc">@x</span>.th/form527</td></tr></table>',
    ),
    ("transparent text", 'www.dla.go<span style="color:transparent">@x</span>.th/form527'),
    ("mso-hide", 'www.dla.go<span style="mso-hide:all">@x</span>.th/form527'),
    (
        "visible again inside hidden",
        'www.dla.go<span style="visibility:hidden">@<b style="visibility:visible">.th</b></span>/form527',
    ),
]


@pytest.mark.parametrize(("name", "doc"), HIDDEN, ids=[c[0] for c in HIDDEN])
def test_hidden_text_inside_an_address(html: HtmlFinder, name: str, doc: str) -> None:
    got = found(html, letter(doc))
    assert TARGET in got, got
    # found where only the drawing holds it, unless the source text holds it too
    assert got[TARGET] in ("1 text/html rendered text @" + got[TARGET].split("@")[-1], got[TARGET])


def test_a_rendered_only_link_says_so(html: HtmlFinder) -> None:
    got = found(html, letter('<span style="display:none">saraban@</span>www.dla.go.th/form527'))
    assert got[TARGET].startswith("1 text/html rendered text @")
    offset = int(got[TARGET].split("@")[-1])
    assert offset > 0


def test_the_hidden_text_is_still_searched(html: HtmlFinder) -> None:
    """A client that ignores CSS shows hidden text: a link there is still a link."""
    got = found(html, letter('<span style="display:none">https://evil.example.com/pay</span>'))
    assert got == {
        "https://evil.example.com/pay": "1 text/html text @"
        + got["https://evil.example.com/pay"].split("@")[-1]
    }
    got = found(html, letter('www.dla<span style="display:none">zq9x</span>.go.th'))
    assert set(got) == {"http://www.dlazq9x.go.th", "http://www.dla.go.th"}


STYLESHEET = [
    ("class", "<style>.n{display:none}</style>", '<span class="n">@x</span>'),
    (
        "class, upper case in quirks mode",
        "<style>.Junk{display:none}</style>",
        '<span class="junk">@x</span>',
    ),
    ("id", "<style>#q1{visibility:hidden}</style>", '<span id="q1">@x</span>'),
    ("tag", "<style>s{font-size:0}</style>", "<s>@x</s>"),
    ("descendant", "<style>p em{display:none}</style>", "<em>@x</em>"),
    ("child", "<style>p > u{opacity:0}</style>", "<u>@x</u>"),
    ("attribute", "<style>[data-x]{display:none}</style>", "<i data-x=1>@x</i>"),
    ("comma list", "<style>h1, .a, .b {display:none}</style>", '<i class="b">@x</i>'),
    ("media screen", "<style>@media screen { .m {display:none} }</style>", '<i class="m">@x</i>'),
    ("comment and escape", "<style>/* x */ .e { dis\\70 lay: none }</style>", '<i class="e">@x</i>'),
    (
        "important over inline",
        "<style>.i{display:none !important}</style>",
        '<i class="i" style="display:inline">@x</i>',
    ),
    ("white class on white", "<style>.w{color:#FFFFFF}</style>", '<i class="w">@x</i>'),
]


@pytest.mark.parametrize(("name", "head", "junk"), STYLESHEET, ids=[c[0] for c in STYLESHEET])
def test_rules_in_a_style_block(html: HtmlFinder, name: str, head: str, junk: str) -> None:
    got = found(html, letter(f"www.dla.go{junk}.th/form527", head))
    assert TARGET in got, got
    assert got[TARGET].startswith("1 text/html rendered text")


STYLESHEET_CLEAN = [
    ("hover only", "<style>i:hover{display:none}</style>", "<i>@x</i>"),
    ("print only", "<style>@media print { i {display:none} }</style>", "<i>@x</i>"),
    ("mobile only", "<style>@media (max-width:600px) { i {display:none} }</style>", "<i>@x</i>"),
    ("another class", "<style>.n{display:none}</style>", '<i class="m">@x</i>'),
    ("inline wins", "<style>.n{display:none}</style>", '<i class="n" style="display:inline">@x</i>'),
    ("more specific wins", "<style>p i{display:inline} i{display:none}</style>", "<i>@x</i>"),
    ("grey on white", "<style>i{color:#888}</style>", "<i>@x</i>"),
    (
        "white on an image",
        "<style>b{background:url(bg.png) #fff}</style>",
        '<b><i style="color:#fff">@x</i></b>',
    ),
]


@pytest.mark.parametrize(("name", "head", "junk"), STYLESHEET_CLEAN, ids=[c[0] for c in STYLESHEET_CLEAN])
def test_rules_that_do_not_hide(html: HtmlFinder, name: str, head: str, junk: str) -> None:
    """The junk stays drawn: the address a reader sees is broken, so no rendered link."""
    got = found(html, letter(f"www.dla.go{junk}.th/form527", head))
    assert TARGET not in got, got
    assert not any("rendered" in v for v in got.values()), got


# -- reversed text -------------------------------------------------------------------------------

REVERSED = [
    ("bdo rtl", '<bdo dir="rtl">725mrof/ht.og.ald.www</bdo>'),
    ("bdo with markup inside", '<bdo dir="rtl">725mrof/<b>ht.og</b>.ald.www</bdo>'),
    ("css override", '<span style="unicode-bidi:bidi-override;direction:rtl">725mrof/ht.og.ald.www</span>'),
    (
        "css isolate-override",
        '<span style="direction: rtl; unicode-bidi: isolate-override">725mrof/ht.og.ald.www</span>',
    ),
    ("css override in a rule", '<span class="r">725mrof/ht.og.ald.www</span>'),
]


@pytest.mark.parametrize(("name", "doc"), REVERSED, ids=[c[0] for c in REVERSED])
def test_reversed_text(html: HtmlFinder, name: str, doc: str) -> None:
    head = "<style>.r{unicode-bidi:bidi-override;direction:rtl}</style>"
    got = found(html, letter(doc, head))
    assert TARGET in got, got
    assert got[TARGET].startswith("1 text/html rendered text")


@pytest.mark.parametrize(
    "doc",
    [
        # an ltr bdo inside keeps its order, placed among the reversed pieces
        '<bdo dir="rtl">725mrof/<bdo dir="ltr">dla.go.th</bdo>.www</bdo>',
        # rtl inside rtl is one reversal of the whole
        '<bdo dir="rtl">725mrof/<bdo dir="rtl">ht.og</bdo>.ald.www</bdo>',
        # an element with dir inside an override stops the override there (HTML: unicode-bidi: isolate)
        '<bdo dir="rtl">725mrof/<span dir="ltr">dla.go.th</span>.www</bdo>',
    ],
)
def test_nested_direction(html: HtmlFinder, doc: str) -> None:
    got = found(html, letter(doc))
    assert TARGET in got, got


@pytest.mark.parametrize(
    "doc",
    [
        '<bdo dir="rtl">เรียนท่านผู้มีสิทธิ์ ขอแสดงความนับถือ</bdo>',  # reversed Thai text
        '<p dir="rtl">ht.og.ald.www</p>',  # dir=rtl alone does not turn Latin letters
        '<span style="direction:rtl">ht.og.ald.www</span>',  # direction without an override
        '<bdo dir="ltr">ht.og.ald.www</bdo>',
        '<bdo dir="rtl">ส่งเอกสาร ๑๖ ก.พ. ๒๕๖๙ มท ๐๘๒๓.๒/ว ๕๒๗</bdo>',
    ],
)
def test_reversed_look_alikes_stay_clean(html: HtmlFinder, doc: str) -> None:
    assert found(html, letter(doc)) == {}


# -- generated content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head",
    [
        '<style>a.f::after { content: " www.dla.go.th/form527" }</style>',
        "<style>a.f:after{content:' www.dla.go.th/form527'}</style>",
        '<style>.f::before { content: "www.dla.go.th/form527 " }</style>',
        '<style>.f::after { content: " www." "dla.go.th" "/form527" }</style>',
        '<style>.f::after { content: " " attr(data-u) }</style>',
        '<style>.f::after { content: "\\20 www.dla.go.th\\2f form527" }</style>',
    ],
)
def test_generated_content(html: HtmlFinder, head: str) -> None:
    doc = letter('<a class="f" data-u="www.dla.go.th/form527">แบบฟอร์ม</a>', head)
    got = found(html, doc)
    assert TARGET in got, got
    assert got[TARGET].startswith("1 text/html rendered text")


def test_generated_content_that_is_not_drawn(html: HtmlFinder) -> None:
    for head in (
        '<style>.f:hover::after { content: " www.dla.go.th/form527" }</style>',
        '<style>.g::after { content: " www.dla.go.th/form527" }</style>',  # matches nothing
        '<style>.f::after { content: " www.dla.go.th/form527"; display: none }</style>',
        '<style>.f::after { content: "→" }</style>',
    ):
        assert found(html, letter('<a class="f">แบบฟอร์ม</a>', head)) == {}, head
    hidden = letter(
        '<span style="display:none"><a class="f">แบบฟอร์ม</a></span>',
        head="<style>.f::after{content:' www.dla.go.th/x'}</style>",
    )
    assert found(html, hidden) == {}


# -- clean look-alikes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc",
    [
        # a newsletter's hidden preheader, without a link
        '<div style="display:none;max-height:0;overflow:hidden">ประกาศกรมส่งเสริมการปกครองท้องถิ่น ฉบับเดือนกุมภาพันธ์</div>'
        "<p>เรียน ท่านผู้มีสิทธิ์</p>",
        # hidden text that holds no link, between words
        'กรุณา<span style="display:none">xx</span>ติดต่อ<span style="font-size:0">.</span>สำนักงาน',
        # white text on a dark button, hidden spacer cells
        '<table><tr><td style="background:#003366"><span style="color:#ffffff">ยื่นคำร้อง</span></td>'
        '<td style="font-size:0;line-height:0">&nbsp;</td></tr></table>',
        # a version number and a date around hidden text
        'เวอร์ชัน 1.<span hidden>x</span>2.3 วันที่ 16.<span style="display:none">-</span>02.2569',
        # an e-mail address with hidden decoration: still an address
        'saraban<span style="display:none">-x</span>@dla.go.th',
        # ordinary styles everywhere
        '<p style="color:#333;font-family:Tahoma;font-size:14px">เรียน ท่าน</p>',
    ],
)
def test_clean_look_alikes(html: HtmlFinder, doc: str) -> None:
    assert found(html, doc) == {}


def test_plain_letter_takes_the_fast_path(html: HtmlFinder) -> None:
    hints = Hints()
    assert not hints.any()
    tree = LexborHTMLParser("<p>www.dla<span>x</span>.go.th</p>")
    assert render(tree, "", BLOCK, hints) is not None
    assert render(tree, "", BLOCK, hints).spans == ()  # type: ignore[union-attr]


def test_a_hidden_block_amid_text_joins_it(html: HtmlFinder) -> None:
    doc = '<div>โปรดยื่นที่ www.dla.go<div style="display:none">@x</div>.th/form527 ภายในวันนี้</div>'
    assert found(html, doc)[TARGET].startswith("1 text/html rendered text")


def test_a_hidden_block_between_blocks_is_not_walked() -> None:
    """A newsletter's preheader: nothing around it joins, so no window is searched."""
    doc = '<div style="display:none">สรุปข่าว www.dla</div><table><tr><td>.go.th</td></tr></table>'
    r = render(LexborHTMLParser(doc), doc, BLOCK, Hints(styles={"display:none"}))
    assert r is not None and r.spans == ()


def test_styles_that_hide_nothing_are_not_walked() -> None:
    hints = Hints(styles={"padding:4px;color:#333", "font-family:Tahoma"})
    tree = LexborHTMLParser(
        '<p style="color:#333">www.dla<span style="font-family:Tahoma">x</span>.go.th</p>'
    )
    r = render(tree, "", BLOCK, hints)
    assert r is not None and r.spans == ()


# -- bounds: never less than the source text ----------------------------------------------------


def test_past_the_time_bound_the_source_text_is_still_searched(html: HtmlFinder) -> None:
    doc = letter('www.dla<span style="display:none">zq9x</span>.go.th')
    tree = LexborHTMLParser(doc)
    hints = Hints(styles={"display:none"})
    assert render(tree, doc, BLOCK, hints, deadline=time.monotonic() - 1) is None
    assert render(tree, doc, BLOCK, hints, deadline=time.monotonic() + 5) is not None
    got = {x.url for x in html.find(doc, WHERE, deadline=time.monotonic() - 1)}
    assert "http://www.dlazq9x.go.th" in got


def test_a_long_stylesheet_is_not_applied_but_inline_styles_are(html: HtmlFinder) -> None:
    filler = "".join(f".c{i}{{color:red}}" for i in range(render_mod.MAX_SHEET_CHARS // 10))
    doc = letter(
        'www.dla.go<span class="n">@x</span>.th/form527 www.dla.go<span style="display:none">@x</span>.th/inline',
        f"<style>{filler}.n{{display:none}}</style>",
    )
    got = found(html, doc)
    assert "http://www.dla.go.th/inline" in got
    assert TARGET not in got  # the rule past the bound is not applied: the junk counts as drawn


def test_many_hidden_spans_stay_bounded(html: HtmlFinder) -> None:
    doc = "x<i hidden>y</i>" * 20_000 + ' www.dla<span style="display:none">q</span>.go.th/form527'
    t = time.process_time()
    got = found(html, doc)
    assert time.process_time() - t < 5.0
    assert "http://www.dlaq.go.th/form527" in got  # the source text, whatever the drawing did


# -- through the scanner and the policy ------------------------------------------------------------


def test_scan_rejects_a_letter_with_hidden_junk_in_its_address() -> None:
    doc = letter(
        '<a style="color:#1155cc">www.dla<span style="display:none">@</span>.go.th/form527</a>',
        "<style>.x{color:red}</style>",
    )
    raw = message(doc.encode(), "text/html; charset=utf-8", "8bit")
    r = Scanner(Config()).scan(raw)
    assert r.verdict == "link"
    assert any(x.url == TARGET and "rendered text" in str(x.location) for x in r.findings), r.findings
    d = decide(Config(), CITIZEN, r, "REF0000019")
    assert d.reason == "link_found" and d.action == "reject"


def test_scan_of_a_clean_newsletter_with_a_hidden_preheader() -> None:
    doc = (
        "<html><head><style>.pre{display:none!important}</style></head><body>"
        '<div class="pre">สรุปข่าวประจำสัปดาห์</div>'
        '<table><tr><td style="padding:4px;color:#333">เรียน ท่าน</td></tr></table></body></html>'
    )
    r = Scanner(Config()).scan(message(doc.encode(), "text/html; charset=utf-8", "8bit"))
    assert r.verdict == "clean", r.findings


def test_a_fault_in_the_drawing_keeps_the_source_findings(
    html: HtmlFinder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nolink.links.html as html_mod

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug in the drawing")

    monkeypatch.setattr(html_mod, "render", broken)
    got = found(html, letter('https://evil.example.com/pay <span style="display:none">x</span>'))
    assert "https://evil.example.com/pay" in got
