"""Decisions in worker processes: a message that loops, crashes or eats memory costs one worker.

The milter process keeps the protocol; a worker gets a Job (the message bytes, or the headers and
the path of the spooled body) and returns an Outcome (ScanResult and DkimResult, frozen dataclasses
that pickle). Each worker builds its Scanner and DKIM verifier once, when it starts, for the
configuration its pool was made for; a reload makes a new pool and lets the old one finish.

Our own pool on multiprocessing rather than a pool library: each worker has its own pipe, and the
connection's thread that needs a decision takes an idle worker and talks to it itself, so the
thread that waits for a worker is the one that knows which message it is deciding (and no pool
thread has to be woken and wake it back). That makes the three failures exact and cheap to
handle: past the deadline the thread kills that worker (SIGKILL) and answers that message; a
worker that dies (a segfault in a C library, SIGKILL from the OOM killer) is seen as EOF on its
pipe, at once; a MemoryError under milter.worker_memory (RLIMIT_AS) makes the worker answer and
leave. In each case only that message gets milter.on_error; a new worker is started for the slot
after that message is answered, and the others keep flowing. (pebble 5 can kill a task on time-out too, but polls every 0.1 s from three threads, and
an idle worker that dies marks its whole pool broken.)

Workers start from a forkserver (never fork() the multithreaded milter process). Each worker keeps
its own DKIM key cache: keys are cached per worker, so one key may be fetched once per worker.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import resource
import select
import signal
import struct
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import Config
from ..dkim.check import DkimResult
from ..errors import NolinkError
from ..findings import Link, Location, ScanResult, Unscanned

log = logging.getLogger("nolink")
START_TIMEOUT = 120.0  # a worker builds its Scanner (PSL, finders) before it says it is ready
SPILL = 0.010  # seconds a message waits for a busy worker before it wakes an idle one (_take)
CAUSES = ("timeout", "crash", "memory")


class WorkerFailure(NolinkError):
    """A worker could not decide a message: it ran past milter.timeout, died, or ran out of
    memory. The message gets milter.on_error; cause is one of CAUSES (or "start", "closed")."""

    def __init__(self, cause: str, text: str) -> None:
        super().__init__(text)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Job:
    """One message: data is the whole message, or only its header block when body_path names the
    spooled body (big messages: the worker reads the file instead of getting it through a pipe)."""

    data: bytes
    body_path: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    result: ScanResult
    dkim: DkimResult | None
    queue_wait: float = 0.0
    dns: tuple[tuple[str, str, float], ...] = ()  # (outcome, source, seconds) of each key lookup
    pinned_mismatches: int = 0
    ocr: tuple[tuple[str, float], ...] = ()  # (event, seconds) of each image OCR was asked to read


class Observer(Protocol):
    """What the pool reports (metrics.Metrics implements it)."""

    def worker_busy(self, delta: int) -> None: ...
    def worker_restart(self, cause: str) -> None: ...
    def queue_wait(self, seconds: float) -> None: ...
    def worker_recycled(self) -> None: ...


class _NoObserver:
    def worker_busy(self, delta: int) -> None:
        pass

    def worker_restart(self, cause: str) -> None:
        pass

    def queue_wait(self, seconds: float) -> None:
        pass

    def worker_recycled(self) -> None:
        pass


# -- the worker process -------------------------------------------------------------------------


def _send(conn: multiprocessing.connection.Connection, obj: object) -> None:
    """conn.send(obj) in one write(): multiprocessing's framing (a 4-byte big-endian length, or -1
    and 8 bytes), pickled with pickle.dumps rather than ForkingPickler, which builds a pickler and
    copies its dispatch table on every call (10.9 us for a 10 KiB message against 1.9 us), and one
    system call where send_bytes makes two above 16 KiB (the peer would wake for the length)."""
    payload = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    n = len(payload)
    head = struct.pack("!i", n) if n <= 0x7FFFFFFF else struct.pack("!iQ", -1, n)
    view = memoryview(head + payload)
    fd = conn.fileno()
    while view:
        view = view[os.write(fd, view) :]


def _recv(conn: multiprocessing.connection.Connection) -> Any:
    """conn.recv() in as few read()s as the frame allows (one, for anything the socket holds
    whole: the peer never sends a second frame before this one is answered), pickle.loads."""
    fd = conn.fileno()
    buf = os.read(fd, _READ)
    while len(buf) < 4:
        more = os.read(fd, _READ)
        if not more:
            raise EOFError
        buf += more
    (n,) = struct.unpack_from("!i", buf)
    start = 4
    if n == -1:
        while len(buf) < 12:
            more = os.read(fd, _READ)
            if not more:
                raise EOFError
            buf += more
        (n,) = struct.unpack_from("!Q", buf, 4)
        start = 12
    if len(buf) - start < n:  # a big job: read the rest into one buffer
        data = bytearray(n)
        view = memoryview(data)
        got = len(buf) - start
        view[:got] = buf[start:]
        while got < n:
            k = os.readv(fd, [view[got:]])
            if not k:
                raise EOFError
            got += k
        return pickle.loads(data)
    return pickle.loads(memoryview(buf)[start : start + n])


_READ = 65536


# -- the answer on the wire ---------------------------------------------------------------------
# An Outcome pickled as frozen slotted dataclasses costs ~30 us to dump and as much to load (each
# instance goes through dataclasses' __getstate__/__setstate__, which call fields()); as nested
# tuples of plain values it is a few. The fields are checked once here: if one of these classes
# gains a field, _FLAT is False and Outcomes travel pickled as they are (slower, never wrong);
# tests/test_workers.py fails then, to have the encoding extended.


def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_FLAT = (
    _names(Location) == ("part", "content_type", "field", "offset")
    and _names(Link) == ("text", "url", "kind", "location")
    and _names(Unscanned) == ("reason", "detail", "location")
    and _names(ScanResult) == ("findings", "errors", "parts", "size", "unscannable")
    and _names(DkimResult)
    == (
        "result",
        "reason",
        "domain",
        "selector",
        "algorithm",
        "key_bits",
        "aligned",
        "from_domain",
        "problem",
        "signatures",
    )
)


def _dkim_flat(d: DkimResult) -> tuple[Any, ...]:
    return (
        d.result,
        d.reason,
        d.domain,
        d.selector,
        d.algorithm,
        d.key_bits,
        d.aligned,
        d.from_domain,
        d.problem,
        tuple([_dkim_flat(x) for x in d.signatures]),
    )


def _dkim_of(t: tuple[Any, ...]) -> DkimResult:
    return DkimResult(*t[:9], tuple([_dkim_of(x) for x in t[9]]))  # type: ignore[call-arg]


def _loc_flat(loc: Location) -> tuple[Any, ...]:
    return (loc.part, loc.content_type, loc.field, loc.offset)


def flat(out: Outcome) -> Any:
    """The Outcome as nested tuples of plain values (or itself, when _FLAT is off)."""
    if not _FLAT:
        return out
    r = out.result
    return (
        tuple([(x.text, x.url, x.kind, _loc_flat(x.location)) for x in r.findings]),
        r.errors,
        r.parts,
        r.size,
        tuple([(u.reason, u.detail, _loc_flat(u.location)) for u in r.unscannable]),
        None if out.dkim is None else _dkim_flat(out.dkim),
        out.dns,
        out.pinned_mismatches,
        out.ocr,
    )


def unflat(value: Any, wait: float) -> Outcome:
    """flat()'s inverse, with the time the message waited for a worker."""
    if isinstance(value, Outcome):
        return _with_wait(value, wait)
    findings, errors, parts, size, unscannable, dk, dns, pinned, ocr = value
    result = ScanResult(
        tuple([Link(t, u, k, Location(*loc)) for t, u, k, loc in findings]),
        errors,
        parts,
        size,
        tuple([Unscanned(r, d, Location(*loc)) for r, d, loc in unscannable]),
    )
    return Outcome(result, None if dk is None else _dkim_of(dk), wait, dns, pinned, ocr)


