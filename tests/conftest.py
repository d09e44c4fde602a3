from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "milter"))  # run from a checkout without installing, too

from nolink.findings import Link, Location  # noqa: E402
from nolink.links.text import TextFinder, TextOptions  # noqa: E402
from nolink.psl import load  # noqa: E402

SHARED = ROOT.parent / "shared"
HERE = Location("1", "text/plain", "body")


@pytest.fixture(scope="session")
def finder() -> TextFinder:
    return TextFinder(load())


@pytest.fixture(scope="session")
def email_finder() -> TextFinder:
    return TextFinder(load(), TextOptions(count_email=True))


def texts(links: list[Link]) -> list[str]:
    return [x.text for x in links]


@pytest.fixture(autouse=True)
def _capture_added_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Milter.testctx.TestCtx.addheader needs a parsed message we do not give it: record instead."""
    from Milter.testctx import TestCtx

    def addheader(self: TestCtx, field: str, value: str, idx: int) -> None:
        self._added_headers = [*getattr(self, "_added_headers", []), (field, value, idx)]

    def chgheader(self: TestCtx, field: str, idx: int, value: str) -> None:
        self._changed_headers = [*getattr(self, "_changed_headers", []), (field, idx, value)]

    monkeypatch.setattr(TestCtx, "addheader", addheader)
    monkeypatch.setattr(TestCtx, "chgheader", chgheader)


@pytest.fixture(autouse=True)
def _journal_off_the_system(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A Service built from a config without [journal] would write /var/lib/nolink/journal.sqlite:
    in tests it writes a file of the test's own instead."""
    from nolink.ops import journal

    real = journal.Journal.__init__

    def init(self: journal.Journal, path: str, *args: object, **kwargs: object) -> None:
        mine = str(tmp_path / "journal.sqlite") if path == journal.DEFAULT_PATH else path
        real(self, mine, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(journal.Journal, "__init__", init)


@pytest.fixture(scope="session")
def pg():  # type: ignore[no-untyped-def]
    """A private PostgreSQL server for the [central] tests (tests/pgserver.py); skipped without one."""
    from pgserver import PgServer, have_postgres

    why = have_postgres()
    if why:
        pytest.skip(why)
    server = PgServer().init().start()
    try:
        yield server
    finally:
        server.destroy()
