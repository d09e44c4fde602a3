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
