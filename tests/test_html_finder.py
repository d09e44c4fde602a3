"""The HTML finder: attributes, base, refresh, CSS, javascript:/data:, entities, comments."""

from __future__ import annotations

import base64

import pytest

from nolink.findings import Location
from nolink.links.html import HtmlFinder
from nolink.links.text import TextFinder

WHERE = Location("1.2", "text/html", "body")


@pytest.fixture(scope="module")
def html(finder: TextFinder) -> HtmlFinder:
    return HtmlFinder(finder)


def urls(html: HtmlFinder, doc: str, base: str = "") -> list[str]:
    return [x.url for x in html.find(doc, WHERE, base)]


@pytest.mark.parametrize(
    ("doc", "url"),
    [
        ('<a href="https://e.example.com/a">x</a>', "https://e.example.com/a"),
        ('<img src="http://img.example.com/p.png">', "http://img.example.com/p.png"),
        ('<img srcset="a.png 1x, https://cdn.example.com/b.png 2x">', "https://cdn.example.com/b.png"),
        ('<form action="https://f.example.com/post"></form>', "https://f.example.com/post"),
        ('<button formaction="https://f.example.com/b">b</button>', "https://f.example.com/b"),
        ('<table background="http://bg.example.com/t.gif"></table>', "http://bg.example.com/t.gif"),
        ('<video poster="http://v.example.com/p.jpg"></video>', "http://v.example.com/p.jpg"),
        ('<object data="http://o.example.com/x.swf"></object>', "http://o.example.com/x.swf"),
        ('<blockquote cite="http://q.example.com/"></blockquote>', "http://q.example.com/"),
        ('<img longdesc="http://l.example.com/d">', "http://l.example.com/d"),
        ('<svg><a xlink:href="http://s.example.com/"></a></svg>', "http://s.example.com/"),
        ('<a href="#x" ping="http://p.example.com/track">x</a>', "http://p.example.com/track"),
        ('<meta http-equiv="refresh" content="0; url=http://r.example.com/">', "http://r.example.com/"),
        ("<p style=\"background:url('http://css.example.com/a.png')\">x</p>", "http://css.example.com/a.png"),
        ("<style>@import 'http://imp.example.com/s.css';</style>", "http://imp.example.com/s.css"),
        ("<style>div{background:url(http://st.example.com/b.png)}</style>", "http://st.example.com/b.png"),
        ('<a href="//proto.example.com/x">x</a>', "http://proto.example.com/x"),
        ('<a href="&#104;ttps://ent.example.com/">x</a>', "https://ent.example.com/"),
        ('<a href="ht&#x09;tp://tab.example.com/">x</a>', "http://tab.example.com/"),
        ('<a href="ht\ntp://nl.example.com/">x</a>', "http://nl.example.com/"),
        ('<a href="  https://space.example.com/ ">x</a>', "https://space.example.com/"),
        ('<a href="www.noscheme.example.com">x</a>', "http://www.noscheme.example.com"),
        (
            '<!--[if mso]><v:roundrect href="http://mso.example.com/"></v:roundrect><![endif]-->',
            "http://mso.example.com/",
        ),
        ("<a href=\"javascript:location='http://js.example.com/'\">x</a>", "http://js.example.com/"),
    ],
)
def test_attribute_links(html: HtmlFinder, doc: str, url: str) -> None:
    assert urls(html, doc) == [url]


def test_srcset_repeated_entries(html: HtmlFinder) -> None:
    """A plain entry repeated is settled once and hides nothing after it; a linking entry repeated
    is reported at each of its places; a relative entry under a base is joined every time."""
    doc = '<img srcset="' + "a.png 1x, " * 50 + 'www.example.com 2x, www.example.com 3x">'
    links = html.find(doc, WHERE)
    assert [x.url for x in links] == ["http://www.example.com"] * 2
    assert links[0].location.offset != links[1].location.offset
    joined = urls(html, '<img srcset="a.png 1x, a.png 2x">', "https://cdn.example.com/")
    assert joined == ["https://cdn.example.com/a.png"] * 2


def test_data_url_with_embedded_link(html: HtmlFinder) -> None:
    inner = base64.b64encode(b'<a href="http://inner.example.com/">x</a>').decode()
    assert urls(html, f'<iframe src="data:text/html;base64,{inner}"></iframe>') == [
        "http://inner.example.com/"
    ]


@pytest.mark.parametrize(
    "doc",
    [
        '<a href="#top">top</a>',
        '<a href="mailto:saraban@dopa.go.th">mail us</a>',
        '<a href="tel:+6621234567">call</a>',
        '<a href="javascript:void(0)">x</a>',
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<img src="cid:logo@example">',
        "<!-- see http://comment.example.com/ -->",
        '<a href="page.html">relative, no base</a>',
        '<a href="user.name@example.com">x</a>',
        "<script>var u = 'http://script.example.com/'</script>",
        "<p>เรียน ท่านผู้มีสิทธิ์ ๑๖ ก.พ. ๒๕๖๙</p>",
    ],
)
def test_not_links(html: HtmlFinder, doc: str) -> None:
    assert urls(html, doc) == []


def test_base_makes_relative_links(html: HtmlFinder) -> None:
    got = urls(html, '<base href="http://base.example.com/d/"><a href="page.html">x</a>')
    assert got == ["http://base.example.com/d/", "http://base.example.com/d/page.html"]


def test_content_base_header_makes_relative_links(html: HtmlFinder) -> None:
    assert urls(html, '<a href="p.html">x</a>', base="http://cb.example.com/") == [
        "http://cb.example.com/p.html"
    ]


def test_link_text_differing_from_href_reports_both(html: HtmlFinder) -> None:
    links = html.find('<a href="https://evil.example.net/">https://www.dopa.go.th/</a>', WHERE)
    assert [(x.kind, x.url) for x in links] == [
        ("html_attr", "https://evil.example.net/"),
        ("scheme", "https://www.dopa.go.th/"),
    ]
    assert links[0].location.field == "attr a href"
    assert links[1].location.field == "text"


def test_visible_text_split_by_inline_tags(html: HtmlFinder) -> None:
    assert urls(html, "<p>www.<b>example</b>.com</p>") == ["http://www.example.com"]


def test_blocks_do_not_run_together(html: HtmlFinder) -> None:
    assert urls(html, "<div>ไปที่ www.dopa.go.th</div><span>Next</span>") == ["http://www.dopa.go.th"]


def test_broken_html_does_not_raise(html: HtmlFinder) -> None:
    assert urls(html, "<a href='http://x.example.com/'<<<>>><table><tr><td>") == ["http://x.example.com/"]


def test_deep_nesting_uses_the_flat_reader(html: HtmlFinder) -> None:
    from nolink.links.html import MAX_NESTING, too_deep

    deep = "<div>" * (MAX_NESTING + 10) + " " * 65536
    doc = (
        deep + '<a href="https://deep.example.com/">x</a><p>www.dopa.go.th</p><!-- http://c.example.com/ -->'
    )
    doc += "<style>a{background:url(http://css.example.com/x.png)}</style><script>var u='http://s.example.com'</script>"
    assert too_deep(doc)
    assert not too_deep("<p>" * 5000 + "<br>" * 5000)  # auto-closed and void elements do not nest
    assert sorted(urls(html, doc)) == [
        "http://css.example.com/x.png",
        "http://www.dopa.go.th",
        "https://deep.example.com/",
    ]
