"""The Public Suffix List, offline: tldextract's bundled snapshot or a local file, never the network."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import lru_cache

import tldextract

from .errors import ConfigError

BUNDLED = "bundled"


@dataclass(frozen=True, slots=True)
class Split:
    """A host split at its public suffix: ("www", "dla", "go.th")."""

    subdomain: str
    domain: str
    suffix: str

    @property
    def registered(self) -> str:
        return f"{self.domain}.{self.suffix}" if self.domain and self.suffix else ""


class PublicSuffixList:
    """Looks up public suffixes. Thread-safe after construction (lookups only read)."""

    def __init__(self, source: str = BUNDLED) -> None:
        self.source = source
        if source == BUNDLED:
            self._tx = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        else:
            if not os.access(source, os.R_OK):
                raise ConfigError(
                    f"links.psl_file: cannot read {source!r}; give a readable Public Suffix List file "
                    f'(Debian: /usr/share/publicsuffix/public_suffix_list.dat) or "{BUNDLED}"'
                )
            self._tx = tldextract.TLDExtract(
                suffix_list_urls=(f"file://{os.path.abspath(source)}",),
                cache_dir=None,
                fallback_to_snapshot=False,
            )
        # Build the trie now, so that a broken list fails at start-up and not on the first message.
        self._tx("example.com")
        self.split = lru_cache(maxsize=65536)(self._split)

    @property
    def version(self) -> str:
        """The list's date: its "// VERSION:" line, else the file's modification date."""
        path = (
            os.path.join(os.path.dirname(tldextract.__file__), ".tld_set_snapshot")
            if self.source == BUNDLED
            else self.source
        )
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for _, line in zip(range(40), f, strict=False):
                    if line.startswith("// VERSION:"):
                        return line.split(":", 1)[1].strip()[:10]
            return time.strftime("%Y-%m-%d", time.gmtime(os.path.getmtime(path)))
        except OSError:
            return "unknown"

    def _split(self, host: str) -> Split:
        r = self._tx(host.rstrip(".").lower())
        return Split(r.subdomain, r.domain, r.suffix)

    def top_labels(self) -> frozenset[str]:
        """The last label of every public suffix ("th" of "go.th", "ck" of "*.ck"), lower case.

        A name whose last label is none of these has no public suffix: a cheap test that spares
        the full split for the name-like tokens of a text ("a.b", "1.5x") that cannot be links.
        """
        return frozenset(x.rsplit(".", 1)[-1].lower() for x in self._tx.tlds)

    def is_suffix(self, name: str) -> bool:
        """True when name (e.g. "zip", "go.th") is itself a public suffix."""
        s = self.split("x." + name)
        return s.suffix == name.lower() and s.domain == "x"


@lru_cache(maxsize=4)
def load(source: str = BUNDLED) -> PublicSuffixList:
    """One list per source per process: building the trie takes ~100 ms."""
    return PublicSuffixList(source)
