"""The SMS proxy's way to the upstream: a pool of kept-alive HTTP/1.1 connections on the
listener's event loop.

A request is written as the sender wrote it (hop-by-hop headers left out, Host naming the
upstream, the base URL's path before the sender's) and the answer read back whole: by
Content-Length, chunked, or up to the upstream's close. Any failure (no connection, a time-out,
an answer that is not HTTP/1.x, one too large) raises OSError, so the proxy answers with the
dialect's error and nothing is sent unchecked. A kept-alive connection that the upstream closed
while idle is tried once more on a new one, as a browser does.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import urllib.parse

from .common import HOP_BY_HOP, Answer, Request

MAX_LINE = 64 * 1024
MAX_HEADERS = 100
MAX_ANSWER_BYTES = 16 * 1024 * 1024
MAX_IDLE = 256  # kept-alive connections kept open while unused


class UpstreamError(OSError):
    """The upstream's answer cannot be read as HTTP/1.x."""


def parse_head(head: bytes) -> tuple[int, tuple[tuple[str, str], ...], int | None, bool, bool]:
    """(status, end-to-end headers, Content-Length, chunked, keep-alive) of an answer's head."""
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise UpstreamError(f"not an HTTP/1.x answer: {lines[0][:40]!r}")
    if len(lines) > MAX_HEADERS + 2:
        raise UpstreamError("too many header lines in the answer")
    keep = parts[0] == "HTTP/1.1"
    length: int | None = None
    chunked = False
    headers = []
    for raw in lines[1:]:
        name, _, value = raw.partition(":")
        name, value = name.strip(), value.strip()
        if not name:
            continue
        low = name.lower()
        if low == "content-length" and value.isdigit():
            length = int(value)
        elif low == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif low == "connection":
            keep = value.lower() != "close" if keep else value.lower() == "keep-alive"
        if low not in HOP_BY_HOP and low != "content-length":
            headers.append((name, value))
    return int(parts[1]), tuple(headers), length, chunked, keep


