"""The report as one self-contained HTML file: inline CSS and SVG charts, no script, no network.

Headings in Thai and English; laid out for A4 so a director can print it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .report import LOCATION_NAMES

COLOURS = {"refused": "#c0392b", "held": "#e67e22", "deferred": "#d4ac0d", "delivered": "#2e8b57"}
BAR = "#1f6fb2"
CSS = """
body { font-family: "Noto Sans Thai", Sarabun, Garuda, Loma, "DejaVu Sans", sans-serif; color: #222;
       margin: 24px auto; max-width: 1000px; padding: 0 16px; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 22px 0 6px;
     border-bottom: 2px solid #1f6fb2; padding-bottom: 2px; }
h2 .en, h1 .en { color: #555; font-weight: normal; }
.period { color: #555; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
.card .n { font-size: 26px; font-weight: bold; } .card .l { font-size: 12px; color: #555; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; max-width: 100%; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; overflow-wrap: anywhere; }
td.n, th.n { text-align: right; white-space: nowrap; }
section { break-inside: avoid; page-break-inside: avoid; }
.note { font-size: 12px; color: #555; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; max-width: none; } .card { border-color: #999; } }
"""


def _h2(th: str, en: str) -> str:
    return f'<h2>{escape(th)} <span class="en">/ {escape(en)}</span></h2>'


def hbars(
    items: list[tuple[str, int]], colour: str = BAR, width: int = 640, colours: dict[str, str] | None = None
) -> str:
    """Horizontal bars, one per item, labelled and with its figure."""
    if not items:
        return '<p class="note">ไม่มีข้อมูล / none</p>'
    top = max(n for _, n in items) or 1
    row, label_w = 22, 260
    h = row * len(items) + 4
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img">']
    for i, (name, n) in enumerate(items):
        y = i * row + 2
        w = max(1.0, (width - label_w - 60) * n / top) if n else 0
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(name[:40])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{(colours or {}).get(name, colour)}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{n}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def daily_chart(days: list[dict[str, Any]], width: int = 900, height: int = 220) -> str:
    """Stacked columns per day: refused, held, deferred, delivered."""
    if not days:
        return '<p class="note">ไม่มีข้อมูล / none</p>'
    keys = ("refused", "held", "deferred", "delivered")
    top = max((sum(d[k] for k in keys) for d in days), default=0) or 1
    left, bottom = 40, 30
    plot_h = height - bottom - 10
    step = (width - left - 10) / len(days)
    bar = min(40.0, max(2.0, step * 0.7))
    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
    ]
    out.append(f'<line x1="{left}" y1="{10 + plot_h}" x2="{width - 5}" y2="{10 + plot_h}" stroke="#888"/>')
    out.append(f'<text x="{left - 4}" y="16" text-anchor="end" font-size="11">{top}</text>')
    out.append(f'<text x="{left - 4}" y="{10 + plot_h}" text-anchor="end" font-size="11">0</text>')
    every = max(1, len(days) // 10)
    for i, d in enumerate(days):
        x = left + i * step + (step - bar) / 2
        y = 10.0 + plot_h
        for k in keys:
            h = plot_h * d[k] / top
            if h > 0:
                y -= h
                out.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[k]}"/>'
                )
        if i % every == 0:
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 12}" text-anchor="middle" font-size="10">{escape(d["day"][5:])}</text>'
            )
    out.append("</svg>")
    legend = " ".join(
        f'<span style="display:inline-block;width:10px;height:10px;background:{COLOURS[k]}"></span> {k}'
        for k in keys
    )
    return "".join(out) + f'<p class="note">{legend}</p>'


def _table(head: list[str], rows: list[list[object]]) -> str:
    th = "".join(f'<th class="{"n" if i else ""}">{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"n" if isinstance(v, int) else ""}">{escape(str(v))}</td>' for v in r)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>" if rows else '<p class="note">ไม่มีข้อมูล / none</p>'


def html(r: dict[str, Any], title: str = "") -> str:
    m = r["messages"]
    cards = [
        ("ตรวจแล้ว", "checked", m["checked"]),
        ("ปฏิเสธ", "refused", m["refused"]),
        ("กักไว้", "held", m["held"]),
        ("เลื่อน", "deferred", m["deferred"]),
        ("ส่งถึงผู้รับ", "delivered", m["delivered"]),
        ("นอกขอบเขต", "out of scope", m["out_of_scope"]),
    ]
    card_html = "".join(
        f'<div class="card"><div class="n">{n}</div><div class="l">{escape(th)} / {escape(en)}</div></div>'
        for th, en, n in cards
    )
    d = r["dry_run"]
    dry = (
        _h2("ทดลองใช้ (ไม่บังคับ)", "Dry run: would have been")
        + f'<p class="note">{d["messages"]} messages in dry run, all delivered.</p>'
        + hbars([(k, v) for k, v in d["would_have_been"].items()], "#7f8c8d")
        if d["messages"]
        else ""
    )
    k = r["dkim"]
    share = f"{k['pass_share'] * 100:.1f}%" if k["pass_share"] is not None else "-"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="th"><head><meta charset="utf-8">',
        f"<title>{escape(title or 'nolink report')}</title><style>{CSS}</style></head><body>",
        '<h1>รายงานการตรวจลิงก์ในอีเมลถึงประชาชน <span class="en">/ Links in mail to citizens: compliance report</span></h1>',
        f'<p class="period">{escape(r["since"][:16].replace("T", " "))} – {escape(r["until"][:16].replace("T", " "))}'
        f" · {len(r['journals'])} journal(s)</p>",
        "<section>",
        _h2("สรุปผล", "Summary"),
        f'<div class="cards">{card_html}</div>',
        hbars([(x[1], x[2]) for x in cards[1:5]], BAR, colours=COLOURS),
        "</section><section>",
        _h2("รายวัน", "Daily"),
        daily_chart(r["daily"]),
        "</section>",
        f"<section>{dry}</section>" if dry else "",
        "<section>",
        _h2("เหตุผล", "By reason"),
        hbars(list(r["by_reason"].items())),
        "</section><section>",
        _h2("ตำแหน่งของลิงก์", "Where the links were"),
        hbars([(LOCATION_NAMES.get(a, a), b) for a, b in r["by_location"].items()]),
        "</section><section>",
        _h2("หน่วยงานผู้ส่ง", "By sender domain"),
        _table(
            ["domain", "checked", "refused", "held", "deferred", "delivered", "with links"],
            [
                [
                    s["domain"],
                    s["checked"],
                    s["refused"],
                    s["held"],
                    s["deferred"],
                    s["delivered"],
                    s["with_links"],
                ]
                for s in r["by_sender_domain"]
            ],
        ),
        *(
            [
                "</section><section>",
                _h2("ด่านส่งอีเมล", "By relay"),
                _table(
                    ["relay", "checked", "refused", "held", "deferred", "delivered", "with links"],
                    [
                        [
                            x["relay"],
                            x["checked"],
                            x["refused"],
                            x["held"],
                            x["deferred"],
                            x["delivered"],
                            x["with_links"],
                        ]
                        for x in r["by_relay"]
                    ],
                ),
            ]
            if r.get("by_relay")
            else []
        ),
        "</section><section>",
        _h2("สุขภาพ DKIM", "DKIM health"),
        f"<p>ผ่าน / pass: <b>{k['pass']}</b> of {k['checked']} ({share}); "
        f"ปัญหา DNS / DNS trouble: <b>{k['dns_trouble']}</b></p>",
        hbars([("pass", k["pass"]), *k["failures"].items(), ("DNS trouble", k["dns_trouble"])], "#16a085"),
        _table(["why (nolink's reason)", "messages"], [[w, n] for w, n in k["failure_reasons"].items()])
        if k["failure_reasons"]
        else "",
        "</section><section>",
        _h2("โฮสต์ของลิงก์ที่พบมากที่สุด", "Top 10 link hosts"),
        hbars([(h["host"], h["messages"]) for h in r["top_link_hosts"]], "#8e44ad"),
        "</section><section>",
        _h2("ข้อยกเว้นที่ใช้", "Exceptions used"),
        _table(
            ["exception", "messages", "reason"],
            [[a, b, r.get("exception_reasons", {}).get(a, "")] for a, b in r["exceptions"].items()],
        ),
        _h2("คิวกักกัน", "Hold queue"),
        _table(
            ["action", "messages"],
            [["released", r["quarantine"]["released"]], ["deleted", r["quarantine"]["deleted"]]],
        ),
        "</section>",
        '<p class="note">nolink · figures from the decision journal; no message contents or recipient addresses are kept.</p>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
