"""[central]'s figures (prints them; not a test), on a private PostgreSQL 15 (tests/pgserver.py):

- shipping: rows a second one relay's shipper moves from its SQLite journal to PostgreSQL;
- lookup: `nolink lookup REF` (and by queue id) over N central rows from R relays;
- report: a month's `nolink report` over the same rows (targets: lookup <= 50 ms, report <= 5 s at N = 10 M);
- reply path: what Journal.decided() (the journal's cost on the milter's reply path) takes while the
  shipper ships a backlog in the same process, against the shipper idle.

The N rows are made server-side with generate_series over the last 365 days (monthly partitions).

    .venv/bin/python bench/central.py [--rows 10000000] [--relays 8] [--ship-rows 100000] [--data DIR]

--data DIR keeps the server (and the N rows) in DIR: a second run with the same --rows reuses them.
"""

from __future__ import annotations

import argparse
import datetime
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "milter"))
sys.path.insert(0, str(ROOT / "tests"))

from centralkit import add_rows  # noqa: E402
from nolink.central import queries, schema  # noqa: E402
from nolink.central.db import connect  # noqa: E402
from nolink.central.shipper import Shipper  # noqa: E402
from nolink.config import Config, parse  # noqa: E402
from nolink.findings import Link, Location  # noqa: E402
from nolink.ops import report  # noqa: E402
from nolink.ops.journal import Journal  # noqa: E402
from nolink.policy import Decision  # noqa: E402
from nolink.scope import Envelope  # noqa: E402
from pgserver import PASSWORD, PgServer  # noqa: E402

FILL = """
INSERT INTO decisions (relay_id, local_id, time, ref, queue_id, listener, action, applied, mode, reason,
  location, category, kind, sample, findings, sender_domain, rcpt_domains, size, ms, version)
SELECT 'relay' || (i %% %(relays)s), i, %(now)s - (i::float8 / %(n)s) * 365 * 86400,
  upper(lpad(to_hex(i), 10, '0')), 'Q' || upper(lpad(to_hex(i * 7), 11, '0')), 'submission',
  a, a, 'enforce', CASE WHEN a = 'accept' THEN 'clean' ELSE 'link_found' END,
  CASE WHEN a = 'accept' THEN '' ELSE '1 text/plain body @12' END,
  CASE WHEN a = 'accept' THEN '' ELSE 'text_plain' END, CASE WHEN a = 'accept' THEN '' ELSE 'scheme' END,
  CASE WHEN a = 'accept' THEN '' ELSE 'https://evil' || (i %% 50) || '.example.com' END,
  (a != 'accept')::int, 'dept' || (i %% 200) || '.go.th', 1, 2000 + i %% 50000, 12.5, '0.1.0'
FROM (SELECT i, (ARRAY['accept', 'accept', 'accept', 'reject', 'quarantine'])[1 + i %% 5] AS a
      FROM generate_series(%(lo)s, %(hi)s) AS i) s
"""


def timed(f, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return out


def fmt_ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"median {statistics.median(xs) * 1e6:.1f} us, p95 {xs[int(len(xs) * 0.95) - 1] * 1e6:.1f} us"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--rows", type=int, default=1_000_000, help="central rows for lookup/report (10 M: the target)"
    )
    ap.add_argument("--relays", type=int, default=8)
    ap.add_argument("--ship-rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--data", type=Path, help="keep the server here and reuse its rows on the next run")
    args = ap.parse_args()
    kept = bool(args.data and (args.data / "data" / "PG_VERSION").exists())
    pg = PgServer(args.data)
    if kept:
        pg.reuse()
    else:
        pg.init()
        with open(pg.data / "postgresql.conf", "a") as f:
            f.write("shared_buffers = 256MB\nwork_mem = 64MB\nmax_wal_size = 4GB\n")
    pg.start()
    tmp = Path(tempfile.mkdtemp(prefix="nolink-bench-central-"))
    try:
        pw = tmp / "pw"
        pw.write_text(PASSWORD + "\n")

        def cfg_for(db: str, journal: str = "journal.sqlite") -> Config:
            return parse(
                f'[journal]\npath = "{tmp / journal}"\n[central]\ndsn = "{pg.dsn(db)}"\n'
                f'password_file = "{pw}"\nrelay_id = "bench"\nbatch_size = {args.batch}\n'
            )

        cfg = cfg_for(pg.database())
        with connect(cfg.central, autocommit=True) as conn:
            schema.migrate(conn)
        ship(cfg, args.ship_rows)
        bare = cfg_for(pg.database(), "bare.sqlite")  # the same without the summary's trigger
        with connect(bare.central, autocommit=True) as conn:
            schema.migrate(conn)
            conn.execute("ALTER TABLE decisions DISABLE TRIGGER decisions_count_days")
        ship(bare, args.ship_rows, "without the summary trigger (A/B)")
        reply_path(cfg, "(summary trigger on)")
        reply_path(bare, "(summary trigger off, A/B)")
        with pg.admin() as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'bench'").fetchone():
                c.execute("CREATE DATABASE bench")
        big = cfg_for("bench", "unused.sqlite")
        with connect(big.central, autocommit=True) as conn:
            schema.migrate(conn)
            year_ago = datetime.date.today() - datetime.timedelta(days=366)
            schema.ensure_partitions(conn, year_ago, ahead=13)
        fill_and_query(big, args.rows, args.relays)
    finally:
        if args.data:
            pg.stop()
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            pg.destroy()


