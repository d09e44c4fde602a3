"""Issue 11: no false alarms on ordinary letters, no escape through Unicode, odd charsets or a line
break. Every rule has positives and negatives, in Thai and in English."""

from __future__ import annotations

import pytest

from conftest import HERE, texts
from mail import message
from nolink import find_links, scan_message
from nolink.findings import Location
from nolink.links import thai
from nolink.links.html import HtmlFinder, css_urls
from nolink.links.text import TextFinder, local_file_url


def urls(finder: TextFinder, s: str) -> list[str]:
    return [x.url for x in finder.find(s, HERE)]


# -- a missing space after a full stop --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Thank you.Best regards, Somchai",
        "Have a good day.Best",
        "From all of us in the team.Love, Mali",
        "Please read the report.Contact me if anything is unclear",
        "The meeting starts at 10 a.m.Room 5 on the 3rd floor",
        "See section 2.Contact the office",
        "ABC Co.Ltd. Bangkok",
        "ABC CO.LTD Bangkok",
        "บริษัท เอบีซี Co.Ltd. กรุงเทพฯ",
        "ขอบคุณครับ thank you.Best regards",
        "I am sitting outside.In the middle",
    ],
)
def test_glued_sentences_are_not_links(finder: TextFinder, text: str) -> None:
    assert texts(finder.find(text, HERE)) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("login at portal.example.app today", "portal.example.app"),
        ("ดูที่ dla.go.th ค่ะ", "dla.go.th"),
        ("see Example.COM/path now", "Example.COM/path"),
        ("visit Example.Com", "Example.Com"),
        ("example.Net", "example.Net"),
        ("you.Best/regards", "you.Best/regards"),  # a path makes it an address
        ("www.team.Love", "www.team.Love"),  # so does www
        ("https://day.Best", "https://day.Best"),  # and a scheme
        ("เว็บไซต์ team.love ค่ะ", "team.love"),  # lower case: a name
    ],
)
def test_real_links_stay_links(finder: TextFinder, text: str, expected: str) -> None:
    assert texts(finder.find(text, HERE)) == [expected]


# -- file: URLs on the sender's own disk ---------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "file:///C:/Users/somchai/Documents/letter.htm",
        "file://localhost/etc/x",
        "file://C:/x",
        "FILE:///D:/งาน/a.doc",
    ],
)
def test_local_file_urls_are_not_links(finder: TextFinder, url: str) -> None:
    assert local_file_url(url)
    assert urls(finder, f"ไฟล์อยู่ที่ {url} ครับ") == []


@pytest.mark.parametrize(
    "url", ["file://evil.example.com/share/a.exe", "file:\\\\fileserver.example.com\\share"]
)
def test_file_urls_on_another_host_are_links(finder: TextFinder, url: str) -> None:
    assert not local_file_url(url)
    assert texts(finder.find(f"open {url} now", HERE)) == [url]


def test_word_mht_content_location_is_no_link() -> None:
    mht = (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n"
        b"Content-Location: file:///C:/Users/somchai/Documents/letter.htm\r\n\r\n"
        b'<html><head><link rel=File-List href="letter_files/filelist.xml"></head>'
        b'<body><img src="letter_files/image001.png">\xe0\xb9\x80\xe0\xb8\xa3\xe0\xb8\xb5\xe0\xb8\xa2\xe0\xb8\x99</body></html>\r\n'
        b"--b\r\nContent-Type: image/png\r\nContent-Location: file:///C:/Users/somchai/Documents/letter_files/image001.png\r\n\r\nxx\r\n--b--\r\n"
    )
    assert scan_message(mht).verdict == "clean"
    # a remote file: link in the same place still counts
    assert scan_message(mht.replace(b"file:///C:/Users", b"file://evil.example.com/Users")).verdict == "link"


