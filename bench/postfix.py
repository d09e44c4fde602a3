"""Throughput through a private Postfix with and without nolink (prints figures; not a test).

2,000 x 10 KB messages from smtp-source, 20 sessions, to smtp-sink as the next hop; the same run
measures a listener without milter and one with nolink, in alternation. Prints accepted msg/s for
each and nolink's own p50/p99 decision time from its log. Needs root and scripts/setup.sh --test.

    .venv/bin/python bench/postfix.py [--messages 2000] [--sessions 20] [--size 10240] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import Nolink, Postfix, Sink, have_postfix, private_dir


def run_source(port: int, messages: int, sessions: int, size: int) -> float:
    t = time.perf_counter()
    subprocess.run(
        [
            "smtp-source",
            "-s",
            str(sessions),
            "-m",
            str(messages),
            "-l",
            str(size),
            "-f",
            "saraban@example.go.th",
            "-t",
            "somchai@example.com",
            f"127.0.0.1:{port}",
        ],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return messages / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=10240)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    why = have_postfix()
    if why:
        print(f"cannot run: {why}")
        return 2
    base = private_dir()
    sink = Sink(base).start()
    nolink = Nolink(base, "bench", '[scope]\ninternal_domains = ["go.th"]\n').start()
    pf = Postfix(base, sink, {"plain": "", "nolink": f"unix:{nolink.socket}"}, non_smtpd_milter="").start()
    try:
        rates: dict[str, list[float]] = {"plain": [], "nolink": []}
        for _ in range(a.runs):
            for name in ("plain", "nolink"):
                rates[name].append(run_source(pf.ports[name], a.messages, a.sessions, a.size))
        ms = [float(x) for x in re.findall(r"reason=clean .* ms=([\d.]+)", nolink.log.read_text())]
        print(
            f"{a.messages} x {a.size} B, {a.sessions} sessions, {a.runs} runs (median msg/s accepted by Postfix)"
        )
        for name, r in rates.items():
            print(
                f"  {'Postfix alone' if name == 'plain' else 'Postfix + nolink':18s} {statistics.median(r):7.0f} msg/s   runs: {', '.join(f'{x:.0f}' for x in r)}"
            )
        if ms:
            ms.sort()
            p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            print(
                f"  nolink decision time over {len(ms)} messages: p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms"
            )
    finally:
        pf.stop()
        nolink.stop()
        sink.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
