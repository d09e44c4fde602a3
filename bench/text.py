"""Benchmark of the SMS channel (prints figures; not a test).

1. check_text() on SMS-sized Thai texts (70-160 characters, a few with links), one core.
   Target: >= 20,000 texts/s.
2. POST /v1/check-text to a real `nolink serve --no-milter` process on a loopback port, one text
   per request, over one kept-alive HTTP/1.1 connection (and over 4 connections).
   Target: >= 2,000 texts/s. The client runs in this process and takes its share of the 2 cores.
3. The same server, batches of 100 texts per request.

    .venv/bin/python bench/text.py [--seconds N]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "milter"))

from nolink.scan import Scanner
from nolink.textcheck import check_text

ROOT = Path(__file__).resolve().parent.parent

rng = random.Random(20260301)
SMS = [
    "เรียน คุณสมชาย กรมการปกครองแจ้งว่า บัตรประชาชนของท่านจะหมดอายุวันที่ ๑๖ ก.พ. ๒๕๖๙ โปรดติดต่อสำนักงานเขตใกล้บ้าน โทร. 1548",
    "แจ้งเตือน: ท่านได้รับเงินคืนภาษี 3,500 บาท ตรวจสอบได้ที่สำนักงานสรรพากรพื้นที่ ภายใน 30 วัน ขอบคุณค่ะ",
    "รหัส OTP ของท่านคือ 482913 ใช้ได้ภายใน 5 นาที ห้ามเปิดเผยรหัสนี้แก่ผู้อื่น",
    "ยืนยันการนัดหมาย วันที่ 12/03/2569 เวลา 09.30 น. ที่ว่าการอำเภอเมือง กรุณามาก่อนเวลา 15 นาที",
    "สำนักงานเขตบางรัก: เอกสารของท่านพร้อมรับแล้ว ติดต่อรับได้ในวันและเวลาราชการ 08:30-16:30 น.",
    "ประกาศ กรมส่งเสริมการปกครองท้องถิ่น งดให้บริการวันที่ ๕ ธ.ค. ๖๘ เนื่องในวันหยุดราชการ",
]
SMS_LINKS = [
    "แจ้งคืนภาษี กรุณาตรวจสอบที่ https://evil.example.com/r ภายในวันนี้",
    "ดูรายละเอียดที่ภาษี.ไทยค่ะ",
    "ลงทะเบียนที่ www.dla.go.th ได้ตั้งแต่วันนี้",
]


def mix(n: int) -> list[str]:
    return [rng.choice(SMS_LINKS) if rng.random() < 0.05 else rng.choice(SMS) for _ in range(n)]


def bench_function(texts: list[str], seconds: float) -> float:
    finder = Scanner().text
    best = 0.0
    for _ in range(5):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 5:
            for t in texts:
                check_text(t, finder)
            n += len(texts)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    (tmp / "nolink.toml").write_text(f'[text_api]\nlisten = "127.0.0.1:{port}"\n[metrics]\nlisten = ""\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT / "milter"))
    p = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(tmp / "nolink.toml")],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("the server did not start")


def client(port: int, bodies: list[bytes], seconds: float, counts: list[int], per: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for b in bodies:
            conn.request("POST", "/v1/check-text", body=b, headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise SystemExit(f"HTTP {r.status}")
            n += per
    counts.append(n)


def bench_http(port: int, bodies: list[bytes], seconds: float, connections: int, per: int) -> float:
    counts: list[int] = []
    threads = [
        threading.Thread(target=client, args=(port, bodies, seconds, counts, per)) for _ in range(connections)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    texts = mix(1000)
    size = sum(len(t) for t in texts) / len(texts)
    print(f"== SMS-sized Thai texts (mean {size:.0f} characters, 5% with a link)")
    rate = bench_function(texts, args.seconds)
    print(f"  check_text(), one core:            {rate:10,.0f} texts/s   (target >= 20,000)")
    with tempfile.TemporaryDirectory() as tmp:
        p, port = start_server(Path(tmp))
        try:
            singles = [json.dumps({"text": t}, ensure_ascii=False).encode() for t in texts[:200]]
            bench_http(port, singles[:20], 0.5, 1, 1)  # warm-up
            rate = bench_http(port, singles, args.seconds, 1, 1)
            print(f"  HTTP, 1 keep-alive connection:     {rate:10,.0f} texts/s   (target >= 2,000)")
            rate = bench_http(port, singles, args.seconds, 4, 1)
            print(f"  HTTP, 4 keep-alive connections:    {rate:10,.0f} texts/s")
            batches = [
                json.dumps({"texts": texts[i : i + 100]}, ensure_ascii=False).encode()
                for i in range(0, 1000, 100)
            ]
            rate = bench_http(port, batches, args.seconds, 1, 100)
            print(f"  HTTP, batches of 100, 1 connection:{rate:10,.0f} texts/s")
        finally:
            p.terminate()
            p.wait(10)


if __name__ == "__main__":
    main()
