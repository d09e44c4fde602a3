"""DKIM verify time per message (prints figures; not a test): with a warm key cache, and with a DNS
query to a local dnsmasq on every message. Needs dnsmasq (scripts/setup.sh --test).

    .venv/bin/python bench/dkim_verify.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "milter"))

from dkimkeys import ed25519_key, letter, rsa_key, sign
from harness import Dnsmasq, have_dnsmasq
from nolink.dkim.check import DkimVerifier
from nolink.dkim.resolver import KeyResolver
from nolink.psl import load


def measure(v: DkimVerifier, msg: bytes, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        r = v.verify(msg)
        times.append(time.perf_counter() - t)
        assert r.result == "pass", r
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    n = ap.parse_args().messages
    if have_dnsmasq():
        print(f"cannot run: {have_dnsmasq()}")
        return 2
    keys = {"rsa-2048": rsa_key(2048), "ed25519": ed25519_key()}
    dns = Dnsmasq({f"{name}._domainkey.example.go.th": k.record for name, k in keys.items()}).start()
    try:
        body = "เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙\r\n" * 300  # ~20 KB letter
        print(
            f"{n} verifications of a {len(letter(body=body)) // 1024} KiB letter (median / p99 per message)"
        )
        for name, k in keys.items():
            msg = sign(letter(body=body), k, selector=name)
            warm = DkimVerifier(KeyResolver((dns.nameserver,)), load())
            cold = DkimVerifier(KeyResolver((dns.nameserver,), cache_size=0), load())
            w50, w99 = measure(warm, msg, n)
            c50, c99 = measure(cold, msg, n)
            print(
                f"  {name:9s} warm cache: {w50:.2f} / {w99:.2f} ms   DNS every message: {c50:.2f} / {c99:.2f} ms"
            )
    finally:
        dns.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
