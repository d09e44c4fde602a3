"""Helpers for the [central] tests: configs pointing at the private server, local journal rows."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from nolink.config import Config, parse
from nolink.ops import journal


def config(pg, dbname: str, tmp: Path, relay: str = "relay1", extra: str = "", password: str = "") -> Config:  # type: ignore[no-untyped-def]
    pw = tmp / f"{relay}.password"
    if not pw.exists():
        pw.write_text((password or "owner-secret") + "\n")
    return parse(
        f'[journal]\npath = "{tmp / (relay + ".sqlite")}"\n'
        f'[central]\ndsn = "{pg.dsn(dbname)}"\npassword_file = "{pw}"\nrelay_id = "{relay}"\n'
        "batch_size = 100\npoll_seconds = 0.5\nmigrate_at_start = true\n" + extra
    )


def row(
    i: int,
    t: float,
    ref: str = "",
    applied: str = "reject",
    queue_id: str = "",
    sender: str = "example.go.th",
) -> tuple[object, ...]:
    values = dict.fromkeys(journal.COLUMNS, "")
    values.update(
        time=t, ref=ref or f"R{i:08d}", queue_id=queue_id, action=applied, applied=applied, mode="enforce",
        reason="link_found" if applied != "accept" else "clean", findings=1, rcpt_domains=1, size=1000,
        ms=1.0, sender_domain=sender, channel="mail", category="text_plain", kind="scheme", sample="https://evil.example.com",
    )  # fmt: skip
    return tuple(values[c] for c in journal.COLUMNS)


def add_rows(path: str, n: int, start: int = 0, t: float | None = None, **kw: str) -> None:
    conn = journal.connect(path)
    now = time.time() if t is None else t
    with conn:
        conn.execute("BEGIN")
        conn.executemany(journal._INSERT, [row(start + i, now, **kw) for i in range(n)])
        conn.execute("COMMIT")
    conn.close()


def local_count(path: str) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("SELECT count(*) FROM decisions").fetchone()[0])
