"""Benchmark of scan_message (prints figures; not a test).

Typical mix: Thai letters of 5-50 KB in every charset and transfer encoding, HTML newsletters, and
messages with 1 MB attachments (PDF, JPEG-like binary, ZIP). Adversarial: 1 MB bodies built to
make a regex or a parser go quadratic. Attachment mix: a 10-page scanned PDF letter with a QR
code on its last page, a DOCX with three pictures, a ZIP of office files, a 600 dpi A4 scan, and
a zip bomb (40 members of 19 MB). Targets: >= 1,000 typical messages/s on one core; no 1 MB
adversarial input above 0.5 s; the scanned letter decided in <= 1 s; no message over the time
budget (links.max_scan_seconds); peak memory of one decision <= 300 MB (measured in a fresh
child process per message: ru_maxrss, and its growth over the warmed-up process).

    .venv/bin/python bench/scan.py [--seconds N] [--only attachments|adversarial] [--repeat N]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import quopri
import random
import statistics
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "milter"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mail import pdf, scanned_letter
from nolink import scan_message

rng = random.Random(20260216)
THAI_WORDS = [
    "เรียน",
    "ท่าน",
    "ผู้มีสิทธิ์",
    "ตามที่",
    "ได้ยื่น",
    "คำร้อง",
    "สำนักงาน",
    "พิจารณา",
    "แล้ว",
    "โปรด",
    "ติดต่อ",
    "ด้วยตนเอง",
    "ในวัน",
    "เวลาราชการ",
    "ประกาศ",
    "กรม",
    "การปกครอง",
    "ส่วนท้องถิ่น",
]


def thai_text(size: int) -> str:
    out, n = [], 0
    while n < size:
        w = rng.choice(THAI_WORDS)
        if rng.random() < 0.02:
            w = rng.choice(["๑๖ ก.พ. ๒๕๖๙", "มท ๐๘๒๓.๒/ว ๕๒๗", "โทร. 0 2123 4567", "ข้อ 1.2.3"])
        out.append(w)
        n += len(w.encode()) + 1
        if rng.random() < 0.08:
            out.append("\n")
    return " ".join(out)


def msg(body: bytes, ctype: str, cte: str, extra: bytes = b"") -> bytes:
    head = (
        f"From: Saraban <saraban@example.go.th>\r\nTo: somchai@example.com\r\nSubject: test\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    ).encode()
    return head + body + extra


def encode(raw: bytes, cte: str) -> bytes:
    return (
        base64.encodebytes(raw)
        if cte == "base64"
        else quopri.encodestring(raw)
        if cte == "quoted-printable"
        else raw
    )


def letters() -> list[bytes]:
    out = []
    for cs, codec in [
        ("utf-8", "utf-8"),
        ("tis-620", "tis_620"),
        ("windows-874", "cp874"),
        ("iso-8859-11", "iso8859_11"),
        ("utf-16", "utf-16"),
    ]:
        for cte in ("base64", "quoted-printable", "8bit"):
            if codec == "utf-16" and cte != "base64":
                continue
            for size in (5_000, 20_000, 50_000):
                out.append(msg(encode(thai_text(size).encode(codec), cte), f"text/plain; charset={cs}", cte))
    return out


def newsletter() -> bytes:
    rows = []
    for i in range(150):
        rows.append(
            f'<tr><td style="padding:4px;color:#333"><a href="https://news.example.com/item/{i}?utm=1">'
            f'<img src="https://cdn.example.com/{i}.png" width="80"></a></td><td><p>{thai_text(200)}</p></td></tr>'
        )
    html = f"<html><head><style>td{{font-family:Tahoma}}</style></head><body><table>{''.join(rows)}</table></body></html>"
    return msg(encode(html.encode(), "quoted-printable"), "text/html; charset=utf-8", "quoted-printable")


def with_attachment(data: bytes, ctype: str, name: str) -> bytes:
    body = (
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + thai_text(2000).encode()
        + b"\r\n--b\r\n"
        + f'Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="{name}"\r\n\r\n'.encode()
        + base64.encodebytes(data)
        + b"\r\n--b--\r\n"
    )
    return msg(body, 'multipart/mixed; boundary="b"', "7bit")


def attachments() -> list[bytes]:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("scan.bin", os.urandom(1_000_000))
    return [
        with_attachment(pdf(content=os.urandom(1_000_000)), "application/pdf", "report.pdf"),
        with_attachment(b"\xff\xd8\xff\xe0" + os.urandom(1_000_000), "image/jpeg", "photo.jpg"),
        with_attachment(buf.getvalue(), "application/zip", "files.zip"),
    ]


MB = 1_000_000
ADVERSARIAL = {
    "dots": "." * MB,
    "letters": "a" * MB,
    "thai letters": "ก" * (MB // 3),
    "repeated http": "http" * (MB // 4),
    "repeated http://": "http://" * (MB // 7),
    "repeated www.": "www." * (MB // 4),
    "a.a.a.a": "a." * (MB // 2),
    "digits and dots": "1." * (MB // 2),
    "defang tokens": "[.]" * (MB // 3),
    "hxxp defang": "hxxp:\\\\" * (MB // 7),
    "one huge URL": "https://example.com/" + "a" * MB,
    "spaced letters": "h t t p " * (MB // 8),
    "at signs": "a@" * (MB // 2),
    "zero-width": "a\u200b" * (MB // 4),
    "dot words": "a dot " * (MB // 6),
    # one or more for every finder regex (text.py, normalize.py): each must stay linear
    "email plus signs": "a+" * (MB // 2) + ".",
    "email-like no @": "a.a-" * (MB // 4),
    "hyphen labels": "a-" * (MB // 2) + ".com",
    "at words": "x at " * (MB // 5) + "a.com",
    "bracket at": "a [at] " * (MB // 7),
    "thai glued to ascii": "aก." * (MB // 5),
    "thai run then .ไทย": "ก" * (MB // 3 - 10) + ".ไทย",
    "กก.ไทย repeated": "กก.ไทย" * (MB // 18),
    "thai dot spaces": "ก . " * (MB // 6),
    "thai จุด ไทย": "กจุด" * (MB // 12) + "ไทย",
    "www.a. newlines": "www.a.\n" * (MB // 7),
    "dots then newline": "a." * (MB // 4) + "\n" + "b" * (MB // 2),
    "dot newline": ".\n" * (MB // 2),
    "rlo then a.": "\u202e" + "a." * (MB // 2),
    "rlo repeated": "\u202ea.b " * (MB // 5),
    "bidi marks": "a\u200e." * (MB // 5),
    "combining marks": "a" + "\u0332" * (MB // 2),
    "https space colon": "https :" * (MB // 7),
    "scheme colons": "p:" * (MB // 2),
    "math letters": "𝐞" * (MB // 4) + ".com",
    "dot look-alikes": "a\ufe52" * (MB // 4),
    "file urls": "file:///C:/" * (MB // 11),
    "commas after www": "www," + "a," * (MB // 2),
    "mailto": "mailto:" * (MB // 7),
    "ipv4-like": "1.2.3.4:" * (MB // 8),
    "brackets": "[" * (MB // 2) + "]" * (MB // 2),
    "closers": "a.com" + ")" * MB,
    # issue 19: Thai dot and slash words, spaced letters and paths, a host broken before a dot
    "thai ดอท words": "a ดอท " * (MB // 12),
    "thai ดอท คอม glued": "a.b ดอท คอมพิวเตอร์ " * (MB // 48),
    "thai ทับ words": "a ทับ " * (MB // 12),
    "host ทับ path": "a.b ทับ a ทับ " * (MB // 24),
    "spaced single letters": "a . b " * (MB // 6),
    "spaced www": "w w w . " * (MB // 8),
    "spaced slashes": "a / " * (MB // 4),
    "spaced words of letters": "a b c d e f g h i j k l m n o p q r s t u v . " * (MB // 46),
    "break before dot": "www.a\n.b " * (MB // 9),
}
ADVERSARIAL_HEADERS = {
    "From without @": b"From: " + b"a" * MB,
    "From dots": b"From: " + b"a." * (MB // 2),
    "Subject encoded-words": b"Subject: " + b"=?utf-8?q?a?= " * (MB // 14),
    "filename RFC 2231": b"Content-Disposition: attachment; filename*=utf-8''" + b"%E0" * (MB // 3),
}
ADVERSARIAL_HTML = {
    "nested tags": "<div>" * (MB // 5),
    "many attributes": "<a href=x " + "a=b " * (MB // 4) + ">",
    "many links": '<a href="https://e.example.com/">x</a>' * (MB // 40),
    "open comment": "<!--" + "x" * MB,
    "css url(": "<style>" + "url(" * (MB // 4) + "</style>",
    "css @import": "<style>" + "@import '" * (MB // 9) + "</style>",
    "style attribute url(": '<p style="' + "url(" * (MB // 4) + '">x</p>',
    "meta refresh spaces": '<meta http-equiv=refresh content="0; url=a' + " " * MB + 'b">',
    "open tags without >": "<a " * (MB // 3),
    "open divs without >": "<div" * (MB // 4),
    "alt text": '<img alt="' + "a." * (MB // 2) + '">',
    "unclosed script": "<script>" + "</script " * (MB // 9),
    "srcset commas": '<img srcset="' + "a.png 1x," * (MB // 9) + '">',
    # the rendered text (links/render.py): stylesheets, selectors and hidden pieces in bulk
    "10,000 style rules": "<style>"
    + "".join(f".c{i} b{{display:none}}" for i in range(10_000))
    + "</style>"
    + "".join(f'<p class="c{i % 10_000}">w<b>x</b>.a</p>' for i in range(MB // 30)),
    "3,000 matching rules": "<style>"
    + "".join(f"p .c{i % 50}{{font-size:0}}" for i in range(3_000))
    + "</style>"
    + "".join(f'<p><b class="c{i % 50}">x</b>a.</p>' for i in range(MB // 28)),
    "deep selectors": "<style>"
    + ("div " * 200 + "b{display:none}\n") * 100
    + "</style>"
    + "<div>" * 500
    + "<b>x</b>y " * (MB // 10),
    "100,000 hidden spans (1.5 MB)": "x<i hidden>y</i>" * 100_000,
    "100,000 spans, one rule (1.6 MB)": "<style>.h{display:none}</style>" + "x<i class=h>y</i>" * 100_000,
    "distinct hidden styles": "".join(f'a<i style="display:none;z-index:{i}">.</i>' for i in range(MB // 40)),
    "reversed pieces": '<bdo dir="rtl">a.</bdo>' * (MB // 22),
    "white text pieces": '<font color="#ffffff">a.</font>' * (MB // 30),
}


def timed(data: bytes) -> float:
    t = time.perf_counter()
    scan_message(data)
    return time.perf_counter() - t


def throughput(msgs: list[bytes], seconds: float) -> tuple[int, int, float]:
    """(messages, bytes, elapsed) scanning msgs round and round for about seconds."""
    n = nbytes = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for m in msgs:
            scan_message(m)
            n += 1
            nbytes += len(m)
    return n, nbytes, time.perf_counter() - t0


def photo(w: int, h: int, seed: int) -> bytes:
    from PIL import Image, ImageDraw

    r = random.Random(seed)
    im = Image.new("RGB", (w, h), (r.randrange(256), r.randrange(256), r.randrange(256)))
    d = ImageDraw.Draw(im)
    for _ in range(60):
        x, y = r.randrange(w), r.randrange(h)
        d.ellipse(
            (x, y, x + r.randrange(20, w // 3), y + r.randrange(20, h // 3)), fill=(r.randrange(256), 90, 160)
        )
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85)
    return out.getvalue()


def docx_with_pictures(n: int, seed: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        paras = "".join(f"<w:p><w:r><w:t>{thai_text(300)}</w:t></w:r></w:p>" for _ in range(20))
        z.writestr("word/document.xml", f"<w:document><w:body>{paras}</w:body></w:document>")
        z.writestr("word/_rels/document.xml.rels", '<?xml version="1.0"?><Relationships/>')
        for i in range(n):
            z.writestr(f"word/media/image{i + 1}.jpeg", photo(1600, 1200, seed + i))
    return buf.getvalue()


def attachment_mix() -> dict[str, bytes]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"forms/form{i}.docx", docx_with_pictures(1, 10 * i))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(40):
            z.writestr(f"part{i}.bin", b"\0" * 19_000_000)
    return {
        "10-page scanned PDF letter, QR on page 10": with_attachment(
            scanned_letter(10, "https://qr.example.com/circular", dpi=200), "application/pdf", "letter.pdf"
        ),
        "DOCX with three pictures": with_attachment(
            docx_with_pictures(3, 1), "application/octet-stream", "report.docx"
        ),
        "ZIP of three office files": with_attachment(out.getvalue(), "application/zip", "forms.zip"),
        "600 dpi A4 scan (PNG, 35 Mpx)": with_attachment(
            scanned_letter(1, "https://qr.example.com/scan", dpi=600, fmt="PNG"), "image/png", "scan.png"
        ),
        "zip bomb 40 x 19 MB": with_attachment(bomb.getvalue(), "application/zip", "bomb.zip"),
    }


def _child(data: bytes, conn: object) -> None:
    import resource

    scan_message(b"Subject: warm-up\r\n\r\nwww.example.com")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    r = scan_message(data)
    dt = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send((dt, peak / 1024, (peak - base) / 1024, r.verdict, len(r.findings)))  # type: ignore[attr-defined]


def peak_memory(data: bytes) -> tuple[float, float, float, str, int]:
    """(seconds, peak RSS MB, growth MB, verdict, findings) of one decision in a fresh process."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=_child, args=(data, b))
    p.start()
    got = a.recv()
    p.join()
    return got  # type: ignore[no-any-return]


