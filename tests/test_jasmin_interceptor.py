"""contrib/jasmin/nolink_mt_interceptor.py against nolink's real text API. Jasmin itself is not
started here (it needs RabbitMQ, Redis and Jasmin's own daemons); the routable is a stand-in with
the attributes the script reads (pdu.params, nextPdu), as Jasmin's smpp.pdu objects have them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nolink.adapters.textapi import make_server
from nolink.config import parse
from nolink.metrics import Metrics
from nolink.scan import Scanner

SCRIPT = Path(__file__).resolve().parent.parent / "contrib" / "jasmin" / "nolink_mt_interceptor.py"


@dataclass
class Pdu:
    params: dict[str, Any]
    nextPdu: Pdu | None = None


@dataclass
class Routable:
    pdu: Pdu


@dataclass
class Udhi:
    gsmFeatures: tuple[str, ...] = field(default=("UDHI_INDICATOR_SET",))


def free_port() -> int:
    from harness import free_port as port  # honours NOLINK_TEST_PORTS

    return port()


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    cfg = parse(f'[text_api]\nlisten = "127.0.0.1:{free_port()}"')
    scanner = Scanner(cfg)
    srv = make_server(cfg, lambda: scanner.text, Metrics())
    assert srv is not None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1/check-text"
    srv.shutdown()
    srv.server_close()


def run(routable: Routable, url: str) -> dict[str, Any]:
    source = SCRIPT.read_text().replace(
        'NOLINK_URL = "http://127.0.0.1:9429/v1/check-text"', f'NOLINK_URL = "{url}"'
    )
    g: dict[str, Any] = {"routable": routable}
    exec(compile(source, str(SCRIPT), "exec"), g)
    return g


def ucs2(text: str, udh: bytes = b"") -> Pdu:
    params: dict[str, Any] = {"short_message": udh + text.encode("utf-16-be"), "data_coding": 8}
    if udh:
        params["esm_class"] = Udhi()
    return Pdu(params)


def test_clean_passes_and_a_link_is_refused(api: str) -> None:
    g = run(Routable(ucs2("กรมสรรพากร: ท่านได้รับเงินคืนภาษีแล้ว")), api)
    assert "smpp_status" not in g and "http_status" not in g
    g = run(Routable(ucs2("ยืนยันที่ https://evil.example.com/x")), api)
    assert (g["smpp_status"], g["http_status"]) == (0x45, 403)


def test_a_link_across_chained_parts_is_seen_whole(api: str) -> None:
    first = ucs2("โปรดยืนยันที่ https://evil.exa", b"\x05\x00\x03\x01\x02\x01")
    first.nextPdu = ucs2("mple.com/refund วันนี้", b"\x05\x00\x03\x01\x02\x02")
    g = run(Routable(first), api)
    assert g["smpp_status"] == 0x45
    # one part alone (an SMPP client that split the message itself): only what it holds is seen
    g = run(Routable(ucs2("โปรดยืนยันที่ evil", b"\x05\x00\x03\x01\x02\x01")), api)
    assert "smpp_status" not in g


def test_nolink_unreachable_refuses(api: str) -> None:
    g = run(Routable(ucs2("hello")), f"http://127.0.0.1:{free_port()}/v1/check-text")
    assert (g["smpp_status"], g["http_status"]) == (0x08, 503)
