"""Prometheus metrics (prometheus-client), on a registry of their own.

Names follow Prometheus conventions: nolink_ prefix, base units, _total counters. Every label comes
from a closed set (never a sender, recipient, domain, URL or queue id: those belong in the log),
and every labelled counter starts at zero for all its label values, so rate() and absent() work
from the first scrape.
"""

from __future__ import annotations

import platform
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from . import __version__
from .adapters.workers import Outcome
from .config import Config, parse_listen
from .dkim.check import DkimResult
from .errors import NolinkError
from .findings import UNSCANNABLE_REASONS, ScanResult
from .policy import Decision
from .versions import dist_version

ACTIONS = ("accept", "reject", "quarantine", "tempfail")
MODES = ("enforce", "dry_run")
REASONS = (
    "clean", "link_found", "not_citizen_bound", "not_our_sender", "not_policed_listener",
    "dkim_fail", "dkim_none", "dkim_permerror", "dkim_temperror", "too_large", "error",
    "unscannable",
)  # fmt: skip
LOCATIONS = ("subject", "header", "text_plain", "text_html", "html_attribute", "attachment")
KINDS = (
    "scheme",
    "www",
    "bare_domain",
    "idn",
    "ip",
    "obfuscated",
    "email",
    "html_attr",
    "attachment",
    "qr",
    "ocr",
)
DKIM_RESULTS = ("pass", "fail", "none", "temperror", "permerror")
DNS_OUTCOMES = ("ok", "notfound", "temp")
STAGES = ("connect", "eoh", "eom", "scan", "reload")
RELOAD_RESULTS = ("success", "failure")
REMOVED_HEADERS = ("Authentication-Results", "X-Nolink-Verdict")
RESTART_CAUSES = ("timeout", "crash", "memory")
CENTRAL_ERROR_CAUSES = ("connect", "schema", "insert", "journal", "request")  # central/shipper.py
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0)
DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = tuple(float(4096 * 4**i) for i in range(8))  # 4 KiB ... 64 MiB
TEXT_VERDICTS = ("link", "clean")
SMS_DIALECTS = ("kannel", "jasmin", "json")
# clean: forwarded; link: refused (a link, or an option that adds links); error: refused because
# nolink or the upstream failed, or the request could not be read (forwarded: on_error = forward)
SMS_VERDICTS = ("clean", "link", "error")
TEXT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
OCR_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)
DNS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry(auto_describe=True)
        self.build_info = Gauge(
            "nolink_build_info",
            "Versions of nolink and its libraries, and the Public Suffix List in use (value 1).",
            ["version", "python", "pymilter", "dkimpy", "tldextract", "psl_source", "psl_version"],
            registry=r,
        )
        self.config_info = Gauge(
            "nolink_config_info", "The configuration in force (value 1).", ["config_hash", "mode"], registry=r
        )
        self.messages = Counter(
            "nolink_messages",
            "Messages decided, by action (in dry_run: the action that would have been taken) and mode.",
            ["action", "mode"],
            registry=r,
        )
        self.decisions = Counter("nolink_decisions", "Messages decided, by reason.", ["reason"], registry=r)
        self.links = Counter(
            "nolink_links",
            "Links found in citizen-bound mail, by location and kind.",
            ["location", "kind"],
            registry=r,
        )
        self.unchecked = Counter(
            "nolink_unchecked_parts",
            "Content that could not be opened or read to the end (unscannable), by reason.",
            ["reason"],
            registry=r,
        )
        self.dkim = Counter(
            "nolink_dkim_results", "DKIM results of checked messages.", ["result"], registry=r
        )
        self.dns = Counter(
            "nolink_dns_queries", "DNS queries for DKIM keys, by outcome.", ["outcome"], registry=r
        )
        self.dns_cache_hits = Counter(
            "nolink_dns_cache_hits", "DKIM key lookups answered from the cache.", registry=r
        )
        self.dns_duration = Histogram(
            "nolink_dns_query_duration_seconds",
            "Time of DNS queries for DKIM keys.",
            buckets=DNS_BUCKETS,
            registry=r,
        )
        self.pinned_mismatch = Counter(
            "nolink_dkim_pinned_key_mismatches",
            "Pinned DKIM keys found different from the key in DNS.",
            registry=r,
        )
        self.decision_duration = Histogram(
            "nolink_decision_duration_seconds",
            "Time to decide a message at end of message (scan and DKIM).",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.size = Histogram(
            "nolink_message_size_bytes", "Size of decided messages.", buckets=SIZE_BUCKETS, registry=r
        )
        self.connections_active = Gauge("nolink_connections_active", "Open milter connections.", registry=r)
        self.connections = Counter("nolink_connections", "Milter connections accepted.", registry=r)
        self.errors = Counter(
            "nolink_errors", "Unexpected errors, by stage (each one is logged).", ["stage"], registry=r
        )
        self.reloads = Counter(
            "nolink_config_reloads", "Configuration reloads, by result.", ["result"], registry=r
        )
        self.reload_ok = Gauge(
            "nolink_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            registry=r,
        )
        self.reload_time = Gauge(
            "nolink_config_last_reload_success_timestamp_seconds",
            "When the configuration in force was loaded.",
            registry=r,
        )
        self.journal_errors = Counter(
            "nolink_journal_errors",
            "Failures to open or write the decision journal (each is logged; mail is not affected).",
            registry=r,
        )
        self.journal_dropped = Counter(
            "nolink_journal_dropped",
            "Journal entries not written: the queue was full while writes failed, or nolink stopped "
            "with a failing journal and the entry was in no write-ahead file.",
            registry=r,
        )
        self.journal_reopened = Counter(
            "nolink_journal_reopened",
            "The journal file was deleted or replaced while open, and opened again at journal.path.",
            registry=r,
        )
        self.exceptions = Counter(
            "nolink_exceptions",
            "Messages in which a named exception ([[exceptions]]) took links away, by name.",
            ["name"],
            registry=r,
        )
        self.headers_removed = Counter(
            "nolink_headers_removed",
            "Arriving headers removed: X-Nolink-Verdict, and Authentication-Results under nolink's authserv-id.",
            ["header"],
            registry=r,
        )
        self.texts = Counter(
            "nolink_texts", "Texts checked through POST /v1/check-text, by verdict.", ["verdict"], registry=r
        )
        self.text_duration = Histogram(
            "nolink_text_check_duration_seconds",
            "Time to answer one POST /v1/check-text request (one text or a batch).",
            buckets=TEXT_BUCKETS,
            registry=r,
        )
        self.sms = Counter(
            "nolink_sms",
            "SMS send requests decided by the SMS proxy ([[sms_proxy]]), by dialect and verdict.",
            ["dialect", "verdict"],
            registry=r,
        )
        self.sms_upstream_errors = Counter(
            "nolink_sms_upstream_errors",
            "Clean SMS send requests the SMS proxy could not pass on (upstream unreachable or timed out).",
            registry=r,
        )
        self.sms_duration = Histogram(
            "nolink_sms_duration_seconds",
            "Time the SMS proxy takes to read and check one send request (without the upstream's time).",
            buckets=TEXT_BUCKETS,
            registry=r,
        )
        self.workers = Gauge(
            "nolink_workers", "Decision worker processes configured (milter.workers).", registry=r
        )
        self.workers_busy = Gauge(
            "nolink_workers_busy", "Decision workers deciding a message right now.", registry=r
        )
        self.worker_restarts = Counter(
            "nolink_worker_restarts",
            "Decision workers replaced, by cause: timeout (killed past milter.timeout), crash (died), "
            "memory (ran out of milter.worker_memory).",
            ["cause"],
            registry=r,
        )
        self.worker_recycles = Counter(
            "nolink_worker_recycles",
            "Decision workers replaced after a message because their resident size was over "
            "milter.worker_max_rss (planned: the message was answered normally).",
            registry=r,
        )
        self.queue_wait_seconds = Histogram(
            "nolink_queue_wait_seconds",
            "Time a message waited for a free decision worker.",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.ocr_calls = Counter(
            "nolink_ocr_calls", "Images and pages read by OCR (Tesseract), not from the cache.", registry=r
        )
        self.ocr_cache_hits = Counter(
            "nolink_ocr_cache_hits", "Images and pages whose OCR reading came from the cache.", registry=r
        )
        self.ocr_duration = Histogram(
            "nolink_ocr_duration_seconds", "Time to OCR one image or page.", buckets=OCR_BUCKETS, registry=r
        )
        self.ocr_skipped = Counter(
            "nolink_ocr_skipped",
            "Images and pages left unread because links.ocr_budget was used up (the message is unscannable).",
            registry=r,
        )
        # [central] (central/): the shipper and the release requests
        self.central_unshipped_rows = Gauge(
            "nolink_central_unshipped_rows",
            "Local journal rows not yet in the central PostgreSQL record ([central]).",
            registry=r,
        )
        self.central_ship_lag = Gauge(
            "nolink_central_ship_lag_seconds",
            "Age of the oldest local journal row not yet shipped to PostgreSQL (0: all shipped).",
            registry=r,
        )
        self.central_errors = Counter(
            "nolink_central_errors",
            "Failures talking to the central PostgreSQL, by cause: connect, schema, insert, journal "
            "(reading the local one), request (a release or delete request).",
            ["cause"],
            registry=r,
        )
        for x in CENTRAL_ERROR_CAUSES:
            self.central_errors.labels(x)
        self.start_time = Gauge("nolink_start_time_seconds", "When this nolink process started.", registry=r)
        self.start_time.set(time.time())
        # every labelled counter from zero; the children counted per message are kept, since a
        # labels() lookup (label checks, a lock, a dict) costs several times the inc() itself
        self._messages = {(a, m): self.messages.labels(a, m) for a in ACTIONS for m in MODES}
        self._decisions = {x: self.decisions.labels(x) for x in REASONS}
        self._links = {(loc, k): self.links.labels(loc, k) for loc in LOCATIONS for k in KINDS}
        self._unchecked = {x: self.unchecked.labels(x) for x in UNSCANNABLE_REASONS}
        self._dkim = {x: self.dkim.labels(x) for x in DKIM_RESULTS}
        self._dns = {x: self.dns.labels(x) for x in DNS_OUTCOMES}
        for x in STAGES:
            self.errors.labels(x)
        for x in RELOAD_RESULTS:
            self.reloads.labels(x)
        for x in REMOVED_HEADERS:
            self.headers_removed.labels(x)
        for x in TEXT_VERDICTS:
            self.texts.labels(x)
        for d in SMS_DIALECTS:
            for v in SMS_VERDICTS:
                self.sms.labels(d, v)
        for x in RESTART_CAUSES:
            self.worker_restarts.labels(x)

    # -- set by the service ------------------------------------------------------------------

    def configured(self, config: Config, psl_source: str, psl_version: str) -> None:
        self.build_info.clear()
        self.build_info.labels(
            __version__,
            platform.python_version(),
            dist_version("pymilter"),
            dist_version("dkimpy"),
            dist_version("tldextract"),
            psl_source,
            psl_version,
        ).set(1)
        self.config_info.clear()
        self.config_info.labels(config.digest or "defaults", config.mode).set(1)
        for e in config.exceptions:  # the names come from the config: a closed set, each from zero
            self.exceptions.labels(e.name)
        self.workers.set(config.milter.workers)
        self.reload_ok.set(1)
        self.reload_time.set(time.time())

    def reload_failed(self) -> None:
        self.reloads.labels("failure").inc()
        self.reload_ok.set(0)

    def decided(
        self, d: Decision, size: int, seconds: float, result: ScanResult | None, dkim: DkimResult | None
    ) -> None:
        c = self._messages.get((d.action, d.mode))
        if c is None:
            c = self.messages.labels(d.action, d.mode if d.mode in MODES else "enforce")
        c.inc()
        (self._decisions.get(d.reason) or self._decisions["error"]).inc()
        self.size.observe(size)
        if d.in_scope:
            self.decision_duration.observe(seconds)
        if result is not None:
            for link in result.findings:
                loc = link.location.category
                self._links[
                    (loc if loc in LOCATIONS else "attachment", link.kind if link.kind in KINDS else "scheme")
                ].inc()
            for u in result.unscannable:
                (self._unchecked.get(u.reason) or self._unchecked["unparseable"]).inc()
        if dkim is not None:
            (self._dkim.get(dkim.result) or self.dkim.labels(dkim.result)).inc()
        for name in d.exceptions:
            self.exceptions.labels(name).inc()

    # -- reported by the worker pool (workers.Observer) -----------------------------------------

    def worker_busy(self, delta: int) -> None:
        self.workers_busy.inc(delta)

    def worker_restart(self, cause: str) -> None:
        self.worker_restarts.labels(cause if cause in RESTART_CAUSES else "crash").inc()

    def queue_wait(self, seconds: float) -> None:
        self.queue_wait_seconds.observe(seconds)

    def worker_recycled(self) -> None:
        self.worker_recycles.inc()

    def worker_outcome(self, out: Outcome) -> None:
        """What a worker saw that the milter process counts: its DKIM key lookups and OCR reads."""
        for outcome, source, seconds in out.dns:
            self.dns_observer(outcome, source, seconds)
        if out.pinned_mismatches:
            self.pinned_mismatch.inc(out.pinned_mismatches)
        for event, seconds in out.ocr:
            self.ocr_observer(event, seconds)

    def dns_observer(self, outcome: str, source: str, seconds: float) -> None:
        if source == "cache":
            self.dns_cache_hits.inc()
            return
        (self._dns.get(outcome) or self._dns["temp"]).inc()
        self.dns_duration.observe(seconds)

    def ocr_observer(self, event: str, seconds: float) -> None:
        """Called by links/ocr.py for every image it is asked to read (from any connection)."""
        if event == "call":
            self.ocr_calls.inc()
            self.ocr_duration.observe(seconds)
        elif event == "cache_hit":
            self.ocr_cache_hits.inc()
        elif event == "skipped":
            self.ocr_skipped.inc()

    def central_unshipped(self, rows: int, lag_seconds: float) -> None:
        self.central_unshipped_rows.set(rows)
        self.central_ship_lag.set(lag_seconds)

    def central_error(self, cause: str) -> None:
        self.central_errors.labels(cause if cause in CENTRAL_ERROR_CAUSES else "connect").inc()

    def error(self, stage: str) -> None:
        self.errors.labels(stage if stage in STAGES else "eom").inc()


def serve_http(metrics: Metrics, listen: str) -> None:
    """The /metrics endpoint in a daemon thread ("" in metrics.listen: none)."""
    addr = parse_listen(listen)
    if addr is None:
        return
    try:
        start_http_server(addr[1], addr=addr[0], registry=metrics.registry)
    except OSError as e:
        raise NolinkError(f"metrics.listen = {listen!r}: cannot listen there: {e.strerror}") from None