def attachments_section() -> None:
    print("== attachment mix (one core; time: best of 3 in this process; memory: fresh process)")
    for name, data in attachment_mix().items():
        times = []
        for _ in range(3):
            t = time.perf_counter()
            r = scan_message(data)
            times.append(time.perf_counter() - t)
        _, rss, growth, _verdict, n = peak_memory(data)
        print(
            f"  {name:42s} {len(data) / 1e6:6.1f} MB  {min(times) * 1000:8.1f} ms (max {max(times) * 1000:7.1f})"
            f"  peak RSS {rss:6.0f} MB (+{growth:4.0f})  {r.verdict} ({n} findings)"
        )


def cpu_timed(data: bytes) -> float:
    """CPU seconds of one scan: the machine may be shared, and wall time would count the others."""
    t = time.process_time()
    scan_message(data)
    return time.process_time() - t


def adversarial_section(repeat: int) -> None:
    print(f"== adversarial 1 MB inputs (CPU time, median of {repeat} runs; max in brackets)")
    cases = [
        ("text", n, msg(t.encode(), "text/plain; charset=utf-8", "8bit")) for n, t in ADVERSARIAL.items()
    ]
    cases += [
        ("html", n, msg(t.encode(), "text/html; charset=utf-8", "8bit")) for n, t in ADVERSARIAL_HTML.items()
    ]
    cases += [
        ("head", n, h + b"\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
        for n, h in ADVERSARIAL_HEADERS.items()
    ]
    worst = 0.0
    for kind, name, data in cases:
        times = [cpu_timed(data) for _ in range(repeat)]
        t = statistics.median(times)
        worst = max(worst, t)
        print(f"  {kind} {name:25s} {t * 1000:8.1f} ms  ({max(times) * 1000:7.1f})")
    print(f"  worst median: {worst * 1000:.1f} ms (target <= 500 ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0, help="how long to loop over the typical mix")
    ap.add_argument("--only", choices=["attachments", "adversarial"], help="run only this section")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each adversarial input (median)")
    args = ap.parse_args()
    scan_message(b"Subject: warm-up\r\n\r\nwww.example.com")
    if args.only == "attachments":
        attachments_section()
        return
    if args.only == "adversarial":
        adversarial_section(args.repeat)
        return

    print("== typical mix (one core)")
    groups = {
        "thai letters 5-50 KB, all charsets": letters(),
        "HTML newsletters": [newsletter() for _ in range(5)],
        "1 MB attachments (pdf, jpeg, zip)": attachments(),
    }
    mix: list[bytes] = []
    for name, msgs in groups.items():
        times = []
        for m in msgs:
            times.extend(timed(m) for _ in range(3))
        size = statistics.mean(len(m) for m in msgs)
        print(
            f"  {name:40s} n={len(msgs):3d} mean {size / 1024:8.1f} KiB  median {statistics.median(times) * 1000:7.2f} ms  max {max(times) * 1000:7.2f} ms"
        )
    # the typical mix: 80% letters, 15% newsletters, 5% attachment mail
    letters_, news, att = groups.values()
    for i in range(100):
        mix.append(
            att[i % len(att)]
            if i % 20 == 0
            else news[i % len(news)]
            if i % 7 == 0
            else letters_[i % len(letters_)]
        )
    n, nbytes, dt = throughput(mix, args.seconds)
    print(f"  mix: {n} messages in {dt:.1f} s = {n / dt:,.0f} messages/s, {nbytes / dt / 1e6:,.1f} MB/s")
    n, nbytes, dt = throughput(letters_ + news, args.seconds / 2)
    print(f"  letters and newsletters only: {n / dt:,.0f} messages/s, {nbytes / dt / 1e6:,.1f} MB/s")

    adversarial_section(args.repeat)
    attachments_section()


if __name__ == "__main__":
    main()
