"""The SMS proxy's HTTP listener: read the send request, check its whole text, forward or refuse.

A clean request goes to the upstream unchanged (method, path, query, body, every header but the
hop-by-hop ones; Host names the upstream) and the upstream's answer comes back as it came. A text
with a link, an option that adds links, a request nolink cannot read, nolink's own failure and an
upstream that cannot be reached all get the dialect's own error answer with nolink's reason and
ref; nothing is forwarded unchecked (sms_proxy.on_error = "forward" forwards the unreadable and
nolink's own failures, never an unreachable upstream's). One log line and one journal row per SMS
decision, with no text, no phone numbers and no credentials.

Each listener is a ThreadingHTTPServer with a bound on concurrent connections (max_connections:
one more is answered "busy" and closed at once) and a read time-out per connection
(client_timeout); the upstream has its own (upstream_timeout) and a kept-alive connection per
thread.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ...config import Config, SmsProxyConfig, parse_listen
from ...errors import NolinkError
from ...metrics import Metrics
from ...ops.journal import Journal, SmsRecord
from ...policy import new_ref, safe
from ...textcheck import check_text
from .common import HOP_BY_HOP, Answer, Dialect, Refusal, Request, Sms, Unreadable
from .jasmin import Jasmin
from .jsonapi import JsonApi
from .kannel import Kannel

if TYPE_CHECKING:
    from ...links.text import TextFinder

log = logging.getLogger("nolink")
MAX_BODY_BYTES = 256 * 1024  # a long SMS is a few KiB; Kannel's own default limit is far below
MAX_DRAIN_BYTES = 4 * 1024 * 1024  # a larger body than this is cut off unread
MAX_LINE = 64 * 1024  # request line (a GET's query holds the text) and each header line
MAX_HEADERS = 100
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_PHONE = re.compile(r"[+0-9 ()-]*")


def dialect_for(p: SmsProxyConfig) -> Dialect:
    if p.dialect == "kannel":
        return Kannel(p.refuse_fields)
    if p.dialect == "jasmin":
        return Jasmin(p.refuse_fields)
    return JsonApi(p.text_field, p.refuse_fields)


def sender_name(sender: str) -> str:
    """The sender name for the journal; a phone number is never kept."""
    return "" if _PHONE.fullmatch(sender) else safe(sender, 40)


def _sample(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else url.split("/")[0][:80]
    except ValueError:
        return "?"


class UpstreamError(OSError):
    """The upstream's answer cannot be read as HTTP/1.x."""


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile = sock.makefile("rb")

    def close(self) -> None:
        self.rfile.close()
        self.sock.close()


