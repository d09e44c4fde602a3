"""OCR: web addresses printed in images and scanned pages (links/ocr.py), on pictures drawn here
with Pillow and Debian's Thai fonts (tests/ocrimages.py)."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest

import ocrimages as img
from mail import attachment, message, multipart, part
from nolink import Config
from nolink.config import LinksConfig, parse
from nolink.errors import ConfigError
from nolink.findings import Location
from nolink.links import ocr
from nolink.links.ocr import OcrBudget, OcrFinder, OcrOptions, OcrText, ocr_rule
from nolink.metrics import Metrics
from nolink.ops.checks import ocr_checks
from nolink.scan import Scanner, scanner_for


def _tesseract() -> str:
    try:
        _, langs = ocr.installed_languages()
    except ocr.OcrUnavailable as e:
        return str(e)
    missing = [x for x in ("tha", "eng") if x not in langs]
    if missing:
        return f"Tesseract languages missing: {missing} (scripts/setup.sh installs them)"
    if not img.have_fonts():
        return "fonts-thai-tlwg is not installed (scripts/setup.sh --test installs it)"
    return ""


needs_tesseract = pytest.mark.skipif(bool(_tesseract()), reason=_tesseract() or "ok")


@pytest.fixture
def events() -> Iterator[list[str]]:
    """What the OCR finder reported to its observer (calls, cache hits, skips), with a fresh cache."""
    seen: list[str] = []
    old = ocr.observer
    ocr.clear_cache()
    ocr.observer = lambda event, seconds: seen.append(event)
    try:
        yield seen
    finally:
        ocr.observer = old
        ocr.clear_cache()


# Time enough for a loaded 2-core CI machine: only the budget tests below may run out of it.
ROOMY = Config(links=LinksConfig(ocr_budget=300.0, max_scan_seconds=600.0))


def scanned(data: bytes, ctype: str = "image/png", name: str = "poster.png", config: Config = ROOMY):  # type: ignore[no-untyped-def]
    body, mtype = multipart([part("ดูรายละเอียดในภาพ", "text/plain"), attachment(data, ctype, name)])
    return scanner_for(config).scan(message(body, mtype))


# -- the rule against noise, on OCR text (no Tesseract needed) ----------------------------------------


def rule(text: str, conf: int = 95, conf_at: dict[int, int] | None = None) -> list[str]:
    c = bytearray([conf] * len(text))
    for i, v in (conf_at or {}).items():
        c[i] = v
    return [
        x.url for x in ocr_rule(scanner_for().text, OcrText(text, bytes(c)), Location("2", "image/png", ""))
    ]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("เว็บไซต์ www.dla.go.th", "http://www.dla.go.th"),
        ("https://www.dopa.go.th/form527", "https://www.dopa.go.th/form527"),
        ("ตรวจสอบที่ dla.go.th", "http://dla.go.th"),
        ("กรมการปกครอง.ไทย", "http://กรมการปกครอง.ไทย"),
        ("www.antifakenewscenter.com", "http://www.antifakenewscenter.com"),
        ("ได้ที่ example.com", "http://example.com"),
        ("http://evil.example.cc/pay", "http://evil.example.cc/pay"),
    ],
)
def test_rule_keeps_printed_addresses(text: str, url: str) -> None:
    assert rule(text) == [url]


@pytest.mark.parametrize(
    "text",
    [
        "๑๖ ก.พ. ๒๕๖๙ เวลา ๐๙.๓๐ น.",
        "ที่ มท ๐๘๐๘.๒/ว ๑๒๓",
        "งบประมาณ 78,780.98 บาท",
        "UA.co",  # "บาท" read in Latin letters, ending in a public suffix: the misreads measured
        "Ja.ee",
        "oeéo.ch",
        "Seenen.cr/9",
        "192.168.1.20/24",
        "10.0.0.1/login",  # an IP address needs a scheme in OCR text
        "saraban@dla.go.th",  # an e-mail address
        "saraban©dla.go.th",  # ... with its @ misread
        "ia.de",
    ],
)
def test_rule_drops_misreads_and_non_addresses(text: str) -> None:
    assert rule(text) == []


def test_rule_needs_confidence_in_the_host_but_not_in_the_path() -> None:
    text = "https://www.dopa.go.th/form527"
    assert rule(text, conf_at={12: 40}) == []  # a doubtful letter in the host
    assert rule(text, conf_at={len(text) - 1: 10}) == [text]  # a doubtful path still leaves a link


def test_candidates_for_the_latin_reading() -> None:
    assert ocr._candidate("งหพ.ค่ไล.ธ๐.ป่า")  # a Latin address the Thai pass misread
    assert ocr._candidate("www.dla.go.th")
    assert not ocr._candidate("ก.พ.")
    assert not ocr._candidate("๐๘๐๘.๒/")
    assert not ocr._candidate("09.30")
    assert not ocr._candidate("บาท")
    assert not ocr._candidate("เม.ย.")  # a month
    assert not ocr._candidate("๐๕๓๓.๕/ว")  # a document number: one letter
    assert not ocr._candidate("ปค.๕๕)")  # a form number: two letters
    assert ocr._candidate("a.co")


def test_an_abbreviation_before_a_number_is_not_read_again_in_latin() -> None:
    #          tokens: [start in text, x1, y1, x2, y2, line]
    text = "กทม. ๑๐๒๐๐ โทร. พพพ. ดไล.ชอ.ฝ่า"
    starts = [0, 5, 11, 16, 21]
    tokens = [[s, 100 * i, 0, 100 * i + 80, 40, 1] for i, s in enumerate(starts)]
    boxes = ocr._candidate_boxes(text, tokens)
    # กทม. before a number: skipped; โทร. then พพพ.: letters follow, so it may be a split address
    assert [b[0] for b in boxes] == [200]
    tokens[3][5] = tokens[4][5] = 2  # พพพ. ดไล.ชอ.ฝ่า on the next line: โทร. ends its line
    assert [b[0] for b in ocr._candidate_boxes(text, tokens)] == [300]


def test_languages_split_into_page_and_latin_passes() -> None:
    assert ocr.passes(("tha", "eng")) == ("tha", "eng")
    assert ocr.passes(("eng",)) == ("eng", "")
    assert ocr.passes(("tha",)) == ("tha", "")
    assert ocr.passes(("tha", "lao", "eng")) == ("tha+lao", "eng")


# -- configuration and check-config -----------------------------------------------------------------------


def test_config_keys_and_defaults() -> None:
    lc = LinksConfig()
    assert (lc.ocr, lc.ocr_languages, lc.ocr_budget, lc.ocr_cache_size) == (True, ("tha", "eng"), 6.0, 2000)
    cfg = parse('[links]\nocr = false\nocr_languages = ["eng"]\nocr_budget = 2.5\nocr_cache_size = 10\n')
    assert (cfg.links.ocr, cfg.links.ocr_languages, cfg.links.ocr_budget, cfg.links.ocr_cache_size) == (
        False,
        ("eng",),
        2.5,
        10,
    )
    with pytest.raises(ConfigError, match=r"ocr_languages.*tesseract-ocr-tha"):
        parse('[links]\nocr_languages = ["tha eng"]\n')
    with pytest.raises(ConfigError, match="ocr_budget"):
        parse("[links]\nocr_budget = -1\n")


def test_check_config_names_the_debian_package_of_a_missing_language() -> None:
    cfg = Config(links=LinksConfig(ocr_languages=("tha", "eng", "zzz")))
    (c,) = ocr_checks(cfg)
    assert not c.ok
    assert "zzz not installed" in c.what and "apt-get install tesseract-ocr-zzz" in c.what
    assert "links.ocr = false" in c.what
    (off,) = ocr_checks(Config(links=LinksConfig(ocr=False)))
    assert off.ok and "OCR off" in off.what


@needs_tesseract
def test_check_config_passes_with_the_default_languages() -> None:
    (c,) = ocr_checks(Config())
    assert c.ok and "tha+eng" in c.what


def test_metrics_count_ocr_events() -> None:
    m = Metrics()
    m.ocr_observer("call", 0.8)
    m.ocr_observer("cache_hit", 0.0)
    m.ocr_observer("cache_hit", 0.0)
    m.ocr_observer("skipped", 0.0)
    val = m.registry.get_sample_value
    assert val("nolink_ocr_calls_total") == 1
    assert val("nolink_ocr_cache_hits_total") == 2
    assert val("nolink_ocr_skipped_total") == 1
    assert val("nolink_ocr_duration_seconds_count") == 1
    assert val("nolink_links_total", {"location": "attachment", "kind": "ocr"}) == 0


# -- pictures read by Tesseract -------------------------------------------------------------------------------

POSTER_URLS = [
    ("www.antifakenewscenter.com", "http://www.antifakenewscenter.com"),
    ("https://www.dopa.go.th/form527", "https://www.dopa.go.th/form527"),
    ("dla.go.th", "http://dla.go.th"),
    ("กรมการปกครอง.ไทย", "http://กรมการปกครอง.ไทย"),
]


@needs_tesseract
@pytest.mark.parametrize(("printed", "url"), POSTER_URLS)
def test_poster_with_a_printed_address_is_a_link(printed: str, url: str, events: list[str]) -> None:
    r = scanned(img.poster(printed, seed=len(printed)))
    assert r.verdict == "link"
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", url)]
    assert str(r.findings[0].location) == "2 image/png attachment poster.png › ocr"
    assert events == ["call"]


@needs_tesseract
def test_jpeg_poster_with_an_address_is_a_link(events: list[str]) -> None:
    r = scanned(img.poster("www.dla.go.th", fmt="JPEG"), "image/jpeg", "poster.jpg")
    assert [x.url for x in r.findings] == ["http://www.dla.go.th"]


@needs_tesseract
@pytest.mark.parametrize("seed", [0, 3])
def test_the_same_poster_without_an_address_is_clean(seed: int, events: list[str]) -> None:
    assert scanned(img.poster(None, seed=seed)).verdict == "clean"
    assert events == ["call"]


@needs_tesseract
@pytest.mark.parametrize(
    ("printed", "seed", "url"),
    [
        ("www.dla.go.th", 0, "http://www.dla.go.th"),
        ("https://www.dopa.go.th/form527", 1, "https://www.dopa.go.th/form527"),
    ],
)
def test_scanned_letter_with_the_agency_website_in_its_footer(
    printed: str, seed: int, url: str, events: list[str]
) -> None:
    r = scanned(img.letter(printed, seed=seed), name="letter.png")
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", url)]


@needs_tesseract
@pytest.mark.parametrize("seed", [2, 3, 4])
def test_scanned_letter_full_of_dates_times_money_and_document_numbers_is_clean(
    seed: int, events: list[str]
) -> None:
    # seed 2 reads "บาท" as "UA.co" and the like in Latin: the rule must hold them back
    r = scanned(img.letter(None, seed=seed, email="saraban@dla.go.th"), name="letter.png")
    assert r.verdict == "clean", r.findings


@needs_tesseract
def test_photo_and_logo_are_clean(events: list[str]) -> None:
    assert scanned(img.photo(), "image/jpeg", "photo.jpg").verdict == "clean"
    assert scanned(img.logo(), "image/png", "logo.png").verdict == "clean"


@needs_tesseract
def test_icons_and_spacers_are_not_read(events: list[str]) -> None:
    assert scanned(img.icon(), "image/gif", "icon.gif").verdict == "clean"
    assert events == []


@needs_tesseract
def test_image_only_pdf_scan_is_read(events: list[str]) -> None:
    from PIL import Image

    page = Image.open(io.BytesIO(img.poster("www.dla.go.th", size=(1240, 1754)))).convert("RGB")
    buf = io.BytesIO()
    page.save(buf, "PDF", resolution=150)
    r = scanned(buf.getvalue(), "application/pdf", "scan.pdf")
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", "http://www.dla.go.th")]
    assert str(r.findings[0].location).startswith("2 application/pdf attachment scan.pdf › page 1")
    assert str(r.findings[0].location).endswith(" › ocr")


@needs_tesseract
def test_data_uri_poster_in_html_is_read(events: list[str]) -> None:
    src = "data:image/png;base64," + base64.b64encode(img.poster("www.dla.go.th")).decode()
    r = scanner_for(ROOMY).scan(message(f'<p>ประกาศ</p><img src="{src}">', "text/html; charset=utf-8"))
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", "http://www.dla.go.th")]


@needs_tesseract
def test_ocr_off_reads_no_text_in_images(events: list[str]) -> None:
    cfg = Config(links=LinksConfig(ocr=False, max_scan_seconds=600.0))
    assert scanned(img.poster("www.dla.go.th"), config=cfg).verdict == "clean"
    assert events == []


# -- cost: cache, budget, unscannable ---------------------------------------------------------------------------


@needs_tesseract
def test_cache_reads_the_same_picture_once(events: list[str]) -> None:
    data = img.poster("www.dla.go.th", seed=7)
    first = scanned(data)
    again = scanned(data, name="copy.png")  # another message, another name, the same bytes
    assert events == ["call", "cache_hit"]
    assert [x.url for x in again.findings] == [x.url for x in first.findings] == ["http://www.dla.go.th"]
    assert str(again.findings[0].location) == "2 image/png attachment copy.png › ocr"


@needs_tesseract
def test_cache_is_bounded(events: list[str]) -> None:
    finder = OcrFinder(scanner_for().text, OcrOptions(cache_size=1))
    budget = OcrBudget(60.0)
    where = Location("2", "image/png", "attachment")
    a, b = img.poster(None, seed=1), img.poster(None, seed=2)
    finder.find(a, where, budget)
    finder.find(b, where, budget)
    assert ocr.cache_len() == 1
    finder.find(b, where, budget)
    finder.find(a, where, budget)  # evicted: read again
    assert events == ["call", "call", "cache_hit", "call"]


@needs_tesseract
def test_budget_used_up_makes_the_image_unscannable_never_clean(events: list[str]) -> None:
    cfg = Config(links=LinksConfig(ocr_budget=0.0))
    r = scanned(img.poster(None, seed=5), config=cfg)
    assert r.verdict == "unscannable"
    (u,) = r.unscannable
    assert u.reason == "budget" and "links.ocr_budget" in u.detail
    assert str(u.location) == "2 image/png attachment poster.png › ocr"
    assert events == ["skipped"]


@needs_tesseract
def test_budget_running_out_during_the_reading_is_unscannable(events: list[str]) -> None:
    cfg = Config(links=LinksConfig(ocr_budget=0.001))  # Tesseract stops at its deadline
    r = scanned(img.letter(None, seed=1), name="letter.png", config=cfg)
    assert r.verdict == "unscannable"
    assert [u.reason for u in r.unscannable] == ["budget"]
    assert events == ["skipped"]
    assert ocr.cache_len() == 0  # an unfinished reading is not remembered


@needs_tesseract
def test_second_image_over_the_budget_is_unscannable_first_is_read(events: list[str]) -> None:
    cfg = replace(Config(), links=LinksConfig(ocr_budget=0.05, max_scan_seconds=600.0))
    body, mtype = multipart(
        [
            part("ดูภาพ", "text/plain"),
            attachment(img.poster(None, seed=8), "image/png", "a.png"),
            attachment(img.poster(None, seed=9), "image/png", "b.png"),
        ]
    )
    r = Scanner(cfg).scan(message(body, mtype))
    assert r.verdict == "unscannable"
    assert all(u.reason == "budget" for u in r.unscannable)
    assert "skipped" in events


@needs_tesseract
def test_an_image_tesseract_fails_on_is_unscannable(
    events: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object, image: object, timeout: float) -> None:
        raise RuntimeError("tesseract failed")

    monkeypatch.setattr(ocr.Engine, "read", broken)
    r = scanned(img.poster("www.dla.go.th", seed=12))
    assert r.verdict == "unscannable"
    assert [(u.reason, str(u.location)) for u in r.unscannable] == [
        ("unparseable", "2 image/png attachment poster.png › ocr")
    ]


@needs_tesseract
def test_connections_in_threads_share_one_engine_safely(events: list[str]) -> None:
    import concurrent.futures

    urls = ["www.dla.go.th", "dla.go.th", "www.dopa.go.th", None]
    posters = [img.poster(u, seed=20 + i) for i, u in enumerate(urls)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda p: scanned(p), posters * 2))
    got = [[x.url for x in r.findings] for r in results]
    want = [[f"http://{u}"] if u else [] for u in urls]
    assert got == want * 2
    assert events.count("call") == 4 and events.count("cache_hit") == 4
    assert os.environ["OMP_THREAD_LIMIT"] == "1"  # set before libtesseract loaded
