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

from .config import Config
from .findings import Link, Location, ScanResult
from .scan import Scanner, find_links, scan_message

__version__ = "0.1.0"
__all__ = ["Config", "Link", "Location", "ScanResult", "Scanner", "__version__", "find_links", "scan_message"]