class Upstream:
    """Forwards requests to the upstream on a kept-alive connection per thread. HTTP/1.1 written
    and read directly on the socket: http.client parses headers with the e-mail parser, which
    took a third of the proxy's time per SMS."""

    def __init__(self, base: str, timeout: float) -> None:
        u = urllib.parse.urlsplit(base)
        self.https = u.scheme == "https"
        self.host = u.hostname or ""
        self.port = u.port or (443 if self.https else 80)
        self.netloc = u.netloc
        self.prefix = u.path.rstrip("/")
        self.timeout = timeout
        self.local = threading.local()
        self.context = ssl.create_default_context() if self.https else None

    def _new(self) -> _Conn:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.context is not None:
            sock = self.context.wrap_socket(sock, server_hostname=self.host)
        return _Conn(sock)

    def send(self, req: Request) -> Answer:
        """The upstream's answer, or OSError when it cannot be had."""
        head = [f"{req.method} {self.prefix}{req.target} HTTP/1.1", f"Host: {self.netloc}"]
        head += [f"{k}: {v}" for k, v in req.headers if k.lower() not in HOP_BY_HOP and k.lower() != "host"]
        if req.body and not any(k.lower() == "content-length" for k, _ in req.headers):
            head.append(f"Content-Length: {len(req.body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + req.body
        conn: _Conn | None = getattr(self.local, "conn", None)
        reused = conn is not None
        for attempt in (0, 1):
            c = conn or self._new()
            conn = None
            self.local.conn = None
            try:
                c.sock.sendall(data)
                answer, keep = self._read(c, req.method)
            except (ConnectionResetError, BrokenPipeError, UpstreamError) as e:
                c.close()
                # a kept-alive connection the upstream closed while idle: once more on a new one
                if attempt or not reused or (isinstance(e, UpstreamError) and str(e) != "closed"):
                    raise
                continue
            except BaseException:
                c.close()
                raise
            if keep:
                self.local.conn = c
            else:
                c.close()
            return answer
        raise AssertionError("unreachable")

    @staticmethod
    def _read(c: _Conn, method: str) -> tuple[Answer, bool]:
        line = c.rfile.readline(MAX_LINE + 1)
        if not line:
            raise UpstreamError("closed")
        parts = line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise UpstreamError(f"not an HTTP/1.x answer: {line[:40]!r}")
        status = int(parts[1])
        headers: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        keep = parts[0] == "HTTP/1.1"
        for _ in range(MAX_HEADERS):
            raw = c.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            name, value = name.strip(), value.strip()
            low = name.lower()
            if low == "content-length" and value.isdigit():
                length = int(value)
            elif low == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif low == "connection":
                keep = value.lower() != "close" if keep else value.lower() == "keep-alive"
            if low not in HOP_BY_HOP and low != "content-length":
                headers.append((name, value))
        else:
            raise UpstreamError("too many header lines in the answer")
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            out = []
            total = 0
            while True:
                size = int(c.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while c.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_ANSWER_BYTES:
                    raise UpstreamError("the answer is too large")
                out.append(c.rfile.read(size))
                c.rfile.readline(3)
            body = b"".join(out)
        elif length is not None:
            if length > MAX_ANSWER_BYTES:
                raise UpstreamError("the answer is too large")
            body = c.rfile.read(length)
            if len(body) < length:
                raise UpstreamError("the answer ended early")
        else:
            body = c.rfile.read(MAX_ANSWER_BYTES)
            keep = False
        return Answer(status, "", body, tuple(headers)), keep


class Proxy:
    """One [[sms_proxy]] listener's state: dialect, upstream, finder, metrics, journal."""

    def __init__(
        self,
        p: SmsProxyConfig,
        config: Callable[[], Config],
        finder: Callable[[], TextFinder],
        metrics: Metrics,
        journal: Journal,
    ) -> None:
        self.p = p
        self.dialect = dialect_for(p)
        self.upstream = Upstream(p.upstream, p.upstream_timeout)
        self.config = config
        self.finder = finder
        self.metrics = metrics
        self.journal = journal
        self.listener = f"{p.dialect}:{p.listen.rpartition(':')[2]}"

    def refusal(self, kind: Refusal, ref: str, detail: str = "") -> Answer:
        text = {
            "link": f"Message refused: SMS to citizens must not contain links (Cabinet resolution of "
            f"18 Nov 2025). Found {detail}. Remove the link and send again. Ref {ref}",
            "option": f"Message refused: {detail} makes the provider add links, and SMS to citizens must "
            f"not contain links; leave it out. Ref {ref}",
            "unreadable": f"Message refused: nolink cannot read this send request ({detail}); nothing "
            f"was sent. Ref {ref}",
            "too_large": f"Message refused: {detail}; nothing was sent. Ref {ref}",
            "upstream": f"Temporal failure, try again later: nolink cannot reach the SMS gateway; "
            f"nothing was sent. Ref {ref}",
            "error": f"Temporal failure, try again later: nolink could not check the text; nothing was "
            f"sent. Ref {ref}",
            "busy": f"Temporal failure, try again later: too many connections. Ref {ref}",
        }[kind]
        return self.dialect.refuse(kind, text)

    def handle(self, req: Request) -> Answer:
        t0 = time.perf_counter()
        ref = new_ref()
        sms: Sms | None = None
        verdict, reason, kind, sample, findings = "clean", "clean", "", "", 0
        refusal: Answer | None = None
        cfg = self.config()
        try:
            sms = self.dialect.read(req)
            if sms is None:  # not a send request (Jasmin's /balance, a provider's GET)
                return self._forward(req, ref, None, t0)
            result = check_text(sms.text, self.finder())
            if result.findings:
                f = result.findings[0]
                verdict, reason, kind, sample = "link", "link_found", f.kind, _sample(f.url)
                findings = len(result.findings)
                refusal = self.refusal("link", ref, safe(f.text, 80))
            elif sms.options:
                verdict, reason = "link", "refused_option"
                refusal = self.refusal("option", ref, safe(sms.options[0], 40))
        except Unreadable as e:
            verdict, reason = "error", "unreadable"
            if self.p.on_error != "forward" or e.refusal == "too_large":
                refusal = self.refusal(e.refusal, ref, safe(str(e), 200))
        except Exception:
            log.exception("sms_proxy %s: cannot check a send request (ref %s)", self.listener, ref)
            verdict, reason = "error", "error"
            if self.p.on_error != "forward":
                refusal = self.refusal("error", ref)
        if refusal is not None and cfg.mode == "dry_run" and verdict == "link":
            refusal = None  # dry_run: journaled and counted as refused, sent all the same
        seconds = time.perf_counter() - t0
        self.metrics.sms_duration.observe(seconds)
        if refusal is not None:
            self._decided(cfg, sms, ref, verdict, reason, "reject", "reject", seconds, kind, sample, findings)
            return refusal
        answer = self._forward(req, ref, sms, t0)
        if answer.status < 0:  # the upstream failed: an error, and nothing was sent
            self._decided(cfg, sms, ref, "error", "upstream_error", "reject", "reject", seconds)
            return self.refusal("upstream", ref)
        action = "reject" if verdict == "link" else "accept"
        self._decided(cfg, sms, ref, verdict, reason, action, "accept", seconds, kind, sample, findings)
        return answer

    def _forward(self, req: Request, ref: str, sms: Sms | None, t0: float) -> Answer:
        try:
            return self.upstream.send(req)
        except (OSError, ValueError) as e:
            self.metrics.sms_upstream_errors.inc()
            log.error("sms_proxy %s: upstream %s: %s (ref %s)", self.listener, self.p.upstream, e, ref)
            if sms is None:
                return self.refusal("upstream", ref)
            return Answer(-1, "", b"")

    def _decided(
        self,
        cfg: Config,
        sms: Sms | None,
        ref: str,
        verdict: str,
        reason: str,
        action: str,
        applied: str,
        seconds: float,
        kind: str = "",
        sample: str = "",
        findings: int = 0,
    ) -> None:
        self.metrics.sms.labels(self.p.dialect, verdict).inc()
        sender = sender_name(sms.sender) if sms else ""
        recipients = sms.recipients if sms else 0
        log.info(
            "sms listener=%s action=%s applied=%s reason=%s ref=%s sender=%s recipients=%d ms=%.2f",
            self.listener,
            action,
            applied,
            reason,
            ref,
            sender or "-",
            recipients,
            seconds * 1000,
        )
        size = len(sms.text.encode("utf-8", "replace")) if sms else 0
        record = SmsRecord(
            ref,
            self.listener,
            action,
            applied,
            reason,
            sender,
            recipients,
            size,
            seconds,
            kind,
            sample,
            findings,
        )
        self.journal.sms(record, cfg)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nolink"
    sys_version = ""
    disable_nagle_algorithm = True
    proxy: Proxy  # set on the subclass made by make_server
    raw_requestline: bytes
    deadline: float = 0.0

    def handle_one_request(self) -> None:
        try:
            # the whole request (its line, headers and body) within client_timeout, so a sender
            # that trickles a byte at a time holds its slot no longer than a silent one
            self.deadline = time.monotonic() + self.proxy.p.client_timeout
            self.connection.settimeout(self.proxy.p.client_timeout)
            self.raw_requestline = self.rfile.readline(MAX_LINE + 1)
        except OSError:  # the time-out, or the sender went away
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > MAX_LINE:
            self._send(
                self.proxy.refusal("too_large", new_ref(), f"the request line is over {MAX_LINE} bytes"), True
            )
            return
        try:
            req = self._read()
        except OSError:
            self.close_connection = True
            return
        if isinstance(req, Answer):
            self._send(req, True)
            return
        self._send(self.proxy.handle(req), self.close_connection)

    def _left(self) -> None:
        """The socket's time-out for the next read: what is left of the request's time."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took longer than client_timeout")
        self.connection.settimeout(left)

    def _read(self) -> Request | Answer:
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        parts = line.split()
        bad = self.proxy.refusal
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return bad("unreadable", new_ref(), "not an HTTP/1.x request line")
        method, target, version = parts
        headers: list[tuple[str, str]] = []
        for _ in range(MAX_HEADERS):
            self._left()
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            if len(raw) > MAX_LINE:
                return bad("too_large", new_ref(), "a header line is too long")
            name, _, value = raw.decode("iso-8859-1").partition(":")
            name, value = name.strip(), value.strip()
            if "\r" in value or not name or any(c in name for c in " \t\r"):  # no smuggling upstream
                return bad("unreadable", new_ref(), "a malformed header line")
            headers.append((name, value))
        else:
            return bad("too_large", new_ref(), "too many headers")
        fields = {k.lower(): v for k, v in headers}
        conn = fields.get("connection", "").lower()
        self.close_connection = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
        if "transfer-encoding" in fields:
            return bad("unreadable", new_ref(), "chunked bodies are not read; send a Content-Length")
        length = fields.get("content-length", "0")
        if not length.isdigit():
            return bad("unreadable", new_ref(), "Content-Length is not a number")
        n = int(length)
        if n > MAX_BODY_BYTES:
            if n <= MAX_DRAIN_BYTES:  # read it, so that the sender sees the answer, not a reset
                while n > 0:
                    self._left()
                    chunk = self.rfile.read(min(n, 65536))
                    if not chunk:
                        break
                    n -= len(chunk)
            return bad("too_large", new_ref(), f"the body is over {MAX_BODY_BYTES} bytes")
        if fields.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._left()
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            raise ConnectionResetError("the body ended early")
        return Request(method, target, tuple(headers), body)

    def _send(self, a: Answer, close: bool) -> None:
        head = [f"HTTP/1.1 {a.status} {_phrase(a.status)}"]
        if a.headers:
            head += [f"{k}: {v}" for k, v in a.headers if k.lower() != "content-length"]
        else:
            head.append(f"Content-Type: {a.content_type}")
        head.append(f"Content-Length: {len(a.body)}")
        if close:
            head.append("Connection: close")
            self.close_connection = True
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + a.body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # request lines hold texts and passwords
        return


def _phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    proxy: Proxy
    slots: threading.BoundedSemaphore

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # over max_connections: answer at once, close
            a = self.proxy.refusal("busy", new_ref())
            try:
                request.settimeout(1.0)
                request.sendall(
                    f"HTTP/1.1 {a.status} {_phrase(a.status)}\r\nContent-Type: {a.content_type}\r\n"
                    f"Content-Length: {len(a.body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
                    + a.body
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(
    p: SmsProxyConfig,
    config: Callable[[], Config],
    finder: Callable[[], TextFinder],
    metrics: Metrics,
    journal: Journal,
) -> Server:
    addr = parse_listen(p.listen, "sms_proxy.listen")
    assert addr is not None
    proxy = Proxy(p, config, finder, metrics, journal)
    # StreamRequestHandler puts `timeout` on each connection's socket: the read time-out
    handler = type("BoundSmsHandler", (Handler,), {"proxy": proxy, "timeout": p.client_timeout})
    try:
        server = (Server6 if ":" in addr[0] else Server)(addr, handler)
    except OSError as e:
        raise NolinkError(f"sms_proxy.listen = {p.listen!r}: cannot listen there: {e.strerror}") from None
    server.proxy = proxy
    server.slots = threading.BoundedSemaphore(p.max_connections)
    return server


def start_all(
    config: Callable[[], Config], finder: Callable[[], TextFinder], metrics: Metrics, journal: Journal
) -> list[Server]:
    """Every [[sms_proxy]] listener, serving in daemon threads (nolink serve)."""
    servers = []
    for p in config().sms_proxy:
        server = make_server(p, config, finder, metrics, journal)
        threading.Thread(target=server.serve_forever, name=f"sms-proxy-{p.listen}", daemon=True).start()
        log.info("SMS proxy (%s) listening on %s, upstream %s", p.dialect, p.listen, p.upstream)
        servers.append(server)
    return servers
