"""The worker pool with real worker processes: kill on time-out, crash, memory limit, reload."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from mail import message
from nolink.adapters.workers import Job, Outcome, WorkerFailure, WorkerPool
from nolink.config import Config, parse
from nolink.dkim.check import DkimResult
from nolink.scan import Scanner
from workerfaults import FaultyDecider

LINK = message("ดูที่ https://evil.example.com/x ค่ะ")
CLEAN = message("เรียน ท่าน ตามหนังสือ ลงวันที่ ๑๖ ก.พ. ๒๕๖๙")


def faulty(kind: str) -> bytes:
    return message("เรียน ท่าน", headers=f"X-Fault: {kind}\r\n")


class Seen:
    """A pool observer that records what the pool reports."""

    def __init__(self) -> None:
        self.restarts: Counter[str] = Counter()
        self.busy = 0
        self.max_busy = 0
        self.waits: list[float] = []
        self.recycled = 0
        self.lock = threading.Lock()

    def worker_busy(self, delta: int) -> None:
        with self.lock:
            self.busy += delta
            self.max_busy = max(self.max_busy, self.busy)

    def worker_restart(self, cause: str) -> None:
        self.restarts[cause] += 1

    def queue_wait(self, seconds: float) -> None:
        self.waits.append(seconds)

    def worker_recycled(self) -> None:
        self.recycled += 1


def pool(text: str = "", workers: int = 2, memory: int = 0) -> tuple[WorkerPool, Seen]:
    seen = Seen()
    cfg = parse(f"[milter]\ntimeout = 1.5\nworkers = {workers}\nworker_memory = {memory}\n{text}")
    return WorkerPool(cfg, observer=seen, factory=FaultyDecider), seen


@pytest.fixture
def two() -> Iterator[tuple[WorkerPool, Seen]]:
    p, seen = pool()
    try:
        yield p, seen
    finally:
        p.terminate()


def test_results_pickle_and_equal_the_scanners() -> None:
    r = Scanner(Config()).scan(LINK)
    dk = DkimResult("pass", domain="example.go.th", selector="s1", aligned=True)
    out = Outcome(r, dk, 0.1, (("ok", "dns", 0.01),), 1)
    assert pickle.loads(pickle.dumps(out)) == out


def test_a_pool_decides_as_the_scanner_does(two: tuple[WorkerPool, Seen]) -> None:
    p, seen = two
    assert len(set(p.pids)) == 2 and os.getpid() not in p.pids
    futures = [p.submit(Job(m)) for m in (LINK, CLEAN) * 10]
    results = [f.result(10).result for f in futures]
    assert results[0] == Scanner(Config()).scan(LINK)
    assert [r.verdict for r in results[:2]] == ["link", "clean"]
    assert len(seen.waits) == 20 and seen.busy == 0 and 1 <= seen.max_busy <= 2
    assert p.psl_source == "bundled"


def test_spooled_body_is_read_from_its_path(two: tuple[WorkerPool, Seen], tmp_path) -> None:  # type: ignore[no-untyped-def]
    head, body = LINK.split(b"\r\n\r\n", 1)
    f = tmp_path / "body"
    f.write_bytes(body)
    out = two[0].submit(Job(head + b"\r\n\r\n", str(f))).result(10)
    assert out.result.verdict == "link" and out.result.size == len(LINK)


def test_time_out_kills_the_worker_and_the_others_keep_flowing(two: tuple[WorkerPool, Seen]) -> None:
    p, seen = two
    before = set(p.pids)
    t0 = time.monotonic()
    stuck = p.submit(Job(faulty("spin")))
    clean = []
    while not stuck.done():  # meanwhile the other worker decides every other message
        t = time.monotonic()
        assert p.submit(Job(CLEAN)).result(10).result.verdict == "clean"
        clean.append(time.monotonic() - t)
    with pytest.raises(WorkerFailure, match=r"longer than milter.timeout = 1.5 s \(worker \d+ killed\)") as e:
        stuck.result()
    waited = time.monotonic() - t0
    assert e.value.cause == "timeout"
    assert 1.5 <= waited < 2.5
    assert len(clean) > 10 and sorted(clean)[len(clean) // 2] < 0.1
    assert seen.restarts == {"timeout": 1}  # counted when the message is answered
    for _ in range(200):  # the replacement starts after that answer, not before it
        if len(set(p.pids)) == 2 and set(p.pids) != before:
            break
        time.sleep(0.05)
    assert len(set(p.pids)) == 2 and set(p.pids) != before  # one replaced
    assert p.submit(Job(LINK)).result(10).result.verdict == "link"


def test_a_worker_that_segfaults_is_replaced() -> None:
    p, seen = pool(workers=1)
    try:
        (old,) = p.pids
        with pytest.raises(WorkerFailure, match=r"died deciding this message \(signal 11\)") as e:
            p.submit(Job(faulty("segv"))).result(10)
        assert e.value.cause == "crash"
        assert p.submit(Job(CLEAN)).result(10).result.verdict == "clean"
        assert p.pids != [old] and seen.restarts == {"crash": 1}
    finally:
        p.terminate()


def test_a_worker_killed_from_outside_is_replaced() -> None:
    p, seen = pool(workers=1, text="")
    try:
        (old,) = p.pids
        stuck = p.submit(Job(faulty("spin")))
        time.sleep(0.3)
        os.kill(old, signal.SIGKILL)  # the OOM killer, an admin
        with pytest.raises(WorkerFailure, match=r"signal 9") as e:
            stuck.result(10)
        assert e.value.cause == "crash"
        assert p.submit(Job(LINK)).result(10).result.verdict == "link"
        assert seen.restarts == {"crash": 1}
    finally:
        p.terminate()


def test_an_idle_worker_that_dies_is_replaced_before_the_next_message() -> None:
    p, seen = pool(workers=1)
    try:
        (old,) = p.pids
        os.kill(old, signal.SIGKILL)
        time.sleep(0.2)
        assert p.submit(Job(CLEAN)).result(10).result.verdict == "clean"
        assert p.pids != [old] and seen.restarts == {"crash": 1}
    finally:
        p.terminate()


def test_memory_bomb_under_worker_memory_is_replaced() -> None:
    p, seen = pool(workers=1, memory=512 * 1024 * 1024)
    try:
        (old,) = p.pids
        with pytest.raises(
            WorkerFailure, match=r"ran out of memory \(milter.worker_memory = 536870912\)"
        ) as e:
            p.submit(Job(faulty("eat"))).result(20)
        assert e.value.cause == "memory"
        assert p.submit(Job(LINK)).result(10).result.verdict == "link"
        assert p.pids != [old] and seen.restarts == {"memory": 1}
    finally:
        p.terminate()


def test_a_worker_over_worker_max_rss_answers_and_is_recycled() -> None:
    """issue 22 item 9: a worker that keeps a big heap after a message (OCR, PDF) is replaced by a
    fresh one after answering: the message is decided normally, and it is no failure."""
    p, seen = pool("worker_max_rss = 100000000\n", workers=1)
    try:
        (old,) = p.pids
        assert p.submit(Job(CLEAN)).result(10).result.verdict == "clean"
        assert p.pids == [old] and seen.recycled == 0  # small: kept
        keep = message("ดูที่ https://evil.example.com/x", headers="X-Fault: keep\r\n")
        assert p.submit(Job(keep)).result(20).result.verdict == "link"  # answered as usual
        assert p.submit(Job(LINK)).result(20).result.verdict == "link"
        assert p.pids != [old] and seen.recycled == 1 and not seen.restarts
    finally:
        p.terminate()


def test_the_deadline_counts_from_submit() -> None:
    p, _ = pool(workers=1)
    try:
        stuck = p.submit(Job(faulty("spin")))
        queued = p.submit(Job(CLEAN))  # waits behind the stuck one, past its own deadline
        with pytest.raises(WorkerFailure):
            stuck.result(10)
        with pytest.raises(WorkerFailure, match=r"waited .* for a free worker") as e:
            queued.result(10)
        assert e.value.cause == "timeout"
    finally:
        p.terminate()


def test_close_lets_queued_messages_finish_then_the_workers_leave() -> None:
    p, _ = pool(workers=1)
    futures = [p.submit(Job(LINK)) for _ in range(5)]
    pids = p.pids
    p.close()
    with pytest.raises(WorkerFailure, match="closed"):
        p.submit(Job(LINK)).result(1)
    assert all(f.result(10).result.verdict == "link" for f in futures)
    p.close(wait=True, timeout=10)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.05)


def test_a_config_the_workers_cannot_load_fails_the_pool(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "psl.dat"
    bad.write_bytes(b"\xff\xfe not a list")
    with pytest.raises(Exception, match="worker could not start"):
        WorkerPool(parse(f'[milter]\nworkers = 1\n[links]\npsl_file = "{tmp_path}/missing.dat"\n'))


def test_an_outcome_crosses_the_pipe_as_plain_tuples_and_comes_back_equal() -> None:
    from nolink.adapters import workers
    from nolink.findings import Link, Location, ScanResult, Unscanned

    # _FLAT is off when ScanResult, DkimResult & co. gain a field: extend flat()/unflat() then
    assert workers._FLAT
    loc = Location("1.2", "text/html", "attr a href", 7)
    sig = DkimResult("fail", "body hash", "a.go.th", "s1", "rsa-sha256", 2048, True, "a.go.th", "changed")
    out = Outcome(
        ScanResult(
            (Link("evil.example", "http://evil.example", "bare_domain", loc),),
            ("oops",),
            3,
            4096,
            (Unscanned("encrypted", 'encrypted ZIP "f.zip"', loc),),
        ),
        DkimResult("pass", "", "a.go.th", "s1", "rsa-sha256", 2048, True, "a.go.th", "", (sig, sig)),
        0.0,
        (("ok", "dns", 0.01),),
        1,
        (("call", 0.2),),
    )
    wire = pickle.loads(pickle.dumps(workers.flat(out)))
    assert not isinstance(wire, Outcome)
    back = workers.unflat(wire, 0.25)
    assert back == Outcome(out.result, out.dkim, 0.25, out.dns, out.pinned_mismatches, out.ocr)
    assert workers.unflat(
        pickle.loads(pickle.dumps(workers.flat(Outcome(ScanResult(), None)))), 0.0
    ) == Outcome(ScanResult(), None)


def test_a_worker_busy_past_spill_does_not_hold_the_next_message() -> None:
    # two workers: one stuck on a slow message, the next message goes to the other at once
    from nolink.adapters.workers import SPILL

    p, _ = pool(workers=2)
    try:
        stuck = p.submit(Job(faulty("spin")))
        time.sleep(SPILL * 5)
        t = time.monotonic()
        assert p.decide(Job(CLEAN)).result.verdict == "clean"
        assert time.monotonic() - t < 1.0  # not behind the stuck one (milter.timeout here)
        with pytest.raises(WorkerFailure):
            stuck.result(10)
    finally:
        p.terminate()
