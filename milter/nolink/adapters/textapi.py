"""POST /v1/check-text: the SMS channel over HTTP, for gateways that call a local service.

    POST /v1/check-text  {"text": "..."}          -> {"verdict": "link"|"clean", "findings": [...]}
    POST /v1/check-text  {"texts": ["...", ...]}  -> [{"verdict": ..., "findings": [...]}, ...]

Each text is UTF-8 of at most MAX_TEXT_BYTES (64 KiB); a batch holds at most MAX_BATCH (1,000)
texts and its body at most MAX_BODY_BYTES. Bad JSON or a wrong shape is 400 with
{"error": "..."}; too large is 413; a missing or wrong bearer token (text_api.token_file) is 401.
HTTP/1.1 with keep-alive on a ThreadingHTTPServer (one thread per connection): a gateway keeps
its connection open and pays no handshake per SMS. Nothing of the texts is logged.

Bounded, because it runs in the milter's own process (``nolink serve``): at most
text_api.max_connections connections at once (one more is answered 503 at once and closed, by the
accepting thread), each read or idle wait at most text_api.timeout seconds (a half-sent request
does not hold a thread), a listen backlog of 1024, and the connection threads at a lower CPU
priority (nice +10, per thread on Linux) so that under load the kernel runs the milter's threads
first. A body is checked by at most CHECKERS threads at once: a flood of texts takes at most that
share of the process's interpreter lock from the milter's threads. A host with heavy SMS traffic
runs the endpoint as its own process and unit: ``nolink serve --no-milter``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, TextApiConfig, parse_listen
from ..errors import ConfigError, NolinkError
from ..metrics import Metrics
from ..textcheck import check_text

if TYPE_CHECKING:  # the milter process loads the finders only when this endpoint is on
    from ..links.text import TextFinder

PATH = "/v1/check-text"
MAX_TEXT_BYTES = 64 * 1024
MAX_BATCH = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024  # a full batch of SMS-sized texts, JSON-escaped, fits with room
CHECKERS = 2  # bodies checked at once
BACKLOG = 1024  # connections the kernel queues before accept (capped by net.core.somaxconn)
NICE = 10  # added to the connection threads' nice value
log = logging.getLogger("nolink")


class BadInput(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_token(t: TextApiConfig) -> str:
    """The bearer token from text_api.token_file ("" when none is configured)."""
    if not t.token_file:
        return ""
    try:
        token = Path(t.token_file).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"text_api.token_file = {t.token_file!r}: cannot read it: {e.strerror}") from None
    if not token:
        raise ConfigError(f"text_api.token_file = {t.token_file!r} is empty: write the token into it")
    return token


def _texts(body: bytes) -> tuple[list[str], bool]:
    """(texts, batch?) from a request body, or BadInput."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadInput(HTTPStatus.BAD_REQUEST, "the body is not UTF-8") from None
    except ValueError as e:
        raise BadInput(HTTPStatus.BAD_REQUEST, f"the body is not JSON: {e}") from None
    except RecursionError:  # [[[[... nested deeper than the parser goes
        raise BadInput(HTTPStatus.BAD_REQUEST, "the body is JSON nested too deep") from None
    if not isinstance(obj, dict) or ("text" in obj) == ("texts" in obj):
        raise BadInput(HTTPStatus.BAD_REQUEST, 'send {"text": "..."} or {"texts": ["...", ...]}')
    batch = "texts" in obj
    texts: Any = obj["texts"] if batch else [obj["text"]]
    if not isinstance(texts, list) or not all(isinstance(x, str) for x in texts):
        raise BadInput(HTTPStatus.BAD_REQUEST, '"text" must be a string and "texts" a list of strings')
    if len(texts) > MAX_BATCH:
        raise BadInput(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BATCH} texts in one batch")
    for i, t in enumerate(texts):
        try:
            size = len(t.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate (\ud800) in the JSON
            raise BadInput(HTTPStatus.BAD_REQUEST, f"text {i} is not valid Unicode") from None
        if size > MAX_TEXT_BYTES:
            raise BadInput(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"text {i} is over {MAX_TEXT_BYTES} bytes")
    return texts, batch


class TextApi:
    """The endpoint's state: the finder, the token and the metrics. Thread-safe."""

    def __init__(self, finder: Callable[[], TextFinder], metrics: Metrics, token: str = "") -> None:
        self.finder = finder  # the current configuration's finder (nolink serve reloads it)
        self.metrics = metrics
        self.token = token
        self.checkers = threading.BoundedSemaphore(CHECKERS)

    def answer(self, body: bytes) -> tuple[HTTPStatus, object]:
        t0 = time.perf_counter()
        with self.checkers:
            try:
                texts, batch = _texts(body)
            except BadInput as e:
                return e.status, {"error": str(e)}
            finder = self.finder()
            results = [check_text(t, finder) for t in texts]
        for r in results:
            self.metrics.texts.labels(r.verdict).inc()
        self.metrics.text_duration.observe(time.perf_counter() - t0)
        out = [r.to_json() for r in results]
        return HTTPStatus.OK, out if batch else out[0]

    def authorised(self, header: str | None) -> bool:
        if not self.token:
            return True
        scheme, _, value = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())


