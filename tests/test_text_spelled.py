"""Issue 19, "Spelled and spaced": Thai dot and slash words, letter-spaced addresses, a spaced path
after a host, a host broken before a dot, and disguised e-mail addresses after an address label.
Every rule has its clean look-alikes."""

from __future__ import annotations

import time

import pytest

from conftest import HERE, texts
from mail import message
from nolink import scan_message
from nolink.links import thai
from nolink.links.text import TextFinder
from nolink.textcheck import check_text


def found(finder: TextFinder, s: str) -> list[tuple[str, str]]:
    return [(x.text, x.url) for x in finder.find(s, HERE)]


@pytest.mark.parametrize(
    ("text", "written", "url"),
    [
        ("ไปที่ dla ดอท go ดอท th ค่ะ", "dla ดอท go ดอท th", "http://dla.go.th"),
        ("รับเงินคืนที่ ktb-refund ดอทคอม", "ktb-refund ดอทคอม", "http://ktb-refund.com"),
        ("ktb-refund ดอท คอม", "ktb-refund ดอท คอม", "http://ktb-refund.com"),
        ("เว็บ dla ดอท โก ดอท ทีเอช", "dla ดอท โก ดอท ทีเอช", "http://dla.go.th"),
        ("dlaดอทgoดอทth", "dlaดอทgoดอทth", "http://dla.go.th"),
        ("กดที่ cutt ดอท ly ทับ abc", "cutt ดอท ly ทับ abc", "http://cutt.ly/abc"),
        ("cutt.ly ทับ abc ทับ x9", "cutt.ly ทับ abc ทับ x9", "http://cutt.ly/abc/x9"),
        ("cutt จุด ly ทับ abc", "cutt จุด ly ทับ abc", "http://cutt.ly/abc"),
        ("เข้าเว็บ ktb-refund ดอทคอมนะคะ", "ktb-refund ดอทคอม", "http://ktb-refund.com"),
        ("กรมที่ดิน ดอท ไทย", "กรมที่ดิน ดอท ไทย", "http://กรมที่ดิน.ไทย"),
    ],
)
def test_thai_dot_and_slash_words(finder: TextFinder, text: str, written: str, url: str) -> None:
    if "นะคะ" in text and not thai.available():
        pytest.skip("libthai is not installed")
    assert found(finder, text) == [(written, url)]


@pytest.mark.parametrize(
    "text",
    [
        "ผมไปงานดอทคอมมาแล้ว",
        "ชุดลายดอท สีแดง",
        "ผ้าลาย polka ดอท สีขาว",
        "รถยนต์ทับคนเดินถนน",
        "ตารางเวลาทับซ้อนกัน",
        "วาง A ทับ B แล้วกด",
        "บันทึกไฟล์ report.zip ทับ backup",  # a file name, "ทับ" is "over" here
        "ระบบ ดอท เน็ต ของบริษัท",
        "ร้าน abc ดอท คอมพิวเตอร์",  # คอม is only the first letters of a word
        "and / or",
        "1 / 2 ของวงเงิน",
    ],
)
def test_thai_dot_and_slash_words_in_sentences_stay_clean(finder: TextFinder, text: str) -> None:
    if "คอมพิวเตอร์" in text and not thai.available():
        pytest.skip("libthai is not installed")
    assert found(finder, text) == []


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("w w w . d l a . g o . t h", "http://www.dla.go.th"),
        ("โปรดเข้า w w w . d l a . g o . t h ค่ะ", "http://www.dla.go.th"),
        ("h t t p s : / / p e a - t h . c c", "https://pea-th.cc"),
        ("H T T P S : / / P E A - T H . C C", "https://pea-th.cc"),
        ("h  t  t  p  :  /  /  d  l  a  .  g  o  .  t  h", "http://dla.go.th"),
        ("h t t p s : / / example . com", "https://example.com"),
    ],
)
def test_letter_spaced_addresses_are_found_whole(finder: TextFinder, text: str, url: str) -> None:
    links = finder.find(text, HERE)
    assert [x.url for x in links] == [url]
    assert links[0].kind == "obfuscated"
    assert text[links[0].location.offset :].startswith(links[0].text)


@pytest.mark.parametrize(
    "text",
    ["S A L E", "N E W S  T O D A Y", "B I G  S A L E !", "ข้อ 1 . 2 . 3", "U . S . A", "9 a . m ."],
)
def test_spaced_letters_in_a_heading_stay_clean(finder: TextFinder, text: str) -> None:
    assert found(finder, text) == []