# -- Unicode disguises -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("evil\u202e.example.com", "http://evil.example.com"),
        ("www.\u200eevil.example.com", "http://www.evil.example.com"),
        ("\u200fwww.evil.example.com\u200f", "http://www.evil.example.com"),
        ("ดูที่ www.\u202aกรม\u202c.example.com", None),  # Thai glued inside an ASCII host: no name
        ("evil\ufe52example\ufe52com", "http://evil.example.com"),
        ("www\u2024evil\u2024com", "http://www.evil.com"),
        ("evil\u0701example\u0701com", "http://evil.example.com"),
        ("www\u00b7evil\u00b7com", "http://www.evil.com"),
        ("e\u0332v\u0332i\u0332l.example.com", "http://evil.example.com"),
        ("𝐞𝐯𝐢𝐥.example.com", "http://evil.example.com"),
        ("𝒉𝒕𝒕𝒑𝒔://𝒆𝒗𝒊𝒍.example.com", "https://evil.example.com"),
        ("ⓔⓥⓘⓛ.example.com", "http://evil.example.com"),
        ("https ://evil.example.com", "https://evil.example.com"),
        ("https: //evil.example.com", "https://evil.example.com"),
        ("กรมการปกครอง . ไทย", "http://กรมการปกครอง.ไทย"),
        ("กรมการปกครอง จุด ไทย", "http://กรมการปกครอง.ไทย"),
    ],
)
def test_unicode_disguises_are_seen_through(finder: TextFinder, text: str, url: str | None) -> None:
    found = finder.find(text, HERE)
    if url is None:
        return
    assert url in [x.url for x in found]
    for x in found:
        assert text[x.location.offset : x.location.offset + len(x.text)] == x.text


def test_right_to_left_override_is_read_as_shown(finder: TextFinder) -> None:
    s = "โปรดเข้า \u202emoc.elpmaxe.live\u202c ค่ะ"
    found = finder.find(s, HERE)
    assert "http://evil.example.com" in [x.url for x in found]
    for x in found:
        assert s[x.location.offset : x.location.offset + len(x.text)] == x.text
    # a run that turns a name around its dot, far into a long text
    s = "ก" * 1000 + " ดูที่ evil.\u202emoc\u202c ค่ะ"
    assert [x.url for x in finder.find(s, HERE)] == ["http://evil.com"]


@pytest.mark.parametrize(
    "text",
    [
        "เรียน ท่าน\u200eผู้มีสิทธิ์ ตามที่",  # LRM between Thai words
        "ราคา\u202e ๑๐๐ บาท\u202c",
        "Home · About · Contact",
        "• Refund policy • Terms",
        "café\u0301 au lait",
        "𝐁𝐨𝐥𝐝 headline. Next",
        "เวลา 09:30 น. แจ้งเตือน: ชำระภายใน 30 วัน",
        "ข้อ ๑ . ๒ ของระเบียบ",
        "Note : the office is closed",
    ],
)
def test_ordinary_text_with_such_characters_is_clean(finder: TextFinder, text: str) -> None:
    assert texts(finder.find(text, HERE)) == []


# -- "at" -------------------------------------------------------------------------------------------


def test_login_at_a_host_is_a_link_but_a_disguised_address_is_not(finder: TextFinder) -> None:
    assert urls(finder, "login at portal.example.app") == ["http://portal.example.app"]
    assert urls(finder, "เข้าระบบ login at portal.example.app ค่ะ") == ["http://portal.example.app"]
    assert urls(finder, "myuser at example dot com") == []
    assert urls(finder, "myuser [at] example.com") == []
    assert urls(finder, "somchai@example.com") == []


# -- a host name broken over two lines -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("กรอกแบบฟอร์มที่ www.dla.go.\nth/form ค่ะ", "http://www.dla.go.th/form"),
        ("Fill in the form at www.dla.go.\r\n   th/form", "http://www.dla.go.th/form"),
        ("https://www.dla.go.\nth/form", "https://www.dla.go.th/form"),
        ("WWW.DOPA.GO.\nTH", "http://www.dopa.go.th"),
    ],
)
def test_broken_host_is_joined(finder: TextFinder, text: str, url: str) -> None:
    found = finder.find(text, HERE)
    assert url in [x.url for x in found]
    for x in found:
        assert text[x.location.offset : x.location.offset + len(x.text)] == x.text


@pytest.mark.parametrize(
    "text",
    [
        "Made in the U.S.A.\ncompany policy applies",
        "e.g.\nthe office",
        "ติดต่อที่ว่าการอำเภอ.\nไทย",
        "We met the ministry.\nonline meetings follow",
        "ตามระเบียบ ข้อ 1.2.\n3 วรรคสอง",
    ],
)
def test_line_breaks_between_sentences_are_not_joined(finder: TextFinder, text: str) -> None:
    assert texts(finder.find(text, HERE)) == []


def test_a_whole_name_then_a_new_line_is_not_joined(finder: TextFinder) -> None:
    assert urls(finder, "visit www.example.com.\nBest regards") == ["http://www.example.com"]
    assert urls(finder, "ดูที่ dla.go.th.\nขอบคุณค่ะ") == ["http://dla.go.th"]


