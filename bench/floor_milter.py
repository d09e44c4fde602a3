"""A pymilter milter that decides nothing: the cost floor of any milter built on pymilter and
libmilter, which bench/compare.py measures beside nolink (prints nothing; not a test).

It negotiates what nolink negotiates over a unix socket ("no reply" for connect, RCPT, each header,
DATA and body; HELO skipped), receives every header and the body, adds one header at the end of the
message (as nolink adds Authentication-Results) and accepts. No scan, no DKIM, no worker process,
no journal, no log line, no metrics: what it costs Postfix and the machine is what libmilter's
protocol handling (a thread per connection, a read per packet, a Python callback per step) costs
before a milter does any work.

    python bench/floor_milter.py unix:/path/to/socket
"""

from __future__ import annotations

import sys
from typing import Any

import Milter


class FloorMilter(Milter.Base):
    def __init__(self) -> None:
        self.headers = 0

    @Milter.noreply
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        return Milter.CONTINUE

    def envfrom(self, mailfrom: str, *params: str) -> int:
        self.headers = 0
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *params: str) -> int:
        return Milter.CONTINUE

    @Milter.decode("bytes")
    @Milter.noreply
    def header(self, name: Any, value: Any) -> int:
        self.headers += 1
        return Milter.CONTINUE

    @Milter.noreply
    def data(self) -> int:
        return Milter.CONTINUE

    def eoh(self) -> int:
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        return Milter.CONTINUE

    def eom(self) -> int:
        self.addheader("Authentication-Results", f"floor; none headers={self.headers}")
        return Milter.ACCEPT


def main() -> None:
    Milter.factory = FloorMilter
    Milter.set_flags(Milter.ADDHDRS)
    Milter.runmilter("floor", sys.argv[1], 60)


if __name__ == "__main__":
    main()