def _die_with_parent() -> None:
    """SIGKILL this worker when its parent (the forkserver, which leaves with the milter) goes, so
    no orphan keeps scanning after a kill -9 of nolink."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Decider:
    """The per-worker state: the Scanner and DKIM verifier of one configuration, built once."""

    def __init__(self, config: Config) -> None:
        from ..dkim.check import verifier_for
        from ..scan import Scanner

        self.scanner = Scanner(config)
        # with [[exceptions]], links may not count in the end: DKIM is checked for the verdict then
        self.dkim_despite_links = bool(config.exceptions)
        self.on_unscannable = config.links.on_unscannable
        self.dkim = verifier_for(config.dkim, self.scanner.psl)
        self.dns: list[tuple[str, str, float]] = []
        self.pinned = 0
        self.ocr: list[tuple[str, float]] = []
        from ..links import ocr  # the OCR cache and engine live in this worker process

        ocr.observer = lambda event, seconds: self.ocr.append((event, seconds))
        if self.dkim is not None:
            self.dkim.resolver.observer = lambda o, s, t: self.dns.append((o, s, t))
            self.dkim.on_pinned_mismatch = self._pinned

    def _pinned(self, name: str) -> None:
        self.pinned += 1

    def __call__(self, job: Job) -> Outcome:
        data = job.data
        if job.body_path:
            with open(job.body_path, "rb") as f:
                data += f.read()
        self.dns.clear()
        self.pinned = 0
        self.ocr.clear()
        result = self.scanner.scan(data)
        dk = None
        decided_unscannable = bool(result.unscannable) and self.on_unscannable != "accept"
        if (
            self.dkim is not None
            and not result.errors
            and not decided_unscannable  # decided as unscannable: no DKIM lookup needed
            and (self.dkim_despite_links or not result.findings)
        ):
            dk = self.dkim.verify(data)
        return Outcome(result, dk, 0.0, tuple(self.dns), self.pinned, tuple(self.ocr))


_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """This process's resident set size now (not its peak): /proc/self/statm, a few microseconds."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def too_big(max_rss: int) -> bool:
    """After a message: is this worker over milter.worker_max_rss (0: never)? Then it answers and
    leaves, and a fresh one takes its slot (glibc seldom returns a big heap to the system)."""
    return bool(max_rss) and resident_bytes() > max_rss


