"""What nolink serve starts when [central] is set: the shipper and the request worker, as daemon
threads that never raise into the milter (a failure is logged, counted and retried).

Each thread holds one connection of its own, not one from a pool (psycopg-pool): the shipper's
carries a session temporary table for its COPY, the request worker's must stay one session for
LISTEN, neither ever needs a second at once, and reconnecting with back-off is their own loop, which
counts each failure by cause. The commands open one connection and close it on exit."""

from __future__ import annotations

import logging
from typing import Any

from ..config import Config

log = logging.getLogger("nolink")


class Central:
    def __init__(self, threads: list[Any]) -> None:
        self.threads = threads

    def stop(self) -> None:
        for t in self.threads:
            try:
                t.stop()
            except Exception:  # stopping must not keep nolink from exiting
                log.exception("central: stopping %s", type(t).__name__)


def start(config: Config, observer: Any) -> Central:
    """Nothing without [central]; with it, threads that connect in the background (never blocking)."""
    if not config.central.dsn:
        return Central([])
    try:
        from .requests import RequestWorker
        from .shipper import Shipper

        shipper = Shipper(config.central, config.journal.path, observer).start()
        worker = RequestWorker(config.central, config.journal.path, observer).start()
        return Central([shipper, worker])
    except Exception:
        log.exception("central: cannot start the shipper; mail is decided and journaled locally as usual")
        return Central([])
