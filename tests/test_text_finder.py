"""The text finder: every bullet of the link definition, positives and negatives, Thai and English."""

from __future__ import annotations

import pytest

from conftest import HERE, texts
from nolink.links.text import TextFinder


def found(finder: TextFinder, s: str) -> list[str]:
    return texts(finder.find(s, HERE))


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("see https://www.dopa.go.th/news?id=1 today", "https://www.dopa.go.th/news?id=1", "scheme"),
        ("ftp://files.example.org/pub/a.txt", "ftp://files.example.org/pub/a.txt", "scheme"),
        ("HTTP://EXAMPLE.COM/Path", "HTTP://EXAMPLE.COM/Path", "scheme"),
        ("git clone git://example.org/repo.git", "git://example.org/repo.git", "scheme"),
        ("www.dla.go.th", "www.dla.go.th", "www"),
        ("Visit www.example.com.", "www.example.com", "www"),
        ("dla.go.th", "dla.go.th", "bare_domain"),
        ("ลงทะเบียนที่ example.co.th ได้", "example.co.th", "bare_domain"),
        ("shop.example.com:8080/cart", "shop.example.com:8080/cart", "bare_domain"),
        ("กรมการปกครอง.ไทย", "กรมการปกครอง.ไทย", "idn"),
        ("www.ศึกษา.ไทย/ประกาศ", "www.ศึกษา.ไทย/ประกาศ", "idn"),
        ("xn--12c1fe0br.xn--o3cw4h.example.com", "xn--12c1fe0br.xn--o3cw4h.example.com", "idn"),
        ("example.xn--o3cw4h", "example.xn--o3cw4h", "idn"),
        ("президент.рф", "президент.рф", "idn"),
        ("192.168.10.5:8080", "192.168.10.5:8080", "ip"),
        ("10.0.0.1/login", "10.0.0.1/login", "ip"),
        ("http://[2001:db8::1]:8443/x", "http://[2001:db8::1]:8443/x", "scheme"),
        ("https://user:pw@example.com:8443/a", "https://user:pw@example.com:8443/a", "scheme"),
    ],
)
def test_links(finder: TextFinder, text: str, expected: str, kind: str) -> None:
    links = finder.find(text, HERE)
    assert [x.text for x in links] == [expected]
    assert links[0].kind == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("คลิกที่นี่https://dopa.go.th/a", "https://dopa.go.th/a"),
        ("ดูรายละเอียดที่www.dopa.go.thค่ะ", "www.dopa.go.th"),
        ("กรุณาเข้าเว็บไซต์dla.go.thเพื่อตรวจสอบ", "dla.go.th"),
        ("ดูที่https://dla.go.th/newsค่ะ", "https://dla.go.th/news"),
        ("ไปที่ https://example.com/ประกาศ/2569 ได้", "https://example.com/ประกาศ/2569"),
        ("เข้าเว็บ www.dopa.go.th.", "www.dopa.go.th"),
        ("(www.dopa.go.th)", "www.dopa.go.th"),
        ("“https://example.com/a”", "https://example.com/a"),
        ("ดู www.dopa.go.th ฯลฯ", "www.dopa.go.th"),
        ("ที่ www.dopa.go.thฯลฯ", "www.dopa.go.th"),
        ("https://example.com/a!", "https://example.com/a"),
        ("https://example.com/x;", "https://example.com/x"),
        ("go to www.example.com…", "www.example.com"),
        ("https://en.wikipedia.org/wiki/Bangkok_(city))", "https://en.wikipedia.org/wiki/Bangkok_(city)"),
        ("<https://example.com/a>", "https://example.com/a"),
    ],
)
def test_glued_and_punctuation(finder: TextFinder, text: str, expected: str) -> None:
    assert found(finder, text) == [expected]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("hxxps://evil.example.com/x", "https://evil.example.com/x"),
        ("hXXp://evil.example.com", "http://evil.example.com"),
        ("example[.]com/login", "http://example.com/login"),
        ("example(.)com", "http://example.com"),
        ("example[dot]com", "http://example.com"),
        ("example(dot)com", "http://example.com"),
        ("contact secure-login dot net now", "http://secure-login.net"),
        ("เข้าเว็บ dopa จุด go จุด th นะคะ", "http://dopa.go.th"),
        ("ｈｔｔｐｓ：／／ｅｘａｍｐｌｅ．ｃｏｍ", "https://example.com"),
        ("example。com", "http://example.com"),
        ("exa\u200bmple.com", "http://example.com"),
        ("www\u00ad.example\u00ad.com", "http://www.example.com"),
        ("h t t p s : / / example . com", "https://example.com"),
        ("www,dla,go,th", "http://www.dla.go.th"),
        ("http:\\\\example.com\\x", "http://example.com/x"),
        ("http__example.com/test", "http://example.com/test"),
    ],
)
def test_obfuscated(finder: TextFinder, text: str, url: str) -> None:
    links = finder.find(text, HERE)
    assert [x.url for x in links] == [url]
    assert links[0].kind == "obfuscated"
    assert links[0].text in text


