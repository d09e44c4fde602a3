"""Links printed in pictures: OCR of images and scanned pages (Tesseract, through tesserocr).

A web address printed on a poster or in the footer of a scanned letter is a link: a reader types it
into a browser. This module reads the text of an image and hands it to the text finder, under a
stricter rule than typed text, because OCR text is noisy (README "Text in pictures").

Why tesserocr: it keeps Tesseract and its models loaded between calls, in this process, and
releases the GIL while it recognises. One `tesseract` process per image pays process start and
model loading every time (measured in bench/ocr.py), and needs a temporary file or a pipe per image.
It is built from source against Debian's libtesseract (scripts/setup.sh), so the engine and the
language data are the ones `apt-get install tesseract-ocr-tha` provides and Debian updates.

How a page is read (measured on the tests' 300 dpi Thai letters and posters, bench/ocr.py):
- one page pass in the configured languages other than the Latin one ("tha"): Thai text, Thai
  IDNs, numbers. tha+eng together is 40-50% slower and still reads Latin addresses as Thai
  (www.dla.go.th came out as Thai letters in some fonts).
- then a Latin pass ("eng") over only the words of the page pass that could be an address (a
  word with a ".", ":" or "/" and three letters, not an abbreviation): a few small boxes instead
  of a second page.
Tesseract is told OMP_THREAD_LIMIT=1: its OpenMP threads made a page 4-5x slower on two shared
cores; parallelism belongs to processes. One engine per process (created on first use, again after
a fork), used under a lock: Tesseract's API objects are not thread-safe.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from blake3 import blake3

from ..findings import Link, Location
from . import ocrprep
from .text import TextFinder

# Before libtesseract (and its libgomp) is loaded: the import of tesserocr is lazy, below.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

LATIN = "eng"
MIN_SIDE = 20  # px: a line of text is at least this tall, a spacer GIF is 1 px
MIN_LONG_SIDE = 100  # px: an icon (16-64 px) holds no address a reader could make out
PAGE_PIXELS = 3_500_000  # the page pass reads at most this many pixels (A4 at ~190 dpi)
MAX_OCR_PIXELS = (
    9_000_000  # larger images (600 dpi scans, phone photos) are scaled down to about A4 at 300 dpi
)
MIN_CONFIDENCE = 60  # Tesseract's per-word confidence (0-100) every character of an OCR link needs

# Without a scheme or www., an OCR'd host must end in one of these (README): the suffixes of Thai
# government, education and organisation sites, .ไทย and its second levels, and com/net/org.
KNOWN_SUFFIXES = (
    "go.th", "ac.th", "or.th", "co.th", "in.th", "mi.th", "net.th",
    "xn--o3cw4h", "ไทย",
    "com", "net", "org",
)  # fmt: skip
_SCHEMES = ("http", "https", "ftp")
# A word worth a Latin second reading: it has a separator an address has, and a letter.
_SEPARATOR = re.compile(r"[.:/,。]")
_LETTER = re.compile(r"[^\W\d_]")
_OPEN_BEFORE = re.compile(r"[\s\u0e00-\u0e7f(\[<\"'“‘:]")  # may stand right before a bare OCR'd address
# ก.พ. พ.ศ. ส.ส.ร. เม.ย.
_THAI_ABBREVIATION = re.compile(r"\(?(?:[\u0e40-\u0e44]?[\u0e01-\u0e2e][\u0e30-\u0e4e]?\.){1,3}\)?")
# a Thai word with a final dot (กทม., โทร., พ.ย. misread พุย.): an abbreviation when a number or the
# end of the line follows it (กทม. ๑๐๒๐๐, โทร. ๐ ๒๒๔๑); before letters it may be a split address (พพพ. …)
_THAI_WORD_DOT = re.compile(r"[\u0e01-\u0e4e]+\.")

Observer = Callable[[str, float], None]  # ("call" | "cache_hit" | "skipped", seconds)


def _no_observer(event: str, seconds: float) -> None:
    pass


observer: Observer = _no_observer  # set by the service to count metrics


class OcrUnavailable(Exception):
    """Tesseract or a language cannot be loaded (check-config says which package to install)."""


@dataclass(frozen=True, slots=True)
class OcrText:
    """Text read from an image, with Tesseract's confidence (0-100) for each character."""

    text: str = ""
    conf: bytes = b""