def test_spaced_path_after_a_shortener_is_kept(finder: TextFinder) -> None:
    assert found(finder, "tinyurl . com / dla527") == [
        ("tinyurl . com / dla527", "http://tinyurl.com/dla527")
    ]
    assert found(finder, "bit.ly / abc") == [("bit.ly / abc", "http://bit.ly/abc")]
    # two addresses side by side stay two, and a path with a dot in it is no path segment
    assert [u for _, u in found(finder, "www.a.com / www.b.com")] == ["http://www.a.com", "http://www.b.com"]


def test_host_broken_before_a_dot_is_joined(finder: TextFinder) -> None:
    links = finder.find("แบบฟอร์มที่ www.dla.go\n.th/form527 ค่ะ", HERE)
    assert [(x.text, x.url, x.kind) for x in links] == [
        ("www.dla.go\n.th/form527", "http://www.dla.go.th/form527", "obfuscated")
    ]
    assert [x.url for x in finder.find("> https://www.dla.go\r\n> .th/x", HERE)][
        -1
    ] == "https://www.dla.go.th/x"
    # a whole name, then a line that begins with a full stop, is left as written
    assert found(finder, "see www.example.com\n.Next line") == [("www.example.com", "http://www.example.com")]
    assert found(finder, "ข้อ 1.2\n.3 ก.พ.\n.ค.") == []


@pytest.mark.parametrize(
    "text",
    [
        "e-mail: saraban at dla.go.th",
        "E-mail saraban at dla.go.th",
        "Email: somchai.k at dla.go.th",
        "อีเมล saraban [at] dla.go.th",
        "อีเมล saraban at dla.go.th",
        "อีเมล์: saraban at dla.go.th",
    ],
)
def test_disguised_address_after_a_label_is_an_address(
    finder: TextFinder, email_finder: TextFinder, text: str
) -> None:
    assert found(finder, text) == []
    assert [x.kind for x in email_finder.find(text, HERE)] == ["email"]


def test_web_address_after_at_stays_a_link(finder: TextFinder) -> None:
    assert texts(finder.find("login at portal.example.app", HERE)) == ["portal.example.app"]
    assert texts(finder.find("e-mail us, or login at portal.example.app", HERE)) == ["portal.example.app"]


def test_check_text_reads_them_as_the_mail_finder_does(finder: TextFinder) -> None:
    """The SMS channel: the same words in `nolink check-text`'s core."""
    r = check_text("แจ้งคืนภาษี กด ktb-refund ดอทคอม ทับ t7 ภายในวันนี้", finder)
    assert r.verdict == "link"
    assert [(f.url, f.text) for f in r.findings] == [("http://ktb-refund.com/t7", "ktb-refund ดอทคอม ทับ t7")]
    assert check_text("h t t p s : / / p e a - t h . c c", finder).findings[0].url == "https://pea-th.cc"
    assert check_text("รถทับคนเดินถนน เวลา 09:30 น.", finder).verdict == "clean"


def test_in_a_message() -> None:
    body = "เรียน ท่าน\r\nโปรดกรอกแบบฟอร์มที่ dla ดอท go ดอท th ทับ form527 ภายในวันที่ ๑๕\r\n".encode()
    r = scan_message(message(body, "text/plain; charset=utf-8", "8bit"))
    assert [x.url for x in r.findings] == ["http://dla.go.th/form527"]
    clean = "เรียน ท่าน\r\nตารางเวลาทับซ้อนกัน ขอเลื่อนเป็นวันที่ ๑๖\r\nS A L E\r\n".encode()
    assert scan_message(message(clean, "text/plain; charset=utf-8", "8bit")).findings == ()


@pytest.mark.parametrize(
    "text",
    [
        "a " * 500_000,
        "a / " * 250_000,
        "a ทับ " * 170_000,
        "a ดอท " * 170_000,
        "x ดอท คอม" * 100_000,
        "a . " * 250_000,
        "a b c d e f g h i jk " * 50_000,
        "w\n.a" * 250_000,
        "www.a\n.b " * 100_000,
    ],
)
def test_adversarial_inputs_are_linear(finder: TextFinder, text: str) -> None:
    t = time.process_time()
    finder.find(text, HERE)
    assert time.process_time() - t < 5  # bench/scan.py measures the real figure (<= 0.5 s)