@pytest.mark.parametrize(
    "text",
    [
        "เรียน คุณสมชาย ตามที่ท่านได้ยื่นคำร้อง",
        "ติดต่อ saraban@dopa.go.th",  # a bare address
        "mailto:saraban@dopa.go.th",
        "myuser [at] example dot com",
        "user[@]example.com",
        "tel:+6621234567",
        "โทร. 0 2123 4567 หรือ 02-123-4567, 123.456.7890",
        "๑๖ ก.พ. ๒๕๖๙",
        "18 ก.พ. 69",
        "ก.พ. พ.ศ. ๒๕๖๘ ม.ค. ธ.ค.",
        "e.g. i.e. U.S.A. a.m. p.m.",
        "version 1.2.3, v2.10.4-rc1, decimals 3.14 and 1,234.56",
        "ข้อ 1.2.3.4 และ ข้อ ๒.๑",
        "มท ๐๘๒๓.๒/ว ๕๒๗",
        "ที่ มท 0808.2/ว 1234",
        "100.20.30.0/24",
        "1.2.3.4",
        "see report.zip and clip.mov, readme.md, run.sh",
        "open invoice.pdf or data.xlsx or photo.jpg",
        "I am sitting outside.In the middle of nowhere.It was hot",
        "node.js and io.js",
        "example.invalid and foo.localhost",
        "ไทย\u200bคำ\u200bไทย",
        "Thai words\u200bcom",
        "http://",
        "http://#",
        "/path/to/file.pl",
        "x.x.x.x",
        "main_data_site.group.popular_data_desc",
    ],
)
def test_not_links(finder: TextFinder, text: str) -> None:
    assert found(finder, text) == []


def test_email_switch(email_finder: TextFinder) -> None:
    links = email_finder.find("ติดต่อ saraban@dopa.go.th หรือ mailto:info@example.com", HERE)
    assert [(x.kind, x.text) for x in links] == [
        ("email", "saraban@dopa.go.th"),
        ("email", "mailto:info@example.com"),
    ]


def test_file_name_with_tld_needs_more_to_be_a_link(finder: TextFinder) -> None:
    assert found(finder, "www.report.zip") == ["www.report.zip"]
    assert found(finder, "https://report.zip") == ["https://report.zip"]
    assert found(finder, "files.example.zip") == ["files.example.zip"]
    assert found(finder, "report.zip/download") == ["report.zip/download"]


def test_capitalised_english_tld(finder: TextFinder) -> None:
    assert found(finder, "example.Net") == ["example.Net"]
    assert found(finder, "www.example.In") == ["www.example.In"]


def test_offsets_point_into_the_original(finder: TextFinder) -> None:
    s = "ก่อน hxxps://evil[.]example.com/x หลัง example.org"
    links = finder.find(s, HERE)
    for link in links:
        off = link.location.offset
        assert s[off : off + len(link.text)] == link.text
    assert [x.text for x in links] == ["hxxps://evil[.]example.com/x", "example.org"]


def test_zero_width_between_thai_words_never_glues(finder: TextFinder) -> None:
    # "จุด" between Thai words is a word, not a dot; U+200B between Thai words is a space
    assert found(finder, "นัดพบที่จุด\u200bบริการ") == []
    assert found(finder, "example\u200b com") == []
