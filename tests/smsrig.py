"""A real Kannel (Debian's bearerbox + smsbox) on loopback ports, with a far end of the tests' own.

The far end is Kannel's ``smsc = http`` (system-type generic): bearerbox sends every part to
``/send?...&text=%b&udh=%u`` on a small HTTP server in the test process, which records the raw
query, so a test sees the bytes that would go to the operator. The rig writes a private
kannel.conf; nothing of the system's Kannel set-up is used.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness import free_port, port_open

BEARERBOX = shutil.which("bearerbox") or "/usr/sbin/bearerbox"
SMSBOX = shutil.which("smsbox") or "/usr/sbin/smsbox"
USER, PASSWORD = "agency", "s3cret-pw"


def have_kannel() -> bool:
    return Path(BEARERBOX).exists() and Path(SMSBOX).exists()


@dataclass
class FarEnd:
    """The SMSC side: every part bearerbox sends, as (query parameters with bytes values)."""

    parts: list[dict[str, bytes]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, bytes]]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.parts) >= n, timeout)
            return list(self.parts)

    def clear(self) -> None:
        with self.cond:
            self.parts.clear()


def _far_handler(far: FarEnd) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            q = self.path.partition("?")[2]
            params = {
                urllib.parse.unquote(k): urllib.parse.unquote_to_bytes(v.replace("+", " "))
                for k, _, v in (p.partition("=") for p in q.split("&"))
            }
            with far.cond:
                far.parts.append(params)
                far.cond.notify_all()
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return

    return H


@dataclass
class Kannel:
    sendsms_port: int
    far: FarEnd
    directory: Path


def _conf(d: Path, admin: int, box: int, smsc: int, far: int, sendsms: int) -> str:
    return f"""group = core
admin-port = {admin}
admin-password = adm
admin-interface = 127.0.0.1
smsbox-port = {box}
log-file = "{d}/bearerbox.log"
log-level = 1
box-allow-ip = "127.0.0.1"

group = smsc
smsc = http
smsc-id = far
system-type = generic
send-url = "http://127.0.0.1:{far}/send?to=%p&from=%P&coding=%c&text=%b&udh=%u"
status-success-regex = "ok"
port = {smsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = {USER}
password = {PASSWORD}
max-messages = 10
concatenation = true
"""


@contextmanager
def kannel(d: Path) -> Iterator[Kannel]:
    far = FarEnd()
    far_srv = ThreadingHTTPServer(("127.0.0.1", 0), _far_handler(far))
    threading.Thread(target=far_srv.serve_forever, daemon=True).start()
    admin, box, smsc, sendsms = free_port(), free_port(), free_port(), free_port()
    conf = d / "kannel.conf"
    conf.write_text(_conf(d, admin, box, smsc, far_srv.server_address[1], sendsms))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        out = open(d / "kannel.out", "wb")  # noqa: SIM115 - open for the processes' lifetime
        procs.append(subprocess.Popen([BEARERBOX, str(conf)], stdout=out, stderr=out))
        deadline = time.monotonic() + 15
        while not port_open(box):
            assert procs[0].poll() is None, (d / "kannel.out").read_text(errors="replace")
            assert time.monotonic() < deadline, "bearerbox did not start"
            time.sleep(0.1)
        procs.append(subprocess.Popen([SMSBOX, str(conf)], stdout=out, stderr=out))
        while not port_open(sendsms):
            assert procs[1].poll() is None, (d / "kannel.out").read_text(errors="replace")
            assert time.monotonic() < deadline, "smsbox did not start"
            time.sleep(0.1)
        yield Kannel(sendsms, far, d)
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        far_srv.shutdown()
        far_srv.server_close()
