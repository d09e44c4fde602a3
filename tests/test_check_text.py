"""The SMS channel: nolink check-text, and POST /v1/check-text against a real server on a loopback
port (the real `nolink serve --no-milter` process, and the in-process server for the details)."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT
from harness import wait_listening
from nolink.adapters.cli import main
from nolink.adapters.textapi import MAX_BATCH, MAX_TEXT_BYTES, PATH, Server, make_server, read_token
from nolink.config import parse
from nolink.errors import ConfigError
from nolink.metrics import Metrics
from nolink.scan import Scanner

LINK_TH = "แจ้งคืนภาษี กรุณาตรวจสอบที่ https://evil.example.com/r ภายในวันนี้"
CLEAN_TH = "เรียน คุณสมชาย บัตรประชาชนของท่านจะหมดอายุวันที่ ๑๖ ก.พ. ๒๕๖๙ โปรดติดต่อสำนักงานเขต"
ENV = {"PYTHONPATH": str(ROOT / "milter"), "PATH": "/usr/bin:/bin"}


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), out, err)
    return rc, out.getvalue(), err.getvalue()


def cli(*argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "nolink", *argv],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=ENV,
        check=False,
    )


# -- nolink check-text ------------------------------------------------------------------------------


def test_check_text_arguments() -> None:
    rc, out, _ = run("check-text", LINK_TH)
    assert rc == 1
    assert out.splitlines()[0] == "link"
    assert "https://evil.example.com/r" in out
    rc, out, _ = run("check-text", CLEAN_TH)
    assert (rc, out) == (0, "clean\n")
    rc, out, _ = run("check-text", "Refund:", "www.evil.example.com")  # words joined by spaces
    assert rc == 1


def test_check_text_json() -> None:
    rc, out, _ = run("check-text", "--json", "Thank you.Best regards, see dla.go.th")
    assert rc == 1
    obj = json.loads(out)
    assert obj == {
        "verdict": "link",
        "findings": [{"text": "dla.go.th", "url": "http://dla.go.th", "kind": "bare_domain", "offset": 28}],
    }
    rc, out, _ = run("check-text", "--json", "Thank you.Best regards")
    assert (rc, json.loads(out)) == (0, {"verdict": "clean", "findings": []})


def test_check_text_stdin_is_plain_text_not_mail() -> None:
    # "Refund: ..." would be a header line if this were read as a mail message
    r = cli("check-text", stdin=b"Refund: https://evil.example.com/r")
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith(b"link\n")
    r = cli("check-text", "--json", stdin="ดูรายละเอียดที่ภาษี.ไทยค่ะ".encode())
    assert r.returncode == 1
    assert json.loads(r.stdout)["findings"][0]["kind"] == "idn"
    r = cli("check-text", stdin=CLEAN_TH.encode())
    assert (r.returncode, r.stdout) == (0, b"clean\n")


@pytest.mark.parametrize(
    ("sms", "url"),
    [
        ("แจ้งคืนเงินภาษี กรอกข้อมูลที่ ktb-refund ดอทคอม ภายในวันนี้", "http://ktb-refund.com"),
        ("ยืนยันสิทธิ์ที่ dla ดอท โก ดอท ทีเอช", "http://dla.go.th"),
        ("กดลิงก์ cutt ดอท ly ทับ abc เพื่อรับเงิน", "http://cutt.ly/abc"),
        ("h t t p s : / / p e a - t h . c c", "https://pea-th.cc"),
        ("w w w . d l a . g o . t h", "http://www.dla.go.th"),
        ("tinyurl . com / dla527", "http://tinyurl.com/dla527"),
    ],
)
def test_check_text_reads_spelled_and_spaced_addresses(sms: str, url: str) -> None:
    """Issue 19: the SMS channel reads Thai dot words and spaced letters as mail bodies do."""
    rc, out, _ = run("check-text", "--json", sms)
    assert rc == 1
    assert [f["url"] for f in json.loads(out)["findings"]] == [url]


@pytest.mark.parametrize(
    "sms",
    ["รถบรรทุกทับรถเก๋งที่แยกดอนเมือง", "S A L E ลดราคา 50%", "ตารางสอบทับซ้อนกัน แจ้ง e-mail: saraban at dla.go.th"],
)
def test_check_text_look_alikes_stay_clean(sms: str) -> None:
    assert run("check-text", sms)[:2] == (0, "clean\n")


def test_check_text_usage_and_input_errors() -> None:
    r = cli("check-text", stdin=b"\xff\xfe not utf-8")
    assert r.returncode == 2
    assert b"not UTF-8" in r.stderr
    assert run("check-text", "--bogus", "x")[0] == 2
    assert run("check-text", "-c", "/nonexistent/nolink.toml", "x")[0] == 2


# -- configuration ----------------------------------------------------------------------------------


def test_text_api_config() -> None:
    assert parse("").text_api.listen == ""
    assert parse('[text_api]\nlisten = "127.0.0.1:9429"').text_api.listen == "127.0.0.1:9429"
    assert parse('[text_api]\nlisten = "[::1]:9429"').text_api.listen == "[::1]:9429"
    with pytest.raises(ConfigError, match="allow_remote"):
        parse('[text_api]\nlisten = "0.0.0.0:9429"')
    with pytest.raises(ConfigError, match="allow_remote"):
        parse('[text_api]\nlisten = ":9429"')
    assert parse('[text_api]\nlisten = "0.0.0.0:9429"\nallow_remote = true').text_api.allow_remote
    with pytest.raises(ConfigError, match=r"text_api\.listen"):
        parse('[text_api]\nlisten = "localhost"')


def test_token_file(tmp_path: Path) -> None:
    cfg = parse(f'[text_api]\nlisten = "127.0.0.1:1"\ntoken_file = "{tmp_path / "t"}"')
    with pytest.raises(ConfigError, match="cannot read"):
        read_token(cfg.text_api)
    (tmp_path / "t").write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        read_token(cfg.text_api)
    (tmp_path / "t").write_text("s3cret\n")
    assert read_token(cfg.text_api) == "s3cret"


# -- the HTTP endpoint, in process --------------------------------------------------------------------


def free_port() -> int:
    from harness import free_port as port  # honours NOLINK_TEST_PORTS

    return port()


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[tuple[Server, Metrics]]:
    (tmp_path / "token").write_text("s3cret\n")
    cfg = parse(f'[text_api]\nlisten = "127.0.0.1:{free_port()}"\ntoken_file = "{tmp_path / "token"}"')
    metrics = Metrics()
    scanner = Scanner(cfg)
    srv = make_server(cfg, lambda: scanner.text, metrics)
    assert srv is not None
    import threading

    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, metrics
    srv.shutdown()
    srv.server_close()


AUTH = {"Authorization": "Bearer s3cret", "Content-Type": "application/json"}


def post(
    conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, object]:
    conn.request("POST", PATH, body=body, headers=AUTH if headers is None else headers)
    r = conn.getresponse()
    data = r.read()
    assert r.getheader("Content-Type", "").startswith("application/json")
    return r.status, json.loads(data)


def test_single_and_batch_on_one_kept_alive_connection(server: tuple[Server, Metrics]) -> None:
    srv, metrics = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    status, obj = post(conn, json.dumps({"text": LINK_TH}).encode())
    assert status == 200
    assert isinstance(obj, dict) and obj["verdict"] == "link"
    assert obj["findings"] == [
        {
            "text": "https://evil.example.com/r",
            "url": "https://evil.example.com/r",
            "kind": "scheme",
            "offset": 28,
        }
    ]
    sock = conn.sock
    status, obj = post(conn, json.dumps({"texts": [CLEAN_TH, "login at portal.example.app", ""]}).encode())
    assert conn.sock is sock  # the same TCP connection: keep-alive
    assert status == 200
    assert isinstance(obj, list)
    assert [x["verdict"] for x in obj] == ["clean", "link", "clean"]
    reg = metrics.registry
    assert reg.get_sample_value("nolink_texts_total", {"verdict": "link"}) == 2
    assert reg.get_sample_value("nolink_texts_total", {"verdict": "clean"}) == 2
    assert reg.get_sample_value("nolink_text_check_duration_seconds_count") == 2


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"txt": "x"}',
        b'{"text": 5}',
        b'{"text": "a", "texts": ["b"]}',
        b'{"texts": "abc"}',
        b'{"texts": ["a", 1]}',
        b'{"text": "\\ud800"}',
    ],
)
def test_bad_input_is_400_with_a_json_error(server: tuple[Server, Metrics], body: bytes) -> None:
    srv, _ = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    status, obj = post(conn, body)
    assert status == 400
    assert isinstance(obj, dict) and obj["error"]
    status, _ = post(conn, json.dumps({"text": "ok"}).encode())  # the connection is still usable
    assert status == 200


def test_too_large_is_413(server: tuple[Server, Metrics]) -> None:
    srv, _ = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    status, obj = post(conn, json.dumps({"text": "ก" * (MAX_TEXT_BYTES // 3 + 1)}).encode())
    assert status == 413
    status, obj = post(conn, json.dumps({"text": "a" * MAX_TEXT_BYTES}).encode())
    assert status == 200
    status, obj = post(conn, json.dumps({"texts": ["a"] * (MAX_BATCH + 1)}).encode())
    assert status == 413
    status, obj = post(conn, json.dumps({"texts": ["a"] * MAX_BATCH}).encode())
    assert status == 200 and isinstance(obj, list) and len(obj) == MAX_BATCH
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.putrequest("POST", PATH)
    conn.putheader("Authorization", "Bearer s3cret")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"]


def test_token_is_required(server: tuple[Server, Metrics]) -> None:
    srv, metrics = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    body = json.dumps({"text": LINK_TH}).encode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic czNjcmV0"}):
        status, obj = post(conn, body, headers)
        assert status == 401
        assert isinstance(obj, dict) and "Bearer" in str(obj["error"])
    assert metrics.registry.get_sample_value("nolink_texts_total", {"verdict": "link"}) == 0
    assert post(conn, body)[0] == 200


def test_other_paths_and_methods(server: tuple[Server, Metrics]) -> None:
    srv, _ = server
    conn = http.client.HTTPConnection(*srv.server_address[:2], timeout=10)
    conn.request("POST", "/v1/other", body=b"{}", headers=AUTH)
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read())["error"]
    conn.request("GET", PATH)
    r = conn.getresponse()
    assert r.status == 405 and json.loads(r.read())["error"]


def test_expect_continue_and_a_broken_request_line(server: tuple[Server, Metrics]) -> None:
    srv, _ = server
    body = json.dumps({"text": "x" * 2000 + " www.evil.example.com"}).encode()
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        assert s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # as curl waits for
        s.sendall(body)
        f = s.makefile("rb")
        assert f.readline().startswith(b"HTTP/1.1 200")
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(b"hello there\r\n\r\n")
        assert s.makefile("rb").readline().startswith(b"HTTP/1.1 400")


# -- nolink serve --no-milter, a real process ---------------------------------------------------------


def test_serve_no_milter_process(tmp_path: Path) -> None:
    port, mport = free_port(), free_port()
    (tmp_path / "token").write_text("tok\n")
    (tmp_path / "nolink.toml").write_text(
        f'[text_api]\nlisten = "127.0.0.1:{port}"\ntoken_file = "{tmp_path / "token"}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
    )
    p = subprocess.Popen(
        [sys.executable, "-m", "nolink", "serve", "--no-milter", "-c", str(tmp_path / "nolink.toml")],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(p, port, 30)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": "Bearer tok"}
        status, obj = post(conn, json.dumps({"texts": [LINK_TH, CLEAN_TH]}).encode(), headers)
        assert status == 200
        assert isinstance(obj, list) and [x["verdict"] for x in obj] == ["link", "clean"]
        conn2 = http.client.HTTPConnection("127.0.0.1", mport, timeout=10)
        conn2.request("GET", "/metrics")
        text = conn2.getresponse().read().decode()
        assert 'nolink_texts_total{verdict="link"} 1.0' in text
        assert "nolink_text_check_duration_seconds_bucket" in text
    finally:
        p.send_signal(signal.SIGTERM)
        _out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert b"evil.example.com" not in err  # no texts in the log
    assert os.path.exists(tmp_path / "nolink.toml")


def test_serve_no_milter_needs_a_listen_address(tmp_path: Path) -> None:
    rc, _, err = run("serve", "--no-milter", "-c", str(tmp_path / "missing.toml"))
    assert rc == 2
    (tmp_path / "n.toml").write_text("")
    rc, _, err = run("serve", "--no-milter", "-c", str(tmp_path / "n.toml"))
    assert rc == 2 and "text_api.listen" in err
