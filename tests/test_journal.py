"""The decision journal: rows, the writer thread, migration, pruning, and failures that must not
touch mail (a read-only or full database, a full queue)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nolink.config import Config, parse
from nolink.dkim.check import DkimResult
from nolink.findings import Link, Location
from nolink.ops import journal
from nolink.ops.journal import COLUMNS, Journal, connect, connect_ro, migrate, prune
from nolink.policy import Decision
from nolink.scope import Envelope

ENV = Envelope("<saraban@example.go.th>", ("<somchai@example.com>", "<x@mail.example.org>"), "submission")
LINK = Link(
    "https://evil.example.com/check?id=1",
    "https://evil.example.com/check?id=1",
    "scheme",
    Location("1", "text/plain", "body", 12),
)


def refused(ref: str = "AAAAA00001") -> Decision:
    return Decision("reject", "link_found", "enforce", ref, 2, LINK, 3)


def rows(path: Path) -> list[dict[str, object]]:
    conn = connect_ro(str(path))
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM decisions ORDER BY id")]
    finally:
        conn.close()


def test_a_row_keeps_what_the_issue_lists_and_no_addresses_or_paths(tmp_path: Path) -> None:
    cfg = parse("", "x")
    r = journal.row(refused(), ENV, "4AbCdE12F", 2211, 0.0012, cfg)
    d = dict(zip(COLUMNS, r, strict=True))
    assert d["ref"] == "AAAAA00001" and d["queue_id"] == "4AbCdE12F" and d["listener"] == "submission"
    assert (d["action"], d["applied"], d["mode"], d["reason"]) == (
        "reject",
        "reject",
        "enforce",
        "link_found",
    )
    assert (
        d["location"] == "1 text/plain body @12" and d["category"] == "text_plain" and d["kind"] == "scheme"
    )
    assert d["sample"] == "https://evil.example.com" and d["findings"] == 3
    assert d["sender_domain"] == "example.go.th" and d["rcpt_domains"] == 2
    assert d["size"] == 2211 and d["ms"] == 1.2 and d["config_digest"] == cfg.digest and d["version"]
    text = repr(r)
    assert "somchai" not in text and "saraban@" not in text and "check?id" not in text
    dk = DkimResult("fail", "body hash mismatch", "example.go.th", "s1")
    d2 = dict(
        zip(
            COLUMNS,
            journal.row(Decision("reject", "dkim_fail", "enforce", "R", 1, dkim=dk), ENV, "", 1, 0, cfg),
            strict=True,
        )
    )
    assert (d2["dkim_result"], d2["dkim_domain"], d2["dkim_selector"], d2["dkim_reason"]) == (
        "fail", "example.go.th", "s1", "body hash mismatch",
    )  # fmt: skip


def test_writer_writes_in_batches_and_counts_out_of_scope(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(str(path), batch=7).start()
    cfg = Config()
    for i in range(50):
        j.decided(refused(f"REF{i:07d}"), ENV, f"Q{i}", 100, 0.001, cfg)
    for _ in range(3):
        j.decided(Decision("accept", "not_citizen_bound", "enforce", "X"), ENV, "", 1, 0, cfg)
    j.close()
    assert [r["ref"] for r in rows(path)] == [f"REF{i:07d}" for i in range(50)]
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT listener, reason, count FROM out_of_scope").fetchall() == [
        ("submission", "not_citizen_bound", 3)
    ]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert j.stats.written == 53 and j.stats.dropped == 0 and j.stats.errors == 0


def test_decided_never_blocks_on_a_slow_disk(tmp_path: Path) -> None:
    """The writer is stuck (a lock held elsewhere): the milter's call returns at once, the queue
    fills, and the overflow is dropped and counted, not waited for."""
    path = tmp_path / "j.sqlite"
    connect(str(path)).close()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the writer now waits up to its 5 s busy timeout
    drops: list[int] = []
    j = Journal(str(path), queue_size=10, on_drop=drops.append).start()
    try:
        t0 = time.monotonic()
        for i in range(200):
            j.decided(refused(f"R{i}"), ENV, "", 1, 0, Config())
        elapsed = time.monotonic() - t0
        time.sleep(0.5)
        assert j.stats.written == 0  # the writer really is stuck behind the lock
        assert elapsed < 1.0  # 200 calls, none of them waiting for the disk
        assert j.stats.dropped >= 180 and sum(drops) == j.stats.dropped
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        j.close()
    # what was not dropped was kept through the failed tries and is written once the lock is gone
    assert len(rows(path)) == 200 - j.stats.dropped


def test_read_only_database_is_counted_and_the_batch_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    connect(str(path)).close()
    errors: list[int] = []
    j = Journal(str(path), on_error=lambda: errors.append(1))
    j._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    batch = [("d", journal.row(refused("B"), ENV, "", 1, 0, Config()))]
    assert j.write(batch) is False
    assert errors and j.stats.dropped == 0  # kept: the writer tries the same batch again
    # the connection is dropped and reopened read-write on the next try
    assert j.write(batch) is True
    assert [r["ref"] for r in rows(path)] == ["B"]


def test_full_database_is_counted_not_raised_nor_dropped(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(str(path))
    conn = connect(str(path))
    conn.execute("PRAGMA max_page_count = " + str(conn.execute("PRAGMA page_count").fetchone()[0] + 1))
    j._conn = conn
    big = [("d", journal.row(refused(f"R{i}"), ENV, "Q" * 30, 1, 0, Config())) for i in range(2000)]
    assert j.write(big) is False  # SQLITE_FULL: "database or disk is full"
    assert j.stats.errors == 1 and j.stats.dropped == 0  # kept for the next try, not dropped


def test_unopenable_journal_is_counted_and_mail_goes_on(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    errors: list[int] = []
    j = Journal(str(tmp_path / "file" / "journal.sqlite"), on_error=lambda: errors.append(1)).start()
    for i in range(5):
        j.decided(refused(f"R{i}"), ENV, "", 1, 0, Config())
    j.close()
    assert errors and j.stats.dropped == 5 and j.stats.written == 0


def test_not_a_database_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(journal.JournalError, match="cannot open the journal"):
        connect(str(path))


def test_migration_from_each_older_version_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN;{journal.MIGRATIONS[1]}PRAGMA user_version = 1;COMMIT;")
    conn.execute(
        "INSERT INTO decisions (time, ref, action, applied, mode, reason) VALUES (1, 'OLD', 'reject', 'reject', 'enforce', 'link_found')"
    )
    conn.close()
    conn = connect(str(path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == journal.SCHEMA_VERSION
    assert conn.execute("SELECT ref FROM decisions").fetchall() == [("OLD",)]
    conn.execute("SELECT * FROM events")  # added by version 2
    assert migrate(conn) == journal.SCHEMA_VERSION  # already current: nothing to do


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {journal.SCHEMA_VERSION + 1}")
    with pytest.raises(journal.JournalError, match="newer than this nolink"):
        connect(str(path))


def test_pruning_deletes_only_what_is_older_than_retention(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    conn = connect(str(path))
    now = time.time()
    for ref, age_days in (("NEW", 1), ("EDGE", 399), ("OLD", 401), ("OLDER", 800)):
        r = list(journal.row(refused(ref), ENV, "", 1, 0, Config()))
        r[0] = now - age_days * 86400
        conn.execute(journal._INSERT, r)
    conn.execute("INSERT INTO out_of_scope VALUES ('2000-01-01', 'x', 'not_citizen_bound', 4)")
    assert prune(conn, now - 400 * 86400) == 2
    assert sorted(x[0] for x in conn.execute("SELECT ref FROM decisions")) == ["EDGE", "NEW"]
    assert conn.execute("SELECT COUNT(*) FROM out_of_scope").fetchone()[0] == 0
    conn.close()
    # and the writer prunes by itself when it starts
    j = Journal(str(path), retention_days=2).start()
    j.close()
    assert [r["ref"] for r in rows(path)] == ["NEW"]


def test_journal_off_writes_nothing(tmp_path: Path) -> None:
    j = Journal.for_config(parse('[journal]\npath = ""\n').journal).start()
    j.decided(refused(), ENV, "", 1, 0, Config())
    j.close()
    assert j.stats.written == 0 and not list(tmp_path.iterdir())


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(str(path)).start()
    barrier = threading.Event()
    for i in range(1000):
        j.decided(refused(f"R{i}"), ENV, "", 1, 0, Config())
    barrier.set()
    j.close()
    assert len(rows(path)) == 1000


def test_record_event_and_wal_files_keep_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    connect(str(path)).close()
    journal.record_event(str(path), "4AbCdE", "REF1", "release", "somsak", "checked with the sender")
    conn = connect_ro(str(path))
    assert [tuple(r)[2:] for r in conn.execute("SELECT * FROM events")] == [
        ("4AbCdE", "REF1", "release", "somsak", "checked with the sender")
    ]
    st = os.stat(path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(path) + suffix):
            assert os.stat(str(path) + suffix).st_uid == st.st_uid


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "nolink",
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": "/"},
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a command as another user")
@pytest.mark.parametrize("which", ["directory", "file"])
@pytest.mark.parametrize("command", [["lookup", "AAAAA00001"], ["report", "--since", "7d"]])
def test_a_journal_the_user_cannot_read_says_what_to_do(
    tmp_path: Path, which: str, command: list[str]
) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    home = Path(f"/tmp/nolink-perm-{os.getpid()}-{which}-{command[0]}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o755)
    try:
        d = home / "journal"
        d.mkdir(mode=0o750)
        path = d / "journal.sqlite"
        connect(str(path)).close()
        os.chmod(d, 0o750 if which == "directory" else 0o755)
        os.chmod(path, 0o600)
        cfg = home / "nolink.toml"
        cfg.write_text(f'[journal]\npath = "{path}"\n')
        os.chmod(cfg, 0o644)
        r = _as_nobody(*command[:1], "-c", str(cfg), *command[1:])
        assert r.returncode not in (0, 1), (r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, r.stderr
        assert "permission" in r.stderr.lower() and str(d if which == "directory" else path) in r.stderr, (
            r.stderr
        )
        assert "group root" in r.stderr and "usermod -aG root" in r.stderr, r.stderr
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_deleted_journal_file_is_noticed_reopened_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    reopened: list[int] = []
    j = Journal(str(path), linger=0, on_reopen=lambda: reopened.append(1)).start()
    try:
        j.decided(refused("BEFORE"), ENV, "", 1, 0, Config())
        wait = time.monotonic() + 10
        while j.stats.written < 1 and time.monotonic() < wait:
            time.sleep(0.02)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        for i in range(20):
            j.decided(refused(f"AFTER{i:02d}"), ENV, "", 1, 0, Config())
    finally:
        j.close()
    assert [r["ref"] for r in rows(path)] == [f"AFTER{i:02d}" for i in range(20)]
    assert j.stats.reopened == 1 and reopened == [1] and j.stats.dropped == 0


def test_a_replaced_journal_file_gets_the_later_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(str(path), linger=0).start()
    try:
        j.decided(refused("OLD"), ENV, "", 1, 0, Config())
        wait = time.monotonic() + 10
        while j.stats.written < 1 and time.monotonic() < wait:
            time.sleep(0.02)
        fresh = tmp_path / "fresh.sqlite"
        connect(str(fresh)).close()
        os.replace(fresh, path)  # a restore from a backup, say
        j.decided(refused("NEW"), ENV, "", 1, 0, Config())
    finally:
        j.close()
    assert [r["ref"] for r in rows(path)] == ["NEW"] and j.stats.reopened == 1


KILLED = """
import os, signal, sys
from nolink.config import Config
from nolink.ops.journal import Journal
sys.path.insert(0, sys.argv[2])
from test_journal import ENV, refused
j = Journal(sys.argv[1]).start()
for i in range(int(sys.argv[3])):
    j.decided(refused(f"K{i:05d}"), ENV, "", 1, 0, Config())