def _worker_main(
    conn: multiprocessing.connection.Connection, config: Config, memory: int, factory: type[Decider]
) -> None:
    _die_with_parent()
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)  # the milter process handles these; SIGTERM ends us
    os.environ["OMP_THREAD_LIMIT"] = "1"  # Tesseract (OCR): one thread per worker, workers = cores
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        decider = factory(config)
    except BaseException as e:
        _send(conn, ("failed", f"{type(e).__name__}: {e}"))
        return
    _send(conn, ("ready", decider.scanner.psl.source, decider.scanner.psl.version))
    while True:
        try:
            got = _recv(conn)
        except (EOFError, OSError):
            return  # the milter process went away or closed the pool
        if got is None:
            return
        try:
            out = decider(Job(*got))
        except MemoryError:
            _send(conn, ("memory", None))
            return
        except Exception as e:
            _send(conn, ("error", f"{type(e).__name__}: {e}"))
            continue
        if any("MemoryError" in e for e in out.result.errors):
            _send(conn, ("memory", flat(out)))  # answered, but this worker's heap is suspect: replace it
            return
        if too_big(config.milter.worker_max_rss):
            _send(conn, ("recycle", flat(out)))  # answered; a fresh worker gives the memory back
            return
        _send(conn, ("ok", flat(out)))


# -- the pool, in the milter process -----------------------------------------------------------


_context_lock = threading.Lock()
_context: Any = None


def _mp_context() -> Any:
    """One forkserver for the life of the process; it preloads the scanner's imports so that a
    new worker costs a fork and a Scanner, not an interpreter start."""
    global _context
    with _context_lock:
        if _context is None:
            os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # inherited by the forkserver and workers
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["nolink.adapters.workers", "nolink.scan", "nolink.dkim.check"])
            _context = ctx
        return _context


