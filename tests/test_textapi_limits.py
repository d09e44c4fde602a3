"""The text API under abuse, with real sockets against a real `nolink serve --no-milter` process:
JSON it will not read is 400, half-sent requests time out instead of holding threads, connections
beyond text_api.max_connections are answered 503, and 1,000 connections at once are all answered
(none reset by a short listen backlog)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from harness import free_port, wait_listening  # free_port honours NOLINK_TEST_PORTS
from nolink.adapters.textapi import PATH

ENV = dict(os.environ, PYTHONPATH=str(ROOT / "milter"))
MAX = 20


class Api:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.port = proc, port

    def threads(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
        raise AssertionError("no Threads: line")

    def request(self, body: bytes, timeout: float = 20) -> tuple[int, bytes]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(raw(body, close=True))
            return answer(s)


def raw(body: bytes, close: bool = False) -> bytes:
    head = f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + ("Connection: close\r\n" if close else "") + "\r\n").encode() + body


def answer(s: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(rest) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    d = tmp_path_factory.mktemp("textapi")
    port, mport = free_port(), free_port()
    (d / "nolink.toml").write_text(
        f'[text_api]\nlisten = "127.0.0.1:{port}"\ntimeout = 1.0\nmax_connections = {MAX}\n'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(d / "nolink.toml")],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(p, port, 30)
        yield Api(p, port)
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
        assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"a": ' * 50_000 + b"1" + b"}" * 50_000,
        b'{"text": ' + b"1" * 5000 + b"}",  # an integer longer than Python converts
        b'{"text": "\xff\xfe"}',
        b'{"text": "x"',
        b"",
    ],
)
def test_json_it_will_not_read_is_400(api: Api, body: bytes) -> None:
    status, data = api.request(body)
    assert status == 400, (status, data[:200])
    assert "error" in json.loads(data)


def test_half_sent_requests_time_out_and_beyond_the_bound_get_503(api: Api) -> None:
    base = api.threads()
    held: list[socket.socket] = []
    busy = 0
    try:
        for i in range(300):
            s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
            # headers never ended, or a body shorter than announced
            s.sendall(
                raw(b'{"text": "x"}')[:-5] if i % 2 else f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode()
            )
            held.append(s)
        time.sleep(0.3)
        assert api.threads() <= base + MAX + 2, api.threads()
        for s in held:  # those past the bound were answered 503 at once and closed
            s.settimeout(0.05)
            with contextlib.suppress(OSError):
                data = s.recv(200)
                if data.startswith(b"HTTP/1.1 503"):
                    busy += 1
        assert busy >= 300 - MAX - 5, busy
        # text_api.timeout = 1 s: the half-sent ones are dropped and the endpoint answers again
        time.sleep(2.5)
        assert api.threads() <= base + 2, api.threads()
        status, data = api.request(b'{"text": "www.dla.go.th"}')
        assert status == 200 and json.loads(data)["verdict"] == "link"
    finally:
        for s in held:
            s.close()


def test_a_thousand_connections_at_once_are_all_answered(api: Api) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    socks: list[socket.socket] = []
    codes: dict[int, int] = {}
    try:
        for _ in range(1000):  # connect all first: the accept queue takes the burst
            s = socket.socket()
            s.settimeout(30)
            s.connect(("127.0.0.1", api.port))
            socks.append(s)
        for s in socks:
            with contextlib.suppress(OSError):  # a 503 may already have closed it
                s.sendall(raw(b'{"text": "hello"}', close=True))
        for s in socks:
            try:
                status, _ = answer(s)
            except ConnectionResetError:
                status = -1
            codes[status] = codes.get(status, 0) + 1
    finally:
        for s in socks:
            s.close()
    assert set(codes) <= {200, 503} and sum(codes.values()) == 1000, codes
    assert codes.get(200, 0) >= MAX, codes
