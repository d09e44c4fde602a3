"""Images: PNG, JPEG, GIF (every frame), TIFF (every page), BMP, WebP, and SVG.

``extract`` hands the bytes on as one ImagePiece; ``frames`` decodes them (for the image finders,
links/images.py, called by the scanner) into grey-scale PIL images, one per frame or page, each
counted against the message's pixel budget. Large scans (a 600 dpi A4 page is ~35 Mpx) are decoded,
JPEG straight to grey by libjpeg (at a reduced scale only when it would not fit
links.max_image_pixels); only another image above links.max_image_pixels, or beyond the budget,
is unscannable. links.max_image_pixels (40 Mpx) bounds memory: a 40 Mpx RGB PNG is ~160 MB while
Pillow decodes it. SVG: its markup goes to the HTML finder (links in ``<a href>``), and
it is rendered (resvg, a Rust renderer with a wheel on PyPI and no system library; it loads no
network resources) so a code drawn in it is read too.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import Any

from ..decode import decode_bytes
from .base import Budget, Extracted, ImagePiece, TextPiece, Unscannable
from .xml import expand_internal_entities

_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
)
MAX_FRAMES = 200  # frames or pages of one image file; the pixel budget usually stops it first
SVG_WIDTH = 1600  # pixels wide an SVG is rendered at


def image_magic(data: bytes) -> bool:
    if data.startswith(_MAGIC):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    if (
        data[:2] == b"BM"
        and len(data) > 26
        and data[14:15] in (b"\x0c", b"\x28", b"\x38", b"\x40", b"\x6c", b"\x7c")
    ):
        return True  # BMP: "BM" then a known DIB header size
    return data[4:12] in (b"ftypheic", b"ftypheix", b"ftypavif", b"ftypmif1")


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    return Extracted(images=(ImagePiece(data, ""),))


def extract_svg(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    markup, bad_entities = expand_internal_entities(decode_bytes(data, None), budget)
    if bad_entities is not None:  # never clean: what a browser would expand, nolink did not read
        return Extracted(texts=(TextPiece(markup, "", html=True),), unscannable=(bad_entities,))
    images: tuple[ImagePiece, ...] = ()
    bad: tuple[Unscannable, ...] = ()
    try:
        import resvg_py

        png = resvg_py.svg_to_bytes(
            svg_string=markup, width=SVG_WIDTH, skip_system_fonts=True, background="#ffffff"
        )
        images = (ImagePiece(bytes(png), "rendering"),)
    except Exception as e:
        bad = (Unscannable("unparseable", f"SVG image could not be rendered ({type(e).__name__})", ""),)
    return Extracted(texts=(TextPiece(markup, "", html=True),), images=images, unscannable=bad)


def _grey(im: Any) -> Any:
    """Grey-scale, with transparency flattened onto white (a QR code on a transparent background).
    Works in single-band images only (a 40 Mpx RGBA picture is 160 MB; its grey and alpha 40 each)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA")
        clear = im.getchannel("A").point(lambda v: 255 - v)  # 255 where fully transparent
        grey = im.convert("L")
        grey.paste(255, None, clear)  # white where transparent
        return grey
    if im.mode == "L":
        im.load()
        return im  # no copy: a 35 Mpx scan is 35 MB once, not twice
    return im.convert("L")


def frames(data: bytes, budget: Budget, max_pixels: int) -> Iterator[tuple[str, Any] | Unscannable]:
    """(where, grey PIL image) for every frame or page, one at a time (a 200-page fax is never in
    memory at once), and an Unscannable for what could not be decoded."""
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # a truncated JPEG still shows its top to the citizen
    decoded = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            n = int(getattr(im, "n_frames", 1) or 1)
            kind = "page" if im.format == "TIFF" else "frame"
            for i in range(min(n, MAX_FRAMES)):
                if i:
                    im.seek(i)
                w, h = im.size
                where = f"{kind} {i + 1}" if n > 1 else ""
                if im.format == "JPEG":
                    # libjpeg decodes straight to grey, at 1/2, 1/4 or 1/8 only when needed to fit
                    # links.max_image_pixels (a 48 Mpx photo is read at half size, not refused)
                    scale = 1
                    while scale < 8 and w * h / scale**2 > max_pixels:
                        scale *= 2
                    im.draft("L", (max(1, w // scale), max(1, h // scale)))
                    w, h = im.size
                if w * h > max_pixels:
                    yield Unscannable(
                        "budget", f"image of {w}x{h} pixels is above links.max_image_pixels", where
                    )
                    continue
                if not budget.take_pixels(w * h):
                    yield Unscannable("budget", budget.pixels_note(), where)
                    return
                grey = _grey(im)
                if n == 1 and grey is not im:
                    im.close()  # the decoded colour image (up to 4 bytes a pixel) is freed now
                decoded += 1
                yield where, grey
                del grey
            if n > MAX_FRAMES:
                yield Unscannable("budget", f"image with more than {MAX_FRAMES} frames", "")
    except Exception as e:
        if not decoded:
            yield Unscannable("unparseable", f"image could not be decoded ({type(e).__name__})", "")