os.kill(os.getpid(), signal.SIGKILL)  # right after the last answer: the writer lingers 0.1 s
"""


def test_rows_decided_right_before_a_sigkill_are_replayed_at_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    for run in range(2):
        p = subprocess.run(
            [sys.executable, "-c", KILLED, str(path), str(Path(__file__).parent), "300"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert p.returncode == -9, p.stderr
        assert pending_rows(path) > 0
        j = Journal(str(path)).start()  # the next start
        j.close()
        assert j.stats.recovered > 0, p.stderr  # the kill did catch rows on their way
        got = [r["ref"] for r in rows(path)]
        assert sorted(got) == sorted([f"K{i:05d}" for i in range(300)] * (run + 1))  # once per run
    # what was replayed is gone from the write-ahead files
    assert pending_rows(path) == 0


def pending_rows(path: Path) -> int:
    """Rows (JSON arrays) in the write-ahead files; the column headers are not counted."""
    n = 0
    for i in (0, 1):
        with contextlib.suppress(FileNotFoundError):
            n += sum(
                1 for line in Path(f"{path}.pending.{i}").read_bytes().splitlines() if line.startswith(b"[")
            )
    return n


def test_write_ahead_files_stay_small_under_a_steady_flow(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(str(path), batch=50, linger=0.01).start()
    try:
        biggest = 0
        for i in range(3000):
            j.decided(refused(f"S{i:05d}"), ENV, "", 1, 0, Config())
            if i % 100 == 0:
                biggest = max(biggest, sum(os.path.getsize(f"{path}.pending.{n}") for n in (0, 1)))
                time.sleep(0.005)
    finally:
        j.close()
    assert len(rows(path)) == 3000
    assert biggest < 1000 * 700, biggest  # a few batches of ~600-byte lines, not 3000 of them


def test_a_new_journal_opened_by_many_at_once_is_migrated_once(tmp_path: Path) -> None:
    """serve, serve --no-milter and the tools may open a journal that does not exist yet at the same
    moment: each must find it migrated, none may fail on "table decisions already exists" nor on
    "database is locked" (SQLite answers that at once, without waiting, to some of them while
    another switches the new file to WAL; 60 rounds of 8 made it show about every other run)."""
    import threading

    from nolink.ops.journal import SCHEMA_VERSION, connect

    for round_ in range(60):
        path = str(tmp_path / f"j{round_}.sqlite")
        start = threading.Barrier(8)
        errors: list[BaseException] = []

        def open_it(
            path: str = path, start: threading.Barrier = start, errors: list[BaseException] = errors
        ) -> None:
            start.wait()
            try:
                connect(path).close()
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=open_it) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        conn = connect(path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
        conn.close()
