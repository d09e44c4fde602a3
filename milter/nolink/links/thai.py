"""Where a Thai domain name begins when it is glued to Thai words (Thai has no spaces).

In ``ดูรายละเอียดที่ภาษี.ไทยค่ะ`` the host is ``ภาษี.ไทย``: the words before it (ดู รายละเอียด ที่)
are the words one writes in front of an address. The Thai run is cut into words with libthai's
dictionary word breaker (Debian's libthai0 and libthai-data, C, called through ctypes), and the
leading words found in LEAD_IN are dropped. Other words stay: ``กรมการปกครอง.ไทย`` and
``ที่ดิน.ไทย`` keep their whole name.

Why libthai and not PyThaiNLP: measured on this machine, libthai loads its dictionary in 6 ms and
breaks a 20-letter run in about 5 µs; PyThaiNLP (newmm) takes 0.11 s to import, 0.46 s for its
first call (loading its word list), about 32 µs per call after that, 90 MB of memory and 67 MB on
disk. The segmenter runs only on the rare text with a Thai name glued to Thai words, but a milter
that imports 90 MB for it would pay at every start. Without libthai (not a Debian system) the whole
Thai run is taken as the name: the text is still found to hold a link, only the reported host is
longer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import threading

# Words written in front of an address ("see the details at", "visit the website", "click").
LEAD_IN = frozenset(
    [
        "ดู",
        "รายละเอียด",
        "เพิ่มเติม",
        "ที่",
        "ได้",
        "ได้ที่",
        "ไป",
        "ไปที่",
        "เข้า",
        "เข้าไป",
        "เข้าชม",
        "ชม",
        "คลิก",
        "กด",
        "ทาง",
        "ผ่าน",
        "จาก",
        "เว็บ",
        "ไซต์",
        "เว็บไซต์",
        "เวบไซต์",
        "เว็บไซท์",
        "โปรด",
        "กรุณา",
        "ตรวจสอบ",
        "สอบถาม",
        "ติดต่อ",
        "ลงทะเบียน",
        "สมัคร",
        "แจ้ง",
        "ยื่น",
        "ดาวน์โหลด",
        "โหลด",
        "หรือ",
        "และ",
        "คือ",
        "หน้า",
        "ลิงก์",
        "ลิงค์",
        "ลิ้งค์",
        "นี้",
        "เลย",
        "ค่ะ",
        "คะ",
        "ครับ",
        "นะ",
        "จ้า",
        "ข้อมูล",
        "ข่าวสาร",
        "อ่าน",
        "ส่ง",
        "ชำระ",
        "จ่าย",
        "ลงชื่อ",
        "เข้าสู่ระบบ",
        "ใช้",
        "ค้นหา",
        "สแกน",
        "ไปยัง",
        "สู่",
    ]
)


class _LibThai:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.brk: int | None = None
        self.lib: ctypes.CDLL | None = None
        path = ctypes.util.find_library("thai") or "libthai.so.0"
        try:
            lib = ctypes.CDLL(path)
            lib.th_brk_new.restype = ctypes.c_void_p
            lib.th_brk_new.argtypes = [ctypes.c_char_p]
            lib.th_brk_wc_find_breaks.restype = ctypes.c_int
            lib.th_brk_wc_find_breaks.argtypes = [
                ctypes.c_void_p,
                ctypes.c_wchar_p,
                ctypes.POINTER(ctypes.c_int),
                ctypes.c_size_t,
            ]
            brk = lib.th_brk_new(None)
        except (OSError, AttributeError):
            return
        if brk:
            self.lib, self.brk = lib, brk

    def words(self, run: str) -> list[str] | None:
        if self.lib is None or not run:
            return None
        pos = (ctypes.c_int * (len(run) + 1))()
        with self.lock:  # one ThBrk object, calls are rare and take microseconds
            n = self.lib.th_brk_wc_find_breaks(self.brk, run, pos, len(run) + 1)
        cuts = [0, *sorted(p for p in pos[: max(n, 0)] if 0 < p < len(run)), len(run)]
        return [run[a:b] for a, b in itertools.pairwise(cuts) if b > a]


_libthai: _LibThai | None = None
_init = threading.Lock()


def words(run: str) -> list[str] | None:
    """The words of a Thai run, or None when no word breaker is available."""
    global _libthai
    if _libthai is None:
        with _init:
            if _libthai is None:
                _libthai = _LibThai()
    return _libthai.words(run)


def available() -> bool:
    words("ก")
    return _libthai is not None and _libthai.lib is not None


def name_start(run: str) -> int:
    """Index in run where a Thai domain label begins, after the lead-in words glued before it."""
    ws = words(run)
    if not ws:
        return 0
    start = 0
    for w in ws[:-1]:  # the last word is always kept: a name is at least one word
        if w not in LEAD_IN:
            break
        start += len(w)
    return start
