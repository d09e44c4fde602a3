"""Versions of nolink and the libraries it runs on (for `nolink version` and nolink_build_info)."""

from __future__ import annotations

import platform
from importlib import metadata

from . import __version__

LIBRARIES = ("pymilter", "dkimpy", "tldextract", "prometheus-client", "selectolax", "pypdf", "zxing-cpp")


def dist_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "missing"


def versions() -> dict[str, str]:
    return {
        "nolink": __version__,
        "python": platform.python_version(),
        **{d: dist_version(d) for d in LIBRARIES},
    }
