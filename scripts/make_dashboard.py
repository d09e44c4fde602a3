"""Writes config/grafana/nolink.json, the provisionable Grafana dashboard (run after editing)."""

from __future__ import annotations

import json
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
panels: list[dict[str, object]] = []
pos = {"x": 0, "y": 0}


def panel(
    title: str,
    exprs: list[tuple[str, str]],
    kind: str = "timeseries",
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    desc: str = "",
    **extra: object,
) -> None:
    if pos["x"] + w > 24:
        pos["x"], pos["y"] = 0, pos["y"] + h
    p: dict[str, object] = {
        "id": len(panels) + 1,
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "gridPos": {"x": pos["x"], "y": pos["y"], "w": w, "h": h},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": legend}
            for i, (e, legend) in enumerate(exprs)
        ],
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    p.update(extra)
    panels.append(p)
    pos["x"] += w


panel(
    "Messages by action (enforce)",
    [(f'sum by (action) (rate(nolink_messages_total{{mode="enforce",{SEL}}}[5m]))', "{{action}}")],
    unit="reqps",
    desc="Decided messages per second.",
)
panel(
    "Refused share of citizen mail",
    [
        (
            f'sum(rate(nolink_messages_total{{mode="enforce",action=~"reject|quarantine",{SEL}}}[15m])) / clamp_min(sum(rate(nolink_messages_total{{mode="enforce",{SEL}}}[15m])), 1e-9)',
            "rejected or held",
        )
    ],
    unit="percentunit",
)
panel(
    "Decisions by reason",
    [(f"sum by (reason) (rate(nolink_decisions_total{{{SEL}}}[5m]))", "{{reason}}")],
    unit="reqps",
    w=24,
)
panel(
    "Where links were found (last hour)",
    [(f"sum by (location) (increase(nolink_links_total{{{SEL}}}[1h]))", "{{location}}")],
    kind="barchart",
    w=12,
)
panel(
    "Kinds of links (last hour)",
    [(f"sum by (kind) (increase(nolink_links_total{{{SEL}}}[1h]))", "{{kind}}")],
    kind="barchart",
    w=12,
)
panel(
    "DKIM results",
    [(f"sum by (result) (rate(nolink_dkim_results_total{{{SEL}}}[5m]))", "{{result}}")],
    unit="reqps",
)
panel(
    "DNS health (DKIM keys)",
    [
        (f"sum by (outcome) (rate(nolink_dns_queries_total{{{SEL}}}[5m]))", "{{outcome}}"),
        (f"sum(rate(nolink_dns_cache_hits_total{{{SEL}}}[5m]))", "cache hits"),
        (
            f"histogram_quantile(0.99, sum by (le) (rate(nolink_dns_query_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p99 query time (s)",
        ),
    ],
    unit="short",
)
panel(
    "Decision time",
    [
        (
            f"histogram_quantile({q}, sum by (le) (rate(nolink_decision_duration_seconds_bucket{{{SEL}}}[5m])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ],
    unit="s",
)
panel(
    "Message size",
    [
        (
            f"histogram_quantile({q}, sum by (le) (rate(nolink_message_size_bytes_bucket{{{SEL}}}[5m])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.99)
    ],
    unit="bytes",
)
panel(
    "Milter connections",
    [
        (f"sum(nolink_connections_active{{{SEL}}})", "open"),
        (f"sum(rate(nolink_connections_total{{{SEL}}}[5m]))", "new per second"),
    ],
)
panel(
    "Decision workers busy",
    [
        (f"sum(nolink_workers_busy{{{SEL}}})", "busy"),
        (f"sum(nolink_workers{{{SEL}}})", "configured (milter.workers)"),
    ],
    desc="Busy all the time: messages queue for a worker (see queue wait); add cores and workers.",
)
panel(
    "Queue wait for a worker p50 / p99",
    [
        (
            f"histogram_quantile({q}, sum by (le) (rate(nolink_queue_wait_seconds_bucket{{{SEL}}}[5m])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.99)
    ],
    unit="s",
)
panel(
    "Worker restarts by cause",
    [(f"sum by (cause) (increase(nolink_worker_restarts_total{{{SEL}}}[5m]))", "{{cause}}")],
    kind="barchart",
    desc="timeout: killed past milter.timeout; crash: died; memory: over milter.worker_memory. "
    "Each one was a message answered with milter.on_error.",
)
panel(
    "Errors by stage",
    [(f"sum by (stage) (increase(nolink_errors_total{{{SEL}}}[5m]))", "{{stage}}")],
    kind="barchart",
)
panel(
    "Would have been done (dry_run)",
    [(f'sum by (action) (rate(nolink_messages_total{{mode="dry_run",{SEL}}}[5m]))', "{{action}}")],
    unit="reqps",
    desc="Empty when every instance enforces.",
)
panel(
    "Unopened attachments",
    [(f"sum(increase(nolink_unchecked_parts_total{{{SEL}}}[1h]))", "unscannable content (last hour)")],
    kind="stat",
    w=6,
)
panel(
    "Mode",
    [(f"nolink_config_info{{{SEL}}}", "{{instance}}: {{mode}} ({{config_hash}})")],
    kind="table",
    w=6,
    options={"showHeader": True},
)
panel(
    "Last reload",
    [(f"nolink_config_last_reload_successful{{{SEL}}}", "{{instance}}")],
    kind="stat",
    w=6,
    desc="1: the last (re)load succeeded; 0: the new config was refused.",
    fieldConfig={
        "defaults": {
            "mappings": [
                {
                    "type": "value",
                    "options": {
                        "0": {"text": "FAILED", "color": "red"},
                        "1": {"text": "ok", "color": "green"},
                    },
                }
            ]
        },
        "overrides": [],
    },
)
panel(
    "Decision journal",
    [
        (f"sum(rate(nolink_journal_errors_total{{{SEL}}}[5m]))", "write errors"),
        (f"sum(rate(nolink_journal_dropped_total{{{SEL}}}[5m]))", "entries dropped"),
        (f"sum(rate(nolink_journal_reopened_total{{{SEL}}}[5m]))", "file deleted or replaced, reopened"),
    ],
    unit="reqps",
    desc="Mail is not affected. Write errors are retried (the decisions wait in memory and in the "
    "write-ahead file); dropped entries are missing from the journal (the queue overflowed while "
    "writes failed).",
)
panel(
    "Named exceptions used",
    [(f"sum by (name) (increase(nolink_exceptions_total{{{SEL}}}[1h]))", "{{name}}")],
    desc="Messages in which a [[exceptions]] entry let links through, per hour.",
)
panel(
    "Config age",
    [(f"time() - nolink_config_last_reload_success_timestamp_seconds{{{SEL}}}", "{{instance}}")],
    kind="stat",
    unit="s",
    w=6,
)
panel(
    "Build",
    [(f"nolink_build_info{{{SEL}}}", "")],
    kind="table",
    w=12,
    desc="nolink and library versions, Public Suffix List in use.",
)
panel(
    "Process start",
    [(f"time() - nolink_start_time_seconds{{{SEL}}}", "{{instance}}")],
    kind="stat",
    unit="s",
    w=12,
    desc="Uptime of each nolink process.",
)
panel(
    "SMS texts checked",
    [(f"sum by (verdict) (rate(nolink_texts_total{{{SEL}}}[5m]))", "{{verdict}}")],
    unit="reqps",
    desc="Texts checked through POST /v1/check-text (the SMS channel), by verdict.",
)
panel(
    "SMS check time p50 / p99",
    [
        (
            f"histogram_quantile(0.5, sum by (le) (rate(nolink_text_check_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p50",
        ),
        (
            f"histogram_quantile(0.99, sum by (le) (rate(nolink_text_check_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p99",
        ),
    ],
    unit="s",
    desc="Time to answer one POST /v1/check-text request (one text or a batch).",
)
panel(
    "SMS proxy: send requests by verdict",
    [
        (f"sum by (dialect, verdict) (rate(nolink_sms_total{{{SEL}}}[5m]))", "{{dialect}} {{verdict}}"),
        (f"sum(rate(nolink_sms_upstream_errors_total{{{SEL}}}[5m]))", "upstream unreachable"),
    ],
    unit="reqps",
    desc="SMS send requests through [[sms_proxy]]: clean (forwarded), link (refused), error (refused: "
    "unreadable, nolink's or the upstream's failure), and upstream errors.",
)
panel(
    "SMS proxy: check time p50 / p99",
    [
        (
            f"histogram_quantile(0.5, sum by (le) (rate(nolink_sms_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p50",
        ),
        (
            f"histogram_quantile(0.99, sum by (le) (rate(nolink_sms_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p99",
        ),
    ],
    unit="s",
    desc="Time the SMS proxy adds to a send request: reading and checking it, without the upstream's time.",
)
panel(
    "OCR: images read, cache hits, skipped by budget",
    [
        (f"sum(rate(nolink_ocr_calls_total{{{SEL}}}[5m]))", "read by Tesseract"),
        (f"sum(rate(nolink_ocr_cache_hits_total{{{SEL}}}[5m]))", "from the cache"),
        (f"sum(rate(nolink_ocr_skipped_total{{{SEL}}}[5m]))", "skipped (links.ocr_budget)"),
    ],
    unit="ops",
    desc="Images and scanned pages read for printed web addresses. Skipped ones make their message unscannable.",
)
panel(
    "OCR time per image",
    [
        (
            f"histogram_quantile(0.5, sum by (le) (rate(nolink_ocr_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p50",
        ),
        (
            f"histogram_quantile(0.95, sum by (le) (rate(nolink_ocr_duration_seconds_bucket{{{SEL}}}[5m])))",
            "p95",
        ),
    ],
    unit="s",
    desc="Time Tesseract took per image or page (cache hits not counted).",
)

# Several relays (README "Several relays"): one series per relay (Prometheus' instance label), and
# the [central] shipper's health
panel(
    "Messages per relay (enforce)",
    [(f'sum by (instance) (rate(nolink_messages_total{{mode="enforce",{SEL}}}[5m]))', "{{instance}}")],
    unit="reqps",
    desc="Decided messages per second on each relay: a relay at zero while others carry mail is worth a look.",
)
panel(
    "Refused share per relay",
    [
        (
            f'sum by (instance) (rate(nolink_messages_total{{mode="enforce",action=~"reject|quarantine",{SEL}}}[15m])) / clamp_min(sum by (instance) (rate(nolink_messages_total{{mode="enforce",{SEL}}}[15m])), 1e-9)',
            "{{instance}}",
        )
    ],
    unit="percentunit",
)
panel(
    "Decision time p99 per relay",
    [
        (
            f"histogram_quantile(0.99, sum by (instance, le) (rate(nolink_decision_duration_seconds_bucket{{{SEL}}}[5m])))",
            "{{instance}}",
        )
    ],
    unit="s",
)
panel(
    "Central record: shipping lag per relay",
    [(f"max by (instance) (nolink_central_ship_lag_seconds{{{SEL}}})", "{{instance}}")],
    unit="s",
    desc="Age of the oldest journal row a relay has not shipped to PostgreSQL ([central]); 0: all shipped. "
    "The NolinkCentralShipLag alert fires past 15 minutes.",
)
panel(
    "Central record: unshipped rows per relay",
    [(f"max by (instance) (nolink_central_unshipped_rows{{{SEL}}})", "{{instance}}")],
)
panel(
    "Central record: errors by relay and cause",
    [
        (
            f"sum by (instance, cause) (increase(nolink_central_errors_total{{{SEL}}}[5m]))",
            "{{instance}} {{cause}}",
        )
    ],
    kind="barchart",
    desc="connect, schema, insert, journal, request: journalctl -u nolink | grep 'ERROR central' on that relay.",
)

dashboard = {
    "title": "nolink",
    "uid": "nolink",
    "description": "nolink: links kept out of government mail to citizens",
    "tags": ["nolink", "postfix", "mail"],
    "timezone": "browser",
    "schemaVersion": 38,
    "version": 1,
    "refresh": "1m",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            },
            {
                "name": "instance",
                "label": "Relay (instance)",
                "type": "query",
                "datasource": DS,
                "query": {"query": "label_values(nolink_build_info, instance)", "refId": "instances"},
                "definition": "label_values(nolink_build_info, instance)",
                "multi": True,
                "includeAll": True,
                "current": {},
                "refresh": 2,
                "hide": 0,
            },
        ]
    },
    "annotations": {"list": []},
    "panels": panels,
}

out = Path(__file__).resolve().parent.parent / "config" / "grafana" / "nolink.json"
out.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out} ({len(panels)} panels)")