def _dechunk(buf: bytearray) -> tuple[bytes, int] | None:
    """(body, bytes used) of a whole chunked body at the start of buf; None: not all there yet."""
    out: list[bytes] = []
    i = total = 0
    while True:
        nl = buf.find(b"\n", i)
        if nl < 0:
            if len(buf) - i > 1024:
                raise UpstreamError("a chunk size line is too long")
            return None
        try:
            size = int(bytes(buf[i:nl]).split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise UpstreamError("a chunk size is not a hex number") from None
        i = nl + 1
        if size == 0:  # trailers, up to an empty line
            while True:
                nl = buf.find(b"\n", i)
                if nl < 0:
                    return None
                line = buf[i:nl].strip()
                i = nl + 1
                if not line:
                    return b"".join(out), i
        total += size
        if total > MAX_ANSWER_BYTES:
            raise UpstreamError("the answer is too large")
        if len(buf) < i + size + 1:
            return None
        out.append(bytes(buf[i : i + size]))
        i += size
        nl = buf.find(b"\n", i)
        if nl < 0 or nl - i > 2:
            if nl < 0 and len(buf) - i <= 2:
                return None
            raise UpstreamError("a chunk does not end where its size says")
        i = nl + 1


class _Conn(asyncio.Protocol):
    """One connection to the upstream; one request on it at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[Answer, bool]] | None = None
        self.method = "GET"
        self.head: tuple[int, tuple[tuple[str, str], ...], int | None, bool, bool] | None = None
        self.body_at = 0
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, method: str) -> asyncio.Future[tuple[Answer, bool]]:
        assert self.transport is not None
        self.method = method
        self.buf.clear()
        self.head = None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            if self.waiter is None:  # an answer nobody asked for: this connection is not to be trusted
                self.abort()
            return
        try:
            done = self._parse(False)
        except UpstreamError as e:
            self._fail(e)
            return
        if done is not None:
            self.waiter.set_result(done)

    def eof_received(self) -> bool:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            try:
                done = self._parse(True)
            except UpstreamError as e:
                self._fail(e)
                return False
            if done is None:
                self._fail(UpstreamError("closed" if not self.buf else "the answer ended early"))
            else:
                self.waiter.set_result(done)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if exc is not None:
                self._fail(exc if isinstance(exc, OSError) else UpstreamError(str(exc)))
            else:
                self.eof_received()

    def _fail(self, e: OSError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(e)
        self.abort()

    def timed_out(self, seconds: float) -> None:
        self._fail(TimeoutError(f"no answer within upstream_timeout ({seconds:g} s)"))

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _parse(self, eof: bool) -> tuple[Answer, bool] | None:
        buf = self.buf
        if self.head is None:
            end = buf.find(b"\r\n\r\n")
            skip = 4
            if end < 0:
                end = buf.find(b"\n\n")
                skip = 2
            if end < 0:
                if len(buf) > MAX_LINE * 4:
                    raise UpstreamError("the answer's head is too large")
                return None
            self.head = parse_head(bytes(buf[:end]))
            self.body_at = end + skip
            if 100 <= self.head[0] < 200:  # 100 Continue and the like: the answer comes after
                del buf[: self.body_at]
                self.head = None
                return self._parse(eof)
        status, headers, length, chunked, keep = self.head
        rest = len(buf) - self.body_at
        if self.method == "HEAD" or status in (204, 304):
            body = b""
            keep = keep and rest == 0
        elif chunked:
            got = _dechunk(buf[self.body_at :])
            if got is None:
                return None
            body, used = got
            keep = keep and self.body_at + used == len(buf)
        elif length is not None:
            if length > MAX_ANSWER_BYTES:
                raise UpstreamError("the answer is too large")
            if rest < length:
                if eof:
                    raise UpstreamError("the answer ended early")
                return None
            body = bytes(buf[self.body_at : self.body_at + length])
            keep = keep and rest == length  # more than the answer: not to be trusted again
        else:  # up to the close
            if rest > MAX_ANSWER_BYTES:
                raise UpstreamError("the answer is too large")
            if not eof:
                return None
            body = bytes(buf[self.body_at :])
            keep = False
        return Answer(status, "", body, headers), keep and not eof


class Upstream:
    """Forwards requests to one upstream base URL over a pool of kept-alive connections."""

    def __init__(self, base: str, timeout: float) -> None:
        u = urllib.parse.urlsplit(base)
        self.https = u.scheme == "https"
        self.host = u.hostname or ""
        self.port = u.port or (443 if self.https else 80)
        self.netloc = u.netloc
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.context = ssl.create_default_context() if self.https else None
        self.idle: list[_Conn] = []

    def request_bytes(self, req: Request) -> bytes:
        head = [f"{req.method} {self.prefix}{req.target} HTTP/1.1", f"Host: {self.netloc}"]
        head += [f"{k}: {v}" for k, v in req.headers if k.lower() not in HOP_BY_HOP and k.lower() != "host"]
        if req.body and not any(k.lower() == "content-length" for k, _ in req.headers):
            head.append(f"Content-Length: {len(req.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + req.body

    async def _new(self) -> _Conn:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Conn,
            self.host,
            self.port,
            ssl=self.context,
            server_hostname=self.host if self.context is not None else None,
        )
        return conn

    async def send(self, req: Request) -> Answer:
        """The upstream's answer, or OSError when it cannot be had: no connection within
        upstream_timeout, or no whole answer within upstream_timeout of writing the request."""
        data = self.request_bytes(req)
        loop = asyncio.get_running_loop()
        for attempt in (0, 1):
            conn = None
            while self.idle:
                c = self.idle.pop()
                if not c.closed:
                    conn = c
                    break
            reused = conn is not None
            if conn is None:
                try:
                    conn = await asyncio.wait_for(self._new(), self.timeout)
                except TimeoutError:
                    raise TimeoutError(
                        f"no connection within upstream_timeout ({self.timeout:g} s)"
                    ) from None
            timer = loop.call_later(self.timeout, conn.timed_out, self.timeout)
            try:
                answer, keep = await conn.send(data, req.method)
            except (ConnectionError, UpstreamError) as e:
                conn.abort()
                # a kept-alive connection the upstream closed while idle: once more on a new one
                if attempt or not reused or (isinstance(e, UpstreamError) and str(e) != "closed"):
                    raise
                continue
            except BaseException:  # the time-out (cancelled) among them: the connection is spent
                conn.abort()
                raise
            finally:
                timer.cancel()
            if keep and not conn.closed and len(self.idle) < MAX_IDLE:
                conn.waiter = None
                self.idle.append(conn)
            else:
                conn.abort()
            return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        for c in self.idle:
            c.abort()
        self.idle.clear()