class _Slot:
    """One worker process. A slot is used by one thread at a time: the connection's own thread
    takes an idle slot, sends the job down its pipe and waits for the answer itself (no hand-off
    to a pool thread and back: two thread wake-ups per message fewer)."""

    def __init__(self, pool: WorkerPool, n: int) -> None:
        self.pool = pool
        self.n = n
        self.proc: Any = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.replace: bool | None = None  # once the worker must go: kill it (True) or let it leave
        self.busy_since = 0.0  # when its current message was handed to it (0: idle)
        # the worker's pipe and its exit sentinel in one poll object, registered once: one
        # system call tells "died while idle" and waits for the answer (no selector per message)
        self.watch: Any = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start_process(self, timeout: float = START_TIMEOUT) -> tuple[str, str]:
        ctx = _mp_context()
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=_worker_main,
            args=(child, self.pool.config, self.pool.memory, self.pool.factory),
            name=f"nolink-worker-{self.n}",
            daemon=True,
        )
        proc.start()
        child.close()
        try:
            if not parent.poll(timeout):
                raise WorkerFailure("start", f"worker did not start within {timeout:g} s")
            msg = _recv(parent)
        except (EOFError, OSError):
            proc.join(5)
            msg = ("failed", f"worker exited with {proc.exitcode} while starting")
        except WorkerFailure:
            proc.kill()
            proc.join(5)
            raise
        if msg[0] != "ready":
            proc.join(5)
            raise WorkerFailure("start", f"worker could not start: {msg[1]}")
        self.proc, self.conn = proc, parent
        self.watch = select.poll()
        self.watch.register(parent.fileno(), select.POLLIN)
        self.watch.register(proc.sentinel, select.POLLIN)
        return msg[1], msg[2]

    def _stop_process(self, kill: bool) -> None:
        proc, conn = self.proc, self.conn
        self.proc = self.conn = self.watch = None
        if proc is None:
            return
        if kill:
            proc.kill()
        elif conn is not None:
            with contextlib.suppress(OSError):
                _send(conn, None)
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)
        if conn is not None:
            conn.close()

    def must_go(self, cause: str, kill: bool) -> None:
        """Counted now, replaced once this message is answered (WorkerPool._give_back)."""
        self.pool.observer.worker_restart(cause)
        if kill and self.proc is not None:
            self.proc.kill()  # a time-out stops burning CPU at once
        self.replace = kill

    def restart(self, kill: bool, timeout: float = START_TIMEOUT) -> None:
        """A new worker for this slot (the restart was counted by whoever decided it)."""
        self._stop_process(kill)
        if self.pool.closed:
            return
        try:
            self.start_process(timeout)
        except WorkerFailure as e:  # try again with the next message
            log.error("cannot start a replacement worker: %s", e)

    def decide(self, job: Job, deadline: float, wait: float) -> Outcome:
        """The worker's answer, or WorkerFailure. A worker that must be replaced is marked
        (must_go); its replacement is started after this message is answered."""
        pool = self.pool
        if self.conn is None or self.watch.poll(0):
            # an idle worker sends nothing: anything to read is its exit (OOM killer, an admin),
            # or the last replacement could not start: replace it before this message, which has
            # nothing to do with it, within this message's deadline, which it must still meet
            self.pool.observer.worker_restart("crash")
            self.restart(kill=True, timeout=max(0.1, deadline - time.monotonic()))
        conn, watch = self.conn, self.watch
        if conn is None:
            raise WorkerFailure("start", "no worker could be started")
        left = deadline - time.monotonic()
        if left <= 0:
            raise WorkerFailure("timeout", f"waited {wait:.1f} s for a free worker (milter.timeout)")
        try:
            _send(conn, (job.data, job.body_path))  # a tuple: a dataclass pickles slowly
            ready = bool(watch.poll(max(1, int(left * 1000 + 0.999))))  # its answer, or its exit
        except (OSError, EOFError):
            ready = True  # a dead worker: recv below says so
        if not ready:
            pid = self.pid
            self.must_go("timeout", kill=True)
            raise WorkerFailure(
                "timeout",
                f"decision took longer than milter.timeout = {pool.timeout:g} s (worker {pid} killed)",
            )
        try:
            kind, value = _recv(conn)
        except (EOFError, OSError):
            proc = self.proc
            if proc is not None:
                proc.join(2)
            code = proc.exitcode if proc is not None else None
            self.must_go("crash", kill=True)
            why = f"signal {-code}" if isinstance(code, int) and code < 0 else f"exit code {code}"
            raise WorkerFailure("crash", f"the worker died deciding this message ({why})") from None
        if kind == "ok":
            return unflat(value, wait)
        if kind == "recycle":  # not a failure: counted apart from the restarts
            self.pool.observer.worker_recycled()
            self.replace = False  # it leaves on its own; replaced once this message is answered
            return unflat(value, wait)
        if kind == "memory":
            self.must_go("memory", kill=False)
            if value is None:
                raise WorkerFailure(
                    "memory", f"the worker ran out of memory (milter.worker_memory = {pool.memory})"
                )
            return unflat(value, wait)
        raise WorkerFailure("error", f"the worker failed: {value}")


