"""OCR's second look (links/ocrprep.py, links/ocr.py): prints photographed at a tilt, faint text on
cream under uneven light, an address printed over two lines, Thai digits in a printed path; and the
look-alikes that must stay clean. Pictures drawn by tests/ocrimages.py."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

import ocrimages as img
from nolink.links import ocr, ocrprep
from nolink.links.ocr import OcrText, joined_lines
from test_ocr import needs_tesseract, scanned

POSTER_URL = "www.antifakenewscenter.com"


def grey(data: bytes) -> Any:
    from PIL import Image

    return ocr._prepare(Image.open(io.BytesIO(data)))


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ocrprep.Look]]:
    """The second looks taken (what was corrected), with a fresh OCR cache."""
    seen: list[ocrprep.Look] = []
    real = ocrprep.corrected

    def spy(gray: Any, what: ocrprep.Look) -> Any:
        seen.append(what)
        return real(gray, what)

    monkeypatch.setattr(ocrprep, "corrected", spy)
    ocr.clear_cache()
    yield seen
    ocr.clear_cache()


# -- the tests that decide on a second look (Pillow only, no Tesseract) -----------------------------------------


@pytest.mark.skipif(not img.have_fonts(), reason="fonts-thai-tlwg is not installed")
@pytest.mark.parametrize("angle", [-8, 6, 10, 15])
def test_the_skew_of_a_photographed_print_is_measured(angle: int) -> None:
    assert ocrprep.level_angle(
        grey(img.photographed(img.poster(POSTER_URL, seed=1), angle))
    ) == pytest.approx(-angle, abs=0.8)


@pytest.mark.skipif(not img.have_fonts(), reason="fonts-thai-tlwg is not installed")
def test_a_level_page_a_photo_and_a_logo_have_no_skew() -> None:
    for data in (img.poster(POSTER_URL, seed=1), img.photo(), img.photo(seed=5), img.logo()):
        assert ocrprep.level_angle(grey(data)) == 0.0


@pytest.mark.skipif(not img.have_fonts(), reason="fonts-thai-tlwg is not installed")
def test_faint_prints_are_told_from_ordinary_ones() -> None:
    assert ocrprep.faint(grey(img.faint_poster(POSTER_URL)))
    assert ocrprep.faint(grey(img.shaded(img.faint_poster(None))))
    assert not ocrprep.faint(grey(img.poster(POSTER_URL)))
    assert not ocrprep.faint(grey(img.letter(None, seed=1)))
    assert not ocrprep.faint(grey(img.photographed(img.poster(None), 10)))


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("https://www.dopa.go.th/\nform527/register", "https://www.dopa.go.th/form527/register"),
        ("ลงทะเบียน www.dopa.go.th/\nrefund/form527", "ลงทะเบียน www.dopa.go.th/refund/form527"),
        ("https:/7www.dopa.go.th", "https://www.dopa.go.th"),
        # not an address cut in two: a Thai abbreviation, a numbered item, a sentence
        ("ส่งถึง กทม.\nประกาศ", "ส่งถึง กทม.\nประกาศ"),
        ("ข้อ 1.\n2. ชำระเงิน", "ข้อ 1.\n2. ชำระเงิน"),
        ("www.dla.go.th\nform", "www.dla.go.th\nform"),
    ],
)
def test_lines_of_an_address_printed_over_two_lines_are_joined(text: str, joined: str) -> None:
    conf = bytes(range(len(text)))
    out = joined_lines(OcrText(text, conf))
    assert out.text == joined
    assert len(out.conf) == len(out.text)


# -- pictures read by Tesseract ---------------------------------------------------------------------------------


@needs_tesseract
@pytest.mark.parametrize("angle", [10, 15, -8])
def test_a_poster_photographed_at_a_tilt_is_read(angle: int, looks: list[ocrprep.Look]) -> None:
    r = scanned(img.photographed(img.poster(POSTER_URL, seed=1), angle), "image/jpeg", "photo.jpg")
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", "http://www.antifakenewscenter.com")]
    assert [round(x.skew) for x in looks] == [-angle]


@needs_tesseract
def test_a_poster_photographed_at_6_degrees_is_a_link(looks: list[ocrprep.Look]) -> None:
    # Tesseract's own deskew reads part of it ("scenter.com"): a link, so no second look
    r = scanned(img.photographed(img.poster(POSTER_URL, seed=1), 6), "image/jpeg", "photo.jpg")
    assert r.verdict == "link"
    assert all(x.url.endswith("center.com") for x in r.findings)


@needs_tesseract
def test_a_tilted_letter_is_read() -> None:
    r = scanned(img.photographed(img.letter("www.dla.go.th", seed=2), 8), "image/jpeg", "letter.jpg")
    assert [x.url for x in r.findings] == ["http://www.dla.go.th"]


@needs_tesseract
def test_a_tilted_poster_without_an_address_is_clean(looks: list[ocrprep.Look]) -> None:
    r = scanned(img.photographed(img.poster(None, seed=1), -8), "image/jpeg", "photo.jpg")
    assert r.verdict == "clean", r.findings
    assert len(looks) == 1  # it was looked at again, and nothing was there


@needs_tesseract
def test_faint_grey_on_cream_under_uneven_light_is_read(looks: list[ocrprep.Look]) -> None:
    r = scanned(img.shaded(img.faint_poster(POSTER_URL)), "image/jpeg", "notice.jpg")
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", "http://www.antifakenewscenter.com")]
    assert [x.faint for x in looks] == [True]


@needs_tesseract
@pytest.mark.parametrize("shade", [False, True])
def test_a_faint_watermark_without_an_address_is_clean(shade: bool, looks: list[ocrprep.Look]) -> None:
    data = img.faint_poster(None, seed=2)
    r = scanned(img.shaded(data) if shade else data, "image/jpeg", "watermark.jpg")
    assert r.verdict == "clean", r.findings
    assert [x.faint for x in looks] == [True]


@needs_tesseract
def test_an_upright_clear_picture_gets_no_second_look(looks: list[ocrprep.Look]) -> None:
    assert scanned(img.poster(None, seed=3)).verdict == "clean"
    assert scanned(img.photo(), "image/jpeg", "photo.jpg").verdict == "clean"
    assert looks == []


@needs_tesseract
@pytest.mark.parametrize(
    ("lines", "url"),
    [
        (["https://www.dopa.go.th/", "form527/register"], "https://www.dopa.go.th/form527/register"),
        (["ลงทะเบียนที่ https://www.dopa.", "go.th/form527"], "https://www.dopa.go.th/form527"),
        (["ลงทะเบียน www.dopa.go.th/", "refund/form527"], "http://www.dopa.go.th/refund/form527"),
    ],
)
def test_an_address_printed_over_two_lines_is_read_whole(lines: list[str], url: str) -> None:
    r = scanned(img.poster_lines(lines))
    assert [(x.kind, x.url) for x in r.findings] == [("ocr", url)]


@needs_tesseract
@pytest.mark.parametrize("face", [("Garuda", False), ("Kinnari", False)])
def test_thai_digits_in_a_printed_path_are_kept(face: tuple[str, bool]) -> None:
    # The Latin model reads ๑๒๓๔ as letters ("/form/o", "/form/212"); the Thai page pass's reading
    # of them is put in their place. Tesseract's Thai model itself reads ๔ as ๕ in these fonts.
    r = scanned(img.poster_lines(["https://www.dopa.go.th/form/๑๒๓๔"], face=face))
    assert len(r.findings) == 1
    assert re.fullmatch(r"https://www\.dopa\.go\.th/form/๑๒๓[๔๕]", r.findings[0].url), r.findings[0].url


def test_thai_digit_runs_replace_only_latin_letters_in_a_path() -> None:
    runs = [("๑๒๓", 90, (100, 0, 160, 40))]
    assert ocr._digit_run_at(runs, (110, 5, 120, 35), 0, 0, 1) == 0
    assert ocr._digit_run_at(runs, (170, 5, 180, 35), 0, 0, 1) == -1
    assert ocr._digit_run_at(runs, (220, 10, 240, 70), 0, 0, 2) == 0  # a doubled crop
    assert ocr._in_path("https://www.dopa.go.th/form")
    assert not ocr._in_path("https://www.do")  # the host: a ๐ read for an "o" is not put in
