"""EMF and WMF pictures for the tests, written record by record as Office and code generators write
them (MS-EMF, MS-WMF): a QR code drawn as filled rectangles, as one polypolygon, as a path, as an
embedded bitmap (StretchDIBits / DIBStretchBlt); a logo (polygons, an ellipse, text)."""

from __future__ import annotations

import struct


def modules(text: str, fmt: str = "QRCode") -> list[list[bool]]:
    """The dark modules of a 2D code, quiet zone included (one pixel a module)."""
    import zxingcpp

    code = zxingcpp.create_barcode(text, getattr(zxingcpp.BarcodeFormat, fmt)).to_image(scale=1)
    mv = memoryview(code)
    h, w = mv.shape[0], mv.shape[1]
    raw = bytes(mv)
    return [[raw[y * w + x] < 128 for x in range(w)] for y in range(h)]


def _rec(kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", kind, 8 + len(body)) + body


def emf(records: list[bytes], size: tuple[int, int] = (1000, 1000)) -> bytes:
    """An EMF file: header, the records, EOF."""
    w, h = size
    body = b"".join(records) + _rec(14, struct.pack("<III", 0, 0, 20))
    header_len = 108
    total = header_len + len(body)
    header = struct.pack(
        "<II4i4i4sIIIHHIIIiiii",
        1, header_len,
        0, 0, w, h,  # bounds (device units)
        0, 0, w * 26, h * 26,  # frame (0.01 mm)
        b" EMF", 0x10000, total, len(records) + 2, 4, 0, 0, 0, 0,
        1920, 1080, 508, 286,  # reference device: pixels and millimetres
    )  # fmt: skip
    header += b"\x00" * (header_len - len(header))
    return header + body


def _brush(index: int, colorref: int) -> bytes:
    return _rec(39, struct.pack("<IIII", index, 0, colorref, 0))


def _select(index: int) -> bytes:
    return _rec(37, struct.pack("<I", index))


NULL_PEN = 0x80000008


def emf_qr_rectangles(text: str, unit: int = 10, origin: tuple[int, int] = (40, 40)) -> bytes:
    """A QR code as one EMR_RECTANGLE per dark module, black brush, no pen (a code generator's EMF)."""
    grid = modules(text)
    recs = [_brush(1, 0x000000), _select(1), _select(NULL_PEN)]
    ox, oy = origin
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                recs.append(
                    _rec(
                        43,
                        struct.pack(
                            "<4i", ox + x * unit, oy + y * unit, ox + (x + 1) * unit, oy + (y + 1) * unit
                        ),
                    )
                )
    n = len(grid) * unit + 2 * ox
    return emf(recs, (n, n))


def emf_qr_polypolygon(text: str, unit: int = 8) -> bytes:
    """A QR code as one EMR_POLYPOLYGON16 (one square a module), inside a path filled once, with a
    world transform that doubles it (PowerPoint's "save as picture")."""
    grid = modules(text)
    squares = [
        [
            (x * unit, y * unit),
            ((x + 1) * unit, y * unit),
            ((x + 1) * unit, (y + 1) * unit),
            (x * unit, (y + 1) * unit),
        ]
        for y, row in enumerate(grid)
        for x, dark in enumerate(row)
        if dark
    ]
    counts = b"".join(struct.pack("<I", 4) for _ in squares)
    points = b"".join(struct.pack("<hh", *p) for sq in squares for p in sq)
    poly = _rec(91, struct.pack("<4iII", 0, 0, 0, 0, len(squares), 4 * len(squares)) + counts + points)
    xform = _rec(35, struct.pack("<6f", 2.0, 0.0, 0.0, 2.0, 10.0, 10.0))
    recs = [
        xform,
        _brush(2, 0x202020),
        _select(2),
        _select(NULL_PEN),
        _rec(59, b""),
        poly,
        _rec(60, b""),
        _rec(62, struct.pack("<4i", 0, 0, 0, 0)),
    ]
    n = 2 * len(grid) * unit + 20
    return emf(recs, (n, n))


def _dib(text: str, scale: int = 6) -> tuple[bytes, bytes, int, int]:
    """(BITMAPINFO, bits, width, height) of a QR code as an 8-bit grey bottom-up DIB."""
    grid = modules(text)
    w = h = len(grid) * scale
    stride = (w + 3) & ~3
    rows = []
    for y in range(h - 1, -1, -1):  # bottom-up
        row = bytes(0 if grid[y // scale][x // scale] else 255 for x in range(w))
        rows.append(row + b"\x00" * (stride - w))
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    bmi = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 0, stride * h, 2835, 2835, 256, 0) + palette
    return bmi, b"".join(rows), w, h


def emf_qr_bitmap(text: str) -> bytes:
    """A QR code pasted as a bitmap: one EMR_STRETCHDIBITS (what Word makes of a pasted picture)."""
    bmi, bits, w, h = _dib(text)
    head = 80
    body = struct.pack(
        "<4iiiiiiiIIIIIIii",
        0, 0, w, h,  # bounds
        20, 20, 0, 0, w, h,  # xDest, yDest, xSrc, ySrc, cxSrc, cySrc
        head, len(bmi), head + len(bmi), len(bits),
        0, 0x00CC0020,  # DIB_RGB_COLORS, SRCCOPY
        w * 2, h * 2,  # cxDest, cyDest
    )  # fmt: skip
    return emf([_rec(81, body + bmi + bits)], (w * 2 + 40, h * 2 + 40))


def emf_logo(caption: str = "สถ.") -> bytes:
    """An agency logo: an ellipse, a star polygon, a rectangle band and its initials as text."""
    recs = [
        _brush(1, 0x8C3C00), _select(1),
        _rec(42, struct.pack("<4i", 10, 10, 390, 390)),
        _brush(2, 0x00C8FA), _select(2),
        _rec(3, struct.pack("<4iI", 0, 0, 0, 0, 5) + b"".join(struct.pack("<ii", *p) for p in ((200, 60), (240, 180), (360, 180), (260, 250), (200, 340)))),
        _rec(43, struct.pack("<4i", 60, 300, 340, 350)),
    ]  # fmt: skip
    s = caption.encode("utf-16-le")
    # EXTTEXTOUTW: bounds, graphics mode, scales, then EMRTEXT (reference, chars, offString, options, rect, offDx)
    off = 8 + 16 + 12 + 8 + 4 + 4 + 4 + 16 + 4
    text = (
        struct.pack(
            "<4iIffiiIIIiiiiI", 0, 0, 0, 0, 1, 1.0, 1.0, 150, 360, len(caption), off, 0, 0, 0, 0, 0, 0
        )
        + s
    )
    recs.append(_rec(84, text))
    return emf(recs, (400, 400))


def emf_text(s: str) -> bytes:
    """An EMF holding only a line of text (a URL typed into a drawing)."""
    enc = s.encode("utf-16-le")
    off = 76
    return emf(
        [
            _rec(
                84,
                struct.pack(
                    "<4iIffiiIIIiiiiI", 0, 0, 0, 0, 1, 1.0, 1.0, 10, 10, len(s), off, 0, 0, 0, 0, 0, 0
                )
                + enc,
            )
        ]
    )


def emf_plus_only() -> bytes:
    """An EMF whose drawing is all in EMF+ comment records (no GDI fallback)."""
    plus = b"EMF+" + struct.pack("<HHII", 0x4001, 1, 28, 16) + b"\x00" * 16
    return emf([_rec(70, struct.pack("<I", len(plus)) + plus)])


# -- WMF ---------------------------------------------------------------------------------------------------


def _wrec(func: int, params: bytes) -> bytes:
    params += b"\x00" * (len(params) % 2)
    return struct.pack("<IH", (6 + len(params)) // 2, func) + params


def wmf(records: list[bytes], size: tuple[int, int], placeable: bool = True) -> bytes:
    body = b"".join(records) + _wrec(0, b"")
    longest = max(len(r) for r in records) // 2 if records else 3
    header = struct.pack("<HHHIHIH", 1, 9, 0x0300, (18 + len(body)) // 2, 8, longest, 0)
    if not placeable:
        return header + body
    w, h = size
    words = struct.unpack("<10H", struct.pack("<IHhhhhHI", 0x9AC6CDD7, 0, 0, 0, w, h, 1440, 0))
    check = 0
    for x in words:
        check ^= x
    return struct.pack("<IHhhhhHIH", 0x9AC6CDD7, 0, 0, 0, w, h, 1440, 0, check) + header + body


def wmf_qr_rectangles(text: str, unit: int = 10, placeable: bool = True) -> bytes:
    """A QR code as META_RECTANGLE records (bottom, right, top, left), with a window mapping."""
    grid = modules(text)
    n = len(grid) * unit
    recs = [
        _wrec(0x020B, struct.pack("<hh", 0, 0)),  # SETWINDOWORG (y, x)
        _wrec(0x020C, struct.pack("<hh", n, n)),  # SETWINDOWEXT
        _wrec(0x02FC, struct.pack("<HIH", 0, 0x000000, 0)),  # CREATEBRUSHINDIRECT: object 0
        _wrec(0x012D, struct.pack("<H", 0)),  # SELECTOBJECT 0
        _wrec(0x02FA, struct.pack("<HhhI", 5, 0, 0, 0)),  # CREATEPENINDIRECT PS_NULL: object 1
        _wrec(0x012D, struct.pack("<H", 1)),
    ]
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                recs.append(
                    _wrec(0x041B, struct.pack("<hhhh", (y + 1) * unit, (x + 1) * unit, y * unit, x * unit))
                )
    return wmf(recs, (n, n), placeable)


def wmf_qr_bitmap(text: str, placeable: bool = True) -> bytes:
    """A QR code as one META_STRETCHDIB: rop, usage, srcH, srcW, ySrc, xSrc, destH, destW, yDest, xDest."""
    bmi, bits, w, h = _dib(text)
    params = struct.pack("<IH8h", 0x00CC0020, 0, h, w, 0, 0, h, w, 0, 0) + bmi + bits
    return wmf([_wrec(0x0F43, params)], (w, h), placeable)


def emf_qr_region(text: str, unit: int = 6) -> bytes:
    """A QR code as one EMR_FILLRGN: a region of one rectangle a dark module, filled with a brush."""
    grid = modules(text)
    rects = [
        struct.pack("<4i", x * unit, y * unit, (x + 1) * unit, (y + 1) * unit)
        for y, row in enumerate(grid)
        for x, dark in enumerate(row)
        if dark
    ]
    n = len(grid) * unit
    rgn = struct.pack("<IIII4i", 32, 1, len(rects), 16 * len(rects), 0, 0, n, n) + b"".join(rects)
    fill = _rec(71, struct.pack("<4iII", 0, 0, n, n, len(rgn), 1) + rgn)
    return emf([_brush(1, 0), fill], (n, n))
