"""Corrections for a second OCR look at a picture whose first reading found no address, but which
may hold one Tesseract could not read: a print photographed at a tilt, faint text (light grey on
cream, a washed-out copy, uneven lighting).

Both tests are cheap (Pillow's C code on a small copy of the image; measured 15-40 ms on a poster,
bench/ocr.py) and decide whether the second pass is worth its cost; the correction itself is one
rotation and one local contrast stretch of the full image.

- Skew: the angle at which the rows of a small binarised copy are most uneven (text lines and
  the gaps between them line up with the rows), searched over +-MAX_SKEW degrees every two degrees,
  then refined to a quarter. Tesseract's own deskew is limited to a few degrees: at 6 degrees it
  read half an address, at 10 and 15 degrees nothing at all (its layout analysis found no line).
  The angle counts only when its profile is clearly more uneven than the upright one (SKEW_GAIN),
  so a photograph or a logo, whose profiles are flat at every angle, gets no second pass.
- Faint: the image has no dark ink (its darkest percentile is lighter than FAINT_DARKEST, or its
  contrast is below FAINT_SPREAD). The correction divides out the local background (a box blur as
  wide as a few lines of text) and stretches what is left, which is what an adaptive threshold does
  without binarising: text lighter than the paper next to it comes out dark on white, on a page
  whose lighting falls off from one side to the other too (a global stretch does not help there).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

MAX_SKEW = 20  # degrees either way; a photo turned further is a photo of something else
MIN_SKEW = 2.5  # degrees: Tesseract straightens less than this itself
SKEW_GAIN = 3.0  # the tilted profile's unevenness against the upright one, for the angle to count
PROFILE_SIDE = 400  # px: the longest side of the copy the skew is measured on
FAINT_DARKEST = 96  # grey level: the 1st percentile of a print with black ink is far below this
FAINT_SPREAD = 110  # grey levels between the 1st and the 99th percentile


@dataclass(frozen=True, slots=True)
class Look:
    """What the tests found: the skew (degrees, counter-clockwise as Pillow turns) and faintness."""

    skew: float = 0.0
    faint: bool = False

    @property
    def doubt(self) -> bool:
        return self.faint or abs(self.skew) >= MIN_SKEW


def _percentile(hist: list[int], q: float) -> int:
    total = sum(hist)
    if not total:
        return 0
    want = total * q
    run = 0
    for level, n in enumerate(hist):
        run += n
        if run >= want:
            return level
    return 255


def faint(gray: Any) -> bool:
    hist = gray.histogram()[:256]
    lo, hi = _percentile(hist, 0.01), _percentile(hist, 0.99)
    return lo > FAINT_DARKEST or hi - lo < FAINT_SPREAD


def _binary(gray: Any) -> Any:
    """A small copy with ink white (255) and paper black (0): dark against the local background."""
    from PIL import Image, ImageChops, ImageFilter, ImageOps

    w, h = gray.size
    k = min(1.0, PROFILE_SIDE / max(w, h))
    small = gray.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BOX) if k < 1 else gray
    background = small.filter(ImageFilter.BoxBlur(max(4, max(small.size) // 40)))
    ink = ImageOps.autocontrast(ImageChops.subtract(background, small), cutoff=1)
    return ink.point(lambda v: 255 if v > 96 else 0)


def _unevenness(ink: Any, angle: float) -> float:
    """How much the rows of the copy turned by angle differ from the next (sum of squares)."""
    from PIL import Image

    turned = ink.rotate(angle, resample=Image.Resampling.NEAREST, expand=False, fillcolor=0)
    rows = turned.resize((1, turned.height), Image.Resampling.BOX).tobytes()  # one grey byte a row
    return float(sum((a - b) ** 2 for a, b in itertools.pairwise(rows)))


def skew(gray: Any) -> tuple[float, float]:
    """(angle in degrees to turn the image by so that its lines are level, gain over upright)."""
    ink = _binary(gray)
    if ink.height < 20:
        return 0.0, 1.0
    upright = _unevenness(ink, 0.0)
    best, score = 0.0, upright
    for a in range(-MAX_SKEW, MAX_SKEW + 1, 2):  # every 2 degrees, then the best one refined
        if a:
            s = _unevenness(ink, float(a))
            if s > score:
                best, score = float(a), s
    for step in (1.0, 0.5, 0.25):
        centre = best
        for turn in (centre - step, centre + step):
            s = _unevenness(ink, turn)
            if s > score:
                best, score = turn, s
    return best, (score / upright if upright else 1.0)


def level_angle(gray: Any) -> float:
    """The angle that levels the image's lines, or 0 when its rows show no lines of text."""
    angle, gain = skew(gray)
    return angle if gain >= SKEW_GAIN else 0.0


def corrected(gray: Any, what: Look) -> Any:
    """The image as the second pass reads it: local contrast stretched when faint, turned level."""
    from PIL import Image, ImageChops, ImageFilter, ImageOps

    out = gray
    if what.faint:
        background = out.filter(ImageFilter.BoxBlur(max(8, min(out.size) // 40)))
        out = ImageOps.invert(ImageOps.autocontrast(ImageChops.subtract(background, out), cutoff=1))
    if abs(what.skew) >= MIN_SKEW:
        # paper colour in the corners the turn uncovers: no dark wedge for the layout analysis
        hist = out.histogram()[:256]
        paper = max(range(256), key=lambda v: hist[v])
        out = out.rotate(what.skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=paper)
    return out
