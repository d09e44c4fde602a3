"""Benchmark of the SMS proxy (prints figures; not a test).

A Kannel-dialect [[sms_proxy]] in a real `nolink serve --no-milter` process, in front of a fast
upstream of the benchmark's own (an asyncio HTTP/1.1 server answering smsbox's
"202 0: Accepted for delivery"; real smsbox is slower, so the proxy's share shows here at its
largest). The senders are keep-alive connections in one asyncio client process, each sending GET
/cgi-bin/sendsms with a UCS-2 Thai text of ~60-120 characters (1 in 20 with a link, refused).
For 1, 10 and 100 concurrent senders: requests/s and p50/p99 latency against the upstream alone,
then through the proxy, and the proxy's added p50/p99.

Target: >= 2,000 checked SMS/s on the 2-core machine, added p50 <= 2 ms. The client, the
upstream and the proxy share the two cores.

    .venv/bin/python bench/sms.py [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "milter")}
rng = random.Random(20261207)
BASE = [
    "เรียน คุณสมชาย กรมการปกครองแจ้งว่า บัตรประชาชนของท่านจะหมดอายุวันที่ ๑๖ ก.พ. ๒๕๖๙ โปรดติดต่อสำนักงานเขต",
    "แจ้งเตือน: ท่านได้รับเงินคืนภาษี 3,500 บาท ตรวจสอบได้ที่สำนักงานสรรพากรพื้นที่ ภายใน 30 วัน",
    "รหัส OTP ของท่านคือ 482913 ใช้ได้ภายใน 5 นาที ห้ามเปิดเผยรหัสนี้แก่ผู้อื่น",
    "ยืนยันการนัดหมาย วันที่ 12/03/2569 เวลา 09.30 น. ที่ว่าการอำเภอเมือง กรุณามาก่อนเวลา 15 นาที",
]
LINKED = "กรมสรรพากร: ยืนยันตัวตนเพื่อรับเงินคืนที่ https://evil.example.com/r ภายในวันนี้"

UPSTREAM = r"""
import asyncio, sys
BODY = b"0: Accepted for delivery"
HEAD = b"HTTP/1.1 202 Accepted\r\nContent-type: text/html\r\nContent-Length: %d\r\n\r\n" % len(BODY)
async def serve(r, w):
    try:
        while True:
            head = await r.readuntil(b"\r\n\r\n")
            w.write(HEAD + BODY)
    except (asyncio.IncompleteReadError, ConnectionError):
        w.close()
async def main():
    s = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]), backlog=1024)
    async with s:
        await s.serve_forever()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def requests() -> list[bytes]:
    out = []
    for i in range(200):
        text = LINKED if i % 20 == 7 else rng.choice(BASE)
        q = urllib.parse.urlencode(
            {"username": "u", "password": "p", "to": "0812345678", "from": "RDGOTH", "coding": "2",
             "text": text.encode("utf-16-be")}
        )  # fmt: skip
        out.append(f"GET /cgi-bin/sendsms?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return out


CLIENT = r"""
import asyncio, re, sys, time, json
port, conc, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
reqs = [bytes.fromhex(x) for x in sys.stdin.read().split()]
CL = re.compile(rb"(?i)content-length: *(\d+)")
lat, statuses = [], {}
async def worker(k, stop):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    i = k
    while time.perf_counter() < stop:
        t = time.perf_counter()
        w.write(reqs[i % len(reqs)]); i += 1
        head = await r.readuntil(b"\r\n\r\n")
        await r.readexactly(int(CL.search(head).group(1)))
        lat.append(time.perf_counter() - t)
        s = head[9:12].decode(); statuses[s] = statuses.get(s, 0) + 1
    w.close()
async def main():
    stop = time.perf_counter() + seconds
    await asyncio.gather(*(worker(k, stop) for k in range(conc)))
asyncio.run(main())
print(json.dumps({"lat": lat, "statuses": statuses}))
"""


def run(
    port: int, conc: int, seconds: float, reqs: list[bytes]
) -> tuple[float, float, float, dict[str, int]]:
    import json

    p = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(conc), str(seconds)],
        input=" ".join(r.hex() for r in reqs),
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(p.stdout)
    lat = sorted(out["lat"])
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99)] * 1000
    return len(lat) / seconds, p50, p99, out["statuses"]


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"did not start: {proc.args}") from None
            time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    up_port, proxy_port, mport = free_port(), free_port(), free_port()
    d = Path(tempfile.mkdtemp(prefix="nolink-bench-sms-"))
    cfg = d / "nolink.toml"
    cfg.write_text(
        f'[journal]\npath = "{d}/journal.sqlite"\n[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[[sms_proxy]]\nlisten = "127.0.0.1:{proxy_port}"\nupstream = "http://127.0.0.1:{up_port}"\n'
        "max_connections = 1000\n"
    )
    up = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    log = open(d / "nolink.log", "wb")  # noqa: SIM115
    proxy = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(cfg)],
        env=ENV,
        stdout=log,
        stderr=log,
    )
    try:
        wait_port(up_port, up)
        wait_port(proxy_port, proxy)
        reqs = requests()
        run(proxy_port, 4, 1.0, reqs)  # warm-up: the finder, the upstream connections
        print(
            f"SMS proxy (kannel dialect), {args.seconds:.0f} s per run, {os.cpu_count()} CPUs, 5% with a link"
        )
        print(f"{'senders':>8} {'upstream req/s':>15} {'p50 ms':>7} {'p99 ms':>7} | {'proxy req/s':>12} "
              f"{'p50 ms':>7} {'p99 ms':>7} | {'added p50':>9} {'added p99':>9}  statuses")  # fmt: skip
        for conc in (1, 10, 100):
            ur, up50, up99, _ = run(up_port, conc, args.seconds, reqs)
            pr, pp50, pp99, st = run(proxy_port, conc, args.seconds, reqs)
            print(
                f"{conc:>8} {ur:>15,.0f} {up50:>7.2f} {up99:>7.2f} | {pr:>12,.0f} {pp50:>7.2f} {pp99:>7.2f} | "
                f"{pp50 - up50:>9.2f} {pp99 - up99:>9.2f}  {dict(sorted(st.items()))}"
            )
    finally:
        proxy.terminate()
        proxy.wait(20)
        up.terminate()
        up.wait(5)
        log.close()


if __name__ == "__main__":
    main()
