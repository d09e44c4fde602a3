"""Reload signals that arrive while `nolink serve` is still starting.

SIGUSR1 and SIGHUP both mean "reload"; their default action ends the process. Between exec and
the moment serve() installs its handlers, Python imports the scanner's libraries (a few hundred
milliseconds), and a `systemctl reload` in that window used to kill nolink (exit -10). The
package's __init__ calls hold() first thing when the command is serve, and serve() takes over
what arrived meanwhile. Standard library only, so it runs before any slow import.
"""

from __future__ import annotations

import signal
from types import FrameType

SIGNALS = (signal.SIGUSR1, signal.SIGHUP)
_pending: list[int] = []


def _remember(signum: int, frame: FrameType | None) -> None:
    _pending.append(signum)


def hold() -> None:
    for sig in SIGNALS:
        signal.signal(sig, _remember)


def take() -> list[int]:
    """The signals held so far (each once), in order."""
    out = list(_pending)
    _pending.clear()
    return out
