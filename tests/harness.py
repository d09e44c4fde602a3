"""Real parts for end-to-end tests: a private Postfix instance, smtp-sink as its next hop, and nolink
milter processes. Everything lives under one temporary directory and listens on loopback only.

Needs root and Debian's postfix package (scripts/setup.sh --test installs it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MASTER_DIST = Path("/usr/share/postfix/master.cf.dist")
SERVICES = {
    "pickup",
    "cleanup",
    "qmgr",
    "rewrite",
    "bounce",
    "defer",
    "trace",
    "verify",
    "flush",
    "proxymap",
    "proxywrite",
    "smtp",
    "relay",
    "showq",
    "error",
    "retry",
    "discard",
    "anvil",
    "scache",
    "postlog",
}


class Parts:
    """Started test services, stopped in reverse order: also when a later one fails to start."""

    def __init__(self) -> None:
        self.started: list[object] = []

    def add(self, part):  # type: ignore[no-untyped-def]
        self.started.append(part)
        return part

    def stop(self) -> None:
        for part in reversed(self.started):
            with contextlib.suppress(Exception):  # stop the others anyway
                part.stop()  # type: ignore[attr-defined]
        self.started.clear()


class Rig:
    """A set of running test services under one private directory; subclasses start them in
    start(). Whatever started is stopped again, also when start() fails half-way."""

    def __init__(self) -> None:
        self.base = private_dir()
        self.parts = Parts()
        try:
            self.start(self.parts)
        except BaseException:
            self.stop()
            raise

    def start(self, parts: Parts) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.parts.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def delivered(self, marker: str, timeout: float = 20) -> bytes:
        """The first message in this rig's sink that holds marker (waits for it)."""
        sink: Sink = self.sink  # type: ignore[attr-defined]  # every delivering rig has one
        found = wait_until(lambda: sink.find(marker.encode()), timeout, what=f"delivery of {marker}")
        return found[0]


def have_postfix() -> str:
    """Why the end-to-end tests cannot run here, or "" when they can."""
    if os.geteuid() != 0:
        return "needs root (a private Postfix instance runs as root)"
    for tool in ("postfix", "smtp-sink", "postqueue", "postsuper", "postcat", "sendmail"):
        if shutil.which(tool, path="/usr/sbin:/usr/bin") is None:
            return f"{tool} is not installed (run scripts/setup.sh --test)"
    return ""


def private_dir() -> Path:
    """A directory the postfix user and smtp-sink (nobody) can reach (pytest's tmp_path is 0700),
    below no world-writable directory (OpenDKIM refuses keys and sockets under /tmp): /run."""
    parent = Path("/run") if os.access("/run", os.W_OK) else None
    d = Path(tempfile.mkdtemp(prefix="nolink-e2e-", dir=parent))
    d.chmod(0o755)
    return d


PORTS_VARIABLE = "NOLINK_TEST_PORTS"  # e.g. 30300-30499: the tests take their ports from there only
_next_port: dict[str, int] = {}  # where in that range the next search starts (round-robin)


