"""Benchmark of the office and mail-container readers (issue 9b; prints figures, not a test).

One whole message per format, each a Thai letter with one link, scanned by scan_message: the
LibreOffice fixtures (.doc .xls .ppt .docx .odt .rtf), a .msg and a winmail.dat built as in the
tests, an opaque-signed S/MIME message, a Word .mht, an .ics invitation, a flowed body; and the
worst cases: a 2 MB RTF of short control words, a .doc with 50 pictures, an .xlsx of 20,000 cells.

    .venv/bin/python bench/containers.py [--seconds N]
"""

from __future__ import annotations

import argparse
import gzip
import io
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "milter"))
sys.path.insert(0, str(ROOT / "tests"))

from mail import attachment, message, multipart, part, qr_png  # noqa: E402
from nolink import scan_message  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "office"


def with_file(data: bytes, name: str, ctype: str = "application/octet-stream") -> bytes:
    body, ct = multipart([part("ส่งเอกสาร", "text/plain; charset=utf-8"), attachment(data, ctype, name)])
    return message(body, ct)


def fixture(name: str) -> bytes:
    data = (FIX / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def cases() -> dict[str, bytes]:
    import test_extract_mail as tm
    import test_extract_outlook as to

    out = {
        name: with_file(fixture(name), name.removesuffix(".gz"))
        for name in (
            "letter-link.doc",
            "sheet-link.xls",
            "slides-link.ppt.gz",
            "letter-qr.docx",
            "letter-qr.odt",
            "letter-link.rtf",
        )
    }
    out["outlook.msg"] = with_file(
        to.msg_file(body="ดูที่ www.dla.go.th/news", rtf_body=b"{\\rtf1 hi}"), "a.msg"
    )
    out["winmail.dat"] = with_file(
        to.tnef_stream(files=[("a.txt", b"https://x.example.com/")]), "winmail.dat"
    )
    out["smime signed"] = tm.smime_message(tm.signed(tm.INNER_LINK), "signed-data")
    out["word .mht"] = with_file(tm.mht("ดูที่ www.dla.go.th/form"), "letter.mht")
    out["invite .ics"] = with_file(tm.ICS.encode(), "invite.ics", "text/calendar")
    out["flowed body"] = message(
        "ดูที่ https://evil.example.com/reg/ \r\nister\r\n" * 50,
        "text/plain; charset=utf-8; format=flowed; delsp=yes",
    )
    big_rtf = b"{\\rtf1\\ansi " + b"".join(b"{\\b\\f1 word%d} \\par " % i for i in range(90_000)) + b"}"
    out["RTF 2 MB"] = with_file(big_rtf, "big.rtf")
    import cfb

    data = b"".join(qr_png(f"เลขที่ {i}") for i in range(50))
    doc = fixture("letter-logo.doc")
    import olefile

    o = olefile.OleFileIO(io.BytesIO(doc))
    streams = {"/".join(e): o.openstream(e).read() for e in o.listdir()}
    o.close()
    streams["Data"] = data
    out[".doc 50 pictures"] = with_file(cfb.build(streams), "pictures.doc")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(
            "xl/sharedStrings.xml",
            "<sst>" + "".join(f"<si><t>รายการ {i}</t></si>" for i in range(20_000)) + "</sst>",
        )
        z.writestr(
            "xl/worksheets/sheet1.xml",
            "<worksheet>"
            + "".join(f'<row><c t="s"><v>{i}</v></c></row>' for i in range(20_000))
            + "</worksheet>",
        )
    out[".xlsx 20,000 cells"] = with_file(buf.getvalue(), "big.xlsx")
    return out


def timed(fn: Callable[[], object], seconds: float) -> list[float]:
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=1.0, help="time per case")
    args = ap.parse_args()
    print(f"{'case':22} {'size KB':>8} {'verdict':>12} {'median ms':>10} {'max ms':>8}")
    for name, msg in cases().items():
        r = scan_message(msg)
        times = timed(lambda m=msg: scan_message(m), args.seconds)
        print(
            f"{name:22} {len(msg) / 1024:8.1f} {r.verdict:>12} {statistics.median(times) * 1000:10.2f} "
            f"{max(times) * 1000:8.2f}"
        )


if __name__ == "__main__":
    main()