@dataclass(frozen=True, slots=True)
class Reading:
    page: OcrText  # the whole image, in the page languages
    latin: OcrText  # the words that could be addresses, read again in the Latin language
    seconds: float  # what reading it cost
    legible: bool = False  # many words read with confidence: the page is level and clear
    again: tuple[OcrText, ...] = ()  # the second look (turned level, contrast stretched), if one was taken


@dataclass(slots=True)
class OcrBudget:
    """OCR seconds one message may still spend (links.ocr_budget). One per message; not shared."""

    total: float
    left: float = -1.0

    def __post_init__(self) -> None:
        if self.left < 0:
            self.left = self.total

    def spend(self, seconds: float) -> None:
        self.left -= seconds


@dataclass(frozen=True, slots=True)
class OcrResult:
    links: list[Link] = field(default_factory=list)
    unscannable: str = ""  # why the image was left unread (budget): never a silent "clean"
    reason: str = "budget"  # of the unscannable: "budget", or "unparseable" when Tesseract failed
    unchecked: str = ""  # why the image could not be read at all (too large, broken)


_BILINEAR = 2  # PIL.Image.Resampling.BILINEAR, without importing Pillow at import time
_BICUBIC = 3  # PIL.Image.Resampling.BICUBIC
SMALL_TEXT = 40  # px: a word box lower than this is read again in Latin at twice its size


# -- languages -------------------------------------------------------------------------------------


def passes(languages: tuple[str, ...]) -> tuple[str, str]:
    """(page languages, Latin language or "") for links.ocr_languages."""
    page = [x for x in languages if x != LATIN]
    if not page:
        return LATIN, ""
    return "+".join(page), (LATIN if LATIN in languages else "")


# Where Debian's tesseract-ocr-LANG packages put the language data (5.x; 4.x on older releases)
DEBIAN_TESSDATA = ("/usr/share/tesseract-ocr/5/tessdata/", "/usr/share/tesseract-ocr/4.00/tessdata/")


def debian_languages() -> tuple[str, list[str]]:
    """(Debian's tessdata directory, languages in it), ("", []) when there is none."""
    for d in DEBIAN_TESSDATA:
        langs = sorted(n.removesuffix(".traineddata") for n in _listdir(d) if n.endswith(".traineddata"))
        if langs:
            return d, langs
    return "", []


def _listdir(d: str) -> list[str]:
    try:
        return os.listdir(d)
    except OSError:
        return []


def data_path() -> str:
    """The tessdata directory the engine loads from: tesserocr's own default when it holds a
    language, else Debian's. A tesserocr wheel from PyPI (a plain `pip install`) bundles a Tesseract
    that looks elsewhere and finds nothing; without this every image would fail to OCR (issue 22)."""
    path, langs = _module().get_languages()
    if any(x != "osd" for x in langs):
        return str(path)
    return debian_languages()[0] or str(path)


def installed_languages() -> tuple[str, list[str]]:
    """(tessdata directory, languages installed there); raises OcrUnavailable without tesserocr."""
    tesserocr = _module()
    path = data_path()
    _, langs = tesserocr.get_languages(path)
    return path, sorted(str(x) for x in langs)


def describe_install() -> dict[str, str]:
    """For `nolink version`: the Tesseract the engine uses, its data directory and languages."""
    try:
        version = str(_module().tesseract_version()).split("\n", 1)[0].removeprefix("tesseract ").strip()
        path, langs = installed_languages()
    except OcrUnavailable as e:
        return {"tesseract": f"unavailable ({e})"}
    return {"tesseract": version, "tessdata": path, "tesseract-languages": "+".join(langs) or "none"}


def _module() -> Any:
    try:
        import tesserocr
    except ImportError as e:
        raise OcrUnavailable(f"tesserocr cannot be imported ({e}); run scripts/setup.sh") from None
    return tesserocr


# -- the engine --------------------------------------------------------------------------------------