def port_range(env: dict[str, str] | os._Environ[str] = os.environ) -> range | None:
    """NOLINK_TEST_PORTS=LOW-HIGH as a range, None when unset (any free port, as the kernel picks)."""
    spec = env.get(PORTS_VARIABLE, "").strip()
    if not spec:
        return None
    low, sep, high = spec.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 1024 <= int(low) <= int(high) <= 65535):
        raise ValueError(f"{PORTS_VARIABLE}={spec!r}: write LOW-HIGH, e.g. 30300-30499 (ports 1024-65535)")
    return range(int(low), int(high) + 1)


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing is bound to: from NOLINK_TEST_PORTS when it is set (each call starts
    after the port handed out last, so ports are not handed out twice in a row), else any."""
    ports = port_range()
    if ports is None:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    key = kind.name
    start = _next_port.get(key, 0)
    for i in range(len(ports)):
        port = ports[(start + i) % len(ports)]
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _next_port[key] = (start + i + 1) % len(ports)
        return port
    raise RuntimeError(f"{PORTS_VARIABLE}={os.environ[PORTS_VARIABLE]}: every port in it is in use")


def wait_until(check, timeout: float = 10.0, step: float = 0.05, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


class Nolink:
    """One `nolink serve` process with its own config, socket and log."""

    def __init__(self, base: Path, name: str, config: str) -> None:
        self.dir = base / f"nolink-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        # as in production: nolink's directory is group postfix, setgid, so the socket is too
        shutil.chown(self.dir, group="postfix")
        self.dir.chmod(0o2750)
        self.socket = self.dir / "nolink.sock"
        self.config = self.dir / "nolink.toml"
        self.log = self.dir / "nolink.log"
        self.journal = self.dir / "journal.sqlite"
        self.metrics_port = free_port()
        self.write_config(config)
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, config: str) -> None:
        top, _, rest = config.partition("[")
        rest = "[" + rest if rest else ""
        journal = "" if "[journal]" in config else f'[journal]\npath = "{self.journal}"\n'
        self.config.write_text(
            f'{top}\n[milter]\nsocket = "unix:{self.socket}"\ntimeout = 30.0\n{rest}\n'
            f'[metrics]\nlisten = "127.0.0.1:{self.metrics_port}"\n{journal}'
        )

    def start(self) -> Nolink:
        self.spawn()
        wait_until(self._accepts, 30, what=f"nolink socket {self.socket}")
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process and return at once (start() also waits for the socket)."""
        env = dict(os.environ, PYTHONPATH=str(ROOT / "milter"), PYTHONUNBUFFERED="1")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "nolink", "serve", "-c", str(self.config)],
                stdout=log,
                stderr=log,
                env=env,
                cwd=ROOT,
            )
        return self.proc

    def accepts(self) -> bool:
        return self._accepts()

    def _accepts(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"nolink exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket))
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc

    def lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()

    def scrape(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10) as r:
            return str(r.read().decode())

    def samples(self) -> dict[str, float]:
        out = {}
        for line in self.scrape().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


class Sink:
    """Postfix's smtp-sink, writing every received message to a file."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "sink"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o777)  # smtp-sink runs as nobody
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Sink:
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-d", f"{self.dir}/%H%M%S.", f"127.0.0.1:{self.port}", "1024"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), what="smtp-sink")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)

    def messages(self) -> list[bytes]:
        return [p.read_bytes() for p in sorted(self.dir.iterdir())]

    def clear(self) -> None:
        for p in self.dir.iterdir():
            p.unlink()

    def find(self, marker: bytes) -> list[bytes]:
        return [m for m in self.messages() if marker in m]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Postfix:
    """A private Postfix: own config, queue and data directories, loopback listeners, no chroot."""

    def __init__(self, base: Path, sink: Sink, listeners: dict[str, str], non_smtpd_milter: str) -> None:
        self.base = base
        self.conf = base / "postfix"
        self.queue = base / "queue"
        self.data = base / "data"
        self.logdir = base / "log"
        self.sink = sink
        self.ports = {name: free_port() for name in listeners}
        for d in (self.conf, self.queue, self.data, self.logdir):
            d.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data, "postfix")
        self.maillog = self.logdir / "maillog"
        main = f"""
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.data}
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.example.go.th
mydomain = example.go.th
myorigin = $mydomain
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
relayhost = [127.0.0.1]:{sink.port}
smtp_dns_support_level = disabled
maillog_file = {self.maillog}
maillog_file_prefixes = {base}
alias_maps =
alias_database =
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, reject
message_size_limit = 52428800
milter_protocol = 6
milter_default_action = tempfail
milter_connect_macros = j {{daemon_name}} {{daemon_addr}} v _
milter_content_timeout = 120s
non_smtpd_milters = {non_smtpd_milter}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""
        (self.conf / "main.cf").write_text(main)
        lines = []
        keep = False
        for line in MASTER_DIST.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            if not line[0].isspace():
                f = line.split()
                keep = f[0] in SERVICES and not (f[0] == "smtp" and f[1] == "inet")
                if keep:
                    f[4] = "n"  # no chroot: the milter sockets are plain paths
                    line = " ".join(f)
            if keep:
                lines.append(line)
        for name, milter in listeners.items():
            lines.append(
                f"127.0.0.1:{self.ports[name]} inet n - n - - smtpd -o smtpd_milters={milter}"
                f" -o milter_macro_daemon_name={name}"
            )
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n")
        past = time.time() - 5  # Postfix stalls ~1.5 s at start when main.cf is younger than 2 s
        for f in ("main.cf", "master.cf"):
            os.utime(self.conf / f, (past, past))

    def run(
        self, *args: str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(list(args), input=input, capture_output=True, check=check, timeout=60)

    def start(self) -> Postfix:
        self.run("postfix", "-c", str(self.conf), "start")
        for port in self.ports.values():
            wait_until(lambda p=port: port_open(p), what=f"postfix listener {port}")
        return self

    def stop(self) -> None:
        self.run("postfix", "-c", str(self.conf), "stop", check=False)

    def smtp(self, listener: str) -> smtplib.SMTP:
        return smtplib.SMTP("127.0.0.1", self.ports[listener], timeout=120)

    def send(
        self, listener: str, data: bytes, rcpts: Iterable[str], sender: str = "saraban@example.go.th"
    ) -> tuple[int, bytes]:
        """(code, text) of the final reply to DATA (or of the first refusal before it)."""
        with self.smtp(listener) as s:
            s.ehlo("client.example.go.th")
            code, text = s.mail(sender)
            if code >= 400:
                return code, text
            for r in rcpts:
                code, text = s.rcpt(r)
                if code >= 400:
                    return code, text
            code, text = s.data(data)
            return code, text

    def sendmail(self, data: bytes, rcpt: str, sender: str = "saraban@example.go.th") -> None:
        self.run("sendmail", "-C", str(self.conf), "-f", sender, rcpt, input=data)

    def queue_json(self) -> list[dict[str, object]]:
        out = self.run("postqueue", "-c", str(self.conf), "-j").stdout.decode()
        return [json.loads(x) for x in out.splitlines() if x.strip()]

    def held(self) -> list[str]:
        return [str(q["queue_id"]) for q in self.queue_json() if q.get("queue_name") == "hold"]

    def postcat(self, queue_id: str) -> bytes:
        return self.run("postcat", "-c", str(self.conf), "-q", queue_id).stdout

    def release(self, queue_id: str) -> None:
        self.run("postsuper", "-c", str(self.conf), "-H", queue_id)
        self.run("postqueue", "-c", str(self.conf), "-i", queue_id)

    def flush(self) -> None:
        self.run("postqueue", "-c", str(self.conf), "-f", check=False)

    def log(self) -> str:
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""


class Dnsmasq:
    """dnsmasq on a loopback port, answering TXT records only (no upstream, no hosts file)."""

    def __init__(self, records: dict[str, bytes]) -> None:
        self.port = free_port_udp()
        self.records = records
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Dnsmasq:
        # dnsmasq binds TCP as well as UDP on its port: a UDP port free a moment ago may be taken
        # for TCP (or by another test run on this machine); try a few ports before giving up
        for attempt in range(5):
            try:
                return self._start()
            except RuntimeError:
                if attempt == 4:
                    raise
                self.port = free_port_udp()
        return self

    def _start(self) -> Dnsmasq:
        args = [
            "dnsmasq",
            "--no-daemon",
            "--port",
            str(self.port),
            "--listen-address",
            "127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
        ]
        # authoritative for the signing domains: an unknown selector is NXDOMAIN, not REFUSED
        for zone in sorted({n.split("._domainkey.", 1)[-1] for n in self.records}):
            args.append(f"--local=/{zone}/")
        for name, value in self.records.items():
            chunks = [value[i : i + 250].decode() for i in range(0, len(value), 250)]  # TXT strings <= 255
            args.append(f"--txt-record={name}," + ",".join(chunks))  # argv: no shell quoting
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(self._answers, 10, what="dnsmasq")
        return self

    def _answers(self) -> bool:
        import dns.message
        import dns.query

        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"dnsmasq exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
            )
        try:
            dns.query.udp(
                dns.message.make_query("probe.invalid", "TXT"), "127.0.0.1", timeout=0.5, port=self.port
            )
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    @property
    def nameserver(self) -> str:
        return f"127.0.0.1:{self.port}"


