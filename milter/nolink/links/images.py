"""Links in QR codes (and other matrix codes a phone camera reads) inside images.

Why zxing-cpp: the maintained C++ port of ZXing, with wheels on PyPI (no system library), reads
QR, Micro QR, Data Matrix, Aztec and PDF417 (boarding passes, ID cards, invoices; stacked rows
that also hold a URL) in a few milliseconds; pyzbar needs libzbar and has not been
released since 2022. Decoding the image formats (Pillow) and the pixel budget live in
extract/image.py; this finder gets grey-scale PIL images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..findings import Link, Location

FindText = Callable[[str, Location], list[Link]]


TILE_ABOVE = 16_000_000  # pixels: a larger image is read as a half-size whole plus full-size tiles
TILE = 2048
OVERLAP = 512  # a code smaller than this (at full size) lies wholly inside some tile


def _read(image: Any) -> list[str]:
    import zxingcpp

    f = zxingcpp.BarcodeFormat
    formats = [f.QRCode, f.MicroQRCode, f.DataMatrix, f.Aztec, f.PDF417]
    try:
        # try_rotate turns the image for 1D barcodes; 2D codes are found in any orientation anyway
        codes = zxingcpp.read_barcodes(image, formats=formats, try_rotate=False)  # type: ignore[arg-type]
    except Exception:
        return []
    return [c.text or "" for c in codes]


def read_codes(image: Any) -> list[str]:
    """The texts of every 2D code in a grey-scale PIL image.

    A large image (a 600 dpi scan, a 48 Mpx photo) is read in tiles, which keeps the decoder's
    working memory to that of one tile: the whole image at half size finds the large codes, the
    overlapping tiles at full size the small ones."""
    w, h = image.size
    if w * h <= TILE_ABOVE:
        return _read(image)
    found = _read(image.reduce(2))
    step = TILE - OVERLAP
    for y in range(0, max(1, h - OVERLAP), step):
        for x in range(0, max(1, w - OVERLAP), step):
            found.extend(_read(image.crop((x, y, min(x + TILE, w), min(y + TILE, h)))))
    return list(dict.fromkeys(found))


def code_links(image: Any, where: Location, find_text: FindText) -> list[Link]:
    """Links in the 2D codes of one image; where is the image, the findings are at "where › qr"."""
    out: list[Link] = []
    loc = where.child("qr")
    for text in read_codes(image):
        for link in find_text(text, loc):
            out.append(Link(text[:200], link.url, "qr", loc.with_offset(link.location.offset)))
    return out
