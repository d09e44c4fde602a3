"""sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET ("@name" is an abstract socket)."""

from __future__ import annotations

import os
import socket
import time


def notify(*lines: str, env: dict[str, str] | None = None) -> bool:
    """Send "READY=1", "STATUS=…", … to the service manager. False when there is none (not an error)."""
    path = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall("\n".join(lines).encode())
        return True
    except OSError:
        return False


def monotonic_usec() -> str:
    """MONOTONIC_USEC=…, which systemd wants next to RELOADING=1."""
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