def wait_listening(proc: subprocess.Popen[bytes], port: int, seconds: float = 30.0) -> None:
    """Wait until proc accepts TCP connections on 127.0.0.1:port; fail with its stderr if it exits."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            assert time.monotonic() < deadline, f"nothing listens on 127.0.0.1:{port} after {seconds} s"
            time.sleep(0.1)


def free_port_udp() -> int:
    return free_port(socket.SOCK_DGRAM)


def have_dnsmasq() -> str:
    return (
        ""
        if shutil.which("dnsmasq", path="/usr/sbin:/usr/bin")
        else "dnsmasq is not installed (run scripts/setup.sh --test)"
    )


class OpenDkim:
    """Debian's OpenDKIM signing mail from one domain, on its own socket (as the signer in front
    of nolink)."""

    def __init__(self, base: Path, domain: str, selector: str, private_pem: bytes) -> None:
        self.dir = base / "opendkim"
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "opendkim", "postfix")
        self.dir.chmod(0o2750)
        self.socket = self.dir / "opendkim.sock"
        key = self.dir / f"{selector}.private"
        key.write_bytes(private_pem)
        shutil.chown(key, "opendkim", "opendkim")
        key.chmod(0o600)
        self.conf = self.dir / "opendkim.conf"
        self.conf.write_text(
            f"Syslog no\nDomain {domain}\nSelector {selector}\nKeyFile {key}\nSocket local:{self.socket}\n"
            "UMask 007\nUserID opendkim:postfix\nMode s\nCanonicalization relaxed/simple\n"
            "SignatureAlgorithm rsa-sha256\nOversignHeaders From\nPidFile /dev/null\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> OpenDkim:
        self.proc = subprocess.Popen(
            ["opendkim", "-f", "-x", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wait_until(self._listening, 20, what="opendkim socket")
        return self

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(
                f"opendkim exited: {self.proc.stderr.read().decode() if self.proc.stderr else ''}"
            )
        return self.socket.exists()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def have_opendkim() -> str:
    return (
        ""
        if shutil.which("opendkim", path="/usr/sbin:/usr/bin")
        else "opendkim is not installed (run scripts/setup.sh --test)"
    )
