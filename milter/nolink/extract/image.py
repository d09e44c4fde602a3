"""Images: PNG, JPEG, GIF (every frame), TIFF (every page), BMP, WebP, and SVG.

``extract`` hands the bytes on as one ImagePiece; ``frames`` decodes them (for the image finders,
links/images.py, called by the scanner) into grey-scale PIL images, one per frame or page, each
counted against the message's pixel budget. Large scans (a 600 dpi A4 page is ~35 Mpx) are decoded,
JPEG at a reduced scale by libjpeg itself; only an image above links.max_image_pixels, or beyond
the budget, is unscannable. SVG: its markup goes to the HTML finder (links in ``<a href>``), and
it is rendered (resvg, a Rust renderer with a wheel on PyPI and no system library; it loads no
network resources) so a code drawn in it is read too.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

from ..decode import decode_bytes
from .base import Budget, Extracted, ImagePiece, TextPiece, Unscannable

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
HALVE_JPEG_PIXELS = (
    40_000_000  # a larger JPEG is decoded at half size (a small code in a 24 Mpx photo is still read)
)


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
    markup = decode_bytes(data, None)
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
    """Grey-scale, with transparency flattened onto white (a QR code on a transparent background)."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        from PIL import Image

        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        white.alpha_composite(rgba)
        return white.convert("L")
    return im.convert("L")


def frames(data: bytes, budget: Budget, max_pixels: int) -> tuple[list[tuple[str, Any]], list[Unscannable]]:
    """(where, grey PIL image) for every frame or page, and what could not be decoded."""
    from PIL import Image, ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # a truncated JPEG still shows its top to the citizen
    out: list[tuple[str, Any]] = []
    bad: list[Unscannable] = []
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
                if w * h > max_pixels:
                    bad.append(
                        Unscannable(
                            "budget", f"image of {w}x{h} pixels is above links.max_image_pixels", where
                        )
                    )
                    continue
                if not budget.take_pixels(w * h):
                    bad.append(Unscannable("budget", budget.pixels_note(), where))
                    break
                if im.format == "JPEG":  # libjpeg decodes straight to grey; halves only a huge photo
                    im.draft("L", (max(1, w // 2), max(1, h // 2)) if w * h > HALVE_JPEG_PIXELS else (w, h))
                out.append((where, _grey(im)))
            if n > MAX_FRAMES:
                bad.append(Unscannable("budget", f"image with more than {MAX_FRAMES} frames", ""))
    except Exception as e:
        if not out:
            bad.append(Unscannable("unparseable", f"image could not be decoded ({type(e).__name__})", ""))
    return out, bad
