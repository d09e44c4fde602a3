"""Fail closed: what nolink cannot open is unscannable, decided by links.on_unscannable, and said so
in the reply, the header, the log line, the metrics and `nolink scan`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import Milter
import pytest

from mail import attachment, message, multipart, part, zipped
from nolink import Config, scan_message
from nolink.adapters.cli import main
from nolink.config import LinksConfig
from nolink.findings import Location, ScanResult, Unscanned
from nolink.metrics import Metrics
from nolink.policy import decide, header_value, log_line, reply_text, smtp_reply
from nolink.scope import Envelope
from test_metrics import samples
from test_service import CITIZEN, Session, make


def encrypted_zip() -> bytes:
    data = bytearray(zipped({"form.pdf": b"\x00" * 12 + b"ciphertext"}))
    data[data.find(b"PK\x03\x04") + 6] |= 0x1
    data[data.find(b"PK\x01\x02") + 8] |= 0x1
    return bytes(data)


def with_attachment(data: bytes, name: str, ctype: str = "application/octet-stream") -> bytes:
    body, mtype = multipart([part("เรียน ท่าน รหัสผ่าน 1234", "text/plain"), attachment(data, ctype, name)])
    return message(body, mtype)


ENCRYPTED = with_attachment(encrypted_zip(), "forms.zip", "application/zip")
ENV = Envelope(sender="saraban@example.go.th", recipients=("somchai@example.com",))


def test_scan_result_is_structured() -> None:
    r = scan_message(ENCRYPTED)
    assert r.verdict == "unscannable"
    assert r.findings == () and r.errors == ()
    assert [u.to_json() for u in r.unscannable] == [
        {
            "reason": "encrypted",
            "detail": 'encrypted ZIP "forms.zip"',
            "location": "2 application/zip attachment forms.zip › form.pdf",
        }
    ]


@pytest.mark.parametrize("action", ["reject", "quarantine", "tempfail", "accept"])
def test_the_configured_action_decides(action: str) -> None:
    cfg = Config(links=LinksConfig(on_unscannable=action))
    d = decide(cfg, ENV, scan_message(ENCRYPTED, cfg), "REF1")
    assert (d.action, d.reason) == (action, "unscannable")
    assert f"{action}; reason=unscannable" in header_value(d)
    assert "unscannable=encrypted" in header_value(d)
    line = log_line(d, "QID", 100, 0.01)
    assert "reason=unscannable" in line and "unscannable=encrypted" in line
    assert r'detail="encrypted ZIP \"forms.zip\""' in line  # quoted and escaped, as link locations


def test_reply_says_what_could_not_be_checked() -> None:
    cfg = Config()
    d = decide(cfg, ENV, scan_message(ENCRYPTED), "REF1")
    assert smtp_reply(cfg, d) == (
        "550",
        "5.7.1",
        "Message refused: mail from this agency to citizens must not contain links, and it holds an "
        'attachment that could not be checked (encrypted ZIP "forms.zip"). Send it unencrypted, or '
        "without links. Ref REF1",
    )
    cfg = Config(links=LinksConfig(on_unscannable="tempfail"))
    d = decide(cfg, ENV, scan_message(ENCRYPTED), "REF2")
    code, enhanced, text = smtp_reply(cfg, d)  # type: ignore[misc]
    assert (code, enhanced) == ("451", "4.7.1") and "could not be checked" in text


def test_a_link_wins_over_unscannable_content() -> None:
    body, mtype = multipart(
        [
            part("ดู https://evil.example.com/", "text/plain"),
            attachment(encrypted_zip(), "application/zip", "f.zip"),
        ]
    )
    r = scan_message(message(body, mtype))
    assert r.verdict == "link"
    assert decide(Config(), ENV, r, "R").reason == "link_found"


def test_attacker_file_names_cannot_break_the_reply() -> None:
    u = Unscanned(
        "encrypted", 'encrypted ZIP "a%s\\b\r\nX-Evil: 1"', Location("2", "application/zip", "attachment")
    )
    d = decide(Config(), ENV, ScanResult(unscannable=(u,)), "R")
    text = reply_text(Config(), d)
    assert "\r" not in text and "\n" not in text and "%s" not in text and "\\" not in text


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 4, "voice.mp3"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4, "clip.mp4"),
        (b"OggS\x00\x02" + bytes(range(256)) * 4, "voice.ogg"),
        (bytes(range(256)) * 8, "data.bin"),  # unknown binary: nothing a citizen would open as a document
    ],
)
def test_plain_media_and_unknown_binary_are_not_unscannable(data: bytes, name: str) -> None:
    assert scan_message(with_attachment(data, name)).verdict == "clean"


def test_metrics_count_unscannable_by_reason() -> None:
    svc = make()
    s = Session(svc)
    assert s.send(ENCRYPTED, CITIZEN) == Milter.REJECT
    s.milter.close()
    m = samples(svc.metrics)
    assert m['nolink_decisions_total{reason="unscannable"}'] == 1
    assert m['nolink_unchecked_parts_total{reason="encrypted"}'] == 1
    assert m['nolink_unchecked_parts_total{reason="budget"}'] == 0
    assert samples(Metrics())['nolink_unchecked_parts_total{reason="too_deep"}'] == 0


def test_nolink_scan_reports_unscannable(tmp_path: Path) -> None:
    (tmp_path / "forms.eml").write_bytes(ENCRYPTED)
    out, err = io.StringIO(), io.StringIO()
    assert main(["scan", str(tmp_path / "forms.eml")], out, err) == 1
    first = out.getvalue().splitlines()[0]
    assert first.endswith(
        '\tunscannable\tencrypted: 2 application/zip attachment forms.zip › form.pdf: encrypted ZIP "forms.zip"'
    )
    assert "1 unscannable" in out.getvalue()
    out = io.StringIO()
    assert main(["scan", "--json", str(tmp_path / "forms.eml")], out, err) == 1
    obj = json.loads(out.getvalue().splitlines()[0])
    assert obj["verdict"] == "unscannable"
    assert obj["unscannable"][0]["reason"] == "encrypted"


def test_a_recognised_format_without_a_reader_is_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    from mail import rar4
    from nolink.extract import registry

    monkeypatch.delitem(registry.EXTRACTORS, "rar")  # as on a machine without libarchive's reader
    r = scan_message(with_attachment(rar4({"a.txt": b"https://x.example.com/"}), "a.rar"))
    assert r.verdict == "unscannable"
    assert [(u.reason, u.detail) for u in r.unscannable] == [
        ("unsupported", 'RAR "a.rar" cannot be read by nolink here')
    ]


def test_accepting_unscannable_content_still_applies_dkim() -> None:
    from nolink.config import DkimConfig
    from nolink.dkim.check import DkimResult

    cfg = Config(links=LinksConfig(on_unscannable="accept"), dkim=DkimConfig(enabled=True))
    r = scan_message(ENCRYPTED, cfg)
    bad = DkimResult(
        "fail", "signature does not verify", "example.go.th", "s1", "rsa-sha256", 2048, True, "example.go.th"
    )
    assert decide(cfg, ENV, r, "R", dkim=bad).reason == "dkim_fail"
    good = DkimResult("pass", "", "example.go.th", "s1", "rsa-sha256", 2048, True, "example.go.th")
    d = decide(cfg, ENV, r, "R", dkim=good)
    assert (d.action, d.reason) == ("accept", "unscannable")
