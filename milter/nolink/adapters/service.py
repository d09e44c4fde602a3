"""The pymilter adapter: Postfix talks to this; the decision is made by scan.py and policy.py.

One NolinkMilter object per SMTP connection (libmilter calls it from its own threads). A message is
collected (envelope, byte-exact headers, body spooled to disk above milter.spool_threshold) and
decided at end-of-message by a worker process (workers.py) that is killed past milter.timeout. Any
exception, time-out or dead worker becomes milter.on_error: one message never takes the process
down and is never silently lost.

Over TCP every step answers (no "no reply" steps, and the DATA step is taken): a packet that gets
no reply leaves the MTA's next small write waiting for the milter's delayed ACK (Nagle's
algorithm), ~40 ms per message (seen with tcpdump: a lone 20-byte macro packet, ACK after 41 ms).
A reply carries the ACK at once. Over a unix socket, which has no Nagle delay, the steps that
always continue are negotiated as "no reply" (NolinkMilter.negotiate).
"""

from __future__ import annotations

import grp
import importlib
import logging
import os
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import Milter
import prometheus_client

from ..config import Config, load
from ..dkim.check import DkimResult
from ..errors import NolinkError
from ..findings import ScanResult
from ..metrics import Metrics, serve_http
from ..ops.journal import Journal
from ..policy import (
    AUTH_RESULTS,
    HEADER,
    Decision,
    auth_results,
    authserv_id,
    authserv_of,
    decide,
    error_text,
    header_value,
    log_line,
    new_ref,
    smtp_reply,
)
from ..scope import Envelope, domain_of, out_of_scope
from . import early, textapi
from .notify import monotonic_usec, notify
from .workers import InProcessPool, Job, Outcome, WorkerFailure, WorkerPool

if TYPE_CHECKING:  # the milter process loads the finders only for the SMS endpoint
    from ..links.text import TextFinder

# pymilter's C module is the top-level "milter"; imported by name so that type checkers, which
# see our source root milter/ first, do not mistake one for the other.
libmilter: Any = importlib.import_module("milter")
log = logging.getLogger("nolink")
FLAGS = libmilter.ADDHDRS | libmilter.CHGHDRS | libmilter.QUARANTINE
# the steps whose callback always continues: "no reply" over a unix socket (NolinkMilter.negotiate)
NO_REPLY_STEPS = Milter.P_NR_CONN | Milter.P_NR_RCPT | Milter.P_NR_HDR | Milter.P_NR_DATA | Milter.P_NR_BODY


Pool = WorkerPool | InProcessPool
STOPPING_TEXT = "nolink is restarting; try again later"


@dataclass(frozen=True, slots=True)
class State:
    """Everything a message is decided under; replaced whole on reload, never mutated. The pool's
    workers were built for this config: in-flight messages finish there after a reload."""

    config: Config
    pool: Pool
    authserv: str = ""  # authserv_id(config), looked up once (the host name is a system call)


