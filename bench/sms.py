"""Benchmark of the SMS proxy (prints figures; not a test).

A Kannel-dialect [[sms_proxy]] in a real `nolink serve --no-milter` process (journal and metrics
on), in front of a fast upstream of the benchmark's own (an asyncio Protocol answering smsbox's
"202 0: Accepted for delivery"; real smsbox is slower, so the proxy's share shows here at its
largest). The senders are kept-alive raw sockets on one epoll loop in a client process, each
sending GET /cgi-bin/sendsms with a UCS-2 Thai text of ~60-120 characters (1 in 20 with a link,
refused) as soon as its last answer is in. For 1, 10 and 100 concurrent senders: requests/s and
p50/p99 latency against the upstream alone (the floor, measured in the same run), then through
the proxy, the proxy's added p50/p99, and the CPU each process used per answer (user + system,
from /proc and getrusage): the client, the upstream and the proxy share the two cores, so the
proxy's CPU per answer is the figure that says what it would do on cores of its own.

With closed-loop senders, latency at N senders is about N / throughput (Little's law): at 100
senders and 2,000/s every request waits ~50 ms in the queue, whatever the proxy adds on its own.
So the last row is open loop: 100 senders on a schedule that adds up to --rate (default 2,000)
requests/s, latency counted from each request's scheduled time: the proxy's added latency at the
target load.

Target: >= 2,000 checked SMS/s on the 2-core machine, added p50 <= 2 ms.

    .venv/bin/python bench/sms.py [--seconds N] [--compare OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
rng = random.Random(20261207)
BASE = [
    "เรียน คุณสมชาย กรมการปกครองแจ้งว่า บัตรประชาชนของท่านจะหมดอายุวันที่ ๑๖ ก.พ. ๒๕๖๙ โปรดติดต่อสำนักงานเขต",
    "แจ้งเตือน: ท่านได้รับเงินคืนภาษี 3,500 บาท ตรวจสอบได้ที่สำนักงานสรรพากรพื้นที่ ภายใน 30 วัน",
    "รหัส OTP ของท่านคือ 482913 ใช้ได้ภายใน 5 นาที ห้ามเปิดเผยรหัสนี้แก่ผู้อื่น",
    "ยืนยันการนัดหมาย วันที่ 12/03/2569 เวลา 09.30 น. ที่ว่าการอำเภอเมือง กรุณามาก่อนเวลา 15 นาที",
]
LINKED = "กรมสรรพากร: ยืนยันตัวตนเพื่อรับเงินคืนที่ https://evil.example.com/r ภายในวันนี้"

# the fake upstream: an asyncio Protocol (no streams) answering each request head at once; the
# benchmark's requests carry no body
UPSTREAM = r"""
import asyncio, sys
BODY = b"0: Accepted for delivery"
ANSWER = b"HTTP/1.1 202 Accepted\r\nContent-type: text/html\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
class Up(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, data):
        self.buf += data
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rindex(b"\r\n\r\n") + 4:]
            self.t.write(ANSWER * n)
async def main():
    s = await asyncio.get_running_loop().create_server(Up, "127.0.0.1", int(sys.argv[1]), backlog=1024)
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


# the senders: raw non-blocking sockets on one epoll loop in a process of its own, each a kept-
# alive connection sending its next request as soon as the answer is in (asyncio streams cost
# the generator more CPU per request than the upstream uses)
CLIENT = r"""
import heapq, json, re, selectors, socket, sys, time
port, conc, seconds, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
reqs = [bytes.fromhex(x) for x in sys.stdin.read().split()]
CL = re.compile(rb"(?i)content-length: *(\d+)")
lat, statuses = [], {}
sel = selectors.DefaultSelector()
class C:
    pass
conns = []
for k in range(conc):
    c = C()
    c.s = socket.create_connection(("127.0.0.1", port))
    c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.s.setblocking(False)
    c.i, c.buf = k, b""
    sel.register(c.s, selectors.EVENT_READ, c)
    conns.append(c)
# rate > 0: each sender sends on a schedule (rate / conc a second), latency counted from the
# scheduled time, so a late answer also delays what should have followed it (open loop)
period = conc / rate if rate else 0.0
t0 = time.perf_counter()
stop = t0 + seconds
waiting = []
def send(c):
    c.s.send(reqs[c.i % len(reqs)])
for k, c in enumerate(conns):
    c.due = t0 + period * k / conc
    heapq.heappush(waiting, (c.due, k, c))
live = conc
while live:
    now = time.perf_counter()
    while waiting and waiting[0][0] <= now:
        send(heapq.heappop(waiting)[2])
    timeout = min(1.0, waiting[0][0] - now) if waiting else 1.0
    for key, _ in sel.select(timeout):
        c = key.data
        data = c.s.recv(65536)
        if not data:
            raise SystemExit("the server closed a connection")
        c.buf += data
        end = c.buf.find(b"\r\n\r\n")
        if end < 0:
            continue
        n = int(CL.search(c.buf, 0, end).group(1))
        if len(c.buf) < end + 4 + n:
            continue
        now = time.perf_counter()
        lat.append(now - c.due)
        st = c.buf[9:12].decode()
        statuses[st] = statuses.get(st, 0) + 1
        c.buf = c.buf[end + 4 + n:]
        if now >= stop:
            sel.unregister(c.s)
            c.s.close()
            live -= 1
            continue
        c.i += 1
        c.due = c.due + period if period else now
        if c.due <= now:
            send(c)
        else:
            heapq.heappush(waiting, (c.due, c.i, c))
print(json.dumps({"lat": lat, "statuses": statuses, "seconds": time.perf_counter() - t0}))
"""


def cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    rate: float  # answers per second
    p50: float  # ms
    p99: float
    statuses: dict[str, int]
    cpu_us: dict[str, float]  # CPU microseconds per answer, by process


def run(
    port: int, conc: int, seconds: float, reqs: list[bytes], watch: dict[str, int], rate: float = 0.0
) -> Run:
    """One client process, `conc` kept-alive senders for `seconds`, each sending as soon as its
    answer is in (rate 0) or on a schedule that adds up to `rate` requests/s; the CPU of the
    processes in `watch` (name: pid) and of the client itself, per answer."""
    before = {name: cpu(pid) for name, pid in watch.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(conc), str(seconds), str(rate)],
        input=" ".join(r.hex() for r in reqs),
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = json.loads(p.stdout)
    lat = sorted(out["lat"])
    n = len(lat)
    used = {name: cpu(pid) - before[name] for name, pid in watch.items()}
    used["client"] = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return Run(
        n / out["seconds"],
        statistics.median(lat) * 1000,
        lat[int(n * 0.99)] * 1000,
        out["statuses"],
        {name: s * 1e6 / n for name, s in used.items()},
    )


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


def start_proxy(d: Path, milter: Path, up_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """`nolink serve --no-milter` from the checkout whose source root is `milter`."""
    proxy_port, mport = free_port(), free_port()
    d.mkdir()
    cfg = d / "nolink.toml"
    cfg.write_text(
        f'[journal]\npath = "{d}/journal.sqlite"\n[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[[sms_proxy]]\nlisten = "127.0.0.1:{proxy_port}"\nupstream = "http://127.0.0.1:{up_port}"\n'
        "max_connections = 1000\n"
    )
    with open(d / "nolink.log", "wb") as log:
        proxy = subprocess.Popen(
            [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(cfg)],
            env={**os.environ, "PYTHONPATH": str(milter)},
            stdout=log,
            stderr=log,
        )
    return proxy, proxy_port


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=2000.0, help="requests/s of the paced (open-loop) row")
    ap.add_argument(
        "--compare",
        type=Path,
        metavar="CHECKOUT",
        help="another checkout of nolink (e.g. a git worktree of main): its proxy is measured in the "
        "same run, row by row after this one's",
    )
    args = ap.parse_args()
    up_port = free_port()
    d = Path(tempfile.mkdtemp(prefix="nolink-bench-sms-"))
    up = subprocess.Popen([sys.executable, "-c", UPSTREAM, str(up_port)])
    proxies = {"proxy": start_proxy(d / "this", ROOT / "milter", up_port)}
    if args.compare:
        proxies["other"] = start_proxy(d / "other", args.compare.resolve() / "milter", up_port)
    try:
        wait_port(up_port, up)
        reqs = requests()
        for proc, port in proxies.values():
            wait_port(port, proc)
            run(port, 4, 1.0, reqs, {})  # warm-up: the finder, the upstream connections
        print(
            f"SMS proxy (kannel dialect), {args.seconds:g} s per run, {os.cpu_count()} CPUs, 5% with a "
            f"link; load average before: {os.getloadavg()[0]:.2f}"
        )
        if args.compare:
            print(f"'other' is the proxy of {args.compare}")
        print(f"{'senders':>7} {'':>6} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} | {'added p50':>9} {'added p99':>9} | "
              f"CPU us/req: {'proxy':>6} {'upstr.':>6} {'client':>6}  statuses")  # fmt: skip
        rows = [(1, 0.0), (10, 0.0), (100, 0.0), (100, args.rate)]
        for conc, rate in rows:
            if rate:
                print(
                    f"100 senders sending {rate:,.0f} requests/s between them (open loop: latency at that load)"
                )
            base = run(up_port, conc, args.seconds, reqs, {"upstream": up.pid}, rate)
            print(f"{conc:>7} {'upstr.':>6} {base.rate:>7,.0f} {base.p50:>7.2f} {base.p99:>7.2f} | {'':>9} {'':>9} | "
                  f"{'':>11} {'':>6} {base.cpu_us['upstream']:>6.0f} {base.cpu_us['client']:>6.0f}")  # fmt: skip
            for name, (proc, port) in proxies.items():
                r = run(port, conc, args.seconds, reqs, {"proxy": proc.pid, "upstream": up.pid}, rate)
                print(f"{'':>7} {name:>6} {r.rate:>7,.0f} {r.p50:>7.2f} {r.p99:>7.2f} | {r.p50 - base.p50:>9.2f} "
                      f"{r.p99 - base.p99:>9.2f} | {'':>11} {r.cpu_us['proxy']:>6.0f} {r.cpu_us['upstream']:>6.0f} "
                      f"{r.cpu_us['client']:>6.0f}  {dict(sorted(r.statuses.items()))}")  # fmt: skip
    finally:
        for proc, _ in proxies.values():
            proc.terminate()
            proc.wait(20)
        up.terminate()
        up.wait(5)


if __name__ == "__main__":
    main()
