"""PDFium bounded, end to end through a real Postfix and real workers: PDFs whose page content
inflates to 50-100 MB of path operators (0.1-0.3 MB on the wire), or renders slowly, become
unscannable within links.max_scan_seconds + 1 s and with every nolink process under 800 MB, while
innocent letters sent at the same time are decided normally."""

from __future__ import annotations

import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import Nolink, Parts, Postfix, Rig, Sink, have_postfix

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]

CITIZEN = "somchai@example.com"
MAX_SCAN = 4.0
CONFIG = f'[scope]\ninternal_domains = ["go.th"]\n[links]\nmax_scan_seconds = {MAX_SCAN}\n'


def one_page_pdf(content: bytes) -> bytes:
    comp = zlib.compress(content, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(comp) + comp + b"\nendstream",
    ]
    out = b"%PDF-1.7\n"
    offsets = []
    for i, o in enumerate(objs):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def paths(megabytes: float) -> bytes:
    """A page of nothing but filled triangles: megabytes of path operators."""
    op = b"10 10 m 20 20 l 30 10 l h f\n"
    return one_page_pdf(op * int(megabytes * 1e6 / len(op)))


class Pdfs(Rig):
    def start(self, parts: Parts) -> None:
        self.sink = parts.add(Sink(self.base).start())
        self.nolink = parts.add(Nolink(self.base, "pdf", CONFIG).start())
        self.postfix = parts.add(
            Postfix(self.base, self.sink, {"pdf": f"unix:{self.nolink.socket}"}, non_smtpd_milter="").start()
        )


@pytest.fixture(scope="module")
def rig() -> Iterator[Pdfs]:
    r = Pdfs()
    try:
        yield r
    finally:
        r.stop()


def letter(marker: str, pdf: bytes | None) -> bytes:
    import base64

    head = (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: {marker}\r\n"
        f"Message-ID: <{marker}@example.go.th>\r\nDate: Mon, 16 Feb 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n"
    )
    text = f"เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙ {marker}\r\n"
    if pdf is None:
        return (
            head + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + text
        ).encode()
    b64 = base64.encodebytes(pdf).decode().replace("\n", "\r\n")
    return (
        head + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + text
        + "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="plan.pdf"\r\n\r\n' + b64 + "--b1--\r\n"
    ).encode()


def rss_mb(pid: int) -> float:
    """The resident size of a process and all its descendants, each (the largest), in MB."""
    biggest = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    biggest = max(biggest, int(line.split()[1]) / 1024)
            for t in Path(f"/proc/{p}/task").iterdir():
                kids = (t / "children").read_text().split()
                todo += [int(k) for k in kids]
        except OSError:
            continue
    return biggest


def test_pdf_bombs_are_unscannable_in_time_and_innocent_letters_pass(rig: Pdfs) -> None:
    bombs = [paths(50), paths(100), paths(50), paths(3.5)]  # the last is under the byte bound: time
    assert all(len(b) < 300_000 for b in bombs), [len(b) for b in bombs]
    results: dict[str, tuple[int, float]] = {}
    lock = threading.Lock()

    def send(marker: str, pdf: bytes | None) -> None:
        t0 = time.monotonic()
        code, _ = rig.postfix.send("pdf", letter(marker, pdf), [CITIZEN])
        with lock:
            results[marker] = (code, time.monotonic() - t0)

    jobs = [(f"bomb{i}-{uuid.uuid4().hex[:6]}", b) for i, b in enumerate(bombs)]
    jobs += [(f"innocent{i}-{uuid.uuid4().hex[:6]}", None) for i in range(3)]
    threads = [threading.Thread(target=send, args=j) for j in jobs]
    peak = 0.0
    assert rig.nolink.proc is not None
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        peak = max(peak, rss_mb(rig.nolink.proc.pid))
        time.sleep(0.1)
    for marker, _ in jobs:
        code, _ = results[marker]
        if marker.startswith("innocent"):
            assert code == 250, (marker, code)
            rig.delivered(marker)
        elif marker.startswith("bomb3"):
            # under the byte bound: only the time budget can stop it. On a quiet machine PDFium may
            # draw it whole within the budget (then it is scanned, and holds no link); what must
            # never happen is a clean verdict after the budget has run out.
            assert code == 550 or (code == 250 and results[marker][1] <= 2 * (MAX_SCAN + 1)), (marker, code)
        else:
            assert code == 550, (marker, code)  # unscannable, refused (links.on_unscannable)
    # each PDF takes at most max_scan_seconds + 1 s in a worker; 2 workers for 4 PDFs (and the
    # letters, which take milliseconds) make at most two rounds
    assert max(s for m, (_, s) in results.items() if m.startswith("bomb")) <= 2 * (MAX_SCAN + 1) + 2, results
    assert peak < 800, peak
    lines = "\n".join(rig.nolink.lines())
    assert "page content inflates to more than" in lines or "unscannable" in lines
    print({m: (c, round(s, 2)) for m, (c, s) in results.items()}, f"peak RSS {peak:.0f} MB")