def ship(cfg: Config, n: int, what: str = "") -> None:
    add_rows(cfg.journal.path, n)
    s = Shipper(cfg.central, cfg.journal.path)
    s._pg_conn()
    t = time.perf_counter()
    while s.step():
        pass
    dt = time.perf_counter() - t
    print(f"shipping{' ' + what if what else ''}: {s.stats.shipped} rows in {dt:.2f} s = {s.stats.shipped / dt:,.0f} rows/s "
          f"(batches of {cfg.central.batch_size}, COPY + INSERT ... ON CONFLICT DO NOTHING)")  # fmt: skip
    t = time.perf_counter()
    again = Shipper(cfg.central, cfg.journal.path)
    again._pg_conn()
    again.mark = 0
    while again.step():
        pass
    dt = time.perf_counter() - t
    print(f"shipping the same rows again (all conflicts): {n / dt:,.0f} rows/s")


def reply_path(cfg: Config, what: str = "") -> None:
    """Journal.decided() as the milter calls it: idle shipper, then a shipper with a backlog."""
    env = Envelope("<saraban@example.go.th>", ("<somchai@example.com>",), "submission")
    link = Link(
        "https://evil.example.com/x",
        "https://evil.example.com/x",
        "scheme",
        Location("1", "text/plain", "body", 5),
    )
    d = Decision("reject", "link_found", "enforce", "AAAAA00001", 1, link, 1)
    path = str(Path(cfg.journal.path).with_name(Path(cfg.journal.path).stem + "-reply.sqlite"))
    j = Journal(path, queue_size=1_000_000).start()
    central = replace(cfg.central, relay_id="reply")

    def measure() -> list[float]:
        out = []
        for _ in range(3000):
            t = time.perf_counter()
            j.decided(d, env, "ABC123", 1000, 0.01, cfg)
            out.append(time.perf_counter() - t)
            time.sleep(0.0005)
        return out

    idle = measure()
    add_rows(path, 200_000)  # a backlog for the shipper while the milter keeps deciding
    s = Shipper(central, path, idle=0.05)
    s.start()
    busy = measure()
    s.stop()
    j.close()
    print(
        f"reply path{' ' + what if what else ''}, Journal.decided(): shipper idle {fmt_ms(idle)}; shipper shipping "
        f"({s.stats.shipped} rows meanwhile) {fmt_ms(busy)}"
    )
    for name, xs in (("idle", idle), ("busy", busy)):
        xs = sorted(xs)
        print(
            f"  {name}: median {statistics.median(xs) * 1e6:.1f} us, p99 {xs[int(len(xs) * 0.99)] * 1e6:.1f} us, max {xs[-1] * 1e6:.0f} us"
        )


def fill_and_query(cfg: Config, n: int, relays: int) -> None:
    with connect(cfg.central, autocommit=True) as conn:
        t = time.perf_counter()
        step = 1_000_000
        have = conn.execute("SELECT count(*) FROM decisions").fetchone()
        if have and int(have[0]) == n:
            print(f"reusing the {n:,} central rows of an earlier run (--data)")
        else:
            conn.execute("TRUNCATE decisions, decision_days")
            for lo in range(1, n + 1, step):
                conn.execute(
                    FILL,
                    {"relays": relays, "now": time.time(), "n": n, "lo": lo, "hi": min(n, lo + step - 1)},
                )  # type: ignore[arg-type]
            conn.execute("ANALYZE decisions")
            conn.execute("ANALYZE decision_days")
            print(
                f"filled {n:,} central rows from {relays} relays in {time.perf_counter() - t:.1f} s "
                "(the summary trigger counting them)"
            )
        days = conn.execute("SELECT count(*) FROM decision_days").fetchone()
        print(f"decision_days: {days[0] if days else '?':,} summary rows")
        refs = [f"{random.randint(1, n):010X}" for _ in range(50)]
        it = iter(refs * 2)
        ref_times = timed(lambda: queries.lookup(conn, next(it)), 50)
        qids = [f"Q{random.randint(1, n) * 7:011X}" for _ in range(50)]
        it2 = iter(qids)
        qid_times = timed(lambda: queries.lookup(conn, next(it2)), 50)
        print(f"lookup by ref over {n:,} rows: {fmt_ms(ref_times)}; by queue id: {fmt_ms(qid_times)}")
        now = datetime.datetime.now().astimezone()
        since = now - datetime.timedelta(days=30)
        f = queries.Filters()

        def month() -> None:
            report.build(["central"], since, now, {}, lambda s, u: queries.aggregate(conn, s, u, f))  # type: ignore[arg-type,return-value]

        times = timed(month, 3)
        print(
            f"a month's report (all relays) over {n:,} rows: best {min(times):.2f} s, median {statistics.median(times):.2f} s "
            f"(whole days from decision_days, the first and last partial day from decisions)"
        )
        real = schema.summary_offset
        schema.summary_offset = lambda c: None  # type: ignore[assignment]  # A/B: the raw rows only
        try:
            raw = timed(month, 1 if n >= 5_000_000 else 3)
        finally:
            schema.summary_offset = real  # type: ignore[assignment]
        print(f"  the same from the raw rows only (no summary): best {min(raw):.2f} s")
        f1 = queries.Filters(relay="relay1")
        times = timed(
            lambda: report.build(["central"], since, now, {}, lambda s, u: queries.aggregate(conn, s, u, f1)),  # type: ignore[arg-type,return-value]
            3,
        )
        print(f"a month's report for one relay: best {min(times):.2f} s")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()
        print(f"database size: {size[0] if size else '?'}")


if __name__ == "__main__":
    main()
