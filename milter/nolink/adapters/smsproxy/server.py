"""The SMS proxy's HTTP listener: read the send request, check its whole text, forward or refuse.

A clean request goes to the upstream unchanged (method, path, query, body, every header but the
hop-by-hop ones; Host names the upstream) and the upstream's answer comes back as it came. A text
with a link, an option that adds links, a request nolink cannot read, nolink's own failure and an
upstream that cannot be reached all get the dialect's own error answer with nolink's reason and
ref; nothing is forwarded unchecked (sms_proxy.on_error = "forward" forwards the unreadable and
nolink's own failures, never an unreachable upstream's). One log line and one journal row per SMS
decision, with no text, no phone numbers and no credentials.

Each listener is one asyncio event loop in a thread of its own: HTTP/1.1 with keep-alive read by
a small parser of its own, a bound on concurrent connections (max_connections: one more is
answered "busy" and closed at once), the whole request (its line, headers and body) within
client_timeout of the connection's last answer, however slowly it trickles, and a pool of kept-
alive connections to the upstream (upstream_timeout). A short text (any SMS) is checked inline
on the loop, which costs less than handing it to a thread; a large request is checked in a
worker thread so that it does not hold up the other senders.
"""

from __future__ import annotations

import asyncio
import logging
import re
import resource
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

from ...config import Config, SmsProxyConfig, parse_listen
from ...errors import NolinkError
from ...metrics import Metrics
from ...ops.journal import Journal, SmsRecord
from ...policy import new_ref, safe
from ...textcheck import check_text
from .common import Answer, Dialect, Refusal, Request, Sms, Unreadable
from .jasmin import Jasmin
from .jsonapi import JsonApi
from .kannel import Kannel
from .upstream import Upstream

if TYPE_CHECKING:
    from ...links.text import TextFinder

log = logging.getLogger("nolink")
MAX_BODY_BYTES = 256 * 1024  # a long SMS is a few KiB; Kannel's own default limit is far below
MAX_DRAIN_BYTES = 4 * 1024 * 1024  # a larger body than this is cut off unread
MAX_LINE = 64 * 1024  # request line (a GET's query holds the text) and each header line
MAX_HEADERS = 100
MAX_HEAD = 2 * MAX_LINE + 16 * 1024  # the request line, the headers and their line ends
INLINE_BYTES = 16 * 1024  # requests up to this size are checked on the event loop itself
BACKLOG = 1024
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


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _checker() -> ThreadPoolExecutor:
    """The worker threads for large requests, shared by all listeners: two, one per core here."""
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sms-check")
        return _executor


