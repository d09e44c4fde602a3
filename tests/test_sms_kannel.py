"""The SMS proxy in front of a real Kannel (Debian's bearerbox + smsbox, tests/smsrig.py), with a
real `nolink serve --no-milter` process: what arrives at the far end, what is refused, and how."""

from __future__ import annotations

import http.client
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import free_port, port_open
from smsrig import PASSWORD, USER, FarEnd, have_kannel, kannel

pytestmark = pytest.mark.skipif(not have_kannel(), reason="Debian's kannel package is not installed")
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "milter")}
CLEAN_TH = "กรมสรรพากรแจ้ง: ท่านได้รับเงินคืนภาษีแล้ว โปรดตรวจสอบบัญชีของท่าน"
TO = "0812345678"


@dataclass
class Rig:
    proxy: int  # [[sms_proxy]] in front of smsbox
    dead: int  # [[sms_proxy]] whose upstream is a closed port
    metrics: int
    far: FarEnd
    journal: Path
    config: Path
    log: Path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    d = tmp_path_factory.mktemp("kannel")
    with kannel(d) as k:
        proxy, dead, mport = free_port(), free_port(), free_port()
        cfg = d / "nolink.toml"
        cfg.write_text(
            f'[journal]\npath = "{d}/journal.sqlite"\n[metrics]\nlisten = "127.0.0.1:{mport}"\n'
            f'[[sms_proxy]]\nlisten = "127.0.0.1:{proxy}"\ndialect = "kannel"\n'
            f'upstream = "http://127.0.0.1:{k.sendsms_port}"\n'
            f'[[sms_proxy]]\nlisten = "127.0.0.1:{dead}"\nupstream = "http://127.0.0.1:{free_port()}"\n'
            "upstream_timeout = 2\n"
        )
        log = d / "nolink.log"
        with open(log, "wb") as out:
            p = subprocess.Popen(
                [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(cfg)],
                cwd=ROOT,
                env=ENV,
                stdout=out,
                stderr=out,
            )
        try:
            deadline = time.monotonic() + 60
            while not (port_open(proxy) and port_open(dead)):
                assert p.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "nolink serve did not start"
                time.sleep(0.1)
            yield Rig(proxy, dead, mport, k.far, d / "journal.sqlite", cfg, log)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(20)


def sendsms(
    port: int, params: dict[str, str | bytes], method: str = "GET", creds: bool = True
) -> tuple[int, dict[str, str], str]:
    q = {**({"username": USER, "password": PASSWORD} if creds else {}), "to": TO, "from": "RDGOTH", **params}
    enc = urllib.parse.urlencode(q)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    if method == "GET":
        conn.request("GET", "/cgi-bin/sendsms?" + enc)
    else:  # smsbox's POST: the text is the body, the rest X-Kannel-* headers
        text = q.pop("text")
        charset = q.pop("charset", None)
        ctype = "text/plain" + (f"; charset={charset!s}" if charset else "")
        headers = {"Content-Type": ctype, **{f"X-Kannel-{k.title()}": str(v) for k, v in q.items()}}
        conn.request(
            "POST", "/cgi-bin/sendsms", body=text.encode() if isinstance(text, str) else text, headers=headers
        )
    r = conn.getresponse()
    body = r.read().decode("utf-8")
    headers = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, headers, body


def ucs2(text: str) -> dict[str, str | bytes]:
    return {"coding": "2", "text": text.encode("utf-16-be")}


def arrived_text(parts: list[dict[str, bytes]]) -> bytes:
    """The message's bytes as the far end got them: the parts' texts in the order of their UDH
    sequence numbers (the last byte of the concatenation element; parts may arrive out of order)."""
    return b"".join(p["text"] for p in sorted(parts, key=lambda p: p["udh"][-1:] or b"\0"))


def sentinel(rig: Rig) -> list[dict[str, bytes]]:
    """Send a clean marker and return everything that arrived up to and with it: a refused
    message sent before it would be there too, had it gone out."""
    marker = f"marker {time.monotonic_ns()}"
    status, _, _ = sendsms(rig.proxy, {"text": marker})
    assert status == 202
    deadline = time.monotonic() + 10
    while True:
        parts = rig.far.wait(1, 1.0)
        if any(p["text"] == marker.encode() for p in parts) or time.monotonic() > deadline:
            rig.far.clear()
            assert any(p["text"] == marker.encode() for p in parts), parts
            return [p for p in parts if p["text"] != marker.encode()]


def test_clean_thai_ucs2_arrives_byte_identical(rig: Rig) -> None:
    rig.far.clear()
    status, headers, body = sendsms(rig.proxy, ucs2(CLEAN_TH))
    assert (status, body) == (202, "0: Accepted for delivery")
    assert headers["server"].startswith("Kannel/")  # smsbox's answer, as it came
    assert len(CLEAN_TH) <= 70  # one UCS-2 part
    parts = rig.far.wait(1)
    assert arrived_text(parts) == CLEAN_TH.encode("utf-16-be")
    assert parts[0]["to"] == TO.encode() and parts[0]["coding"] == b"2"
    rig.far.clear()


