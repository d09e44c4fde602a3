"""A private PostgreSQL for the [central] tests: initdb + pg_ctl in a temporary directory, on a
loopback port, run as the postgres user when the tests run as root (initdb refuses root).

The superuser is nolink_owner with a password (scram-sha-256 over TCP), so a wrong password is
refused as it is on a real server. Each test gets a database of its own (PgServer.database()).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from harness import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
OWNER = "nolink_owner"
PASSWORD = "owner-secret"


def have_postgres() -> str:
    """'' when a private server can be started, else why not (a skip reason)."""
    if not (BIN / "initdb").exists():
        return "PostgreSQL 15 is not installed (apt-get install postgresql; scripts/setup.sh --test)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return ""


class PgServer:
    def __init__(self, base: Path | None = None) -> None:
        """base: a directory to keep the server in (bench/central.py --data: reused when it holds
        one already); default a new temporary one."""
        self.base = base or Path(tempfile.mkdtemp(prefix="nolink-pg-"))
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.data = self.base / "data"
        self.port = free_port()  # honours NOLINK_TEST_PORTS
        self.password_file = self.base / "owner.password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.log = self.base / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres", "postgres")

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._as, *argv], capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> PgServer:
        pw = self.base / "initdb.pw"
        pw.write_text(PASSWORD + "\n")
        if self._as:
            shutil.chown(pw, "postgres", "postgres")
        self._run(
            str(BIN / "initdb"), "-D", str(self.data), "-U", OWNER, "--pwfile", str(pw),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        pw.unlink()
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.base}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nshared_buffers = 64MB\n"
                "max_connections = 60\n"
            )
        return self

    def reuse(self) -> PgServer:
        """The server already in base, on a new free port."""
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"port = {self.port}\n")
        return self

    def start(self) -> PgServer:
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def dsn(self, dbname: str = "postgres", user: str = OWNER) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"

    def admin(self, dbname: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.dsn(dbname) + f" password={PASSWORD}", autocommit=True)

    def database(self) -> str:
        """A new empty database; its name."""
        name = "t_" + uuid.uuid4().hex[:10]
        with self.admin() as c:
            c.execute(f"CREATE DATABASE {name}")
        return name

    def wait_up(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.admin().close()
                return
            except Exception:
                time.sleep(0.2)
        raise TimeoutError("PostgreSQL did not come up")
