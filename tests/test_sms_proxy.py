"""The SMS proxy in process, against a recording upstream of the tests' own: the dialects, the
forwarding (unchanged), the refusals, bad input and the connection bound. Kannel itself:
tests/test_sms_kannel.py."""

from __future__ import annotations

import http.client
import json
import re
import resource
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness import free_port, wait_listening
from nolink.adapters.smsproxy.server import Server, make_server, sender_name
from nolink.config import Config, parse
from nolink.errors import ConfigError
from nolink.metrics import Metrics
from nolink.ops.journal import Journal
from nolink.scan import scanner_for

FINDER = scanner_for(Config()).text
LINK = "ยืนยันตัวตนที่ https://evil.example.com/x"
CLEAN = "กรมสรรพากร: ท่านได้รับเงินคืนภาษีแล้ว"


@dataclass
class Upstream:
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])


@pytest.fixture()
def upstream() -> Iterator[Upstream]:
    up = Upstream()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            up.requests.append((self.command, self.path, dict(self.headers.items()), body))
            out = b"0: Accepted for delivery"
            self.send_response(202)
            self.send_header("X-Upstream", "yes")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            return

    up.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=up.server.serve_forever, daemon=True).start()
    yield up
    up.server.shutdown()
    up.server.server_close()


def proxy(extra: str, up_port: int, mode: str = "enforce") -> tuple[Server, Metrics]:
    cfg = parse(
        f'mode = "{mode}"\n[journal]\npath = ""\n[[sms_proxy]]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'upstream = "http://127.0.0.1:{up_port}/base"\n{extra}'
    )
    metrics = Metrics()
    srv = make_server(cfg.sms_proxy[0], lambda: cfg, lambda: FINDER, metrics, Journal(""))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, metrics


@pytest.fixture()
def kannel(upstream: Upstream) -> Iterator[tuple[Server, Metrics, Upstream]]:
    srv, m = proxy('dialect = "kannel"\nclient_timeout = 1\nmax_connections = 20\n', upstream.port)
    yield srv, m, upstream
    srv.shutdown()
    srv.server_close()


