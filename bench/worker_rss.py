"""Resident size of the decision workers: fresh, after OCR and PDF work, and with
milter.worker_max_rss recycling (issue 22: two workers kept 371 MB after OCR and PDF work).

Usage: .venv/bin/python bench/worker_rss.py   (needs the Thai TLWG fonts: scripts/setup.sh --test)
Prints the RSS of each worker (MB, from /proc/PID/status) after each step."""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "milter"), str(ROOT / "tests")]

from mail import attachment, message, multipart, part  # noqa: E402
from nolink.adapters.workers import Job, WorkerPool  # noqa: E402
from nolink.config import parse  # noqa: E402
from ocrimages import letter, poster  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scanned_pdf(pages: int = 6) -> bytes:
    from PIL import Image

    ims = [Image.open(io.BytesIO(letter(seed=i, dpi=200))) for i in range(pages)]
    out = io.BytesIO()
    ims[0].convert("RGB").save(
        out, "PDF", resolution=200, save_all=True, append_images=[i.convert("RGB") for i in ims[1:]]
    )
    return out.getvalue()


def main() -> None:
    def with_attachment(data: bytes, ctype: str, name: str) -> bytes:
        body, ctype_all = multipart(
            [part("เรียน ท่าน", "text/plain; charset=utf-8"), attachment(data, ctype, name)]
        )
        return message(body, ctype_all)

    ocr_msg = with_attachment(letter(seed=1), "image/png", "letter.png")
    poster_msg = with_attachment(poster(), "image/png", "poster.png")
    pdf_msg = with_attachment(scanned_pdf(), "application/pdf", "scan.pdf")
    clean = message("เรียน ท่าน ตามหนังสือ")
    for limit in ("0", str(150 * 1024**2)):
        pool = WorkerPool(parse(f"[milter]\nworkers = 2\ntimeout = 120\nworker_max_rss = {limit}\n"))
        try:

            def show(step: str, pool: WorkerPool = pool, limit: str = limit) -> None:
                each = [rss_mb(pid) for pid in pool.pids]
                print(
                    f"worker_max_rss={int(limit) // 1024**2 or 'off'} {step:<22} "
                    + " ".join(f"{x:6.1f}" for x in each)
                    + f"  total {sum(each):6.1f} MB"
                )

            for _ in range(4):
                pool.decide(Job(clean))
            show("fresh (4 clean)")
            for _ in range(3):
                pool.decide(Job(ocr_msg))
                pool.decide(Job(poster_msg))
                pool.decide(Job(pdf_msg))
            show("after OCR + PDF x3")
            import time

            time.sleep(3)  # replacements start in the background
            for _ in range(4):
                pool.decide(Job(clean))
            show("then 4 clean")
        finally:
            pool.terminate()


if __name__ == "__main__":
    main()
