"""Links in QR codes (and other matrix codes a phone camera reads) inside images.

Why zxing-cpp: the maintained C++ port of ZXing, with wheels on PyPI (no system library), reads
QR, Micro QR, Data Matrix and Aztec in a few milliseconds; pyzbar needs libzbar and has not been
released since 2022. Pillow decodes the image formats mail carries (PNG, JPEG, GIF, BMP, WebP,
TIFF). Images above links.max_image_pixels are not decoded (a decompression bomb costs nothing).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

from ..findings import Link, Location

FindText = Callable[[str, Location], list[Link]]


def qr_links(
    data: bytes, where: Location, find_text: FindText, max_pixels: int, unchecked: list[str]
) -> list[Link]:
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:  # pragma: no cover - both are dependencies
        unchecked.append(f"{where}: image not checked for QR codes (zxing-cpp or Pillow missing)")
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > max_pixels:
                unchecked.append(
                    f"{where}: image of {w}x{h} pixels is above links.max_image_pixels; not checked for QR codes"
                )
                return []
            im.draft("L", (2048, 2048))  # JPEG: decode at 1/2..1/8 scale; a QR code stays readable
            gray = im.convert("L")
        f = zxingcpp.BarcodeFormat
        codes = zxingcpp.read_barcodes(gray, formats=[f.QRCode, f.MicroQRCode, f.DataMatrix, f.Aztec])  # type: ignore[arg-type]
    except Exception:
        return []
    out: list[Link] = []
    loc = Location(where.part, where.content_type, f"{where.field} qr".strip())
    for code in codes:
        text = code.text or ""
        for link in find_text(text, loc):
            out.append(Link(text[:200], link.url, "qr", loc.with_offset(link.location.offset)))
    return out