class _Turn:
    """A caller waiting for a free worker: given a slot and woken by the caller that frees one."""

    __slots__ = ("ready", "slot")

    def __init__(self) -> None:
        self.slot: _Slot | None = None
        self.ready = threading.Lock()
        self.ready.acquire()


def _with_wait(out: Outcome, wait: float) -> Outcome:
    return Outcome(out.result, out.dkim, wait, out.dns, out.pinned_mismatches, out.ocr)


class WorkerPool:
    """milter.workers processes deciding messages under one configuration.

    decide() runs in the caller's thread: it waits for an idle worker (first come, first served),
    hands it the message and waits for the answer. Its deadline (milter.timeout) counts from the
    call, so the answer comes within milter.timeout, waiting included. submit() is the same on a
    thread of its own, with a Future."""

    def __init__(
        self,
        config: Config,
        workers: int | None = None,
        memory: int | None = None,
        observer: Observer | None = None,
        factory: type[Decider] = Decider,
    ) -> None:
        self.config = config
        self.factory = factory  # tests give a Decider subclass that misbehaves on purpose
        self.timeout = config.milter.timeout
        self.memory = config.milter.worker_memory if memory is None else memory
        n = workers if workers is not None else config.milter.workers
        self.observer: Observer = observer or _NoObserver()
        self.closed = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._turns: collections.deque[_Turn] = collections.deque()  # waiting callers, in order
        self.slots = [_Slot(self, i) for i in range(max(1, n))]
        self._stopped: set[int] = set()
        self.psl_source = self.psl_version = ""
        started: list[_Slot] = []
        try:
            for s in self.slots:  # one at a time: two cores are also serving mail meanwhile
                self.psl_source, self.psl_version = s.start_process()
                started.append(s)
        except BaseException:
            for s in started:
                s._stop_process(kill=True)
            raise
        self._idle: list[_Slot] = list(self.slots)

    @property
    def pids(self) -> list[int]:
        return [p for p in (s.pid for s in self.slots) if p is not None]

    def _admit(self) -> float:
        with self._lock:
            if self.closed:
                raise WorkerFailure("closed", "the worker pool is closed")
        return time.monotonic()

    def decide(self, job: Job) -> Outcome:
        """The Outcome of one message, or WorkerFailure (time-out, crash, memory, closed)."""
        return self._decide(job, self._admit())

    def submit(self, job: Job) -> Future[Outcome]:
        fut: Future[Outcome] = Future()
        try:
            submitted = self._admit()
        except WorkerFailure as e:
            fut.set_exception(e)
            return fut

        def run() -> None:
            try:
                fut.set_result(self._decide(job, submitted))
            except BaseException as e:  # never leave a message without an answer
                fut.set_exception(e)

        threading.Thread(target=run, name="nolink-submit", daemon=True).start()
        return fut

    def _decide(self, job: Job, submitted: float) -> Outcome:
        deadline = submitted + self.timeout
        slot: _Slot | None = None
        try:
            slot = self._take(deadline)
            wait = time.monotonic() - submitted
            self.observer.queue_wait(wait)
            if slot is None:
                raise WorkerFailure("timeout", f"waited {wait:.1f} s for a free worker (milter.timeout)")
            self.observer.worker_busy(1)
            try:
                return slot.decide(job, deadline, wait)
            finally:
                self.observer.worker_busy(-1)
        finally:
            self._give_back(slot)

    def _take(self, deadline: float) -> _Slot | None:
        """An idle slot, or None at the deadline. Callers are served in the order they came: a
        slot given back goes straight to the first waiting caller, which alone is woken.

        Few workers, kept warm: the slot given back last is taken first, and while a worker
        began its message less than SPILL ago, a caller waits up to SPILL for a busy worker
        before it wakes an idle one. A worker that runs message after message keeps its caches;
        one woken cold spends about twice the CPU on the same letter (measured: 1.4 against
        0.7 ms of scan and DKIM). A worker busy for longer than SPILL (a big attachment, a
        message running into milter.timeout) does not hold the next messages back: they go to
        the idle workers at once."""
        now = time.monotonic()
        with self._lock:
            if self._idle and not self._turns and not self._young(now):
                return self._take_idle(now)
            turn = _Turn()
            self._turns.append(turn)
            spill = bool(self._idle)
        if spill and turn.ready.acquire(timeout=max(0.0, min(deadline, now + SPILL) - now)):
            return turn.slot
        if spill:
            with self._lock:
                if turn.slot is not None:  # handed one at the last moment
                    return turn.slot
                if self._idle:
                    self._turns.remove(turn)
                    return self._take_idle(time.monotonic())
        if turn.ready.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return turn.slot
        with self._lock:
            if turn.slot is None:  # not handed one at the last moment
                self._turns.remove(turn)
                return None
        return turn.slot

    def _young(self, now: float) -> bool:
        """Whether a worker began its message less than SPILL ago (under self._lock)."""
        return any(now - s.busy_since < SPILL for s in self.slots if s.busy_since)

    def _take_idle(self, now: float) -> _Slot:
        slot = self._idle.pop()
        slot.busy_since = now
        return slot

    def _give_back(self, slot: _Slot | None) -> None:
        if slot is not None and slot.replace is not None:
            kill = slot.replace
            slot.replace = None

            def replace() -> None:  # after the message was answered: its reply does not wait
                try:
                    slot.restart(kill)
                finally:
                    self._give_back(slot)

            threading.Thread(target=replace, name="nolink-restart", daemon=True).start()
            return
        stop: list[_Slot] = []
        with self._lock:
            if slot is not None:
                if self._turns:
                    turn = self._turns.popleft()
                    turn.slot = slot
                    slot.busy_since = time.monotonic()
                    turn.ready.release()
                else:
                    slot.busy_since = 0.0
                    self._idle.append(slot)
            if self.closed and not self._turns:  # nobody will need these workers again
                stop, self._idle = self._idle, []
        for s in stop:
            s._stop_process(kill=False)
            with self._lock:
                self._stopped.add(s.n)
                self._changed.notify_all()

    def close(self, wait: bool = False, timeout: float | None = None) -> None:
        """No new messages; the waiting and running ones finish; then the workers leave."""
        with self._lock:
            already, self.closed = self.closed, True
        if not already:
            self._give_back(None)  # stops the idle workers
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            with self._lock:
                while len(self._stopped) < len(self.slots):
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self._changed.wait(left)

    def terminate(self) -> None:
        """Stop now: kill the workers (for a stop that cannot wait any longer)."""
        self.close()
        for s in self.slots:
            with contextlib.suppress(Exception):
                s._stop_process(kill=True)


