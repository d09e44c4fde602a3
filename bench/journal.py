"""The decision journal's cost (prints figures; not a test): what Journal.decided() adds to a
message's reply path, how many rows a second the writer thread gets to disk, and how long the
report takes over a large journal.

    .venv/bin/python bench/journal.py [--messages 100000]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "milter"))

from nolink.config import Config
from nolink.findings import Link, Location
from nolink.ops import report
from nolink.ops.journal import Journal
from nolink.policy import Decision
from nolink.scope import Envelope


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100_000)
    n = ap.parse_args().messages
    cfg = Config()
    env = Envelope("<saraban@example.go.th>", ("<somchai@example.com>",), "submission")
    link = Link(
        "https://evil.example.com/x",
        "https://evil.example.com/x",
        "scheme",
        Location("1", "text/plain", "body", 5),
    )
    decisions = [
        Decision("reject", "link_found", "enforce", f"R{i:09d}", 1, link, 1)
        if i % 3 == 0
        else Decision("accept", "clean", "enforce", f"R{i:09d}", 1)
        for i in range(n)
    ]
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/journal.sqlite"
        j = Journal(path, queue_size=n + 10).start()
        calls = []
        t0 = time.perf_counter()
        for i, dec in enumerate(decisions):
            t = time.perf_counter()
            j.decided(dec, env, f"Q{i}", 2048, 0.001, cfg)
            calls.append(time.perf_counter() - t)
        queued = time.perf_counter() - t0
        j.close(timeout=600)
        written = time.perf_counter() - t0
        calls.sort()
        print(
            f"{n} decisions: decided() median {statistics.median(calls) * 1e6:.1f} us, "
            f"p99 {calls[int(len(calls) * 0.99)] * 1e6:.1f} us (the whole cost on the reply path)"
        )
        print(
            f"writer: {n} rows on disk in {written:.2f} s = {n / written:,.0f} rows/s "
            f"(queued in {queued:.2f} s); dropped {j.stats.dropped}, errors {j.stats.errors}"
        )
        print(f"journal size: {Path(path).stat().st_size / n:.0f} bytes/row (plus WAL)")
        now = datetime.datetime.now().astimezone()
        t = time.perf_counter()
        r = report.build([path], now - datetime.timedelta(days=1), now + datetime.timedelta(minutes=1))
        print(f"report over {r['messages']['checked']} rows: {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
