"""Journal faults end to end: real Postfix, real `nolink serve` processes, and every decision nolink
answered must be in its journal afterwards, once, whatever happened to the journal or the process:
nolink killed with SIGKILL while mail flows, the journal file deleted, a lock held by another
process for 12 s, a full file system for 8 s."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import Nolink, Parts, Postfix, Rig, Sink, have_postfix, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]

SCOPE = '[scope]\ninternal_domains = ["go.th"]\n'
CITIZEN = "somchai@example.com"
LINK = "เรียน ท่าน กรุณาตรวจสอบสิทธิ์ที่ https://evil.example.com/check ค่ะ"
REF = re.compile(rb"Ref ([0-9A-F]{10})")


class Faults(Rig):
    def start(self, parts: Parts) -> None:
        base = self.base
        self.sink = parts.add(Sink(base).start())
        self.killed = parts.add(Nolink(base, "killed", SCOPE).start())
        self.deleted = parts.add(Nolink(base, "deleted", SCOPE).start())
        self.locked = parts.add(Nolink(base, "locked", SCOPE).start())
        # a small file system of its own, to be filled up
        small = base / "small"
        small.mkdir()
        self.small = small
        self.small_ok = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(small)], check=False
            ).returncode
            == 0
        )
        if self.small_ok:
            parts.add(Unmount(small))
        self.full = parts.add(
            Nolink(base, "full", SCOPE + f'[journal]\npath = "{small / "journal.sqlite"}"\n').start()
        )
        self.full.journal = small / "journal.sqlite"
        self.postfix = parts.add(
            Postfix(
                base,
                self.sink,
                {n: f"unix:{getattr(self, n).socket}" for n in ("killed", "deleted", "locked", "full")},
                non_smtpd_milter="",
            ).start()
        )


class Unmount:
    def __init__(self, path: Path) -> None:
        self.path = path

    def stop(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)


@pytest.fixture(scope="module")
def rig() -> Iterator[Faults]:
    r = Faults()
    try:
        yield r
    finally:
        r.stop()


def letter() -> bytes:
    m = uuid.uuid4().hex[:12]
    return (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: {m}\r\n"
        f"Message-ID: <{m}@example.go.th>\r\nDate: Mon, 16 Feb 2026 09:00:00 +0700\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{m}\r\n{LINK}\r\n"
    ).encode()


class Senders:
    """Threads sending link letters through one listener: the Refs of the decisions nolink
    answered (550 with its Ref), and how many got anything else (451 while nolink was away)."""

    def __init__(self, rig: Faults, listener: str, threads: int = 3) -> None:
        self.rig, self.listener = rig, listener
        self.answered: list[str] = []
        self.other = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                code, text = self.rig.postfix.send(self.listener, letter(), [CITIZEN])
            except OSError:
                code, text = 0, b""
            m = REF.search(text)
            with self._lock:
                if code == 550 and m:
                    self.answered.append(m.group(1).decode())
                else:
                    self.other += 1
            if code != 550:
                time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        for t in self._threads:
            t.join(150)
        return list(self.answered)


def refs(path: Path) -> list[str]:
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return [r[0] for r in conn.execute("SELECT ref FROM decisions")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def all_journaled(n: Nolink, answered: list[str], timeout: float = 30) -> list[str]:
    """Waits until every answered Ref is in the journal; the journal's Refs."""

    def done() -> list[str] | None:
        got = refs(n.journal)
        return got if set(answered) <= set(got) else None

    try:
        return wait_until(done, timeout, what="every answered decision in the journal")  # type: ignore[no-any-return]
    except TimeoutError:
        got = refs(n.journal)
        missing = sorted(set(answered) - set(got))
        raise AssertionError(
            f"{len(missing)} of {len(answered)} answered decisions missing: {missing[:10]}"
        ) from None


def test_sigkill_while_mail_flows_loses_no_answered_decision(rig: Faults) -> None:
    n = rig.killed
    lost_total, kills = 0, 3
    answered: list[str] = []
    for _ in range(kills):
        s = Senders(rig, "killed")
        wait_until(lambda s=s: len(s.answered) >= 15, 60, what="decisions before the kill")
        assert n.proc is not None
        n.proc.send_signal(signal.SIGKILL)  # right after some answer, in the middle of the flow
        n.proc.wait(10)
        time.sleep(0.3)
        answered += s.stop()
        n.start()  # the next start replays the write-ahead files
    got = all_journaled(n, answered)
    assert len(got) == len(set(got)), "a decision journaled twice"
    extra = set(got) - set(answered)
    # a row for a decision whose reply the kill cut off (Postfix answered 451 and its client
    # retries): at most the messages in flight at each kill
    assert len(extra) <= 3 * kills, extra
    print(f"{len(answered)} answered over {kills} kills, all journaled; {len(extra)} decided but cut off")
    assert lost_total == 0
    assert any("decisions of the last run were not in" in line for line in n.lines())


def test_a_deleted_journal_file_is_recreated_and_gets_every_later_decision(rig: Faults) -> None:
    n = rig.deleted
    before = Senders(rig, "deleted", threads=1)
    wait_until(lambda: len(before.answered) >= 5, 60, what="decisions before the deletion")
    first = before.stop()
    all_journaled(n, first)
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{n.journal}{suffix}").unlink()
    s = Senders(rig, "deleted")
    time.sleep(3)
    after = s.stop()
    assert len(after) >= 10 and s.other == 0
    got = all_journaled(n, after)
    assert len(got) == len(set(got)) and not set(first) & set(got)
    assert n.samples()["nolink_journal_reopened_total"] == 1
    assert any("ERROR journal:" in line and "was deleted" in line for line in n.lines())


def test_a_lock_held_12_s_by_another_process_loses_nothing(rig: Faults) -> None:
    n = rig.locked
    wait_until(lambda: n.journal.exists(), what="the journal file")
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(12); c.execute('ROLLBACK')",
            str(n.journal),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
    s = Senders(rig, "locked")
    holder.wait(30)
    answered = s.stop()
    assert len(answered) >= 20 and s.other == 0
    all_journaled(n, answered)
    samples = n.samples()
    assert samples["nolink_journal_errors_total"] >= 1  # it did fail, and retried
    assert samples["nolink_journal_dropped_total"] == 0


def test_a_full_file_system_for_8_s_loses_nothing(rig: Faults) -> None:
    if not rig.small_ok:
        pytest.skip("a tmpfs mount is not possible here")
    n = rig.full
    warm = Senders(rig, "full", threads=1)
    wait_until(lambda: len(warm.answered) >= 3, 60, what="decisions before the disk fills")
    answered = warm.stop()
    all_journaled(n, answered)
    filler = rig.small / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    s = Senders(rig, "full")
    time.sleep(8)
    filler.unlink()
    answered += s.stop()
    assert s.other == 0
    all_journaled(n, answered)
    samples = n.samples()
    assert samples["nolink_journal_errors_total"] >= 1
    assert samples["nolink_journal_dropped_total"] == 0