class Service:
    """Shared by all connections: the current State, the in-flight count, the stop flag."""

    def __init__(
        self,
        config: Config,
        metrics: Metrics | None = None,
        pool_factory: Callable[[Config, Metrics], Pool] | None = None,
    ) -> None:
        self.metrics = metrics or Metrics()
        self.pool_factory = pool_factory or (lambda cfg, m: WorkerPool(cfg, observer=m))
        self.state = State(config, self.pool_factory(config, self.metrics), authserv_id(config))
        self.metrics.configured(config, self.state.pool.psl_source, self.state.pool.psl_version)
        self._lock = threading.Lock()
        self._inflight = 0
        self._users: dict[int, int] = {}  # id(State) -> messages in flight under it
        self._retired: dict[int, State] = {}
        self.idle = threading.Condition(self._lock)
        self.stopping = False  # set by SIGTERM: new messages get 451 at once
        # over a unix socket the steps that always continue get no reply (see NolinkMilter.negotiate)
        self.no_reply = libmilter_address(config.milter.socket).startswith(("unix:", "local:"))
        self.journal = Journal.for_config(
            config.journal,
            self.metrics.journal_errors.inc,
            self.metrics.journal_dropped.inc,
            on_reopen=self.metrics.journal_reopened.inc,
        ).start()

    def reload(self, path: str | None) -> bool:
        """Re-read and validate the config and start workers for it; swap it in only if all of it
        loads. Messages in flight finish with the old workers; the socket is not re-opened."""
        notify("RELOADING=1", monotonic_usec(), "STATUS=reloading configuration")
        try:
            cfg = load(path)
            pool = self.pool_factory(cfg, self.metrics)  # the workers build the Scanner: a bad PSL fails here
        except Exception as e:  # a bad file, a bad PSL, anything: the old config keeps serving
            self.metrics.reload_failed()
            log.error("reload refused, the previous configuration stays in force: %s", e)
            notify(
                "READY=1", f"STATUS=reload refused ({type(e).__name__}); serving the previous configuration"
            )
            return False
        new = State(cfg, pool, authserv_id(cfg))
        old_state = self.state
        old = old_state.config
        for key, a, b in (
            ("milter.socket", old.milter.socket, cfg.milter.socket),
            ("milter.socket_mode", old.milter.socket_mode, cfg.milter.socket_mode),
            ("metrics.listen", old.metrics.listen, cfg.metrics.listen),
            ("text_api", old.text_api, cfg.text_api),
            ("sms_proxy", old.sms_proxy, cfg.sms_proxy),
            ("journal", old.journal, cfg.journal),
            ("central", old.central, cfg.central),
        ):
            if a != b:
                log.warning("%s changed from %r to %r: this takes effect only after a restart", key, a, b)
        with self._lock:
            self.state = new
            if self._users.get(id(old_state), 0) > 0:
                self._retired[id(old_state)] = old_state  # closed when its last message ends
            else:
                old_state.pool.close()
        self.metrics.reloads.labels("success").inc()
        self.metrics.configured(cfg, pool.psl_source, pool.psl_version)
        log.info("reloaded %s (sha256 %s, mode %s)", cfg.source, cfg.digest or "-", cfg.mode)
        notify("READY=1", f"STATUS=serving {cfg.source} (mode {cfg.mode})")
        return True

    def begin(self) -> State | None:
        """The State a new message is decided under, or None when nolink is stopping."""
        with self._lock:
            if self.stopping:
                return None
            self._inflight += 1
            st = self.state
            self._users[id(st)] = self._users.get(id(st), 0) + 1
            return st

    def end(self, st: State) -> None:
        with self._lock:
            self._inflight -= 1
            n = self._users[id(st)] = self._users.get(id(st), 1) - 1
            if n <= 0:
                del self._users[id(st)]
                retired = self._retired.pop(id(st), None)
                if retired is not None:
                    retired.pool.close()
            if self._inflight <= 0:
                self.idle.notify_all()

    @property
    def inflight(self) -> int:
        with self._lock:
            return self._inflight

    def drain(self, timeout: float) -> bool:
        """Wait until no message is being decided (for a graceful stop)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._inflight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle.wait(left)
        return True

    def close(self) -> None:
        """Stop every worker (after drain), then write what the journal still has queued."""
        with self._lock:
            states = [self.state, *self._retired.values()]
            self._retired.clear()
        for st in states:
            st.pool.terminate()
        self.journal.close()


@Milter.header_leading_space
class NolinkMilter(Milter.Base):
    def __init__(self, service: Service) -> None:
        self.service = service
        self.daemon_name = ""
        self.connected = False
        self._reset()

    def _reset(self) -> None:
        self.state: State | None = None
        self.sender = ""
        self.recipients: list[str] = []
        self.headers: list[bytes] = []
        self.from_domains: list[str] = []
        self.seen: dict[str, int] = {}  # header name (lower case) -> occurrences so far
        self.strip: list[tuple[str, int]] = []  # arriving headers only nolink may write: (name, index)
        # the body: chunks in memory, or a file past milter.spool_threshold (chunks is None then,
        # and between messages)
        self.chunks: list[bytes] | None = None
        self.buffered = 0
        self.spool: IO[bytes] | None = None
        self.scoped: bool | None = None  # in scope, as eoh found it (None: not looked at yet)
        self.size = 0

    def _finish(self) -> None:
        if self.state is not None:
            self.service.end(self.state)
        if self.spool is not None:
            self.spool.close()
        self._reset()

    # -- callbacks -----------------------------------------------------------------------------

    def negotiate(self, opts: list[int]) -> int:
        """pymilter's negotiation, plus "no reply" for the steps that always continue (connect,
        RCPT, each header, DATA, body) when nolink listens on a unix socket and the MTA offers it.
        Over a unix socket there is no Nagle delay, so Postfix streams the headers instead of
        waiting for a "continue" after each one: about 16 round trips (two context switches and a
        write on each side) fewer per message. Over TCP every step keeps its reply (see data())."""
        offered = opts[1]
        rc = int(super().negotiate(opts))
        if rc == Milter.CONTINUE and self.service.no_reply:
            self._protocol = int(getattr(self, "_protocol", 0)) | (offered & NO_REPLY_STEPS)
            opts[1] = self._protocol
        return rc

    def _continue(self, step: int) -> int:
        """CONTINUE, or NOREPLY for a step negotiated as "no reply" (libmilter then sends none)."""
        return Milter.NOREPLY if getattr(self, "_protocol", 0) & step else Milter.CONTINUE

    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        self.connected = True
        self.service.metrics.connections.inc()
        self.service.metrics.connections_active.inc()
        try:
            self.daemon_name = self.getsymval("{daemon_name}") or ""
        except Exception:
            self.service.metrics.error("connect")
            log.exception("cannot read the {daemon_name} macro")
        return self._continue(Milter.P_NR_CONN)

    def envfrom(self, mailfrom: str, *params: str) -> int:
        self._finish()  # a connection may carry several messages
        self.state = self.service.begin()  # in-flight messages keep the config they started with
        if self.state is None:  # stopping: no new work; Postfix tells the client 451 and it retries
            self.setreply("451", "4.3.2", STOPPING_TEXT)
            return Milter.TEMPFAIL
        self.sender = mailfrom
        self.chunks = []
        return Milter.CONTINUE

    def envrcpt(self, to: str, *params: str) -> int:
        self.recipients.append(to)
        return self._continue(Milter.P_NR_RCPT)

    @Milter.decode("bytes")
    def header(self, name: Any, value: Any) -> int:
        n = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
        v = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")
        if not getattr(self, "_protocol", 0) & Milter.P_HDR_LEADSPC:
            v = b" " + v
        if b"\n" in v:  # folded: CRLF folds (DKIM's canonical form)
            v = v.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        line = n.encode("ascii", "replace") + b":" + v + b"\r\n"
        self.headers.append(line)
        self.size += len(line)
        low = n.lower()
        if low == "from":
            self.from_domains.append(domain_of(v.decode("utf-8", "replace").rpartition("<")[2]))
        self.seen[low] = index = self.seen.get(low, 0) + 1
        if low == "x-nolink-verdict" or (
            low == "authentication-results"
            and self.state is not None
            and authserv_of(v.decode("ascii", "replace")) == self.state.authserv.lower()
        ):
            self.strip.append((HEADER if low == "x-nolink-verdict" else AUTH_RESULTS, index))
        return self._continue(Milter.P_NR_HDR)

    def data(self) -> int:
        # Not needed for the decision, but negotiated on purpose: with the DATA step skipped,
        # Postfix still sends that step's macros (the queue id) as a lone packet that gets no
        # reply, and over TCP its next write (the headers) then waits ~40 ms for our delayed ACK.
        # (Over a unix socket there is no such wait, and the step is "no reply" like the headers.)
        return self._continue(Milter.P_NR_DATA)

    def eoh(self) -> int:
        try:
            st = self.state
            if st is None:
                return Milter.CONTINUE
            self.scoped = not out_of_scope(self._envelope(), st.config.scope)
            if not self.scoped and not self.strip:
                rc = self._decide(False)  # decided now: Postfix then skips sending the body
                self._finish()
                return rc
        except Exception:
            self.service.metrics.error("eoh")
            log.exception("qid=%s unexpected error at end of headers", self._qid())
            return self._error_reply("unexpected error at end of headers")
        return Milter.CONTINUE

    def body(self, chunk: bytes) -> int:
        st = self.state
        if st is not None:
            self.size += len(chunk)
            if self.size <= st.config.milter.max_message_size:
                self._keep(chunk, st.config.milter.spool_threshold)
        return self._continue(Milter.P_NR_BODY)

    def _keep(self, chunk: bytes, threshold: int) -> None:
        """A body chunk in memory, or in the spool file once the body passes the threshold
        (closed in _finish(), at the end of the message, whichever callback ends it)."""
        if self.chunks is None:
            if self.spool is not None:
                self.spool.write(chunk)
            return
        self.chunks.append(chunk)
        self.buffered += len(chunk)
        if self.buffered > threshold:
            self.spool = tempfile.TemporaryFile()  # noqa: SIM115
            self.spool.writelines(self.chunks)
            self.chunks = None

    def eom(self) -> int:
        try:
            return self._decide(True)
        except Exception:
            self.service.metrics.error("eom")
            log.exception("qid=%s unexpected error at end of message", self._qid())
            return self._error_reply("unexpected error at end of message")
        finally:
            self._finish()

    def abort(self) -> int:
        self._finish()
        return Milter.CONTINUE

    def close(self) -> int:
        self._finish()
        if self.connected:
            self.connected = False
            self.service.metrics.connections_active.dec()
        return Milter.CONTINUE

    # -- deciding ------------------------------------------------------------------------------

    def _qid(self) -> str:
        try:
            return str(self.getsymval("i") or "")
        except Exception:
            return ""

    def _envelope(self) -> Envelope:
        return Envelope(self.sender, tuple(self.recipients), self.daemon_name, tuple(self.from_domains))

    def _job(self) -> Job:
        """The message for a worker: in memory, or the header block and the path of the spooled
        body (a worker of this process can open /proc/PID/fd/N; nothing big goes through a pipe)."""
        self.headers.append(b"\r\n")
        try:
            if self.spool is not None:
                self.spool.flush()
                return Job(b"".join(self.headers), f"/proc/{os.getpid()}/fd/{self.spool.fileno()}")
            return Job(b"".join(self.headers + (self.chunks or [])))  # one copy of the message
        finally:
            self.headers.pop()

    def _check(self, st: State) -> tuple[ScanResult | None, DkimResult | None, str]:
        """The one place where a decision comes back from a worker: (scan, DKIM, error)."""
        try:
            # the pool answers by milter.timeout, waiting for a free worker included (it kills a
            # worker that runs past it), in this thread
            out: Outcome = st.pool.decide(self._job())
        except WorkerFailure as e:
            log.warning("qid=%s worker failure (%s): %s", self._qid(), e.cause, e)
            return None, None, str(e)
        except Exception as e:
            self.service.metrics.error("scan")
            log.exception("qid=%s scanner failed", self._qid())
            return None, None, f"scanner failed: {type(e).__name__}"
        self.service.metrics.worker_outcome(out)
        return out.result, out.dkim, ""

    def _decide(self, scan: bool) -> int:
        st = self.state
        assert st is not None
        started = time.monotonic()
        cfg = st.config
        ref = new_ref()
        env = self._envelope()
        result: ScanResult | None = None
        dkim_result: DkimResult | None = None
        error = ""
        # out-of-scope mail is decided without a scan (at end of headers, unless headers must go)
        scoped = self.scoped if self.scoped is not None else not out_of_scope(env, cfg.scope)
        if scan and scoped and self.size <= cfg.milter.max_message_size:
            result, dkim_result, error = self._check(st)
        d = decide(cfg, env, result, ref, self.size, error, dkim_result)
        rc = self._apply(cfg, d)
        seconds = time.monotonic() - started
        log.info(log_line(d, self._qid(), self.size, seconds))
        self.service.metrics.decided(d, self.size, seconds, result, dkim_result)
        self.service.journal.decided(d, env, self._qid(), self.size, seconds, cfg)
        return rc

    def _apply(self, cfg: Config, d: Decision) -> int:
        applied = d.applied
        reply = smtp_reply(cfg, d)
        if reply is not None:
            self.setreply(*reply)
            return Milter.REJECT if applied == "reject" else Milter.TEMPFAIL
        self._strip_headers()
        if d.in_scope:  # accepted or held: say what nolink found, above the other headers
            lead = " " if getattr(self, "_protocol", 0) & Milter.P_HDR_LEADSPC else ""
            self.addheader(AUTH_RESULTS, lead + auth_results(self._authserv(cfg), d), 0)
        if applied == "quarantine":
            self._add_header(d)  # Postfix 3.7 drops the hold reason: keep it where postcat shows it
            self.quarantine(f"nolink {d.reason} ref={d.ref}")
        elif d.in_scope and d.reason != "clean" and (d.mode == "enforce" or cfg.milter.dry_run_header):
            self._add_header(d)
        return Milter.ACCEPT

    def _authserv(self, cfg: Config) -> str:
        st = self.state
        return st.authserv if st is not None and st.authserv else authserv_id(cfg)

    def _strip_headers(self) -> None:
        """Remove arriving X-Nolink-Verdict headers and Authentication-Results under our
        authserv-id, so a delivered or held copy says only what nolink said. Last first, so
        that no removal shifts the index of another."""
        for name, index in reversed(self.strip):
            self.chgheader(name, index, "")
            self.service.metrics.headers_removed.labels(name).inc()
        self.strip = []

    def _add_header(self, d: Decision) -> None:
        # With P_HDR_LEADSPC the MTA takes the value as written: the space after the colon is ours.
        lead = " " if getattr(self, "_protocol", 0) & Milter.P_HDR_LEADSPC else ""
        self.addheader(HEADER, lead + header_value(d))

    def _error_reply(self, what: str) -> int:
        st = self.state
        if st is not None and st.config.milter.on_error == "accept":
            return Milter.ACCEPT
        ref = new_ref()
        self.setreply("451", "4.3.0", error_text(ref))
        log.error("qid=%s action=tempfail reason=error ref=%s error=%r", self._qid(), ref, what)
        return Milter.TEMPFAIL


def _text_finder(config: Config) -> TextFinder:
    """The SMS endpoint's finder, imported on first use: the milter process itself never scans
    (its workers do), so without [text_api] it does not load the finders (~25 MB resident)."""
    from ..scan import scanner_for

    return scanner_for(config).text


def _start_sms_proxies(service: Service) -> None:
    """[[sms_proxy]] listeners: texts checked in this process, as for the text API."""
    if not service.state.config.sms_proxy:
        return
    from .smsproxy.server import start_all

    start_all(
        lambda: service.state.config,
        lambda: _text_finder(service.state.config),
        service.metrics,
        service.journal,
    )


def libmilter_address(spec: str) -> str:
    """Config socket syntax to libmilter's: inet:PORT@[v6] becomes inet6:PORT@v6; libmilter's own
    forms (inet6:PORT@ADDR, local:/path, inet:PORT) pass as they are."""
    if spec.startswith(("inet:", "inet6:")) and "@[" in spec:
        port, _, host = spec.split(":", 1)[1].partition("@")
        return f"inet6:{port}@{host.strip('[]')}"
    return spec


def refuse_live_socket(config: Config) -> None:
    """A unix socket another process still accepts on is not ours to take: libmilter would unlink
    it and cut that process (a running nolink) off from Postfix. A stale socket file is fine."""
    address = libmilter_address(config.milter.socket)
    if not address.startswith(("unix:", "local:")):
        return  # a busy TCP port fails to bind on its own
    path = address.split(":", 1)[1]
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return
    except OSError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(path)
        except OSError:
            return  # nobody listens (ECONNREFUSED): left over from a crash, libmilter replaces it
    raise NolinkError(
        f"milter.socket {path} is in use: another process (a nolink already running?) accepts "
        "connections on it. Stop it first (systemctl stop nolink), or give this one another milter.socket"
    )


def register(service: Service, name: str = "nolink") -> None:
    """Tell libmilter about our callbacks (what Milter.runmilter does before opening the socket)."""
    Milter.factory = lambda: NolinkMilter(service)
    libmilter.set_flags(FLAGS)
    libmilter.set_connect_callback(Milter.connect_callback)
    libmilter.set_helo_callback(lambda ctx, host: ctx.getpriv().hello(host))
    libmilter.set_envfrom_callback(lambda ctx, *b: ctx.getpriv().envfrom_bytes(*b))
    libmilter.set_envrcpt_callback(lambda ctx, *b: ctx.getpriv().envrcpt_bytes(*b))
    # straight to header(): its @Milter.decode("bytes") means header_bytes would only pass it on
    libmilter.set_header_callback(lambda ctx, f, v: ctx.getpriv().header(f, v))
    libmilter.set_eoh_callback(lambda ctx: ctx.getpriv().eoh())
    libmilter.set_body_callback(lambda ctx, chunk: ctx.getpriv().body(chunk))
    libmilter.set_eom_callback(lambda ctx: ctx.getpriv().eom())
    libmilter.set_abort_callback(lambda ctx: ctx.getpriv().abort())
    libmilter.set_close_callback(Milter.close_callback)
    libmilter.register(
        name,
        data=lambda ctx: ctx.getpriv().data(),
        unknown=lambda ctx, cmd: ctx.getpriv().unknown(cmd),
        negotiate=Milter.negotiate_callback,
    )


def socket_directory(path: str) -> None:
    """Create a missing socket directory the way Postfix needs it: group postfix, setgid, 2750,
    so the socket inside inherits the group whatever user nolink runs as."""
    d = os.path.dirname(path) or "."
    if os.path.isdir(d):
        return
    os.makedirs(d, mode=0o750)
    try:
        os.chown(d, -1, grp.getgrnam("postfix").gr_gid)
        os.chmod(d, 0o2750)
        log.info("created %s (group postfix, mode 2750)", d)
    except (KeyError, PermissionError):
        log.warning("created %s, but could not give it to group postfix: Postfix may not reach the socket", d)


def open_socket(config: Config) -> None:
    address = libmilter_address(config.milter.socket)
    if address.startswith(("unix:", "local:")):
        socket_directory(address.split(":", 1)[1])
    libmilter.setconn(address)
    mode = int(config.milter.socket_mode, 8)
    old = os.umask(0o777 & ~mode)  # libmilter creates the socket with the process umask
    try:
        libmilter.opensocket(True)  # True: remove a stale socket left by a crash
    finally:
        os.umask(old)
    if address.startswith(("inet:", "inet6:")):
        no_delay_on_listener()


def socket_identity(config: Config) -> tuple[int, int] | None:
    """(device, inode) of the unix socket file this process just created; None for inet sockets."""
    address = libmilter_address(config.milter.socket)
    if not address.startswith(("unix:", "local:")):
        return None
    try:
        st = os.stat(address.split(":", 1)[1])
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


def remove_socket(config: Config, identity: tuple[int, int] | None) -> None:
    """Remove our socket file at exit (libmilter leaves it), but never one another process made
    since (a new nolink that took the path over)."""
    if identity is None:
        return
    path = libmilter_address(config.milter.socket).split(":", 1)[1]
    try:
        st = os.stat(path)
        if (st.st_dev, st.st_ino) == identity:
            os.unlink(path)
    except OSError:
        pass


def no_delay_on_listener() -> None:
    """TCP_NODELAY on libmilter's listening socket; Linux hands it on to every accepted session.

    At end of message nolink writes two small packets (the Authentication-Results header, then
    ACCEPT). With Nagle's algorithm the second waits for Postfix's ACK of the first, which
    Postfix delays by ~40 ms as it has nothing to send: 48 ms per message over inet:, 3 ms over
    unix:. libmilter does not set the option and pymilter does not expose its socket, so the
    listening sockets are found among this process's descriptors (the metrics and SMS endpoints'
    get it too, where it does no harm)."""
    for name in os.listdir("/proc/self/fd"):
        try:
            fd = int(name)
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=os.dup(fd))  # a second handle on the same socket
        except (OSError, ValueError):
            continue
        with s:
            try:
                if s.family in (socket.AF_INET, socket.AF_INET6) and s.getsockopt(
                    socket.SOL_SOCKET, socket.SO_ACCEPTCONN
                ):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                continue


def serve(config: Config, path: str | None = None) -> int:
    """Run until SIGTERM/SIGINT; reload on SIGHUP or SIGUSR1.

    libmilter's loop runs in a thread of its own. It blocks SIGTERM, SIGINT and SIGHUP there (and
    in the threads it starts) and waits for them in a signal thread, which would stop the loop
    (on SIGHUP too) and cut the sessions in flight. Our main thread keeps them unblocked, and the
    kernel gives a process-directed signal to the thread-group leader first when it accepts it, so
    Python's handlers run, promptly, here: SIGHUP and SIGUSR1 reload; a stop refuses new messages
    at once (451), drains the ones in flight (bounded by milter.timeout + 5 s), then stops
    libmilter and the workers. Reload signals that came while starting were held by early.py.
    """
    wake = threading.Event()
    requests: list[str] = []
    services: list[Service] = []

    def on_signal(signum: int, frame: object) -> None:
        if signum in (signal.SIGUSR1, signal.SIGHUP):
            requests.append("reload")
        else:
            requests.append("stop")
            for svc in services:
                svc.stopping = True  # before the main loop wakes: the next MAIL FROM gets 451
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, on_signal)
    for signum in early.take():
        on_signal(signum, None)
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    refuse_live_socket(config)  # before anything is started or replaced
    service = Service(config)
    services.append(service)
    service.stopping = "stop" in requests
    serve_http(service.metrics, config.metrics.listen)
    from ..central import runtime as central_runtime  # [central]: shipper and requests (or nothing)

    central = central_runtime.start(config, service.metrics)
    # SMS (text_api.listen): texts are checked in this process, by a Scanner built on first use
    textapi.start(config, lambda: _text_finder(service.state.config), service.metrics)
    _start_sms_proxies(service)
    register(service)
    open_socket(config)
    ours = socket_identity(config)
    loop_error: list[BaseException] = []

    stop_sent: list[bool] = []

    def run_loop() -> None:
        try:
            libmilter.main()
        except BaseException as e:
            # a stop that reaches libmilter before its loop has begun makes main() fail: that is
            # the stop we asked for (a SIGTERM right after start), not a failure of the loop
            if not stop_sent:
                loop_error.append(e)
        finally:
            wake.set()

    loop = threading.Thread(target=run_loop, name="libmilter", daemon=True)
    loop.start()
    log.info(
        "nolink listening on %s (mode %s, config %s sha256 %s)",
        config.milter.socket,
        config.mode,
        config.source,
        config.digest or "-",
    )
    notify("READY=1", f"STATUS=serving {config.source} (mode {config.mode})", f"MAINPID={os.getpid()}")
    while True:
        wake.wait(1.0)
        wake.clear()
        if "stop" in requests or not loop.is_alive():
            break
        if "reload" in requests:  # several signals while one reload runs: one more reload
            requests[:] = [r for r in requests if r != "reload"]
            service.reload(path)
    notify("STOPPING=1", "STATUS=stopping: finishing the messages in flight")
    n = service.inflight
    if n:
        log.info("stopping: waiting for %d message(s) in flight", n)
    service.stopping = True
    drained = service.drain(config.milter.timeout + 5)
    stop_sent.append(True)
    # libmilter's stop returns only once its loop has seen it, at the loop's next poll: up to 5 s.
    # With nothing in flight there is nothing to wait for: it runs in a daemon thread, which goes
    # with the process, and the socket file is removed below (libmilter leaves it).
    idle = drained and service.inflight == 0
    stopper = threading.Thread(target=libmilter.stop, name="libmilter-stop", daemon=True)
    stopper.start()
    stopper.join(0.2 if idle else 15)
    loop.join(0.2 if idle else 15)
    service.close()
    central.stop()
    remove_socket(config, ours)
    if loop_error:
        log.error("the milter loop failed: %s", loop_error[0])
        return 1
    log.info("nolink stopped%s", "" if drained else " (some messages were still being decided)")
    if idle:
        # nothing left to do: the interpreter's own shutdown would spend about 0.8 s more in C
        # (libmilter's threads, measured), so leave now; the workers are gone, the journal closed
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
