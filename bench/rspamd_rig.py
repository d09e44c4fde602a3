"""rspamd 3.x as a milter with a policy equivalent to nolink's, in a private directory (for
bench/compare.py): any URL is rejected, and a message without a DKIM signature that verifies and
is aligned with its From domain is rejected. Listens on a loopback port and a unix socket, scans
in its proxy worker (self_scan), asks the given DNS server for DKIM keys. Started as root with
rspamd's --insecure (the workers stay root: a throw-away benchmark instance)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

from harness import free_port  # tests/ is on sys.path: bench/compare.py puts it there first

POLICY_LUA = r"""
-- nolink's policy, for an equal comparison: no links at all, and an aligned DKIM signature
rspamd_config:register_symbol{
  name = 'BENCH_NOLINK_URL', score = 100.0, group = 'bench',
  callback = function(task)
    local urls = task:get_urls(false)  -- links, not e-mail addresses (as nolink's default)
    return urls ~= nil and #urls > 0
  end,
}
rspamd_config:register_symbol{
  name = 'BENCH_NOLINK_NO_ALIGNED_DKIM', score = 100.0, group = 'bench',
  callback = function(task)
    local from = task:get_from('mime')
    if not from or not from[1] or not from[1].domain then return true end
    local fd = string.lower(from[1].domain)
    local s = task:get_symbol('R_DKIM_ALLOW')
    if s and s[1] and s[1].options then
      for _, o in ipairs(s[1].options) do
        local d = string.lower(o:match('^([^:]+)') or '')
        if d == fd or fd:sub(-(#d + 1)) == '.' .. d or d:sub(-(#fd + 1)) == '.' .. fd then
          return false
        end
      end
    end
    return true
  end,
}
rspamd_config:register_dependency('BENCH_NOLINK_NO_ALIGNED_DKIM', 'DKIM_CHECK')
"""


def have_rspamd() -> str:
    return "" if shutil.which("rspamd") else "rspamd is not installed"


class Rspamd:
    def __init__(self, base: Path, nameserver: str, workers: int = 2) -> None:
        """nameserver: "127.0.0.1:PORT" of a TinyDns with the DKIM keys."""
        self.dir = base / "rspamd"
        for sub in ("local", "db", "run", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.port = free_port()
        self.socket = self.dir / "milter.sock"
        normal, controller = free_port(), free_port()
        self.normal = normal
        (self.dir / "local" / "rspamd.local.lua").write_text(POLICY_LUA)
        (self.dir / "local" / "local.d").mkdir(exist_ok=True)
        # the policy is nolink's: links and DKIM; no signing, and none of the network checks that
        # nolink does not do either (they would only measure the DNS responder)
        for module in ("dkim_signing", "rbl", "spf", "dmarc", "asn", "hfilter", "emails", "url_redirector"):
            (self.dir / "local" / "local.d" / f"{module}.conf").write_text("enabled = false;\n")
        # the benchmark's clients are on loopback, which rspamd's DKIM check skips by default
        (self.dir / "local" / "local.d" / "dkim.conf").write_text(
            "check_local = true;\ncheck_authed = true;\n"
        )
        (self.dir / "rspamd.conf").write_text(
            f"""
.include "$CONFDIR/common.conf"
options {{
    pidfile = "$RUNDIR/rspamd.pid";
    dns {{ nameserver = ["{nameserver}"]; timeout = 1s; retransmits = 1; }}
    .include(duplicate=merge) "$CONFDIR/options.inc"
}}
logging {{ type = "file"; filename = "$LOGDIR/rspamd.log"; level = "error"; }}
worker "normal" {{ bind_socket = "127.0.0.1:{normal}"; count = 1; .include "$CONFDIR/worker-normal.inc" }}
worker "controller" {{ bind_socket = "127.0.0.1:{controller}"; count = 1; .include "$CONFDIR/worker-controller.inc" }}
worker "rspamd_proxy" {{
    bind_socket = "127.0.0.1:{self.port}";
    bind_socket = "{self.socket} mode=0666";
    milter = yes;
    timeout = 120s;
    count = {workers};
    upstream "local" {{ default = yes; self_scan = yes; }}
}}
"""
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Rspamd:
        d = self.dir
        self.proc = subprocess.Popen(
            [
                "rspamd", "-f", "-i", "-c", str(d / "rspamd.conf"),
                "--var", f"LOCAL_CONFDIR={d / 'local'}", "--var", f"DBDIR={d / 'db'}",
                "--var", f"RUNDIR={d / 'run'}", "--var", f"LOGDIR={d / 'log'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(d / "stderr.log").open("wb"),
        )  # fmt: skip
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rspamd exited: {(d / 'stderr.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    if self.socket.exists():
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()  # not left running when the caller gives up on it
        raise RuntimeError("rspamd did not start within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class TinyDns:
    """A UDP DNS responder in a thread for rspamd: the DKIM key records given, NXDOMAIN for every
    other name (RBLs and the like), long TTLs. (rspamd 3.4 got no answer from the dnsmasq the tests
    use, for reasons not found: its queries reached dnsmasq, which logged an answer that never
    appeared on the wire.)"""

    def __init__(self, records: dict[str, bytes]) -> None:
        import threading

        self.records = {k.lower().rstrip("."): v for k, v in records.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.nameserver = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> TinyDns:
        self.thread.start()
        return self

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                q = dns.message.from_wire(data)
                r = dns.message.make_response(q)
                question = q.question[0]
                name = question.name.to_text().lower().rstrip(".")
                value = self.records.get(name)
                if value is not None and question.rdtype == dns.rdatatype.TXT:
                    chunks = " ".join(f'"{value[i : i + 250].decode()}"' for i in range(0, len(value), 250))
                    r.answer.append(dns.rrset.from_text(question.name, 3600, "IN", "TXT", chunks))
                else:
                    r.set_rcode(dns.rcode.NXDOMAIN)
                self.sock.sendto(r.to_wire(), peer)
            except Exception:
                continue

    def stop(self) -> None:
        self.sock.close()