def req(
    srv: Server, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    c = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    c.request(method, target, body=body or None, headers=headers or {})
    r = c.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    c.close()
    return out


def q(**kw: str) -> str:
    import urllib.parse

    return urllib.parse.urlencode({"username": "u", "password": "p", "to": "0812345678", **kw})


def test_clean_request_is_forwarded_unchanged(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, m, up = kannel
    target = "/cgi-bin/sendsms?" + q(text=CLEAN, charset="UTF-8", coding="2")
    status, headers, body = req(srv, "GET", target, headers={"Authorization": "Basic dTpw", "X-Any": "1"})
    assert (status, body) == (202, b"0: Accepted for delivery") and headers["x-upstream"] == "yes"
    method, path, h, b = up.requests[-1]
    assert (method, path, b) == ("GET", "/base" + target, b"")  # the upstream's base path, then ours
    assert h["Authorization"] == "Basic dTpw" and h["X-Any"] == "1"
    assert h["Host"] == f"127.0.0.1:{up.port}"
    assert m.sms.labels("kannel", "clean")._value.get() == 1


def test_post_body_is_forwarded_byte_for_byte(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel
    body = CLEAN.encode("utf-16-be")
    hdrs = {
        "Content-Type": "text/plain",
        "X-Kannel-Coding": "2",
        "X-Kannel-To": "1",
        "X-Kannel-Username": "u",
    }
    status, _, _ = req(srv, "POST", "/cgi-bin/sendsms", body, hdrs)
    assert status == 202 and up.requests[-1][3] == body
    link = LINK.encode("utf-16-be")
    status, _, answer = req(srv, "POST", "/cgi-bin/sendsms", link, hdrs)
    assert status == 403 and b"Ref " in answer and len(up.requests) == 1


@pytest.mark.parametrize(
    "params, why",
    [
        ("text=%E0%B8%", "percent-encoding"),  # malformed percent-encoding
        ("text=abc%zz", "percent-encoding"),
        ("text=%E0%B8&charset=UTF-8", "not valid UTF-8"),  # a cut UTF-8 sequence
        ("text=abc&charset=x-no-such", "unknown charset"),
        ("text=%0E&coding=2", "odd number"),  # UCS-2 of odd length
        ("text=a&coding=7", "coding"),
        ("text=a&udh=%05%00", "UDH"),
        ("text=a&udh=%05%00%03%01%02%01", "part of a longer"),  # the sender split it itself
    ],
)
def test_unreadable_is_refused_400_and_not_forwarded(
    kannel: tuple[Server, Metrics, Upstream], params: str, why: str
) -> None:
    srv, m, up = kannel
    status, headers, body = req(srv, "GET", f"/cgi-bin/sendsms?username=u&password=p&to=1&{params}")
    assert status == 400 and why in body.decode() and headers["content-type"] == "text/html"
    assert up.requests == []
    assert m.sms.labels("kannel", "error")._value.get() == 1


def test_the_first_of_repeated_variables_is_checked(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel  # smsbox sends the first `text`; a clean second one must not hide it
    status, _, _ = req(srv, "GET", "/cgi-bin/sendsms?" + q(text=LINK) + "&text=hello")
    assert status == 403 and up.requests == []


def test_a_header_with_a_bare_cr_is_refused(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel
    s = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5)
    s.sendall(b"GET /cgi-bin/sendsms?" + q(text="hi").encode() + b" HTTP/1.1\r\nX-A: 1\rX-B: 2\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 400")
    s.close()
    assert up.requests == []


def test_other_kannel_paths_are_refused(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel
    status, _, body = req(srv, "GET", "/cgi-bin/sendota?" + q(url="http://x.example"))
    assert status == 400 and b"sendsms" in body and up.requests == []


def test_a_1_mb_text_is_refused(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel
    big = ("ก" * 350_000).encode("utf-8")  # ~1 MB
    status, _, body = req(
        srv, "POST", "/cgi-bin/sendsms", big, {"Content-Type": "text/plain", "X-Kannel-To": "1"}
    )
    assert status == 413 and b"Ref " in body
    status, _, _ = req(srv, "GET", "/cgi-bin/sendsms?" + q(text="ก" * 120_000))  # in the query: the line
    assert status == 413
    assert up.requests == []


SLOW = 1000  # the number of slow connections


@pytest.fixture()
def fd_room() -> Iterator[None]:
    """Room for SLOW sockets on each side (this process holds both): the soft limit on open files
    raised (nolink serve raises its own the same way, for max_connections)."""
    need = 2 * SLOW + 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"the hard limit on open files ({hard}) is below the {need} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def slow_senders(port: int, n: int) -> list[socket.socket]:
    """n senders that send half a request line and then nothing."""
    out = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(b"GET /cgi-bin/sendsms?te")
        out.append(s)
    return out


def outcomes(socks: list[socket.socket], wait: float = 60.0) -> dict[str, int]:
    """How each connection ended: "busy" (the dialect's busy answer), "closed" (cut off without
    an answer) or "open" (still open after `wait` seconds)."""
    out = {"busy": 0, "closed": 0, "open": 0, "other": 0}
    pending = {s.fileno(): b"" for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    poll = select.poll()  # select() takes no descriptor over 1023
    for fd in pending:
        poll.register(fd, select.POLLIN)
    deadline = time.monotonic() + wait
    while pending and time.monotonic() < deadline:
        for fd, _ in poll.poll(200):
            s = by_fd[fd]
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data:
                pending[fd] += data
                if b"\r\n\r\n" not in pending[fd]:
                    continue
            got = pending.pop(fd)
            poll.unregister(fd)
            if not got:
                out["closed"] += 1
            elif got.startswith(b"HTTP/1.1 503") and b"too many connections" in got:
                out["busy"] += 1
            else:
                out["other"] += 1
    out["open"] = len(pending)
    return out


def test_1000_slow_connections_are_bounded(upstream: Upstream, fd_room: None) -> None:
    """Over max_connections, slow senders are turned away at once (busy), not queued behind the
    admitted ones, which are cut off after client_timeout; then the proxy serves again."""
    srv, _ = proxy('dialect = "kannel"\nclient_timeout = 3\nmax_connections = 20\n', upstream.port)
    try:
        slow = slow_senders(srv.server_address[1], SLOW)
        ended = outcomes(slow)
        assert ended["open"] == 0 and ended["other"] == 0, ended  # every one answered or cut off
        assert ended["busy"] >= SLOW - 100, ended  # 20 admitted per client_timeout, the rest busy
        assert req(srv, "GET", "/cgi-bin/sendsms?" + q(text="hello"))[0] == 202
        for s in slow:
            s.close()
        assert len(upstream.requests) == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_1000_admitted_slow_connections_do_not_hold_up_a_sender(upstream: Upstream, fd_room: None) -> None:
    """1,000 slow senders within max_connections: a real sender is answered while they hang on,
    and each of them is cut off after client_timeout, its slot freed."""
    srv, _ = proxy('dialect = "kannel"\nclient_timeout = 5\nmax_connections = 1100\n', upstream.port)
    try:
        slow = slow_senders(srv.server_address[1], SLOW)
        assert req(srv, "GET", "/cgi-bin/sendsms?" + q(text="hello"))[0] == 202
        ended = outcomes(slow)
        assert ended == {"busy": 0, "closed": SLOW, "open": 0, "other": 0}
        for s in slow:
            s.close()
        deadline = time.monotonic() + 30
        while srv.active and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.active == 0  # every slot given back
        assert len(upstream.requests) == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_pipelined_requests_and_a_half_close(kannel: tuple[Server, Metrics, Upstream]) -> None:
    """Requests sent back to back on one connection are answered in order (LF-only line ends
    too), and a sender that half-closes after its requests still gets every answer."""
    srv, _, up = kannel
    clean = b"GET /cgi-bin/sendsms?" + q(text="hello").encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    link = b"GET /cgi-bin/sendsms?" + q(text=LINK).encode() + b" HTTP/1.1\nHost: x\n\n"
    s = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=10)
    s.sendall(clean + link + clean)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    assert re.findall(rb"HTTP/1.1 (\d{3}) ", data) == [b"202", b"403", b"202"]
    assert len(up.requests) == 2


def test_a_trickling_sender_is_cut_off_after_client_timeout(kannel: tuple[Server, Metrics, Upstream]) -> None:
    srv, _, up = kannel  # client_timeout = 1 s for the whole request, however it trickles
    s = socket.create_connection(("127.0.0.1", srv.server_address[1]), timeout=5)
    s.sendall(b"GET /cgi-bin/sendsms?text=hi HTTP/1.1\r\n")
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 4:
        try:
            s.sendall(b"X: 1\r\n")
        except OSError:
            closed = True
            break
        time.sleep(0.3)
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed = True
                break
        except BlockingIOError:
            pass
        finally:
            s.setblocking(True)
    s.close()
    assert closed and time.monotonic() - t0 < 3
    assert up.requests == []


def test_upstream_down_is_an_error(upstream: Upstream) -> None:
    srv, m = proxy('dialect = "kannel"\nupstream_timeout = 1\n', free_port())
    try:
        status, _, body = req(srv, "GET", "/cgi-bin/sendsms?" + q(text="hello"))
        assert status == 503 and body.startswith(b"Temporal failure")
        assert m.sms_upstream_errors._value.get() == 1
        assert m.sms.labels("kannel", "error")._value.get() == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_dry_run_forwards_a_link_but_counts_it(upstream: Upstream) -> None:
    srv, m = proxy("", upstream.port, mode="dry_run")
    try:
        status, _, _ = req(srv, "GET", "/cgi-bin/sendsms?" + q(text=LINK))
        assert status == 202 and len(upstream.requests) == 1
        assert m.sms.labels("kannel", "link")._value.get() == 1
    finally:
        srv.shutdown()
        srv.server_close()


def test_on_error_forward_passes_what_cannot_be_read(upstream: Upstream) -> None:
    srv, _ = proxy('on_error = "forward"\n', upstream.port)
    try:
        status, _, _ = req(srv, "GET", "/cgi-bin/sendsms?" + q(text="a", coding="2") + "&x=%zz")
        assert status == 202 and len(upstream.requests) == 1
    finally:
        srv.shutdown()
        srv.server_close()


# -- jasmin --------------------------------------------------------------------------------------


@pytest.fixture()
def jasmin(upstream: Upstream) -> Iterator[tuple[Server, Upstream]]:
    srv, _ = proxy('dialect = "jasmin"\n', upstream.port)
    yield srv, upstream
    srv.shutdown()
    srv.server_close()


def test_jasmin_send(jasmin: tuple[Server, Upstream]) -> None:
    srv, up = jasmin
    base = "/send?username=u&password=p&to=66812345678&"
    assert req(srv, "GET", base + "content=hello")[0] == 202
    hexed = CLEAN.encode("utf-16-be").hex()
    assert req(srv, "GET", base + f"coding=8&hex-content={hexed}")[0] == 202
    status, headers, body = req(srv, "GET", base + "coding=8&hex-content=" + LINK.encode("utf-16-be").hex())
    assert (
        status == 403
        and body.startswith(b'Error "Message refused')
        and headers["content-type"] == "text/plain"
    )
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = req(srv, "POST", "/send", f"username=u&to=1&content={LINK}".encode(), form)
    assert status == 403
    status, _, body = req(srv, "GET", base + "coding=8&hex-content=0e0")  # odd length
    assert status == 400 and body.startswith(b'Error "')
    status, _, body = req(srv, "GET", base + "hex-content=zz")
    assert status == 400
    assert req(srv, "GET", "/balance?username=u&password=p")[0] == 202  # passed through
    assert req(srv, "GET", "//send?" + q(content=LINK))[0] == 400  # not /send
    assert [r[1].split("?")[0] for r in up.requests] == ["/base/send", "/base/send", "/base/balance"]


# -- a provider's JSON API -----------------------------------------------------------------------


def test_json_provider(upstream: Upstream) -> None:
    srv, _ = proxy('dialect = "json"\n', upstream.port)
    try:
        hj = {"Content-Type": "application/json", "Authorization": "Bearer k"}
        ok = {"phone": "0812345678", "message": CLEAN, "sender": "RDGOTH"}
        assert req(srv, "POST", "/api/bulk/send", json.dumps(ok).encode(), hj)[0] == 202
        assert upstream.requests[-1][2]["Authorization"] == "Bearer k"
        assert upstream.requests[-1][3] == json.dumps(ok).encode()
        status, _, body = req(srv, "POST", "/api/bulk/send", json.dumps({**ok, "message": LINK}).encode(), hj)
        answer = json.loads(body)
        assert status == 403 and answer["error"] == "nolink_link_found" and answer["ref"]
        status, _, body = req(
            srv, "POST", "/api/bulk/send", json.dumps({**ok, "shorten_url": True}).encode(), hj
        )
        assert status == 403 and json.loads(body)["error"] == "nolink_link_option"
        status, _, _ = req(srv, "POST", "/x", json.dumps({**ok, "shorten_url": False}).encode(), hj)
        assert status == 202
        assert req(srv, "POST", "/x", b"{not json", hj)[0] == 400
        assert req(srv, "POST", "/x", json.dumps({"text": LINK}).encode(), hj)[0] == 400  # no `message`
        assert req(srv, "GET", "/api/credit")[0] == 202
        assert req(srv, "GET", "/api/send?" + q(message=LINK))[0] == 403  # the text in a GET's query
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        assert req(srv, "POST", "/x", b"message=hi&ShortenUrls=true", form)[0] == 403  # Twilio's option
        assert len(upstream.requests) == 3
    finally:
        srv.shutdown()
        srv.server_close()


# -- configuration -------------------------------------------------------------------------------


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        parse('[[sms_proxy]]\nlisten = "0.0.0.0:13013"\nupstream = "http://127.0.0.1:1"\n')
    parse('[[sms_proxy]]\nlisten = "0.0.0.0:13013"\nallow_remote = true\nupstream = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match="upstream"):
        parse('[[sms_proxy]]\nlisten = "127.0.0.1:13013"\nupstream = "127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match="listen is missing"):
        parse('[[sms_proxy]]\nupstream = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match="dialect"):
        parse('[[sms_proxy]]\nlisten = "127.0.0.1:1"\ndialect = "smpp"\nupstream = "http://a"\n')
    with pytest.raises(ConfigError, match="twice"):
        parse('[[sms_proxy]]\nlisten = "127.0.0.1:1"\nupstream = "http://a"\n' * 2)
    with pytest.raises(ConfigError, match=r"sms_proxy\[0\]\.bogus"):
        parse('[[sms_proxy]]\nlisten = "127.0.0.1:1"\nupstream = "http://a"\nbogus = 1\n')


def test_sender_names_are_kept_phone_numbers_are_not() -> None:
    assert sender_name("RDGOTH") == "RDGOTH"
    assert sender_name("+66 81-234-5678") == "" and sender_name("0812345678") == ""


# -- the journal's channel column, and nolink serve with the milter ------------------------------


def test_migration_marks_existing_rows_mail(tmp_path: Path) -> None:
    import sqlite3

    from nolink.ops import journal

    path = tmp_path / "j.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN;{journal.MIGRATIONS[1]}{journal.MIGRATIONS[2]}PRAGMA user_version = 2;COMMIT;")
    conn.execute(
        "INSERT INTO decisions (time, ref, action, applied, mode, reason) VALUES (1, 'R1', 'reject', 'reject', 'enforce', 'link_found')"
    )
    conn.close()
    c = journal.connect(str(path))
    assert c.execute("SELECT ref, channel FROM decisions").fetchall() == [("R1", "mail")]
    assert c.execute("PRAGMA user_version").fetchone()[0] == journal.SCHEMA_VERSION


def test_nolink_serve_with_the_milter_starts_the_proxy(tmp_path: Path, upstream: Upstream) -> None:
    import os
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    port, mport = free_port(), free_port()
    cfg = tmp_path / "nolink.toml"
    cfg.write_text(
        f'[milter]\nsocket = "unix:{tmp_path}/milter.sock"\nworkers = 1\n[journal]\npath = "{tmp_path}/j.sqlite"\n'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[[sms_proxy]]\nlisten = "127.0.0.1:{port}"\nupstream = "http://127.0.0.1:{upstream.port}"\n'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "milter")}
    p = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "-c", str(cfg)], env=env, stderr=subprocess.PIPE, cwd=ROOT
    )
    try:
        wait_listening(p, port, 60)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/cgi-bin/sendsms?" + q(text=LINK))
        r = c.getresponse()
        assert r.status == 403 and b"Ref " in r.read()
        c.request("GET", "/cgi-bin/sendsms?" + q(text=CLEAN))
        r = c.getresponse()
        assert (r.status, r.read()) == (202, b"0: Accepted for delivery")
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    assert len(upstream.requests) == 1
    assert b"evil.example.com" not in err and b"0812345678" not in err