MAX_HEADERS = 100


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    timeout = 15.0  # the socket's: each read, and the idle wait between requests (text_api.timeout)
    server_version = "nolink"
    sys_version = ""
    disable_nagle_algorithm = True  # an answer is one write: send it now
    api: TextApi  # set on the subclass made by make_server
    fields: dict[str, str]
    raw_requestline: bytes  # read by handle_one_request before parse_request

    def parse_request(self) -> bool:
        """The request line and headers, without the e-mail parser http.server uses for headers
        (which took half of the time of a request). Only what this endpoint reads is kept."""
        line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = line
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"
            self.close_connection = True
            self._reply(HTTPStatus.BAD_REQUEST, {"error": "not an HTTP/1.x request line"}, close=True)
            return False
        self.command, self.path, self.request_version = parts
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("iso-8859-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        else:
            self._reply(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, {"error": "too many headers"}, close=True)
            return False
        self.fields = fields
        conn = fields.get("connection", "").lower()
        self.close_connection = conn == "close" or (
            self.request_version == "HTTP/1.0" and conn != "keep-alive"
        )
        if fields.get("expect", "").lower() == "100-continue":  # curl sends it for bodies over 1 KiB
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ValueError):  # timed out half-way (TimeoutError), reset, closed: drop it
            self.close_connection = True

    def _reply(self, status: HTTPStatus, obj: object, close: bool = False) -> None:
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        head = [
            f"HTTP/1.1 {status.value} {status.phrase}",
            "Content-Type: application/json; charset=utf-8",
            f"Content-Length: {len(body)}",
        ]
        if status == HTTPStatus.UNAUTHORIZED:
            head.append('WWW-Authenticate: Bearer realm="nolink"')
        if close:
            head.append("Connection: close")
            self.close_connection = True
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body)  # one write

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._discard()
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint; POST {PATH}"})
            return
        if not self.api.authorised(self.fields.get("authorization")):
            self._discard()
            self._reply(HTTPStatus.UNAUTHORIZED, {"error": "send Authorization: Bearer TOKEN"})
            return
        length = self.fields.get("content-length")
        if self.fields.get("transfer-encoding") or length is None or not length.isdigit():
            self._reply(HTTPStatus.LENGTH_REQUIRED, {"error": "send a Content-Length"}, close=True)
            return
        n = int(length)
        if n > MAX_BODY_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"}, close=True)
            return
        body = self.rfile.read(n)
        if len(body) < n:  # the client closed before sending what it announced
            self.close_connection = True
            return
        try:
            status, obj = self.api.answer(body)
        except Exception:  # a bug must cost one answer, not the connection without one
            log.exception("text API: cannot answer a request")
            status, obj = HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error; see the log"}
        self._reply(status, obj)

    def do_GET(self) -> None:
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"POST {PATH} with a JSON body"})

    def _discard(self) -> None:
        length = self.fields.get("content-length", "")
        if length.isdigit() and int(length) <= MAX_BODY_BYTES:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # no request lines: texts stay private
        return