class Engine:
    """Tesseract with its models loaded: one page API and one Latin API. Not thread-safe: use it
    through engine_for(), which hands it out under its lock."""

    def __init__(self, languages: tuple[str, ...]) -> None:
        tesserocr = self._t = _module()
        self.page_langs, self.latin_lang = passes(languages)
        self.lock = threading.Lock()
        # LSTM only: the legacy engine's adaptive classifier learns from every page read, so a
        # reading would depend on the images read before it in this process
        lstm = tesserocr.OEM.LSTM_ONLY
        # PSM AUTO, with its layout analysis: it leaves out what is not text (photos, stamps, QR
        # codes, rules). PSM SINGLE_BLOCK was measured 20-25% cheaper on the bench letter, but it
        # hands every mark on the page to the recogniser: a 600 dpi scan with graphics took 6 s
        # instead of 0.2 s (tests/test_extract_image.py), and ran out of the OCR budget.
        try:
            path = data_path()
            self.page = tesserocr.PyTessBaseAPI(
                path=path, lang=self.page_langs, psm=tesserocr.PSM.AUTO, oem=lstm
            )
            # Work the page pass does not need (counted with callgrind on the bench letter, the text
            # read unchanged): paragraph detection after recognition re-reads every line's text
            # (before it, from the geometry only, it costs next to nothing), and the fixed-pitch
            # test looks for typewriter text; together 6.4% of the page pass's instructions.
            self.page.SetVariable("paragraph_text_based", "0")
            self.page.SetVariable("textord_disable_pitch_test", "1")
            self.latin = (
                tesserocr.PyTessBaseAPI(
                    path=path, lang=self.latin_lang, psm=tesserocr.PSM.SINGLE_BLOCK, oem=lstm
                )
                if self.latin_lang
                else None
            )
        except RuntimeError as e:
            raise OcrUnavailable(
                f"Tesseract cannot load {'+'.join(languages)} ({e}); install the language packages: "
                + " ".join(debian_package(x) for x in languages)
            ) from None

    def read(self, image: Any, timeout: float) -> Reading | None:
        """Read one image (PIL, mode L); None when Tesseract ran out of time."""
        t = self._t
        start = time.perf_counter()
        api = self.page
        # The page pass reads at most PAGE_PIXELS (a 300 dpi A4 scan at about 190 dpi): measured 33-40%
        # faster on the tests' letters than the full size at 4 Mpx, as well read; 3.5 Mpx instead of 4
        # is 10.4% fewer instructions for the bench letter's Recognize calls (callgrind; 3 Mpx -8.4%,
        # 2.5 Mpx -11.8%, the readings differ), the same 0 false positives and 8 of 8 addresses
        # (bench/ocr.py). The Latin re-reads crop the full image.
        w, h = image.size
        k = min(1.0, (PAGE_PIXELS / (w * h)) ** 0.5)
        page_image = (
            image if k >= 1 else image.resize((max(1, round(w * k)), max(1, round(h * k))), _BILINEAR)
        )
        _set_image(api, page_image)
        if not api.Recognize(timeout=max(1, int(timeout * 1000))):
            api.Clear()
            return None
        text: list[str] = []
        conf = bytearray()
        words: list[int] = []  # each word's confidence
        # the whitespace-separated tokens of the page pass: [start in text, x1, y1, x2, y2, line]
        tokens: list[list[int]] = []
        line = 0
        level = t.RIL.WORD
        for r in t.iterate_level(api.GetIterator(), level):
            w = _word(r, level)
            box = r.BoundingBox(level)
            if not w or box is None:
                continue
            new_line = r.IsAtBeginningOf(t.RIL.TEXTLINE)
            if not tokens or new_line or r.BlanksBeforeWord():
                if tokens:
                    text.append("\n" if new_line else " ")
                    conf.append(100)
                line += new_line
                tokens.append([len(text), *(round(v / k) for v in box), line])
            else:
                box = tuple(round(v / k) for v in box)
                tok = tokens[-1]
                tok[1:5] = [
                    min(tok[1], box[0]),
                    min(tok[2], box[1]),
                    max(tok[3], box[2]),
                    max(tok[4], box[3]),
                ]
            c = max(0, min(100, round(r.Confidence(level))))
            words.append(c)
            text.extend(w)
            conf.extend([c] * len(w))
        page_text = "".join(text)
        page = OcrText(page_text, bytes(conf))
        legible = _legible(words, len(page_text))
        latin = OcrText()
        if self.latin is not None:
            boxes = _candidate_boxes(page_text, tokens)
            if boxes:
                digits = _thai_digit_runs(t, api, k, boxes) if _digits_in(page_text, tokens, boxes) else []
                latin = self._latin(image, boxes, start + timeout, digits)
        api.Clear()
        return Reading(page, latin, time.perf_counter() - start, legible)

    def look_again(self, image: Any, first: Reading, timeout: float) -> Reading:
        """The second look at an image whose first reading found no address (README "Text in
        pictures"): when the page is faint, or its lines are tilted (tested only when the first
        reading was poor), it is read again corrected; otherwise, and when time runs out, the first
        reading stands."""
        what = ocrprep.Look(0.0 if first.legible else ocrprep.level_angle(image), ocrprep.faint(image))
        if not what.doubt or timeout <= 0:
            return first
        again = self.read(ocrprep.corrected(image, what), timeout)
        if again is None:
            return first
        return Reading(
            first.page, first.latin, first.seconds + again.seconds, first.legible, (again.page, again.latin)
        )

    def _latin(
        self,
        image: Any,
        boxes: list[tuple[int, int, int, int]],
        deadline: float,
        digits: list[tuple[str, int, tuple[int, int, int, int]]] | None = None,
    ) -> OcrText:
        digits = digits or []
        t = self._t
        api = self.latin
        assert api is not None
        parts: list[str] = []
        conf = bytearray()
        w, h = image.size
        for x1, y1, x2, y2 in boxes:
            if time.perf_counter() > deadline:
                break
            # A crop with a margin of a third of the line height, read as one block (measured best:
            # single-line and single-word modes dropped dots; SetRectangle on the page read nothing).
            py = max(4, (y2 - y1) // 3)
            px = max(6, (y2 - y1) // 2)
            ox, oy = max(0, x1 - px), max(0, y1 - py)
            crop = image.crop((ox, oy, min(w, x2 + px), min(h, y2 + py)))
            scale = 1
            if y2 - y1 < SMALL_TEXT:
                scale = 2
                # Small print (a 150 dpi page, a footer): Tesseract reads it best with letters
                # 20 px high or more. Measured on a rendered PDF page (the shared MIME corpus):
                # the crop of "www.artspdf.com" under a logo read "www artspdf.com" with two of
                # eight margins tried, and "www.artspdf.com" with all eight once doubled.
                crop = crop.resize((crop.width * 2, crop.height * 2), _BICUBIC)
            _set_image(api, crop)
            if not api.Recognize():
                continue
            # per character: a word's confidence is its worst letter's, and a misread path
            # ("/form£") must not sink the host before it
            sym = t.RIL.SYMBOL
            line: list[str] = []  # this crop's text so far
            spliced = -1  # the Thai digit run last put in place of Latin letters
            for r in t.iterate_level(api.GetIterator(), sym):
                ch = _word(r, sym)
                if not ch:
                    continue
                c = max(0, min(100, round(r.Confidence(sym))))
                run = _digit_run_at(digits, r.BoundingBox(sym), ox, oy, scale) if digits else -1
                if run >= 0 and (run == spliced or (not ch.isdigit() and _in_path("".join(line)))):
                    # Thai digits of a printed path, which the Latin model reads as letters
                    # ("/form๕๒๗" read "/formé tac"): the page pass's reading of them instead
                    if run != spliced:
                        spliced = run
                        text, c, _ = digits[run]
                        parts.append(text)
                        line.append(text)
                        conf.extend([c] * len(text))
                    continue
                spliced = -1
                if r.IsAtBeginningOf(t.RIL.WORD) and parts and parts[-1] != "\n":
                    parts.append(" ")
                    line.append(" ")
                    conf.append(100)
                parts.append(ch)
                line.append(ch)
                conf.extend([c] * len(ch))
            parts.append("\n")
            conf.append(100)
        api.Clear()
        return OcrText("".join(parts), bytes(conf))


LEGIBLE_WORDS = 30  # confident words of a page pass that was read well
LEGIBLE_CHARS = 400  # characters of text (a letter has 1,000 and more; a tilted letter gave 75)
LEGIBLE_CONFIDENCE = 85  # the words' mean confidence


def _legible(words: list[int], chars: int) -> bool:
    """Much text, read with confidence: a level, clear page (its skew is not measured)."""
    sure = [c for c in words if c >= MIN_CONFIDENCE]
    return (
        len(sure) >= LEGIBLE_WORDS
        and chars >= LEGIBLE_CHARS
        and sum(words) / len(words) >= LEGIBLE_CONFIDENCE
    )


_THAI_DIGIT = re.compile("[\u0e50-\u0e59]")
_PATH_STARTED = re.compile(r"[^\s/:]/")


def _thai_digit_runs(
    t: Any, api: Any, k: float, boxes: list[tuple[int, int, int, int]]
) -> list[tuple[str, int, tuple[int, int, int, int]]]:
    """Runs of two or more Thai digits the page pass read inside the Latin re-read boxes:
    (digits, worst confidence, box in full-image pixels). A single ๐ is often an "o" misread."""
    runs: list[tuple[str, int, tuple[int, int, int, int]]] = []
    cur: list[tuple[str, int, tuple[int, int, int, int]]] = []

    def close() -> None:
        if len(cur) >= 2:
            x1 = min(b[0] for _, _, b in cur)
            y1 = min(b[1] for _, _, b in cur)
            x2 = max(b[2] for _, _, b in cur)
            y2 = max(b[3] for _, _, b in cur)
            runs.append(("".join(ch for ch, _, _ in cur), min(c for _, c, _ in cur), (x1, y1, x2, y2)))
        cur.clear()

    sym = t.RIL.SYMBOL
    for r in t.iterate_level(api.GetIterator(), sym):
        ch = _word(r, sym)
        box = r.BoundingBox(sym)
        if len(ch) != 1 or not _THAI_DIGIT.match(ch) or box is None:
            close()
            continue
        b = tuple(round(v / k) for v in box)
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        if not any(x1 <= cx <= x2 and y1 <= cy <= y2 for x1, y1, x2, y2 in boxes):
            close()
            continue
        if cur and b[0] - cur[-1][2][2] > (
            b[3] - b[1]
        ):  # a gap: (IsAtBeginningOf says every Thai symbol begins a word)
            close()
        cur.append((ch, max(0, min(100, round(r.Confidence(sym)))), (b[0], b[1], b[2], b[3])))
    close()
    return runs


def _digits_in(text: str, tokens: list[list[int]], boxes: list[tuple[int, int, int, int]]) -> bool:
    """Does a token inside a Latin re-read box hold Thai digits? (Only then are the page pass's
    symbols walked: a letter has thousands.)"""
    if not _THAI_DIGIT.search(text):
        return False
    ends = [tok[0] for tok in tokens[1:]] + [len(text)]
    for (start, x1, y1, x2, y2, _), end in zip(tokens, ends, strict=True):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if any(a <= cx <= c and b <= cy <= d for a, b, c, d in boxes) and _THAI_DIGIT.search(text[start:end]):
            return True
    return False


def _digit_run_at(
    runs: list[tuple[str, int, tuple[int, int, int, int]]],
    box: tuple[int, int, int, int] | None,
    ox: int,
    oy: int,
    scale: int,
) -> int:
    """The run of Thai digits whose box holds the centre of a symbol of a Latin crop, or -1."""
    if box is None:
        return -1
    cx = ox + (box[0] + box[2]) / 2 / scale
    cy = oy + (box[1] + box[3]) / 2 / scale
    for i, (_, _, (x1, y1, x2, y2)) in enumerate(runs):
        if x1 <= cx <= x2 and y1 <= cy <= y2:
            return i
    return -1


def _in_path(line: str) -> bool:
    """Has the address on this line reached its path (a "/" after a host, not the "//" of a scheme)?"""
    word = line.rsplit("\n", 1)[-1]
    return bool(_PATH_STARTED.search(word))


def _candidate_boxes(text: str, tokens: list[list[int]]) -> list[tuple[int, int, int, int]]:
    """Boxes to read again in Latin: each candidate token, stretched over the tokens that follow it
    closely on its line (a misread address may be cut in two: "ท1ไมธะ://เพพพพ.ส00ล.00.ไท/๐วหเท 527")."""
    out: list[tuple[int, int, int, int]] = []
    ends = [tok[0] for tok in tokens[1:]] + [len(text)]
    i = 0
    done = 0  # tokens before this one are in a box already
    while i < len(tokens):
        start, x1, y1, x2, y2, line = tokens[i]
        token = text[start : ends[i]].strip()
        if x2 <= x1 or not _candidate(token) or _abbreviation_before_number(text, tokens, ends, i, token):
            i += 1
            continue
        if i - 1 >= done and tokens[i - 1][5] == line and x1 - tokens[i - 1][3] < (y2 - y1):
            # the word just before, close and ending in a Latin letter or digit, may be the start of
            # the address split in two ("โวหทท52 7/แอฮ" for "form527/register")
            before = text[tokens[i - 1][0] : start].strip()
            if before and before[-1].isascii() and before[-1].isalnum():
                x1, y1, y2 = min(x1, tokens[i - 1][1]), min(y1, tokens[i - 1][2]), max(y2, tokens[i - 1][4])
        j = i + 1
        while j < len(tokens) and j - i <= 3 and tokens[j][5] == line and tokens[j][1] - x2 < (y2 - y1):
            _, _, b1, a2, b2, _ = tokens[j]
            x2, y1, y2 = max(x2, a2), min(y1, b1), max(y2, b2)
            j += 1
        out.append((x1, y1, x2, y2))
        i = done = j
    return out


def _set_image(api: Any, image: Any) -> None:
    """Hand a greyscale PIL image to Tesseract as raw pixels. tesserocr's SetImage(PIL) encodes it
    to PNG first: measured 0.9-1.0 s of CPU for a 300 dpi A4 page, against 0.02-0.04 s this way."""
    if image.mode != "L":
        image = image.convert("L")
    api.SetImageBytes(image.tobytes(), image.width, image.height, 1, image.width)


def _word(r: Any, level: Any) -> str:
    try:
        return str(r.GetUTF8Text(level))
    except RuntimeError:  # tesserocr raises for an empty word
        return ""


def _abbreviation_before_number(
    text: str, tokens: list[list[int]], ends: list[int], i: int, token: str
) -> bool:
    """A Thai word and a final dot, then a number or the end of its line: not an address (measured
    on the bench letters: กทม., โทร. and dates were a third of the Latin re-reads, each one a
    Tesseract call)."""
    if not _THAI_WORD_DOT.fullmatch(token):
        return False
    if i + 1 >= len(tokens) or tokens[i + 1][5] != tokens[i][5]:
        return True
    after = text[tokens[i + 1][0] : ends[i + 1]].strip()
    return not after or after[0].isdigit()


def _candidate(token: str) -> bool:
    """Could this word of the page pass be an address misread? Then it is read again in Latin.
    An address has at least three letters (a.co, www.dla.go.th misread งผมพเสไล.๕6.ป้า has nine);
    document and form numbers (๐๕๓๓.๕/ว, ปค.๕๕) have one or two, and each re-read costs a call."""
    if not _SEPARATOR.search(token) or len(_LETTER.findall(token)) < 3:
        return False
    return not _THAI_ABBREVIATION.fullmatch(token)


_engines_lock = threading.Lock()
_engines: dict[tuple[str, ...], Engine] = {}
_engines_pid = os.getpid()


def engine_for(languages: tuple[str, ...]) -> Engine:
    """This process's engine for these languages, created on first use (and again in a forked child:
    Tesseract's state must not be shared across fork)."""
    global _engines_pid
    with _engines_lock:
        if _engines_pid != os.getpid():
            _engines.clear()
            _engines_pid = os.getpid()
        e = _engines.get(languages)
        if e is None:
            e = _engines[languages] = Engine(languages)
        return e


def _after_fork() -> None:
    global _engines_lock, _cache_lock
    _engines_lock = threading.Lock()
    _cache_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


# -- the cache -----------------------------------------------------------------------------------------


def content_key(data: bytes) -> bytes:
    """The cache key of an encoded image: BLAKE3 of its bytes. A cryptographic hash, because a crafted
    image colliding with a cached clean one would be delivered unread (no CRC or xxhash); BLAKE3
    rather than SHA-256 because a cache hit is mostly hashing: measured (bench/ocr.py) 1.5 ms against
    5.4 ms for SHA-256 over a 6.1 MB PNG scan, on one core (blake2b: 12 ms)."""
    return blake3(data).digest()


_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[bytes, tuple[str, ...]], Reading] = OrderedDict()


def _cached(key: tuple[bytes, tuple[str, ...]]) -> Reading | None:
    with _cache_lock:
        r = _cache.get(key)
        if r is not None:
            _cache.move_to_end(key)
        return r


def _remember(key: tuple[bytes, tuple[str, ...]], reading: Reading, size: int) -> None:
    if size <= 0:
        return
    with _cache_lock:
        _cache[key] = reading
        _cache.move_to_end(key)
        while len(_cache) > size:
            _cache.popitem(last=False)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def cache_len() -> int:
    with _cache_lock:
        return len(_cache)


# -- the finder --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OcrOptions:
    languages: tuple[str, ...] = ("tha", "eng")
    cache_size: int = 2000
    max_pixels: int = 50_000_000
    second_look: bool = True  # read a faint or tilted picture again, corrected, when no address was found


class OcrFinder:
    """Links in the text of images. One per configuration; safe to share between threads (the
    engine is used under its lock, the cache under its own)."""

    def __init__(self, text: TextFinder, options: OcrOptions | None = None) -> None:
        self.text = text
        self.options = options or OcrOptions()

    def find(self, data: bytes, where: Location, budget: OcrBudget) -> OcrResult:
        """Links in an encoded image (PNG, JPEG, ...); the first frame only."""
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = Image.open(io.BytesIO(data))
                w, h = im.size
        except Exception:
            return OcrResult(unchecked=f"{where}: not an image nolink can decode; not read (OCR)")
        if w * h > self.options.max_pixels:
            return OcrResult(
                unchecked=f"{where}: image of {w}x{h} pixels is above links.max_image_pixels; not read (OCR)"
            )
        if _too_small(w, h):
            return OcrResult()
        key = content_key(data)
        if _cached((key, self.options.languages)) is None:  # decode only what will be read
            try:
                im = _prepare(im)
            except Exception:
                return OcrResult(unchecked=f"{where}: image cannot be decoded; not read (OCR)")
        return self.find_image(im, where, budget, key)

    def find_image(
        self, image: Any, where: Location, budget: OcrBudget, key: bytes = b"", time_left: float | None = None
    ) -> OcrResult:
        """Links in a decoded PIL image. key: a content hash of what it was decoded from (the
        encoded bytes and the frame); without one the pixels are hashed. time_left: what the
        message's whole scan may still take, if that is less than the OCR budget."""
        w, h = image.size
        if _too_small(w, h):
            return OcrResult()
        if not key:
            hasher = blake3(f"{image.mode} {w}x{h} ".encode())
            hasher.update(image.tobytes())
            key = hasher.digest()
        ck = (key, self.options.languages)
        reading = _cached(ck)
        if reading is not None:
            observer("cache_hit", 0.0)
            return OcrResult(self.links(reading, where))
        limit = budget.left if time_left is None else min(budget.left, time_left)
        if limit <= 0:
            observer("skipped", 0.0)
            return OcrResult(
                unscannable=f"image not read by OCR: links.ocr_budget ({budget.total:g} s) used up"
            )
        gray = _prepare(image)
        engine = engine_for(self.options.languages)
        with engine.lock:
            reading = _cached(ck)  # another connection may have read it meanwhile
            if reading is None:
                started = time.perf_counter()
                try:
                    reading = engine.read(gray, limit)
                except Exception as e:  # Tesseract refused the image: not read, so not clean
                    budget.spend(time.perf_counter() - started)
                    return OcrResult(
                        unscannable=f"image could not be read by OCR ({type(e).__name__})",
                        reason="unparseable",
                    )
                if reading is not None and self.options.second_look and not self.links(reading, where):
                    reading = engine.look_again(gray, reading, limit - (time.perf_counter() - started))
                spent = time.perf_counter() - started
                budget.spend(spent)
                if reading is None:
                    observer("skipped", spent)
                    return OcrResult(
                        unscannable=f"image not read by OCR in time: links.ocr_budget ({budget.total:g} s) used up"
                    )
                observer("call", spent)
                _remember(ck, reading, self.options.cache_size)
            else:
                observer("cache_hit", 0.0)
        return OcrResult(self.links(reading, where))

    def links(self, reading: Reading, where: Location) -> list[Link]:
        loc = where.child("ocr")
        out: list[Link] = []
        seen: set[str] = set()
        for t in (reading.page, reading.latin, *reading.again):
            for link in ocr_rule(self.text, joined_lines(t), loc):
                if link.url not in seen:
                    seen.add(link.url)
                    out.append(link)
        return out


def _too_small(w: int, h: int) -> bool:
    """Icons and spacer GIFs are not read: no address a reader could make out fits in them."""
    return min(w, h) < MIN_SIDE or max(w, h) < MIN_LONG_SIDE


def _prepare(im: Any) -> Any:
    """The image as Tesseract wants it: greyscale, transparency on white, at most MAX_OCR_PIXELS."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, rgba)
        gray = im if im.mode == "L" else im.convert("L")
        w, h = gray.size
        if w * h > MAX_OCR_PIXELS:
            k = (MAX_OCR_PIXELS / (w * h)) ** 0.5
            gray = gray.resize((max(1, int(w * k)), max(1, int(h * k))), Image.Resampling.BILINEAR)
        return gray


# A line that ends in the middle of an address (after a "/", ".", "-", "_", "=", "?" or "&" of a Latin
# word with a dot or a slash in it), and the next line that starts with a letter or digit: a web address
# printed over two lines ("https://www.dopa.go.th/" then "form527/register").
_WRAPPED = re.compile(
    r"(?<![^\s])([\w\-]*[:./][\w\-.:/%?=&~#+]*[./\-_=?&])\n(?=[A-Za-z0-9\u0e01-\u0e59%])", re.A
)


# "https:/7www" and "https:/|www": the second slash of a scheme misread (seen on bold posters)
_SLASH_MISREAD = re.compile(r"\b(https?|ftp):/[7|](?=[A-Za-z0-9])", re.I)


def joined_lines(text: OcrText) -> OcrText:
    """The OCR text with the lines of an address printed over two lines joined (the text finder
    joins a host hard-wrapped before a dot; a picture wraps anywhere, and most often after a "/"),
    and a scheme's misread second slash put right."""
    if _SLASH_MISREAD.search(text.text):  # same length: the confidences stay in place
        text = OcrText(_SLASH_MISREAD.sub(lambda m: m.group(1) + "://", text.text), text.conf)
    if "\n" not in text.text:
        return text
    cuts = [m.end(1) for m in _WRAPPED.finditer(text.text)]
    if not cuts:
        return text
    parts, conf, last = [], bytearray(), 0
    for at in cuts:
        parts.append(text.text[last:at])
        conf += text.conf[last:at]
        last = at + 1
    parts.append(text.text[last:])
    conf += text.conf[last:]
    return OcrText("".join(parts), bytes(conf))


# -- the rule against noise ------------------------------------------------------------------------------


def ocr_rule(finder: TextFinder, text: OcrText, where: Location) -> list[Link]:
    """The text finder's links in OCR text that pass the OCR rule (README "Text in pictures"):

    - the address has a scheme (http, https, ftp) or starts with www., or its host ends in one of
      KNOWN_SUFFIXES (dla.go.th, กรมการปกครอง.ไทย, example.com);
    - its host is under a real public suffix (the text finder checks that) and is not an IP address
      unless a scheme says it is an address;
    - every character of it up to the end of its host was read with a confidence of at least
      MIN_CONFIDENCE;
    - an address with neither scheme nor www. stands after a space, a Thai letter or an opening
      bracket or quote (not after a misread "@" of an e-mail address).
    Misread abbreviations, dates, times, sums and document numbers (ก.พ., ๐๘๐๘.๒/ว, 09.30 น.) fail the
    first test even when a misreading ends in a two-letter public suffix.
    """
    out: list[Link] = []
    for link in finder.find(text.text, where):
        if link.kind == "email":
            continue
        lower = link.text.lower()
        parts = urlsplit(link.url)
        host = (parts.hostname or "").rstrip(".")
        scheme = "://" in lower and parts.scheme in _SCHEMES
        if not host:
            continue
        if link.kind == "ip" and not scheme:
            continue
        known = any(host == s or host.endswith("." + s) for s in KNOWN_SUFFIXES)
        if not (scheme or host.startswith("www.") or known):
            continue
        start = link.location.offset
        if (
            not scheme
            and not host.startswith("www.")
            and start > 0
            and not _OPEN_BEFORE.match(text.text[start - 1])
        ):
            continue  # "saraban©dla.go.th": an e-mail address whose @ was misread, not a web address
        # The confidence that counts is the address up to the end of its host: a misread path
        # ("/form£") still leaves a link.
        at = lower.find(host)
        end = at + len(host) if at >= 0 else len(link.text)
        span = text.conf[start : start + end]
        if not span or min(span) < MIN_CONFIDENCE:
            continue
        out.append(Link(link.text, link.url, "ocr", Location(where.part, where.content_type, where.field)))
    return out


# -- deployment ------------------------------------------------------------------------------------------


def debian_package(language: str) -> str:
    return f"tesseract-ocr-{language.replace('_', '-').lower()}"
