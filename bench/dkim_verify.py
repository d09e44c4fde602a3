"""DKIM verify time per message (prints figures; not a test): with a warm key cache, and with a DNS
query to a local dnsmasq on every message. Needs dnsmasq (scripts/setup.sh --test).

    .venv/bin/python bench/dkim_verify.py [--messages 2000]

--ab compares, in one process, dkimpy's own functions with nolink.dkim.speed's replacements: CPU
per verification of compare.py's letters (10 KiB, rsa-sha256 2048-bit, as compare.py signs them,
relaxed/simple, and re-signed relaxed/relaxed), key lookup injected (warm), distinct letters so
no signature repeats within the caches, rounds interleaved; it also checks that both give the
same DkimResult for every letter. No dnsmasq needed.

    .venv/bin/python bench/dkim_verify.py --ab [--letters 600] [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import dkim

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "milter"))

from dkimkeys import ed25519_key, letter, rsa_key, sign
from harness import Dnsmasq, have_dnsmasq
from nolink.dkim import speed
from nolink.dkim.check import DkimResult, DkimVerifier
from nolink.dkim.resolver import Answer, KeyResolver
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


def _cpu_per_verify(v: DkimVerifier, letters: list[bytes]) -> tuple[float, list[DkimResult]]:
    results = []
    t = time.process_time()
    for m in letters:
        results.append(v.verify(m))
    return (time.process_time() - t) / len(letters) * 1e6, results


def ab(n: int, rounds: int) -> int:
    import compare  # its letter() and key, so the figures are those of compare.py's messages

    key = compare.KEY
    simple = [compare.letter(i, False) for i in range(n)]
    relaxed = []
    for m in simple:
        unsigned = m[m.index(b"\r\nFrom: ") + 2 :]
        headers = [b"from", b"to", b"subject", b"date", b"message-id"]
        relaxed.append(
            dkim.sign(
                unsigned,
                b"s1",
                b"example.go.th",
                key.private,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=headers,
            )
            + unsigned
        )
    v = DkimVerifier(KeyResolver(lookup=lambda name, timeout: Answer("ok", key.record, ttl=300)), load())
    print(
        f"CPU per DKIM verification (us), {n} distinct {len(simple[0]) // 1024} KiB letters of bench/compare.py, "
        f"warm key, {rounds} interleaved rounds; min / median"
    )
    for name, letters in (("c=relaxed/simple (compare.py)", simple), ("c=relaxed/relaxed", relaxed)):
        times: dict[str, list[float]] = {"dkimpy's own": [], "nolink.dkim.speed": []}
        first: dict[str, list[DkimResult]] = {}
        for r in range(rounds + 1):
            for mode in list(times) if r % 2 else list(times)[::-1]:
                (speed.uninstall if mode == "dkimpy's own" else speed.install)()
                us, results = _cpu_per_verify(v, letters)
                if r == 0:  # warm-up round: caches, and the same answers both ways
                    first[mode] = results
                else:
                    times[mode].append(us)
        speed.install()
        own, fast = times.values()
        assert first["dkimpy's own"] == first["nolink.dkim.speed"], "the two ways disagree"
        assert all(x.result == "pass" for x in first["nolink.dkim.speed"])
        print(f"  {name}")
        for mode, ts in times.items():
            print(f"    {mode:18s} {min(ts):7.1f} / {statistics.median(ts):7.1f}")
        print(
            f"    ratio (speed / own) {min(fast) / min(own):.2f} / {statistics.median(fast) / statistics.median(own):.2f}"
        )
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--ab", action="store_true", help="dkimpy's own functions against speed.py's, no DNS")
    ap.add_argument("--letters", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=15)
    a = ap.parse_args()
    if a.ab:
        return ab(a.letters, a.rounds)
    n = a.messages
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