def _busy_reply() -> bytes:
    body = b'{"error": "too many connections (text_api.max_connections); retry"}'
    return (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
        b"Retry-After: 1\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG
    max_connections = 128  # text_api.max_connections
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.active = 0
        self._count = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count:
            full = self.active >= self.max_connections
            if not full:
                self.active += 1
        if full:  # answered here, by the accepting thread, without blocking it
            try:
                request.setblocking(False)
                request.send(_busy_reply())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread could be started
            self._release()
            self.shutdown_request(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            with suppress(OSError):  # Linux: a thread's own nice value
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + NICE
                )
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        with self._count:
            self.active -= 1


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(config: Config, finder: Callable[[], TextFinder], metrics: Metrics) -> Server | None:
    """The endpoint bound to text_api.listen (not yet serving), or None when it is off."""
    t = config.text_api
    addr = parse_listen(t.listen, "text_api.listen")
    if addr is None:
        return None
    api = TextApi(finder, metrics, read_token(t))
    handler = type("BoundHandler", (Handler,), {"api": api, "timeout": t.timeout})
    cls = Server6 if ":" in addr[0] else Server
    try:
        bound: type[Server] = type(cls.__name__, (cls,), {"max_connections": t.max_connections})
        return bound(addr, handler)
    except OSError as e:
        raise NolinkError(f"text_api.listen = {t.listen!r}: cannot listen there: {e.strerror}") from None


def start(config: Config, finder: Callable[[], TextFinder], metrics: Metrics) -> Server | None:
    """Serve the endpoint in a daemon thread (nolink serve); None when text_api.listen is ""."""
    server = make_server(config, finder, metrics)
    if server is not None:
        threading.Thread(target=server.serve_forever, name="text-api", daemon=True).start()
        log.info("text API listening on %s%s", config.text_api.listen, PATH)
    return server


def _start_sms_proxies(config: Config, finder: Callable[[], TextFinder], metrics: Metrics) -> Any:
    """[[sms_proxy]] listeners of an SMS-only host, with the journal their decisions go to."""
    if not config.sms_proxy:
        return None
    from ..ops.journal import Journal
    from .smsproxy.server import start_all

    journal = Journal.for_config(
        config.journal,
        metrics.journal_errors.inc,
        metrics.journal_dropped.inc,
        on_reopen=metrics.journal_reopened.inc,
    )
    start_all(lambda: config, finder, metrics, journal.start())
    return journal


def serve_only(config: Config) -> int:
    """nolink serve --no-milter: only the text endpoint (and /metrics), until SIGTERM or SIGINT."""
    import prometheus_client

    from ..metrics import serve_http
    from ..scan import Scanner

    if not config.text_api.listen and not config.sms_proxy:
        raise ConfigError(
            'serve --no-milter needs text_api.listen, e.g. "127.0.0.1:9429", or an [[sms_proxy]]'
        )
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    scanner = Scanner(config)
    metrics = Metrics()
    metrics.configured(config, scanner.psl.source, scanner.psl.version)
    serve_http(metrics, config.metrics.listen)
    server = make_server(config, lambda: scanner.text, metrics)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: stop.set())
    if server is not None:
        thread = threading.Thread(target=server.serve_forever, name="text-api", daemon=True)
        thread.start()
        log.info("nolink text API listening on %s%s (no milter)", config.text_api.listen, PATH)
    journal = _start_sms_proxies(config, lambda: scanner.text, metrics)
    while not stop.wait(1.0):
        pass
    if server is not None:
        server.shutdown()
        server.server_close()
    if journal is not None:
        journal.close()
    log.info("nolink stopped")
    return 0
