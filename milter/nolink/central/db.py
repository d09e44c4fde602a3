"""Connections to the central PostgreSQL from [central]: dsn, password_file, TLS options, timeouts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from ..config import CentralConfig
from ..errors import NolinkError


class CentralError(NolinkError):
    """The central PostgreSQL cannot be reached, refuses us, or has a schema we cannot use."""


def connect_kwargs(c: CentralConfig, application: str = "nolink") -> dict[str, Any]:
    """The libpq parameters: the dsn's, then the [central] TLS keys and the password file's password."""
    try:
        params: dict[str, Any] = conninfo.conninfo_to_dict(c.dsn)
    except psycopg.ProgrammingError as e:
        raise CentralError(
            f"central.dsn = {c.dsn!r} is not a libpq connection string ({e}); write e.g. "
            '"host=db.example.go.th dbname=nolink user=nolink_relay" or "service=nolink"'
        ) from None
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        v = getattr(c, key)
        if v:
            params[key] = v
    if c.password_file:
        params["password"] = read_password(c.password_file)
    params.setdefault("connect_timeout", c.connect_timeout)
    params.setdefault("application_name", application)
    return params


def read_password(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CentralError(
            f"central.password_file = {path!r}: cannot read it ({e.strerror}); it must be readable by "
            "the user nolink runs as (chown nolink, chmod 0600)"
        ) from None
    line = text.splitlines()[0].strip() if text.strip() else ""
    if not line:
        raise CentralError(f"central.password_file = {path!r} is empty: write the password on its first line")
    return line


def describe_error(e: BaseException, c: CentralConfig) -> str:
    """An error from libpq in words that say what to change (never the password)."""
    text = " ".join(str(e).split())
    where = _where(c)
    low = text.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return (
            f"PostgreSQL {where} refused the password of user {_user(c)}: check central.password_file "
            "(or ~/.pgpass) and the role's password (ALTER ROLE ... PASSWORD)"
        )
    if "does not exist" in low and "database" in low:
        return f"PostgreSQL {where}: {text}; create it (createdb) or fix dbname in central.dsn"
    if "connection refused" in low or "could not translate host name" in low or "timeout expired" in low:
        return f"cannot reach PostgreSQL {where}: {text}; check host and port in central.dsn and the firewall"
    if "no pg_hba.conf entry" in low:
        return f"PostgreSQL {where} does not let this host in: {text}; add a line to pg_hba.conf"
    if "permission denied" in low:
        return f"PostgreSQL {where}: {text}; grant the role its rights (config/central/roles.sql)"
    return f"PostgreSQL {where}: {text}"


def _where(c: CentralConfig) -> str:
    try:
        p = conninfo.conninfo_to_dict(c.dsn)
    except psycopg.ProgrammingError:
        return "(bad dsn)"
    if "service" in p:
        return f"service {p['service']}"
    host = p.get("host", os.environ.get("PGHOST", "local socket"))
    return f"at {host} port {p.get('port', os.environ.get('PGPORT', '5432'))}"


def _user(c: CentralConfig) -> str:
    try:
        return str(conninfo.conninfo_to_dict(c.dsn).get("user", "(default)"))
    except psycopg.ProgrammingError:
        return "(bad dsn)"


def connect(
    c: CentralConfig, autocommit: bool = False, application: str = "nolink"
) -> psycopg.Connection[Any]:
    """One connection, or CentralError saying what to fix."""
    params = connect_kwargs(c, application)
    try:
        conn = psycopg.connect(autocommit=autocommit, **params)
    except psycopg.Error as e:
        raise CentralError(describe_error(e, c)) from None
    return conn