class InProcessPool:
    """The same interface with a Decider in this process, on threads: no isolation, no kill on
    time-out (a late answer is dropped). For tests of the adapter and for embedding; serve uses
    WorkerPool."""

    def __init__(
        self, config: Config, observer: Observer | None = None, decider: Decider | None = None
    ) -> None:
        self.config = config
        self.decider = decider or Decider(config)
        self.psl_source = self.decider.scanner.psl.source
        self.psl_version = self.decider.scanner.psl.version
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=1
        )  # a Decider serves one message at a time
        self.closed = False

    def decide(self, job: Job) -> Outcome:
        try:
            return self.submit(job).result(self.config.milter.timeout + 5)
        except concurrent.futures.TimeoutError:
            raise WorkerFailure("timeout", "the in-process pool did not answer") from None

    def submit(self, job: Job) -> Future[Outcome]:
        inner = self._threads.submit(self.decider, job)
        fut: Future[Outcome] = Future()
        timeout = self.config.milter.timeout

        def wait() -> None:
            try:
                fut.set_result(inner.result(timeout=timeout))
            except TimeoutError:
                fut.set_exception(
                    WorkerFailure("timeout", f"decision took longer than milter.timeout = {timeout:g} s")
                )
            except BaseException as e:
                fut.set_exception(e)

        threading.Thread(target=wait, daemon=True).start()
        return fut

    def close(self, wait: bool = False, timeout: float | None = None) -> None:
        self.closed = True
        self._threads.shutdown(wait=wait, cancel_futures=False)

    def terminate(self) -> None:
        self.close()