# -- Thai names glued to Thai words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ดูรายละเอียดที่ภาษี.ไทยค่ะ", "ภาษี.ไทย"),
        ("เข้าเว็บไซต์กรมการปกครอง.ไทยเพื่อตรวจสอบ", "กรมการปกครอง.ไทย"),
        ("ตรวจสอบได้ที่ที่ดิน.ไทยนะคะ", "ที่ดิน.ไทย"),
        ("กรมการปกครอง.ไทย", "กรมการปกครอง.ไทย"),
        ("ดูที่โรงเรียนบ้านนา.ศึกษา.ไทยค่ะ", None),  # a link; where it begins is a guess
    ],
)
def test_thai_idn_glued_to_thai_words(finder: TextFinder, text: str, shown: str | None) -> None:
    found = finder.find(text, HERE)
    assert len(found) == 1
    assert found[0].kind == "idn"
    if shown is not None and thai.available():
        assert found[0].text == shown
    x = found[0]
    assert text[x.location.offset : x.location.offset + len(x.text)] == x.text


@pytest.mark.parametrize("text", ["ส.ส.ไทย", "สมาคม ก.พ.ไทย", "พ.ศ.ไทย", "ประเทศไทยค่ะ", "คนไทย.ไทยแลนด์"])
def test_thai_abbreviations_and_words_are_not_links(finder: TextFinder, text: str) -> None:
    assert texts(finder.find(text, HERE)) == []


def test_word_breaker_is_cheap_and_right() -> None:
    if not thai.available():
        pytest.skip("libthai0 is not installed (scripts/setup.sh installs it)")
    assert thai.words("ดูรายละเอียดที่ภาษี") == ["ดู", "รายละเอียด", "ที่", "ภาษี"]
    assert thai.name_start("ดูรายละเอียดที่ภาษี") == len("ดูรายละเอียดที่")
    assert thai.name_start("กรมการปกครอง") == 0


# -- alt attributes ---------------------------------------------------------------------------------


def test_alt_text_is_searched(finder: TextFinder) -> None:
    html = HtmlFinder(finder)
    where = Location("1", "text/html", "body")
    found = html.find('<img src="cid:a" alt="Refund: www.evil.example.com">', where)
    assert [(x.url, x.location.field) for x in found] == [("http://www.evil.example.com", "attr img alt")]
    found = html.find('<img src="cid:a" alt="ดูที่ภาษี.ไทยค่ะ">', where)
    assert [x.url for x in found] == ["http://ภาษี.ไทย"]
    assert html.find('<img src="cid:a" alt="ตราครุฑ ๑.๒ Logo">', where) == []
    assert html.find('<img src="cid:a" alt="Company logo. Best regards">', where) == []


# -- CSS url() --------------------------------------------------------------------------------------


def test_css_urls() -> None:
    css = 'a{background:url( "https://x.example.com/a.png" )} @import "https://y.example.com/s.css"; b{x:url(q)}'
    assert [u for _, u in css_urls(css)] == [
        "https://x.example.com/a.png",
        "https://y.example.com/s.css",
        "q",
    ]
    assert css_urls("url(" * 1000) == []
    assert css_urls("url(url(https://z.example.com))") == [(4, "https://z.example.com")]


# -- charsets that hide text or raise --------------------------------------------------------------