def test_clean_utf8_post_is_converted_by_kannel(rig: Rig) -> None:
    rig.far.clear()
    status, _, body = sendsms(rig.proxy, {"coding": "2", "charset": "UTF-8", "text": CLEAN_TH}, method="POST")
    assert (status, body) == (202, "0: Accepted for delivery")
    assert arrived_text(rig.far.wait(1)) == CLEAN_TH.encode("utf-16-be")
    rig.far.clear()


def test_long_clean_text_arrives_in_parts_whole(rig: Rig) -> None:
    rig.far.clear()
    text = (CLEAN_TH + " ") * 3  # about 200 characters: 3 or 4 UCS-2 parts of 67
    status, _, _ = sendsms(rig.proxy, ucs2(text))
    assert status == 202
    time.sleep(0.5)
    parts = rig.far.wait(3)
    assert len(parts) >= 3 and all(p["udh"] for p in parts)  # Kannel split and concatenated it
    assert arrived_text(parts) == text.encode("utf-16-be")
    rig.far.clear()


LINKS = {
    "url": "กรมสรรพากร: ยืนยันตัวตนที่ https://evil.example.com/refund ภายในวันนี้",
    "www": "โปรดตรวจสอบที่ www.evil.co.th นะคะ",
    "spelled": "รับเงินคืนที่ example จุด com ค่ะ",
    "spaced": "รับเงินคืนที่ evil . co . th ค่ะ",
    "second_part": CLEAN_TH + " " + CLEAN_TH + " ติดต่อ https://evil.example.com",
}


@pytest.mark.parametrize("name", sorted(LINKS))
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_link_is_refused_in_kannels_form_and_never_arrives(rig: Rig, name: str, method: str) -> None:
    text = LINKS[name]
    if name == "second_part":
        assert "https" not in text[:140]  # the link is past the first two 70-character parts' start
        assert "https" in text[67:]
    status, headers, body = sendsms(rig.proxy, ucs2(text), method=method)
    assert status == 403
    assert headers["content-type"] == "text/html"  # smsbox's own reply headers
    assert body.startswith("Message refused: SMS to citizens must not contain links")
    assert "Ref " in body
    assert sentinel(rig) == []


def test_thai_dot_word_spelling_is_refused(rig: Rig) -> None:
    from nolink.config import Config
    from nolink.scan import scanner_for
    from nolink.textcheck import check_text

    text = "รับเงินคืนที่ example ดอท com ค่ะ"
    if check_text(text, scanner_for(Config()).text).verdict == "clean":
        pytest.skip("the Thai dot-word ('ดอท') spelling is not detected by this nolink yet")
    status, _, _ = sendsms(rig.proxy, ucs2(text))
    assert status == 403
    assert sentinel(rig) == []


def test_kannels_own_refusal_comes_back_as_it_came(rig: Rig) -> None:
    status, headers, body = sendsms(rig.proxy, {"text": "hello", "password": "wrong"})
    assert (status, body) == (403, "Authorization failed for sendsms")
    assert headers["server"].startswith("Kannel/")


def test_unreadable_udh_is_refused_as_kannel_would(rig: Rig) -> None:
    status, _headers, body = sendsms(rig.proxy, {"text": "hello", "udh": b"\x05\x00"})
    assert status == 400 and "UDH" in body and "Ref " in body
    assert sentinel(rig) == []


def test_upstream_down_is_an_error_not_a_send(rig: Rig) -> None:
    status, _headers, body = sendsms(rig.dead, {"text": "hello"})
    assert status == 503
    assert body.startswith("Temporal failure, try again later")
    assert sentinel(rig) == []


def test_journal_metrics_and_report_count_sms(rig: Rig) -> None:
    sendsms(rig.proxy, ucs2(LINKS["url"]))
    sendsms(rig.proxy, ucs2(CLEAN_TH))
    sendsms(rig.dead, {"text": "hello"})
    time.sleep(0.6)  # the journal writer lingers 0.1 s before a batch
    rig.far.clear()
    conn = sqlite3.connect(rig.journal)
    rows = conn.execute(
        "SELECT channel, listener, action, reason, sender_domain, rcpt_domains, sample FROM decisions"
    ).fetchall()
    assert {r[0] for r in rows} == {"sms"}
    reasons = {r[3] for r in rows}
    assert {"link_found", "clean", "upstream_error"} <= reasons
    link = next(r for r in rows if r[3] == "link_found")
    assert link[2] == "reject" and link[4] == "RDGOTH" and link[5] == 1
    dump = "\n".join(map(str, conn.execute("SELECT * FROM decisions").fetchall()))
    assert TO not in dump and "refund" not in dump and PASSWORD not in dump  # no numbers, no text
    log = rig.log.read_text()
    assert TO not in log and PASSWORD not in log and "refund" not in log
    c = http.client.HTTPConnection("127.0.0.1", rig.metrics, timeout=10)
    c.request("GET", "/metrics")
    m = c.getresponse().read().decode()
    assert 'nolink_sms_total{dialect="kannel",verdict="link"}' in m
    assert "nolink_sms_upstream_errors_total 1.0" in m or "nolink_sms_upstream_errors_total 2.0" in m
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "nolink",
            "report",
            "-c",
            str(rig.config),
            "--since",
            "1d",
            "--format",
            "json",
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert '"sms"' in out.stdout