@dataclass(slots=True)
class Decision:
    """What the check made of one request, carried to its journal row."""

    ref: str
    cfg: Config
    sms: Sms | None = None
    passed: bool = False  # not a send request: forwarded as it is, no decision
    refusal: Answer | None = None
    verdict: str = "clean"
    reason: str = "clean"
    kind: str = ""
    sample: str = ""
    findings: int = 0
    seconds: float = 0.0


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

    def check(self, req: Request) -> Decision:
        """The decision on one request before it is forwarded (CPU only, no I/O)."""
        t0 = time.perf_counter()
        ref = new_ref()
        d = Decision(ref, self.config())
        try:
            d.sms = self.dialect.read(req)
            if d.sms is None:  # not a send request (Jasmin's /balance, a provider's GET)
                d.passed = True
                return d
            result = check_text(d.sms.text, self.finder())
            if result.findings:
                f = result.findings[0]
                d.verdict, d.reason, d.kind, d.sample = "link", "link_found", f.kind, _sample(f.url)
                d.findings = len(result.findings)
                d.refusal = self.refusal("link", ref, safe(f.text, 80))
            elif d.sms.options:
                d.verdict, d.reason = "link", "refused_option"
                d.refusal = self.refusal("option", ref, safe(d.sms.options[0], 40))
        except Unreadable as e:
            d.verdict, d.reason = "error", "unreadable"
            if self.p.on_error != "forward" or e.refusal == "too_large":
                d.refusal = self.refusal(e.refusal, ref, safe(str(e), 200))
        except Exception:
            log.exception("sms_proxy %s: cannot check a send request (ref %s)", self.listener, ref)
            d.verdict, d.reason = "error", "error"
            if self.p.on_error != "forward":
                d.refusal = self.refusal("error", ref)
        if d.refusal is not None and d.cfg.mode == "dry_run" and d.verdict == "link":
            d.refusal = None  # dry_run: journaled and counted as refused, sent all the same
        d.seconds = time.perf_counter() - t0
        self.metrics.sms_duration.observe(d.seconds)
        if d.refusal is not None:
            self._decided(d, "reject", "reject")
        return d

    async def handle(self, req: Request) -> Answer:
        """The answer to one request: checked (inline when short, else in a worker thread, so that
        one large text does not hold up the other senders), then refused or forwarded."""
        if len(req.target) + len(req.body) <= INLINE_BYTES:
            d = self.check(req)
        else:
            d = await asyncio.get_running_loop().run_in_executor(_checker(), self.check, req)
        if d.refusal is not None:
            return d.refusal
        try:
            answer = await self.upstream.send(req)
        except (OSError, ValueError) as e:
            self.metrics.sms_upstream_errors.inc()
            log.error("sms_proxy %s: upstream %s: %s (ref %s)", self.listener, self.p.upstream, e, d.ref)
            if not d.passed:  # the upstream failed: an error, and nothing was sent
                d.verdict, d.reason, d.kind, d.sample, d.findings = "error", "upstream_error", "", "", 0
                self._decided(d, "reject", "reject")
            return self.refusal("upstream", d.ref)
        if not d.passed:
            self._decided(d, "reject" if d.verdict == "link" else "accept", "accept")
        return answer

    def _decided(self, d: Decision, action: str, applied: str) -> None:
        sms = d.sms
        self.metrics.sms.labels(self.p.dialect, d.verdict).inc()
        sender = sender_name(sms.sender) if sms else ""
        recipients = sms.recipients if sms else 0
        log.info(
            "sms listener=%s action=%s applied=%s reason=%s ref=%s sender=%s recipients=%d ms=%.2f",
            self.listener,
            action,
            applied,
            d.reason,
            d.ref,
            sender or "-",
            recipients,
            d.seconds * 1000,
        )
        size = len(sms.text.encode("utf-8", "replace")) if sms else 0
        record = SmsRecord(
            d.ref,
            self.listener,
            action,
            applied,
            d.reason,
            sender,
            recipients,
            size,
            d.seconds,
            d.kind,
            d.sample,
            d.findings,
        )
        self.journal.sms(record, d.cfg)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def answer_bytes(a: Answer, close: bool) -> bytes:
    head = [f"HTTP/1.1 {a.status} {_phrase(a.status)}"]
    if a.headers:
        head += [f"{k}: {v}" for k, v in a.headers if k.lower() != "content-length"]
    else:
        head.append(f"Content-Type: {a.content_type}")
    head.append(f"Content-Length: {len(a.body)}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + a.body


def _head_end(buf: bytearray) -> int:
    """Where the request's head ends (after its empty line, CRLF or LF as HTTP allows), or -1
    while it is not all there."""
    a = buf.find(b"\n\r\n")
    b = buf.find(b"\n\n")
    if a < 0:
        return b + 2 if b >= 0 else -1
    return a + 3 if b < 0 or a < b else b + 2


class _Client(asyncio.Protocol):
    """One sender's connection: requests read one after the other (pipelined ones wait)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.proxy = server.proxy
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.deadline = 0.0  # loop time by which the next request must be in whole; 0: none
        self.busy = False  # a request is being checked or forwarded
        self.done = False  # answered for the last time (or gone): nothing more is read
        self.drain = 0  # bytes of a refused request still to be read and dropped before the close
        self.paused = False
        self.continued = False
        self.admitted = False
        self.eof = False  # the sender has half-closed: answer what it sent, then close

    # -- the connection -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        srv = self.server
        if srv.active >= srv.max_connections:  # over max_connections: answer at once, close
            self.done = True
            transport.write(answer_bytes(self.proxy.refusal("busy", new_ref()), True))
            transport.close()
            return
        srv.active += 1
        self.admitted = True
        srv.clients.add(self)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self.done = True
        self.deadline = 0.0
        if self.admitted:
            self.admitted = False
            self.server.active -= 1
            self.server.clients.discard(self)

    def _arm(self) -> None:
        """The next request, all of it, within client_timeout from now (Server._sweep looks)."""
        self.deadline = self.server.loop.time() + self.proxy.p.client_timeout

    def _timed_out(self) -> None:
        self.deadline = 0.0  # a sender that is silent, trickles or reads no answers: cut off
        self.done = True
        if self.transport is not None:
            self.transport.abort()

    def pause_writing(self) -> None:  # the sender reads no answers: read no more requests
        if self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.paused and not self.busy:
            self.paused = False
            self.transport.resume_reading()

    # -- reading --------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.drain:
            self.drain -= min(self.drain, len(data))
            if not self.drain and self.transport is not None:
                self.transport.close()
            return
        if self.done:
            return
        self.buf += data
        if not self.busy:
            self._next()
        elif len(self.buf) > MAX_HEAD and not self.paused and self.transport is not None:
            self.paused = True  # pipelined requests wait, read no further than this
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        return self.busy  # half-closed after its request: answer it, then close

    def _refuse(self, kind: Refusal, detail: str, drain: int = 0) -> None:
        self._write(self.proxy.refusal(kind, new_ref(), detail), True, drain)

    def _next(self) -> None:
        buf = self.buf
        end = _head_end(buf)
        if end < 0:
            if buf.find(b"\n") < 0 and len(buf) > MAX_LINE:
                self._refuse("too_large", f"the request line is over {MAX_LINE} bytes", MAX_DRAIN_BYTES)
            elif len(buf) > MAX_HEAD:
                self._refuse("too_large", "the request's head is too large", MAX_DRAIN_BYTES)
            return
        head = self._head(bytes(buf[:end]))
        if isinstance(head, Answer):
            self._write(head, True)
            return
        method, target, headers, n, close = head
        if n > MAX_BODY_BYTES:  # read it (up to a bound), so that the sender sees the answer
            left = min(n, MAX_DRAIN_BYTES) - (len(buf) - end)
            del buf[:]
            self._refuse("too_large", f"the body is over {MAX_BODY_BYTES} bytes", max(left, 0))
            return
        if len(buf) - end < n:
            if not self.continued and any(
                k.lower() == "expect" and v.lower() == "100-continue" for k, v in headers
            ):
                self.continued = True
                assert self.transport is not None
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        body = bytes(buf[end : end + n])
        del buf[: end + n]
        self.continued = False
        req = Request(method, target, headers, body)
        self.busy = True
        self.deadline = 0.0  # read whole: upstream_timeout governs from here
        self.server.loop.create_task(self._answer(req, close))

    def _head(self, raw: bytes) -> tuple[str, str, tuple[tuple[str, str], ...], int, bool] | Answer:
        """(method, target, headers, Content-Length, close after) of a request's head, or the
        refusal of a head that cannot be read."""
        bad = self.proxy.refusal
        lines = raw.decode("iso-8859-1").split("\n")
        parts = lines[0].rstrip("\r").split()
        if len(lines[0]) > MAX_LINE:
            return bad("too_large", new_ref(), f"the request line is over {MAX_LINE} bytes")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return bad("unreadable", new_ref(), "not an HTTP/1.x request line")
        method, target, version = parts
        lines = lines[1:-2] if lines[-2] in ("", "\r") else lines[1:-1]
        if len(lines) > MAX_HEADERS:
            return bad("too_large", new_ref(), "too many headers")
        headers = []
        fields = {}
        for line in lines:
            if len(line) > MAX_LINE:
                return bad("too_large", new_ref(), "a header line is too long")
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            if "\r" in value or not name or any(c in name for c in " \t\r"):  # no smuggling upstream
                return bad("unreadable", new_ref(), "a malformed header line")
            headers.append((name, value))
            fields[name.lower()] = value
        conn = fields.get("connection", "").lower()
        close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
        if "transfer-encoding" in fields:
            return bad("unreadable", new_ref(), "chunked bodies are not read; send a Content-Length")
        length = fields.get("content-length", "0")
        if not length.isdigit():
            return bad("unreadable", new_ref(), "Content-Length is not a number")
        return method, target, tuple(headers), int(length), close

    # -- answering ------------------------------------------------------------------------------

    async def _answer(self, req: Request, close: bool) -> None:
        try:
            a = await self.proxy.handle(req)
        except Exception:  # nolink's own failure: an error to the sender, nothing forwarded
            log.exception("sms_proxy %s: cannot answer a request", self.proxy.listener)
            a, close = self.proxy.refusal("error", new_ref()), True
        self.busy = False
        self._write(a, close or (self.eof and not self.buf))  # half-closed: after its last request
        if not self.done:
            if self.paused and self.transport is not None and not self.transport.is_reading():
                self.paused = False
                self.transport.resume_reading()
            if self.buf:
                self._next()

    def _write(self, a: Answer, close: bool, drain: int = 0) -> None:
        t = self.transport
        if t is None or self.done or t.is_closing():
            return
        t.write(answer_bytes(a, close))
        if not close:
            self._arm()
            return
        self.done = True
        self.buf.clear()
        if drain > 0:  # read on (and drop) what the sender still sends, then close
            self.drain = drain
            if self.paused:
                t.resume_reading()
            if not self.deadline:
                self._arm()
        else:
            t.close()


class Server:
    """One [[sms_proxy]] listener: serve_forever() runs its event loop in the calling thread,
    shutdown() (from another thread) stops it, server_close() closes the listening socket."""

    def __init__(self, sock: socket.socket, proxy: Proxy) -> None:
        self.socket = sock
        self.server_address = sock.getsockname()
        self.proxy = proxy
        self.max_connections = proxy.p.max_connections
        self.active = 0
        self.clients: set[_Client] = set()
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._running = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            try:
                self.loop.run_until_complete(self._close())
                self.loop.close()
            finally:
                self._stopped.set()  # shutdown() never waits forever

    async def _close(self) -> None:
        for c in list(self.clients):
            if c.transport is not None:
                c.transport.abort()
        self.proxy.upstream.close()
        me = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not me]  # requests in flight: not sent on
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the aborts run

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await self.loop.create_server(lambda: _Client(self), sock=self.socket, backlog=BACKLOG)
        self._sweep()
        self._running.set()
        try:
            await self._stop.wait()
        finally:
            server.close()

    def _sweep(self) -> None:
        """Cut off the connections past their deadline; a look every tenth of client_timeout (at
        most every half second) instead of a timer per request, which cost more than the parser."""
        now = self.loop.time()
        for c in [c for c in self.clients if c.deadline and c.deadline <= now]:
            c._timed_out()
        self.loop.call_later(min(0.5, self.proxy.p.client_timeout / 10), self._sweep)

    def shutdown(self) -> None:
        if not self._running.is_set() or self._stopped.is_set():
            return
        stop = self._stop
        assert stop is not None
        self.loop.call_soon_threadsafe(stop.set)
        self._stopped.wait()

    def server_close(self) -> None:
        self.socket.close()


def raise_fd_limit(needed: int) -> None:
    """Raise the soft limit on open files to `needed` (up to the hard limit): each admitted
    connection takes a descriptor, and one more to the upstream, and 1024 is a common default."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError) as e:
            log.warning("sms_proxy: cannot raise the open-files limit from %d to %d: %s", soft, want, e)
    if hard != resource.RLIM_INFINITY and hard < needed:
        log.warning(
            "sms_proxy: max_connections needs about %d open files, the hard limit is %d: raise it "
            "(LimitNOFILE= in the systemd unit) or lower max_connections",
            needed,
            hard,
        )


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
    sock = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        raise NolinkError(f"sms_proxy.listen = {p.listen!r}: cannot listen there: {e.strerror}") from None
    sock.setblocking(False)
    return Server(sock, proxy)


def start_all(
    config: Callable[[], Config], finder: Callable[[], TextFinder], metrics: Metrics, journal: Journal
) -> list[Server]:
    """Every [[sms_proxy]] listener, serving in daemon threads (nolink serve)."""
    servers = []
    raise_fd_limit(256 + sum(2 * p.max_connections for p in config().sms_proxy))
    for p in config().sms_proxy:
        server = make_server(p, config, finder, metrics, journal)
        threading.Thread(target=server.serve_forever, name=f"sms-proxy-{p.listen}", daemon=True).start()
        log.info("SMS proxy (%s) listening on %s, upstream %s", p.dialect, p.listen, p.upstream)
        servers.append(server)
    return servers
