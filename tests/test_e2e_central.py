"""[central] with real `nolink serve` processes: never blocked by PostgreSQL, kill -9 while shipping."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from centralkit import add_rows
from harness import Nolink, have_postfix, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path


def central(pg, db: str, base: Path, dsn: str = "", extra: str = "") -> str:  # type: ignore[no-untyped-def]
    pw = base / "pw"
    pw.write_text("owner-secret\n")
    return (
        f'[links]\nocr = false\n[central]\ndsn = "{dsn or pg.dsn(db)}"\npassword_file = "{pw}"\n'
        f'relay_id = "r1"\nmigrate_at_start = true\nbatch_size = 250\npoll_seconds = 0.5\n{extra}'
    )


def test_an_unreachable_database_never_blocks_the_milter(pg, base: Path) -> None:  # type: ignore[no-untyped-def]
    n = Nolink(base, "down", central(pg, "x", base, dsn="host=127.0.0.1 port=1 dbname=x user=y"))
    add_rows(str(n.journal), 7)
    n.start()  # the socket accepts: the shipper connects in the background
    try:
        wait_until(
            lambda: n.samples().get('nolink_central_errors_total{cause="connect"}', 0) > 0, 20, what="error"
        )
        s = n.samples()
        assert s["nolink_central_unshipped_rows"] == 7 and s["nolink_central_ship_lag_seconds"] > 0
        assert any("ERROR central: cannot reach PostgreSQL at 127.0.0.1 port 1" in x for x in n.lines())
    finally:
        assert n.stop() == 0


def test_kill_9_while_shipping_then_restart_every_row_once(pg, base: Path) -> None:  # type: ignore[no-untyped-def]
    db = pg.database()
    n = Nolink(base, "kill", central(pg, db, base))
    total = 20000
    add_rows(str(n.journal), total)

    def shipped() -> int:
        try:
            with pg.admin(db) as c:
                return int(c.execute("SELECT count(*) FROM decisions").fetchone()[0])
        except Exception:
            return 0

    n.start()
    try:
        wait_until(lambda: shipped() > 0, 30, what="first rows shipped")
        n.stop(signal.SIGKILL)
        partial = shipped()
        assert 0 < partial < total, "the kill should land while shipping (make total larger)"
        n.start()
        wait_until(lambda: shipped() >= total, 60, step=0.3, what="all rows shipped")
        time.sleep(1.0)
        with pg.admin(db) as c:
            got = c.execute(
                "SELECT count(*), count(DISTINCT local_id), min(local_id), max(local_id) FROM decisions"
            ).fetchone()
            mark = c.execute("SELECT shipped_id FROM relays WHERE relay_id = 'r1'").fetchone()
        assert got == (total, total, 1, total) and mark == (total,)
        wait_until(lambda: n.samples()["nolink_central_unshipped_rows"] == 0, 10, what="backlog 0")
    finally:
        n.stop()
