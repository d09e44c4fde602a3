"""Pictures for the OCR tests and benchmark, drawn with Pillow and Debian's Thai fonts (fonts-thai-tlwg).

letter(): an A4 Thai government letter at 300 dpi (as a scanner makes it), full of Thai dates,
times, sums of money, document and telephone numbers, optionally with a web address in its
footer. poster(): an infographic ("ไม่เชื่อ ไม่รับ ไม่โอน"), optionally with a web address.
photo(), logo(), icon(): pictures without text worth reading.

Everything is deterministic (seeded), so a failure can be reproduced and looked at.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/tlwg")
# Laksaman is TLWG's TH Sarabun, the font of Thai official letters; the others vary the shapes.
LETTER_FONTS = ("Laksaman", "Norasi", "Kinnari", "Garuda", "Loma")


def have_fonts() -> bool:
    return all((FONT_DIR / f"{f}.ttf").exists() for f in LETTER_FONTS)


def font(name: str, size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    path = FONT_DIR / f"{name}{'-Bold' if bold else ''}.ttf"
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)


_TH_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
_MONTHS = [
    "มกราคม",
    "กุมภาพันธ์",
    "มีนาคม",
    "เมษายน",
    "พฤษภาคม",
    "มิถุนายน",
    "กรกฎาคม",
    "สิงหาคม",
    "กันยายน",
    "ตุลาคม",
    "พฤศจิกายน",
    "ธันวาคม",
]
_SHORT_MONTHS = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
]
_AGENCIES = (
    ("มท", "กรมส่งเสริมการปกครองท้องถิ่น", "ถนนนครราชสีมา เขตดุสิต กรุงเทพฯ ๑๐๓๐๐"),
    ("มท", "กรมการปกครอง", "ถนนอัษฎางค์ แขวงวังบูรพาภิรมย์ เขตพระนคร กทม. ๑๐๒๐๐"),
    ("ศธ", "สำนักงานคณะกรรมการการศึกษาขั้นพื้นฐาน", "ถนนราชดำเนินนอก เขตดุสิต กทม. ๑๐๓๐๐"),
    ("กค", "กรมบัญชีกลาง", "ถนนพระราม ๖ แขวงพญาไท เขตพญาไท กทม. ๑๐๔๐๐"),
)


def _th(s: str, thai_digits: bool) -> str:
    return s.translate(_TH_DIGITS) if thai_digits else s


def _letter_lines(rng: random.Random, thai_digits: bool) -> tuple[list[str], str, str, str]:
    code, agency, address = rng.choice(_AGENCIES)
    d = lambda s: _th(s, thai_digits)  # noqa: E731
    n = lambda a, b: d(str(rng.randint(a, b)))  # noqa: E731
    day, month, year = rng.randint(1, 28), rng.randrange(12), rng.choice((2568, 2569))
    docno = d(f"{code} {rng.randint(800, 899):04d}.{rng.randint(1, 9)}/ว {rng.randint(1, 999)}")
    ref = d(f"{code} {rng.randint(800, 899):04d}.{rng.randint(1, 9)}/{rng.randint(1000, 9999)}")
    date = d(f"{day} {_MONTHS[month]} {year}")
    short = d(f"{rng.randint(1, 28)} {rng.choice(_SHORT_MONTHS)} {rng.choice(('68', '69', '2569'))}")
    t1 = d(f"{rng.randint(8, 11):02d}.{rng.choice(('00', '30', '15'))}")
    t2 = d(f"{rng.randint(13, 16)}.{rng.choice(('00', '30', '45'))}")
    money = d(f"{rng.randint(1, 99)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}")
    money2 = d(f"{rng.randint(1, 9)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}")
    phone = d(f"0 2241 {rng.randint(1000, 9999)} ต่อ {rng.randint(100, 999)}")
    lines = [
        f"เรื่อง  ขอความร่วมมือประชาสัมพันธ์มาตรการป้องกันภัยจากมิจฉาชีพ ครั้งที่ {n(1, 9)}/{d(str(year))}",
        "เรียน  ผู้ว่าราชการจังหวัด ทุกจังหวัด",
        f"อ้างถึง  หนังสือ{agency} ด่วนที่สุด ที่ {ref} ลงวันที่ {short}",
        f"สิ่งที่ส่งมาด้วย  ๑. สำเนามติคณะรัฐมนตรี เมื่อวันที่ {d('18')} พ.ย. {d('2568')} จำนวน {n(1, 9)} ฉบับ",
        f"                ๒. แบบรายงานผล (แบบ ปค.{n(1, 99)}) จำนวน {n(1, 5)} ชุด",
        f"        ตามที่คณะรัฐมนตรีได้มีมติเมื่อวันที่ {d('18')} พฤศจิกายน {d('2568')} เห็นชอบมาตรการ",
        f"ป้องกันและปราบปรามอาชญากรรมทางเทคโนโลยี ข้อ {d('3.2.1')} และข้อ {d('4.1')} กำหนดให้หน่วยงานของรัฐ",
        f"งดส่งข้อความสั้นและไปรษณีย์อิเล็กทรอนิกส์ที่มีลิงก์ถึงประชาชน ตั้งแต่วันที่ {short} เป็นต้นไป",
        f"        ในการนี้ {agency} จึงขอให้จังหวัดแจ้งองค์กรปกครองส่วนท้องถิ่นทราบและถือปฏิบัติ",
        f"โดยให้รายงานผลภายในวันที่ {date} เวลา {t1} น. และจัดประชุมชี้แจง เวลา {t1}-{t2} น.",
        f"ณ ห้องประชุม {n(1, 9)} ชั้น {n(2, 12)} อาคาร {n(1, 3)} งบประมาณ {money} บาท (รวม {money2}.- บาท)",
        f"ตามระเบียบกระทรวงมหาดไทย ว่าด้วยการรักษาความปลอดภัยแห่งชาติ พ.ศ. {d('2552')} ข้อ {d('12')} (๒)",
        f"และคำสั่งที่ {n(100, 999)}/{d(str(year))} ลงวันที่ {short} อัตรา {d('1.50')} บาท ต่อหน่วย",
        "        จึงเรียนมาเพื่อโปรดพิจารณาดำเนินการต่อไป",
    ]
    return lines, f"ที่ {docno}", agency, f"{address}|{date}|{phone}"


def letter(
    url: str | None = None,
    seed: int = 0,
    dpi: int = 300,
    font_name: str | None = None,
    thai_digits: bool | None = None,
    scanned: bool = True,
    fmt: str = "PNG",
    email: str | None = None,
) -> bytes:
    """An A4 Thai official letter as a scanner makes it; with url, the agency's web address in the
    footer ("เว็บไซต์ URL"); with email, its e-mail address (not a link)."""
    rng = random.Random(seed)
    name = font_name or LETTER_FONTS[seed % len(LETTER_FONTS)]
    digits = thai_digits if thai_digits is not None else seed % 2 == 0
    w, h = round(8.27 * dpi), round(11.69 * dpi)
    k = dpi / 300
    im = Image.new("L", (w, h), 255)
    dr = ImageDraw.Draw(im)
    body = font(name, round(48 * k))
    bold = font(name, round(60 * k), bold=True)
    lines, docno, agency, rest = _letter_lines(rng, digits)
    address, date, phone = rest.split("|")
    left, y = round(250 * k), round(300 * k)
    dr.text((w // 2, y), "บันทึกข้อความ", font=bold, fill=0, anchor="mt")
    y += round(160 * k)
    dr.text((left, y), docno, font=body, fill=0)
    dr.text((w - left, y), agency, font=body, fill=0, anchor="ra")
    y += round(75 * k)
    dr.text((w - left, y), address, font=body, fill=0, anchor="ra")
    y += round(110 * k)
    dr.text((w // 2, y), date, font=body, fill=0, anchor="mt")
    y += round(130 * k)
    for line in lines:
        dr.text((left, y), line, font=body, fill=0)
        y += round(88 * k)
    y += round(120 * k)
    dr.text((w // 2 + round(200 * k), y), "ขอแสดงความนับถือ", font=body, fill=0, anchor="mt")
    y += round(260 * k)
    dr.text((w // 2 + round(200 * k), y), "(นายสมชาย ใจดี)", font=body, fill=0, anchor="mt")
    y += round(80 * k)
    dr.text((w // 2 + round(200 * k), y), "ผู้อำนวยการกองกฎหมายและระเบียบท้องถิ่น", font=body, fill=0, anchor="mt")
    y = h - round(520 * k)
    dr.text((left, y), "กองกฎหมายและระเบียบท้องถิ่น", font=body, fill=0)
    y += round(75 * k)
    dr.text((left, y), f"โทร. {phone}  โทรสาร {_th('0 2241 9001', digits)}", font=body, fill=0)
    if email:
        y += round(75 * k)
        dr.text((left, y), f"ไปรษณีย์อิเล็กทรอนิกส์ {email}", font=body, fill=0)
    if url:
        y += round(75 * k)
        dr.text((left, y), f"เว็บไซต์ {url}", font=body, fill=0)
    if scanned:
        im = _scan(im, rng)
    return _encode(im, fmt)


def _scan(im: Image.Image, rng: random.Random) -> Image.Image:
    """What a flatbed scanner adds: a grey paper, a little blur, noise, a slight skew."""
    im = im.filter(ImageFilter.GaussianBlur(0.6))
    im = im.point(lambda v: 18 + v * 222 // 255)  # toner is not black, paper not white
    im = ImageChops.add(im, _noise(im.size, rng, 16), 1.0, -128)
    return im.rotate(rng.uniform(-0.4, 0.4), resample=Image.Resampling.BICUBIC, fillcolor=240)


POSTER_LINES = (
    "ไม่เชื่อ – ไม่รับ – ไม่โอน",
    "หน่วยงานรัฐไม่ส่งลิงก์ทาง SMS และอีเมล",
    "ได้รับข้อความแปลก โทรแจ้ง ๑๔๔๑ ตลอด ๒๔ ชั่วโมง",
    "ประกาศ ณ วันที่ ๑๖ ก.พ. ๒๕๖๙",
)


def poster(
    url: str | None = None, seed: int = 0, size: tuple[int, int] = (1080, 1350), fmt: str = "PNG"
) -> bytes:
    """An infographic: coloured background, a headline, a few lines, optionally a web address."""
    rng = random.Random(seed)
    w, h = size
    top = (rng.randint(0, 60), rng.randint(40, 110), rng.randint(120, 200))
    im = Image.new("RGB", size, top)
    dr = ImageDraw.Draw(im)
    for i in range(h):  # a vertical gradient, as designers like them
        t = i / h
        dr.line([(0, i), (w, i)], fill=tuple(round(c * (1 - t) + 250 * t * 0.3) for c in top))
    dr.rounded_rectangle((60, 300, w - 60, h - 200), 40, fill=(255, 255, 255))
    dr.text(
        (w // 2, 120), POSTER_LINES[0], font=font("Garuda", 76, bold=True), fill=(255, 230, 0), anchor="mt"
    )
    y = 360
    f = font(rng.choice(("Garuda", "Loma", "Kinnari")), 46)
    for line in POSTER_LINES[1:]:
        dr.text((100, y), line, font=f, fill=(20, 20, 60))
        y += 110
    if url:
        dr.text((100, y + 60), "ตรวจสอบข่าวจริงได้ที่", font=f, fill=(20, 20, 60))
        dr.text((100, y + 170), url, font=font("Garuda", 50, bold=True), fill=(200, 0, 0))
    dr.ellipse((w - 260, h - 180, w - 100, h - 20), fill=(255, 200, 0))
    return _encode(im, fmt)


def photo(seed: int = 0, size: tuple[int, int] = (1200, 900), fmt: str = "JPEG") -> bytes:
    """A photograph stand-in: colour gradients and sensor noise, shapes but no text."""
    rng = random.Random(seed)
    w, h = size
    base = Image.linear_gradient("L").resize(size)
    r = _noise(size, rng, 64)
    g = base.rotate(90).resize(size)
    im = Image.merge("RGB", (base, g, r))
    dr = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = rng.randrange(w), rng.randrange(h)
        s = rng.randint(20, 200)
        dr.ellipse((x, y, x + s, y + s), fill=tuple(rng.randrange(256) for _ in range(3)))
    return _encode(im.filter(ImageFilter.GaussianBlur(2)), fmt)


def logo(size: int = 400, fmt: str = "PNG") -> bytes:
    """An agency seal: rings, a star, the agency's initials."""
    im = Image.new("RGB", (size, size), (255, 255, 255))
    dr = ImageDraw.Draw(im)
    dr.ellipse((10, 10, size - 10, size - 10), outline=(0, 60, 140), width=18)
    dr.ellipse((60, 60, size - 60, size - 60), fill=(250, 200, 0))
    c = size / 2
    pts = []
    for i in range(10):
        import math

        rad = (size / 3.2) if i % 2 == 0 else (size / 7)
        a = math.pi / 2 + i * math.pi / 5
        pts.append((c + rad * math.cos(a), c - rad * math.sin(a)))
    dr.polygon(pts, fill=(0, 60, 140))
    dr.text((c, size - 95), "สถ.", font=font("Garuda", size // 9, bold=True), fill=(200, 0, 0), anchor="mm")
    return _encode(im, fmt)


def icon(fmt: str = "GIF") -> bytes:
    """A 24×24 icon (or a spacer): too small to hold a readable address."""
    im = Image.new("RGB", (24, 24), (255, 255, 255))
    ImageDraw.Draw(im).rectangle((4, 4, 19, 19), fill=(0, 90, 200))
    return _encode(im, fmt)


def _noise(size: tuple[int, int], rng: random.Random, spread: int) -> Image.Image:
    """Grey noise around 128 (±spread), from the seeded generator: the same picture every run
    (Pillow's effect_noise draws from C's rand(), which differs between processes)."""
    raw = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
    return raw.point(lambda v: 128 - spread + v * 2 * spread // 255)


def _encode(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG" and im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im.save(buf, fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    return buf.getvalue()


def photographed(data: bytes, angle: float, seed: int = 0, fmt: str = "JPEG") -> bytes:
    """A print photographed with a phone, tilted by angle degrees: the picture turned on a darker
    desk, a little blur and sensor noise, JPEG."""
    rng = random.Random(seed)
    im = Image.open(io.BytesIO(data)).convert("RGB")
    im = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(96, 84, 70))
    im = im.filter(ImageFilter.GaussianBlur(0.8))
    noise = _noise(im.size, rng, 10)
    im = Image.merge("RGB", [ImageChops.add(band, noise, 1.0, -128) for band in im.split()])
    return _encode(im, fmt)


CREAM = (250, 244, 222)
FAINT = (176, 170, 160)  # on CREAM: a contrast ratio of about 2:1 (WCAG), a watermark's grey


def faint_poster(url: str | None = None, seed: int = 0, size: tuple[int, int] = (1080, 1350)) -> bytes:
    """A notice printed light grey on cream (a watermark, a washed-out print), optionally with a web
    address in the same faint grey."""
    rng = random.Random(seed)
    im = Image.new("RGB", size, CREAM)
    dr = ImageDraw.Draw(im)
    f = font(rng.choice(("Garuda", "Loma")), 46)
    y = 200
    for line in POSTER_LINES:
        dr.text((100, y), line, font=f, fill=FAINT)
        y += 110
    if url:
        dr.text((100, y + 60), "ตรวจสอบข่าวจริงได้ที่", font=f, fill=FAINT)
        dr.text((100, y + 170), url, font=font("Garuda", 50, bold=True), fill=FAINT)
    return _encode(im, "PNG")


def poster_lines(
    lines: list[str],
    seed: int = 0,
    size: tuple[int, int] = (1080, 1350),
    face: tuple[str, bool] = ("Garuda", True),
) -> bytes:
    """The poster with its last lines given (a web address printed over two lines), in face
    (font name, bold)."""
    rng = random.Random(seed)
    im = Image.new("RGB", size, (255, 255, 255))
    dr = ImageDraw.Draw(im)
    f = font(rng.choice(("Garuda", "Loma", "Kinnari")), 46)
    y = 200
    for line in POSTER_LINES[1:]:
        dr.text((100, y), line, font=f, fill=(20, 20, 60))
        y += 110
    bold = font(face[0], 50, bold=face[1])
    for line in lines:
        dr.text((100, y + 60), line, font=bold, fill=(200, 0, 0))
        y += 90
    return _encode(im, "PNG")


def shaded(data: bytes, falloff: float = 0.3, fmt: str = "JPEG") -> bytes:
    """A print photographed under a lamp: the light falls off by falloff from left to right (the
    paper on the right is darker than faint ink on the left), JPEG."""
    im = Image.open(io.BytesIO(data)).convert("RGB")
    light = Image.linear_gradient("L").rotate(90).resize(im.size).point(lambda v: int(255 - falloff * v))
    return _encode(Image.merge("RGB", [ImageChops.multiply(b, light) for b in im.split()]), fmt)