def _body(charset: str, body: bytes, cte: str = "8bit") -> bytes:
    return (
        f'From: a@example.go.th\r\nSubject: x\r\nContent-Type: text/plain; charset="{charset}"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode("latin-1") + body


BAD_CHARSETS = ["idna", "punycode", "undefined", "utf-8\x00", "x\x00y", "rot13", "base64", "unicode-escape"]


@pytest.mark.parametrize("charset", BAD_CHARSETS)
def test_charsets_that_raise_do_not(charset: str) -> None:
    link = _body(charset, "ดูที่ https://evil.example.com/x ค่ะ \xff".encode())
    assert scan_message(link).verdict == "link"
    assert scan_message(_body(charset, "เรียน ท่าน ๑๖ ก.พ. ๒๕๖๙".encode())).verdict == "clean"
    subject = f"Subject: =?{charset}?Q?https://evil.example.com/?=\r\n\r\nhello".encode("latin-1")
    assert scan_message(subject).verdict in ("link", "clean")  # never raises
    name = (
        f"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f"filename*={charset}''go%20to%20www.evil.example.com.pdf\r\n\r\nx"
    ).encode("latin-1")
    assert scan_message(name).verdict == "link"
    name2047 = f'Content-Type: application/pdf; name="=?{charset}?B?eHh4?="\r\n\r\nx'.encode("latin-1")
    assert scan_message(name2047).verdict in ("clean", "error")


@pytest.mark.parametrize("charset", ["cp037", "cp500", "cp1140", "cp273", "cp1026", "cp875", "utf-16"])
def test_ebcdic_label_on_ascii_bytes_is_read_both_ways(charset: str) -> None:
    assert scan_message(_body(charset, b"Refund: https://evil.example.com/r\r\n")).verdict == "link"
    assert scan_message(_body(charset, b"Refund at www.evil.example.com \xff\r\n")).verdict == "link"
    # real EBCDIC text is read as EBCDIC
    assert (
        scan_message(_body(charset, "Refund: https://evil.example.com/r".encode(charset))).verdict == "link"
    )
    assert scan_message(_body(charset, b"Dear Somchai, see you on 16 Feb.\r\n")).verdict == "clean"


def test_subject_in_an_ebcdic_charset_on_ascii_bytes() -> None:
    m = b"Subject: =?cp037?Q?Refund_https://evil.example.com/r?=\r\n\r\nhello"
    assert scan_message(m).verdict == "link"
    assert scan_message(b"Subject: =?cp037?Q?Dear_Somchai?=\r\n\r\nhello").verdict == "clean"


def test_base64_declared_plain_text_is_read_as_written() -> None:
    plain = "คืนภาษี: https://evil.example.com/r ค่ะ\r\n".encode()
    assert scan_message(_body("utf-8", plain, "base64")).verdict == "link"
    assert (
        scan_message(_body("utf-8", b"Refund at www.evil.example.com today\r\n", "base64")).verdict == "link"
    )
    # real base64 of clean text, and plain clean text declared base64
    assert (
        scan_message(_body("utf-8", b"4LmA4Lij4Li14Lii4LiZIOC4l+C5iOC4suC4mQ==\r\n", "base64")).verdict
        == "clean"
    )
    assert scan_message(_body("utf-8", "เรียน ท่าน ผู้มีสิทธิ์\r\n".encode(), "base64")).verdict == "clean"


def test_message_helper_still_clean() -> None:
    assert scan_message(message("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")).verdict == "clean"


def test_encoded_words_decoded_like_decode_header() -> None:
    from nolink.decode import encoded_words, header_text

    # a Thai character split across two base64 words, and a URL split across two Q words
    th = "ดูที่".encode()
    import base64

    v = f"=?utf-8?B?{base64.b64encode(th[:4]).decode()}?= =?utf-8?B?{base64.b64encode(th[4:]).decode()}?="
    assert header_text(v) == "ดูที่"
    assert (
        header_text("=?utf-8?Q?https://evil.exa?=\r\n =?utf-8?Q?mple.com/?=") == "https://evil.example.com/"
    )
    assert header_text("Hi =?iso-8859-1?q?caf=E9?= and =?tis-620?B?oQ==?=") == "Hi café and ก"
    assert header_text("=?UTF-8*th?Q?a_b?= x =?utf-8?Q?c?=") == "a b x c"
    assert encoded_words("no words here") == [("no words here", None)]
    assert header_text("=?broken") == "=?broken"


def test_links_per_text_are_bounded(finder: TextFinder) -> None:
    from nolink.links.text import MAX_LINKS

    found = finder.find(" ".join(f"www.a{i}.example.com" for i in range(MAX_LINKS + 500)), HERE)
    assert len(found) == MAX_LINKS
    assert found[0].text == "www.a0.example.com"


@pytest.mark.parametrize(
    "text, url",
    [
        ("ดูที่ \u202eht\ufe52og\ufe52ald\ufe52www\u202c ค่ะ", "http://www.dla.go.th"),  # look-alike dots only
        ("see \u202emoc tod elpmaxe tod live\u202c now", "http://evil.example.com"),  # spelled-out dots
    ],
)
def test_right_to_left_override_with_disguised_dots_is_read_as_shown(text: str, url: str) -> None:
    assert url in [x.url for x in find_links(text)]


def test_right_to_left_override_without_any_dot_stays_clean() -> None:
    assert find_links("ลงชื่อ \u202eนายสมชาย ใจดี\u202c ผู้อำนวยการ") == []
