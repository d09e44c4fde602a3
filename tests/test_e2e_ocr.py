"""End to end through a real Postfix: a poster with a printed web address, attached to mail for a
citizen, is refused; the same poster without the address is delivered; the OCR metrics count it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

import ocrimages as img
from harness import Nolink, Parts, Postfix, Rig, Sink, have_postfix
from mail import attachment, multipart, part
from test_ocr import _tesseract

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(have_postfix()), reason=have_postfix() or "ok"),
    pytest.mark.skipif(bool(_tesseract()), reason=_tesseract() or "ok"),
]

CITIZEN = "somchai@example.com"
# time enough for Tesseract on a loaded CI machine
CONFIG = '[scope]\ninternal_domains = ["go.th"]\n[links]\nocr_budget = 60.0\nmax_scan_seconds = 90.0\n'


class Mta(Rig):
    def start(self, parts: Parts) -> None:
        self.sink = parts.add(Sink(self.base).start())
        self.nolink = parts.add(Nolink(self.base, "ocr", CONFIG).start())
        self.postfix = parts.add(
            Postfix(
                self.base, self.sink, {"ocr": f"unix:{self.nolink.socket}"}, f"unix:{self.nolink.socket}"
            ).start()
        )


@pytest.fixture(scope="module")
def mta() -> Iterator[Mta]:
    m = Mta()
    try:
        yield m
    finally:
        m.stop()


def poster_mail(marker: str, url: str | None) -> bytes:
    body, ctype = multipart(
        [
            part("เรียน ท่าน ขอส่งประกาศตามแนบ".encode(), "text/plain; charset=utf-8", "8bit"),
            attachment(img.poster(url, seed=11), "image/png", "poster.png"),
        ]
    )
    head = (
        f"From: Saraban <saraban@example.go.th>\r\nTo: <{CITIZEN}>\r\nSubject: poster {marker}\r\n"
        f"Message-ID: <{marker}@example.go.th>\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\n\r\n"
    )
    return head.encode() + body


def test_poster_with_a_printed_address_is_refused_and_without_it_delivered(mta: Mta) -> None:
    m = uuid.uuid4().hex[:12]
    code, text = mta.postfix.send("ocr", poster_mail(m, "www.dla.go.th"), [CITIZEN])
    assert code == 550, text
    assert text.startswith(b"5.7.1 Message refused: mail from this agency to citizens must not contain links")
    ref = text.decode().rsplit("Ref ", 1)[1]
    line = next(x for x in mta.nolink.lines() if f"ref={ref}" in x)
    assert "action=reject" in line and "reason=link_found" in line
    assert re.search(r'where="2 image/png attachment poster\.png \S+ ocr"', line)  # the log line is ASCII
    assert "sample=http://www.dla.go.th" in line

    clean = uuid.uuid4().hex[:12]
    code, _ = mta.postfix.send("ocr", poster_mail(clean, None), [CITIZEN])
    assert code == 250
    mta.delivered(clean)

    s = mta.nolink.samples()
    assert s["nolink_ocr_calls_total"] == 2
    assert s['nolink_links_total{kind="ocr",location="attachment"}'] == 1
    # the refused poster again, in another message: read from the cache
    code, _ = mta.postfix.send("ocr", poster_mail(uuid.uuid4().hex[:12], "www.dla.go.th"), [CITIZEN])
    assert code == 550
    assert mta.nolink.samples()["nolink_ocr_cache_hits_total"] == 1
