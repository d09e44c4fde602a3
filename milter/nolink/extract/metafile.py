"""Windows metafiles (EMF and WMF): the pictures Word, Excel, PowerPoint and RTF keep as drawings.

A metafile is a list of drawing records. A QR code pasted from a code generator or a design tool
often arrives as one: either as a bitmap the metafile carries (EMF StretchDIBits, BitBlt,
SetDIBitsToDevice; WMF DIBStretchBlt, StretchDIB, DIBBitBlt, SetDIBitsToDev) or as filled
rectangles and polygons, one per dark module. This module reads both, within fixed bounds:

- every embedded bitmap (a DIB) becomes an image of its own, at its own resolution (a BMP file
  built around the DIB; PNG and JPEG DIBs as they are);
- the simple vector records are drawn, in grey, with Pillow's ImageDraw, on a canvas whose longest
  side is CANVAS pixels: rectangles, rounded rectangles, ellipses, polygons, polypolygons (holes by
  even-odd), polylines, paths (MoveTo/LineTo/polygons between BeginPath and EndPath, then FillPath
  or StrokePath), regions (FillRgn, PaintRgn), PatBlt fills; with the world transform, the window and viewport mapping, solid
  brushes and pens, SaveDC/RestoreDC. Bitmaps are pasted onto the canvas at their place too, so a
  code assembled from pieces is whole;
- the strings of text records (EMF ExtTextOutW/A, WMF TextOut/ExtTextOut) are text, for the text
  finder: a URL typed into a drawing is a link.

Why not a library: Pillow opens WMF/EMF only on Windows (its WmfImagePlugin needs a handler
elsewhere); Debian's libwmf reads WMF only (no EMF), and has no maintained Python binding;
LibreOffice renders both but is a 300 MB program and seconds per file. What is not drawn: curves
(Bézier segments are drawn as straight lines through their control points), clipping, raster
operations other than copy, hatch and pattern brushes (drawn in their colour), EMF+ records (an
EMF+ only picture, with no GDI fallback records, is reported as not read), fonts (text is read as
text, not drawn).

Bounds: MAX_RECORDS records, MAX_POINTS points and MAX_BITMAPS bitmaps per metafile; the canvas
and every bitmap take pixels from the message's budget, and the message's time is checked every
TIME_CHECK records. What exceeds them is unscannable ("budget"), never silently clean.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from dataclasses import dataclass, field
from typing import Any

from .base import Budget, Extracted, ImagePiece, TextPiece, Unscannable

CANVAS = (
    1200  # px: the longest side of the drawing of the vector records (a version-40 QR code: 6 px a module)
)
MAX_RECORDS = 200_000
MAX_POINTS = 2_000_000
MAX_BITMAPS = 64
MAX_BITMAP_PIXELS = 40_000_000  # one DIB's declared width x height
TIME_CHECK = 2000  # records between two looks at the message's time
MAX_TEXT = 200_000  # characters of text records kept

_EMF_SIGNATURE = b" EMF"
_WMF_PLACEABLE = b"\xd7\xcd\xc6\x9a"


def is_emf(data: bytes) -> bool:
    return data[:4] == b"\x01\x00\x00\x00" and data[40:44] == _EMF_SIGNATURE


def is_wmf(data: bytes) -> bool:
    if data.startswith(_WMF_PLACEABLE):
        return True
    # the standard header: type 1 (memory) or 2 (disk), 9 words long, version 1.0 or 3.0
    return data[:4] in (b"\x01\x00\x09\x00", b"\x02\x00\x09\x00") and data[4:6] in (b"\x00\x03", b"\x00\x01")


def is_metafile(data: bytes) -> bool:
    return is_emf(data) or is_wmf(data)


Point = tuple[float, float]


@dataclass(slots=True)
class _State:
    """The device context: mapping, transform, selected brush and pen (what SaveDC saves)."""

    xform: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    map_mode: int = 1  # MM_TEXT
    win_org: Point = (0.0, 0.0)
    win_ext: Point = (1.0, 1.0)
    vp_org: Point = (0.0, 0.0)
    vp_ext: Point = (1.0, 1.0)
    brush: int | None = 0  # grey level of the fill; None: no fill (NULL_BRUSH)
    pen: int | None = 0  # grey level of the outline; None: no outline (NULL_PEN)
    pen_width: float = 0.0
    pos: Point = (0.0, 0.0)

    def copy(self) -> _State:
        return _State(
            self.xform, self.map_mode, self.win_org, self.win_ext, self.vp_org, self.vp_ext,
            self.brush, self.pen, self.pen_width, self.pos,
        )  # fmt: skip

    def device(self, x: float, y: float) -> Point:
        a, b, c, d, e, f = self.xform
        x, y = a * x + c * y + e, b * x + d * y + f
        if self.map_mode in (7, 8):  # MM_ISOTROPIC, MM_ANISOTROPIC: window to viewport
            wx, wy = self.win_ext
            vx, vy = self.vp_ext
            x = (x - self.win_org[0]) * (vx / wx if wx else 1.0) + self.vp_org[0]
            y = (y - self.win_org[1]) * (vy / wy if wy else 1.0) + self.vp_org[1]
        else:
            x, y = x - self.win_org[0] + self.vp_org[0], y - self.win_org[1] + self.vp_org[1]
            if self.map_mode in (2, 3, 4, 5, 6):  # the metric and English modes: y grows upwards
                y = -y
        return x, y

    def scale(self) -> float:
        """How long a logical unit is on the device (for pen widths)."""
        a, b, c, d, _, _ = self.xform
        k = abs(a * d - b * c) ** 0.5 or 1.0
        if self.map_mode in (7, 8) and self.win_ext[0]:
            k *= abs(self.vp_ext[0] / self.win_ext[0])
        return k


@dataclass(slots=True)
class _Shape:
    figures: list[list[Point]]  # device coordinates
    fill: int | None
    stroke: int | None
    width: float = 0.0  # device units
    closed: bool = True


@dataclass(slots=True)
class _Bitmap:
    data: bytes  # an encoded image (BMP, PNG, JPEG)
    dest: tuple[Point, Point]  # device coordinates of two opposite corners


class _TooBig(Exception):
    pass


@dataclass(slots=True)
class _Drawing:
    budget: Budget
    state: _State = field(default_factory=_State)
    saved: list[_State] = field(default_factory=list)
    objects: dict[int, tuple[str, int | None, float]] = field(default_factory=dict)
    shapes: list[_Shape] = field(default_factory=list)
    bitmaps: list[_Bitmap] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    path: list[list[Point]] | None = None
    points: int = 0
    text_chars: int = 0
    emf_plus: bool = False
    bad_bitmaps: int = 0  # bitmap records whose DIB header makes no sense (or is too large)
    note: str = ""  # why the reading stopped early (a bound was reached)

    # -- objects -------------------------------------------------------------------------------------

    def select(self, index: int) -> None:
        if index & 0x80000000:  # EMF stock objects
            stock = index & 0x7FFFFFFF
            if stock <= 4:
                self.state.brush = (255, 192, 128, 64, 0)[stock]
            elif stock == 5:
                self.state.brush = None
            elif stock in (6, 7):
                self.state.pen, self.state.pen_width = (255 if stock == 6 else 0), 0.0
            elif stock == 8:
                self.state.pen = None
            return
        obj = self.objects.get(index)
        if obj is None:
            return
        kind, grey, width = obj
        if kind == "brush":
            self.state.brush = grey
        elif kind == "pen":
            self.state.pen, self.state.pen_width = grey, width

    def save(self) -> None:
        if len(self.saved) < 1000:
            self.saved.append(self.state.copy())

    def restore(self, n: int) -> None:
        # EMF: n < 0 is relative (-1 the last saved); WMF RestoreDC passes -1 too
        if n < 0:
            k = -n
            if k <= len(self.saved):
                self.state = self.saved[-k]
                del self.saved[-k:]
        elif 0 < n <= len(self.saved):
            self.state = self.saved[n - 1]
            del self.saved[n - 1 :]

    # -- drawing -------------------------------------------------------------------------------------

    def _count(self, n: int) -> None:
        self.points += n
        if self.points > MAX_POINTS:
            raise _TooBig(f"metafile with more than {MAX_POINTS:,} points")

    def figure(self, pts: list[Point], closed: bool) -> None:
        """One polygon (closed) or polyline, in logical coordinates."""
        self._count(len(pts))
        dev = [self.state.device(x, y) for x, y in pts]
        if self.path is not None:
            self.path.append(dev)
            return
        if len(dev) < 2:
            return
        st = self.state
        self.shapes.append(
            _Shape([dev], st.brush if closed else None, st.pen, st.pen_width * st.scale(), closed)
        )

    def figures(self, polys: list[list[Point]]) -> None:
        """A polypolygon: one shape, its overlaps cut out (even-odd)."""
        n = sum(len(p) for p in polys)
        self._count(n)
        dev = [[self.state.device(x, y) for x, y in p] for p in polys]
        if self.path is not None:
            self.path.extend(dev)
            return
        st = self.state
        self.shapes.append(
            _Shape([p for p in dev if len(p) >= 2], st.brush, st.pen, st.pen_width * st.scale())
        )

    def rect(self, x1: float, y1: float, x2: float, y2: float, fill: int | None = -1) -> None:
        pts = [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]
        if fill == -1:
            self.figure(pts, True)
            return
        self._count(4)
        dev = [self.state.device(x, y) for x, y in pts]
        self.shapes.append(_Shape([dev], fill, None))

    def ellipse(self, x1: float, y1: float, x2: float, y2: float) -> None:
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, abs(x2 - x1) / 2, abs(y2 - y1) / 2
        self.figure(
            [(cx + rx * math.cos(t / 16 * math.pi), cy + ry * math.sin(t / 16 * math.pi)) for t in range(32)],
            True,
        )

    def move_to(self, x: float, y: float) -> None:
        self.state.pos = (x, y)
        if self.path is not None:
            self.path.append([self.state.device(x, y)])

    def line_to(self, x: float, y: float) -> None:
        if self.path is not None:
            if not self.path:
                self.path.append([self.state.device(*self.state.pos)])
            self.path[-1].append(self.state.device(x, y))
            self._count(1)
        else:
            self.figure([self.state.pos, (x, y)], False)
        self.state.pos = (x, y)

    def poly_to(self, pts: list[Point]) -> None:
        for x, y in pts:
            self.line_to(x, y)

    def end_path(self, fill: bool, stroke: bool) -> None:
        figs = [f for f in (self.path or []) if len(f) >= 2]
        self.path = None
        if not figs:
            return
        st = self.state
        self.shapes.append(
            _Shape(
                figs, st.brush if fill else None, st.pen if stroke else None, st.pen_width * st.scale(), fill
            )
        )

    def bitmap(self, bmi: bytes, bits: bytes, x: float, y: float, cx: float, cy: float) -> None:
        if len(self.bitmaps) >= MAX_BITMAPS:
            raise _TooBig(f"metafile with more than {MAX_BITMAPS} bitmaps")
        encoded = _dib(bmi, bits)
        if encoded is None:
            self.bad_bitmaps += 1
            return
        self.bitmaps.append(_Bitmap(encoded, (self.state.device(x, y), self.state.device(x + cx, y + cy))))

    def text(self, s: str) -> None:
        s = s.replace("\x00", "").strip()
        if s and self.text_chars < MAX_TEXT:
            self.texts.append(s)
            self.text_chars += len(s)


def _grey(colorref: int) -> int:
    r, g, b = colorref & 0xFF, (colorref >> 8) & 0xFF, (colorref >> 16) & 0xFF
    return (299 * r + 587 * g + 114 * b) // 1000


def _dib(bmi: bytes, bits: bytes) -> bytes | None:
    """An encoded image from a device-independent bitmap (its BITMAPINFO and its bits)."""
    if len(bmi) < 12:
        return None
    size = struct.unpack_from("<I", bmi)[0]
    if size == 12:  # BITMAPCOREHEADER
        w, h = struct.unpack_from("<HH", bmi, 4)
        compression = 0
    elif size >= 40 and len(bmi) >= 40:
        w, h = struct.unpack_from("<ii", bmi, 4)
        compression = struct.unpack_from("<I", bmi, 16)[0]
    else:
        return None
    if w <= 0 or h == 0 or abs(w * h) > MAX_BITMAP_PIXELS:
        return None
    if compression in (4, 5):  # BI_JPEG, BI_PNG: the bits are the file
        return bits
    return b"BM" + struct.pack("<IHHI", 14 + len(bmi) + len(bits), 0, 0, 14 + len(bmi)) + bmi + bits


def _part(rec: bytes, off: int, size: int) -> bytes:
    if off <= 0 or size <= 0 or off + size > len(rec):
        return b""
    return rec[off : off + size]


# -- EMF -------------------------------------------------------------------------------------------------


def _emf_points(rec: bytes, at: int, n: int, small: bool) -> list[Point]:
    fmt, step = ("<hh", 4) if small else ("<ii", 8)
    n = max(0, min(n, (len(rec) - at) // step))
    return [struct.unpack_from(fmt, rec, at + i * step) for i in range(n)]


def _emf(data: bytes, d: _Drawing) -> None:
    pos = 0
    n = 0
    end = len(data)
    while pos + 8 <= end:
        kind, size = struct.unpack_from("<II", data, pos)
        if size < 8 or size % 4 or pos + size > end:
            break
        rec = data[pos : pos + size]
        pos += size
        n += 1
        if n > MAX_RECORDS:
            raise _TooBig(f"metafile with more than {MAX_RECORDS:,} records")
        if n % TIME_CHECK == 0 and not d.budget.check_time():
            raise _TooBig(d.budget.time_note())
        if kind == 14:  # EOF
            break
        _emf_record(kind, rec, d)


def _emf_record(kind: int, rec: bytes, d: _Drawing) -> None:
    st = d.state

    def u32(at: int) -> int:
        return int(struct.unpack_from("<I", rec, at)[0]) if at + 4 <= len(rec) else 0

    def i32(at: int) -> int:
        return int(struct.unpack_from("<i", rec, at)[0]) if at + 4 <= len(rec) else 0

    if kind in (3, 4, 2, 86, 87, 85):  # POLYGON, POLYLINE, POLYBEZIER (and their 16-bit forms)
        small = kind >= 85
        pts = _emf_points(rec, 28, u32(24), small)
        d.figure(pts, kind in (3, 86))
    elif kind in (5, 6, 88, 89):  # POLYBEZIERTO, POLYLINETO
        d.poly_to(_emf_points(rec, 28, u32(24), kind >= 88))
    elif kind in (7, 8, 90, 91):  # POLYPOLYLINE, POLYPOLYGON
        small = kind >= 90
        count = min(u32(24), (len(rec) - 32) // 4)
        counts = [u32(32 + 4 * i) for i in range(max(0, count))]
        pts = _emf_points(rec, 32 + 4 * len(counts), u32(28), small)
        polys, i = [], 0
        for c in counts:
            polys.append(pts[i : i + c])
            i += c
        if kind in (8, 91):
            d.figures(polys)
        else:
            for p in polys:
                d.figure(p, False)
    elif kind == 43 or kind == 44:  # RECTANGLE, ROUNDRECT
        d.rect(i32(8), i32(12), i32(16), i32(20))
    elif kind == 42:  # ELLIPSE
        d.ellipse(i32(8), i32(12), i32(16), i32(20))
    elif kind == 27:  # MOVETOEX
        d.move_to(i32(8), i32(12))
    elif kind == 54:  # LINETO
        d.line_to(i32(8), i32(12))
    elif kind == 59:  # BEGINPATH
        d.path = []
    elif kind == 61 and d.path:  # CLOSEFIGURE
        d.path.append([d.path[-1][0]] if d.path[-1] else [])
    elif kind == 62:  # FILLPATH
        d.end_path(True, False)
    elif kind == 63:  # STROKEANDFILLPATH
        d.end_path(True, True)
    elif kind == 64:  # STROKEPATH
        d.end_path(False, True)
    elif kind == 67 or kind == 65:  # SELECTCLIPPATH, ABORTPATH: the path is not drawn
        d.path = None
    elif kind == 39:  # CREATEBRUSHINDIRECT
        style = u32(12)
        d.objects[u32(8)] = ("brush", None if style == 1 else _grey(u32(16)), 0.0)
    elif kind == 38:  # CREATEPEN
        style = u32(12) & 0xF
        d.objects[u32(8)] = ("pen", None if style == 5 else _grey(u32(24)), float(i32(16)))
    elif kind == 95:  # EXTCREATEPEN
        style = u32(28) & 0xF  # after ihPen and the offsets and sizes of a pattern bitmap
        d.objects[u32(8)] = ("pen", None if style == 5 else _grey(u32(40)), float(u32(32)))
    elif kind in (93, 94):  # CREATEMONOBRUSH, CREATEDIBPATTERNBRUSHPT: drawn dark
        d.objects[u32(8)] = ("brush", 0, 0.0)
    elif kind == 37:  # SELECTOBJECT
        d.select(u32(8))
    elif kind == 40:  # DELETEOBJECT
        d.objects.pop(u32(8), None)
    elif kind == 33:  # SAVEDC
        d.save()
    elif kind == 34:  # RESTOREDC
        d.restore(i32(8))
    elif kind == 35 and len(rec) >= 32:  # SETWORLDTRANSFORM
        st.xform = struct.unpack_from("<6f", rec, 8)
    elif kind == 36 and len(rec) >= 36:  # MODIFYWORLDTRANSFORM
        xf = struct.unpack_from("<6f", rec, 8)
        mode = u32(32)
        if mode == 1:
            st.xform = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        elif mode == 2:
            st.xform = _multiply(xf, st.xform)
        elif mode == 3:
            st.xform = _multiply(st.xform, xf)
        elif mode == 4:
            st.xform = xf
    elif kind == 17:  # SETMAPMODE
        st.map_mode = u32(8)
    elif kind == 9:
        st.win_ext = (float(i32(8)), float(i32(12)))
    elif kind == 10:
        st.win_org = (float(i32(8)), float(i32(12)))
    elif kind == 11:
        st.vp_ext = (float(i32(8)), float(i32(12)))
    elif kind == 12:
        st.vp_org = (float(i32(8)), float(i32(12)))
    elif kind in (76, 77):  # BITBLT, STRETCHBLT
        x, y, cx, cy, rop = i32(24), i32(28), i32(32), i32(36), u32(40)
        bmi, bits = _part(rec, u32(84), u32(88)), _part(rec, u32(92), u32(96))
        if bmi:
            d.bitmap(bmi, bits, x, y, cx, cy)
        else:
            _pat_blt(d, rop, x, y, cx, cy)
    elif kind == 81:  # STRETCHDIBITS
        bmi, bits = _part(rec, u32(48), u32(52)), _part(rec, u32(56), u32(60))
        if bmi:
            d.bitmap(bmi, bits, i32(24), i32(28), i32(72), i32(76))
    elif kind == 80:  # SETDIBITSTODEVICE
        bmi, bits = _part(rec, u32(48), u32(52)), _part(rec, u32(56), u32(60))
        if bmi:
            d.bitmap(bmi, bits, i32(24), i32(28), i32(40), i32(44))
    elif kind in (83, 84):  # EXTTEXTOUTA, EXTTEXTOUTW
        chars, off = u32(44), u32(48)
        if kind == 84:
            raw = _part(rec, off, 2 * min(chars, 10_000))
            d.text(raw.decode("utf-16-le", "replace"))
        else:
            d.text(_part(rec, off, min(chars, 10_000)).decode("cp874", "replace"))
    elif kind in (71, 74):  # FILLRGN (with a brush by index), PAINTRGN (the selected brush)
        fill = d.state.brush
        at = 28
        if kind == 71:
            brush = d.objects.get(u32(28))
            fill = brush[1] if brush is not None and brush[0] == "brush" else d.state.brush
            at = 32
        count = min(u32(at + 8), max(0, (len(rec) - at - 32) // 16))
        d._count(4 * count)
        for i in range(count):
            x1, y1, x2, y2 = struct.unpack_from("<4i", rec, at + 32 + 16 * i)
            d.rect(x1, y1, x2, y2, fill)
    elif kind == 70 and rec[12:16] == b"EMF+":  # GDICOMMENT holding EMF+ records
        d.emf_plus = True


def _pat_blt(d: _Drawing, rop: int, x: float, y: float, cx: float, cy: float) -> None:
    """A BitBlt without a bitmap fills its rectangle: PATCOPY with the brush, BLACKNESS, WHITENESS."""
    if rop == 0x00F00021:
        fill = d.state.brush
    elif rop == 0x00000042:
        fill = 0
    elif rop == 0x00FF0062:
        fill = 255
    else:
        return
    if fill is not None:
        d.rect(x, y, x + cx, y + cy, fill)


def _multiply(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float, float, float]:
    """a then b (row vectors, as GDI's XFORM)."""
    return (
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    )


# -- WMF -------------------------------------------------------------------------------------------------


def _wmf(data: bytes, d: _Drawing) -> None:
    pos = 0
    if data.startswith(_WMF_PLACEABLE):
        if len(data) >= 22:
            left, top = struct.unpack_from("<hh", data, 6)
            d.state.win_org = (float(left), float(top))
        pos = 22
    if pos + 18 > len(data):
        return
    header_words = struct.unpack_from("<H", data, pos + 2)[0]
    pos += max(9, header_words) * 2
    free: list[int] = []  # WMF objects take the lowest free slot of the object table
    used: set[int] = set()
    n = 0
    while pos + 6 <= len(data):
        words, func = struct.unpack_from("<IH", data, pos)
        size = words * 2
        if size < 6 or pos + size > len(data):
            break
        rec = data[pos + 6 : pos + size]
        pos += size
        n += 1
        if n > MAX_RECORDS:
            raise _TooBig(f"metafile with more than {MAX_RECORDS:,} records")
        if n % TIME_CHECK == 0 and not d.budget.check_time():
            raise _TooBig(d.budget.time_note())
        if func == 0:
            break
        if func in (0x02FC, 0x02FA, 0x02FB, 0x00F7, 0x01F9, 0x0142, 0x06FF):  # every Create*: a slot
            slot = min(free) if free else len(used)
            if free:
                free.remove(slot)
            used.add(slot)
            if func == 0x02FC and len(rec) >= 6:
                style, color = struct.unpack_from("<HI", rec)
                d.objects[slot] = ("brush", None if style == 1 else _grey(color), 0.0)
            elif func == 0x02FA and len(rec) >= 10:
                style, width, _, color = struct.unpack_from("<HhhI", rec)
                d.objects[slot] = ("pen", None if style & 0xF == 5 else _grey(color), float(width))
            elif func in (0x01F9, 0x0142):
                d.objects[slot] = ("brush", 0, 0.0)
            else:
                d.objects[slot] = ("other", None, 0.0)
            continue
        if func == 0x01F0 and len(rec) >= 2:  # DELETEOBJECT
            slot = struct.unpack_from("<H", rec)[0]
            if slot in used:
                used.discard(slot)
                free.append(slot)
                d.objects.pop(slot, None)
            continue
        _wmf_record(func, rec, d)


def _wmf_record(func: int, rec: bytes, d: _Drawing) -> None:
    st = d.state

    def h(i: int) -> int:
        return struct.unpack_from("<h", rec, 2 * i)[0] if 2 * i + 2 <= len(rec) else 0

    if func == 0x012D:  # SELECTOBJECT
        d.select(struct.unpack_from("<H", rec)[0] if len(rec) >= 2 else 0xFFFF)
    elif func == 0x041B or func == 0x061C:  # RECTANGLE, ROUNDRECT (bottom, right, top, left first)
        k = 2 if func == 0x061C else 0
        d.rect(h(k + 3), h(k + 2), h(k + 1), h(k + 0))
    elif func == 0x0418:  # ELLIPSE
        d.ellipse(h(3), h(2), h(1), h(0))
    elif func in (0x0324, 0x0325):  # POLYGON, POLYLINE
        n = max(0, min(h(0), (len(rec) - 2) // 4))
        pts = [(float(h(1 + 2 * i)), float(h(2 + 2 * i))) for i in range(n)]
        d.figure(pts, func == 0x0324)
    elif func == 0x0538:  # POLYPOLYGON
        npolys = max(0, min(h(0), (len(rec) - 2) // 2))
        counts = [struct.unpack_from("<H", rec, 2 + 2 * i)[0] for i in range(npolys)]
        at = 1 + npolys
        polys = []
        for c in counts:
            c = max(0, min(c, (len(rec) - 2 * at) // 4))
            polys.append([(float(h(at + 2 * i)), float(h(at + 2 * i + 1))) for i in range(c)])
            at += 2 * c
        d.figures(polys)
    elif func == 0x0214:  # MOVETO (y, x)
        d.move_to(h(1), h(0))
    elif func == 0x0213:  # LINETO (y, x)
        d.line_to(h(1), h(0))
    elif func == 0x061D and len(rec) >= 12:  # PATBLT: rop, height, width, y, x
        rop = struct.unpack_from("<I", rec)[0]
        _pat_blt(d, rop, h(5), h(4), h(3), h(2))
    elif func == 0x0103:  # SETMAPMODE
        st.map_mode = h(0)
    elif func == 0x020B:  # SETWINDOWORG (y, x)
        st.win_org = (float(h(1)), float(h(0)))
    elif func == 0x020C:  # SETWINDOWEXT (y, x)
        st.win_ext = (float(h(1)), float(h(0)))
    elif func == 0x020D:  # SETVIEWPORTORG
        st.vp_org = (float(h(1)), float(h(0)))
    elif func == 0x020E:  # SETVIEWPORTEXT
        st.vp_ext = (float(h(1)), float(h(0)))
    elif func == 0x001E:  # SAVEDC
        d.save()
    elif func == 0x0127:  # RESTOREDC
        d.restore(h(0))
    elif func == 0x0B41 and len(rec) > 22:  # DIBSTRETCHBLT with a bitmap
        # rop(2 words), srcH, srcW, ySrc, xSrc, destH, destW, yDest, xDest, DIB
        _wmf_dib(d, rec[20:], h(9), h(8), h(7), h(6))
    elif (
        func == 0x0F43 and len(rec) > 22
    ):  # STRETCHDIB: rop, usage, srcH, srcW, ySrc, xSrc, destH, destW, yDest, xDest
        _wmf_dib(d, rec[22:], h(10), h(9), h(8), h(7))
    elif func == 0x0940:  # DIBBITBLT: rop, ySrc, xSrc, height, width, yDest, xDest, DIB
        if len(rec) > 16 + 12:
            _wmf_dib(d, rec[16:], h(7), h(6), h(5), h(4))
        elif len(rec) >= 18:  # no bitmap: a pattern fill, with a reserved word
            rop = struct.unpack_from("<I", rec)[0]
            _pat_blt(d, rop, h(8), h(7), h(6), h(5))
    elif (
        func == 0x0D33 and len(rec) > 18
    ):  # SETDIBTODEV: usage, scans, start, yDib, xDib, h, w, yDest, xDest, DIB
        _wmf_dib(d, rec[18:], h(8), h(7), h(6), h(5))
    elif func == 0x0521 and len(rec) >= 2:  # TEXTOUT: length, string (even), y, x
        n = max(0, h(0))
        d.text(rec[2 : 2 + n].decode("cp874", "replace"))
    elif func == 0x0A32 and len(rec) >= 8:  # EXTTEXTOUT: y, x, length, options, [rect], string
        n, opts = max(0, h(2)), struct.unpack_from("<H", rec, 6)[0]
        at = 8 + (8 if opts & 0x6 else 0)
        d.text(rec[at : at + n].decode("cp874", "replace"))


def _wmf_dib(d: _Drawing, dib: bytes, x: int, y: int, cx: int, cy: int) -> None:
    """A DIB inside a WMF record: its BITMAPINFO (header and colour table), then its bits."""
    if len(dib) < 12:
        return
    size = struct.unpack_from("<I", dib)[0]
    if size == 12:
        bpp = struct.unpack_from("<H", dib, 10)[0]
        colours = (1 << bpp) if bpp <= 8 else 0
        head = 12 + 3 * colours
    elif size >= 40 and len(dib) >= 40:
        bpp, compression = struct.unpack_from("<HI", dib, 14)
        used = struct.unpack_from("<I", dib, 32)[0]
        colours = used or ((1 << bpp) if bpp <= 8 else 0)
        head = size + 4 * min(colours, 256) + (12 if compression == 3 and size == 40 else 0)
    else:
        return
    d.bitmap(dib[:head], dib[head:], x, y, cx, cy)


# -- drawing the canvas ------------------------------------------------------------------------------------


def _render(d: _Drawing) -> Any:
    """The vector shapes (and the bitmaps at their places) on a white grey-scale canvas; None when
    nothing visible was drawn."""
    from PIL import Image, ImageChops, ImageDraw

    if not any(s.fill is not None or s.stroke is not None for s in d.shapes):
        return None
    xs: list[float] = []
    ys: list[float] = []
    for s in d.shapes:
        for f in s.figures:
            xs.extend(p[0] for p in f)
            ys.extend(p[1] for p in f)
    for b in d.bitmaps:
        for p in b.dest:
            xs.append(p[0])
            ys.append(p[1])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span = max(x1 - x0, y1 - y0)
    if span <= 0:
        return None
    margin = CANVAS // 12  # a quiet zone around a code that fills the picture (4 modules and more)
    k = (CANVAS - 2 * margin) / span
    w = max(1, round((x1 - x0) * k)) + 2 * margin
    h = max(1, round((y1 - y0) * k)) + 2 * margin
    if not d.budget.take_pixels(w * h):
        raise _TooBig(d.budget.pixels_note())

    def to(p: Point) -> tuple[float, float]:
        return ((p[0] - x0) * k + margin, (p[1] - y0) * k + margin)

    canvas = Image.new("L", (w, h), 255)
    draw = ImageDraw.Draw(canvas)
    bitmaps = list(d.bitmaps)
    for s in d.shapes:
        figs = [[to(p) for p in f] for f in s.figures if len(f) >= 2]
        if not figs:
            continue
        if s.fill is not None and s.closed:
            if len(figs) == 1:
                box = _box(figs[0])
                if box is not None:  # half-open: rectangles side by side tile without seams or overlaps
                    if box[2] > box[0] and box[3] > box[1]:
                        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=s.fill)
                elif len(figs[0]) >= 3:
                    draw.polygon(figs[0], fill=s.fill)
            else:  # even-odd: each figure flips the pixels it covers, within its own box
                mask = Image.new("1", (w, h), 0)
                for f in figs:
                    box = _box(f)
                    if box is not None:
                        box = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
                        if box[2] > box[0] and box[3] > box[1]:
                            mask.paste(ImageChops.invert(mask.crop(box)), box)
                        continue
                    if len(f) < 3:
                        continue
                    bx0 = max(0, int(min(p[0] for p in f)))
                    by0 = max(0, int(min(p[1] for p in f)))
                    bx1 = min(w, int(max(p[0] for p in f)) + 2)
                    by1 = min(h, int(max(p[1] for p in f)) + 2)
                    if bx1 <= bx0 or by1 <= by0:
                        continue
                    one = Image.new("1", (bx1 - bx0, by1 - by0), 0)
                    ImageDraw.Draw(one).polygon([(x - bx0, y - by0) for x, y in f], fill=1)
                    box = (bx0, by0, bx1, by1)
                    mask.paste(ImageChops.logical_xor(mask.crop(box), one), box)
                canvas.paste(s.fill, (0, 0, w, h), mask)
        if s.stroke is not None:
            width = max(1, round(s.width * k)) if s.width > 0 else 1
            for f in figs:
                draw.line([*f, f[0]] if s.closed else f, fill=s.stroke, width=min(width, 200))
    for b in bitmaps:
        _paste(canvas, b, to)
    return canvas


def _box(f: list[tuple[float, float]]) -> tuple[int, int, int, int] | None:
    """The pixel box of an axis-aligned rectangle (4 corners, or 5 with the first repeated), else None."""
    pts = f[:4] if len(f) == 5 and f[4] == f[0] else f
    if len(pts) != 4:
        return None
    xs = sorted({round(p[0]) for p in pts})
    ys = sorted({round(p[1]) for p in pts})
    if len(xs) > 2 or len(ys) > 2:
        return None
    for i in range(4):  # each side horizontal or vertical
        (ax, ay), (bx, by) = pts[i], pts[(i + 1) % 4]
        if round(ax) != round(bx) and round(ay) != round(by):
            return None
    return xs[0], ys[0], xs[-1], ys[-1]


def _paste(canvas: Any, b: _Bitmap, to: Any) -> None:
    from PIL import Image

    (ax, ay), (bx, by) = to(b.dest[0]), to(b.dest[1])
    x0, x1, y0, y1 = round(min(ax, bx)), round(max(ax, bx)), round(min(ay, by)), round(max(ay, by))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened = Image.open(io.BytesIO(b.data))
            if opened.width * opened.height > MAX_BITMAP_PIXELS:
                return
            im = opened.convert("L").resize((x1 - x0, y1 - y0), Image.Resampling.NEAREST)
    except Exception:
        return
    if ax > bx:
        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if ay > by:
        im = im.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    canvas.paste(im, (x0, y0))


# -- the extractor ------------------------------------------------------------------------------------------


def extract(data: bytes, declared: str, name: str, budget: Budget) -> Extracted:
    """The bitmaps, the drawing and the text of one EMF or WMF picture."""
    d = _Drawing(budget)
    bad: list[Unscannable] = []
    canvas = None
    try:
        if is_emf(data):
            _emf(data, d)
        else:
            _wmf(data, d)
        canvas = _render(d)
    except _TooBig as e:
        bad.append(Unscannable("budget", f"picture (metafile) not read to its end: {e}", ""))
    except Exception as e:  # a malformed record: what was read so far still counts
        bad.append(
            Unscannable("unparseable", f"picture (metafile) could not be read ({type(e).__name__})", "")
        )
    images = [ImagePiece(b.data, f"bitmap {i + 1}") for i, b in enumerate(d.bitmaps)]
    if canvas is not None:
        images.insert(0, ImagePiece(b"", "drawing", image=canvas))
    elif d.emf_plus and not d.bitmaps and not bad:
        bad.append(
            Unscannable(
                "unsupported", "picture drawn with EMF+ records only (no GDI records nolink can draw)", ""
            )
        )
    if d.bad_bitmaps:
        bad.append(
            Unscannable(
                "unparseable", f"picture (metafile) holds {d.bad_bitmaps} bitmap(s) nolink cannot decode", ""
            )
        )
    texts = (TextPiece("\n".join(d.texts), "text"),) if d.texts else ()
    return Extracted(texts=texts, images=tuple(images), unscannable=tuple(bad))
