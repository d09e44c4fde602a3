"""nolink: keep links out of government mail to citizens.

Public API:
    find_links(text) -> list[Link]
    scan_message(data, config=None) -> ScanResult
"""

from __future__ import annotations

import sys as _sys

if _sys.argv[1:2] == ["serve"]:  # before the slow imports below: a reload signal must not kill us
    from .adapters import early as _early

    _early.hold()

from typing import TYPE_CHECKING, Any

from .config import Config
from .findings import Link, Location, ScanResult

if TYPE_CHECKING:
    from .scan import Scanner, find_links, scan_message

__version__ = "0.1.0"
__all__ = ["Config", "Link", "Location", "ScanResult", "Scanner", "__version__", "find_links", "scan_message"]


def __getattr__(name: str) -> Any:
    """The scanner is imported when first asked for: the milter process, which only speaks the
    protocol (its workers scan), then never loads the finders and extractors (~25 MB resident)."""
    if name in ("Scanner", "find_links", "scan_message"):
        from . import scan

        return getattr(scan, name)
    raise AttributeError(f"module 'nolink' has no attribute {name!r}")
