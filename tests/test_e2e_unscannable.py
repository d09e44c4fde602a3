"""End to end through a real Postfix: content nolink cannot open is not let out (links.on_unscannable)."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator

import pytest

from harness import Nolink, Parts, Postfix, Rig, Sink, have_postfix, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok")]

SCOPE = '[scope]\ninternal_domains = ["go.th"]\n'
CITIZEN = "somchai@example.com"


class Mta(Rig):
    def start(self, parts: Parts) -> None:
        base = self.base
        self.sink = parts.add(Sink(base).start())
        self.reject = parts.add(Nolink(base, "reject", SCOPE).start())
        self.quarantine = parts.add(
            Nolink(base, "quarantine", SCOPE + '[links]\non_unscannable = "quarantine"\n').start()
        )
        self.tempfail = parts.add(
            Nolink(base, "tempfail", SCOPE + '[links]\non_unscannable = "tempfail"\n').start()
        )
        self.accept = parts.add(
            Nolink(base, "accept", SCOPE + '[links]\non_unscannable = "accept"\n').start()
        )
        self.postfix = parts.add(
            Postfix(
                base,
                self.sink,
                {
                    "reject": f"unix:{self.reject.socket}",
                    "quarantine": f"unix:{self.quarantine.socket}",
                    "tempfail": f"unix:{self.tempfail.socket}",
                    "accept": f"unix:{self.accept.socket}",
                },
                non_smtpd_milter=f"unix:{self.reject.socket}",
            ).start()
        )

    def not_delivered(self, marker: str, wait: float = 1.5) -> bool:
        self.postfix.flush()
        time.sleep(wait)
        return not self.sink.find(marker.encode())


@pytest.fixture(scope="module")
def mta() -> Iterator[Mta]:
    m = Mta()
    try:
        yield m
    finally:
        m.stop()


def encrypted_zip() -> bytes:
    from mail import zipped

    data = bytearray(zipped({"form.pdf": b"\x00" * 12 + b"ciphertext"}))
    data[data.find(b"PK\x03\x04") + 6] |= 0x1
    data[data.find(b"PK\x01\x02") + 8] |= 0x1
    return bytes(data)


def letter(marker: str) -> bytes:
    return (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: forms {marker}\r\n"
        f"Message-ID: <{marker}@example.go.th>\r\nDate: Mon, 16 Feb 2026 09:00:00 +0700\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "เรียน ท่าน แบบฟอร์มตามไฟล์แนบ รหัสผ่านคือ 1234\r\n"
        "--b1\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="forms.zip"\r\n\r\n'
        + base64.encodebytes(encrypted_zip()).decode()
        + "--b1--\r\n"
    ).encode()


def marker() -> str:
    return uuid.uuid4().hex[:12]


def test_encrypted_zip_is_rejected_saying_what(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("reject", letter(m), [CITIZEN])
    assert code == 550
    assert text.startswith(b"5.7.1 Message refused")
    assert b'could not be checked (encrypted ZIP "forms.zip"). Send it unencrypted, or without links.' in text
    ref = text.decode().rsplit("Ref ", 1)[1]
    line = next(x for x in mta.reject.lines() if f"ref={ref}" in x)
    assert "action=reject" in line and "reason=unscannable" in line and "unscannable=encrypted" in line
    assert mta.not_delivered(m)


def test_quarantine_holds_it_with_the_header(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("quarantine", letter(m), [CITIZEN])
    assert code == 250
    qid = text.decode().rsplit(" ", 1)[1]
    wait_until(lambda: qid in mta.postfix.held(), what="the message in the hold queue")
    assert b"X-Nolink-Verdict: quarantine; reason=unscannable" in mta.postfix.postcat(qid)


def test_tempfail_defers_and_accept_delivers(mta: Mta) -> None:
    m = marker()
    code, text = mta.postfix.send("tempfail", letter(m), [CITIZEN])
    assert code == 451
    assert text.startswith(b"4.7.1 Message deferred")
    m = marker()
    code, _ = mta.postfix.send("accept", letter(m), [CITIZEN])
    assert code == 250
    assert b"X-Nolink-Verdict: accept; reason=unscannable" in mta.delivered(m)
