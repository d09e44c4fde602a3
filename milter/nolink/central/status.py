"""check-config's view of [central]: reach PostgreSQL, log in, read the schema version."""

from __future__ import annotations

from ..config import CentralConfig
from . import schema
from .db import CentralError, connect


def probe(c: CentralConfig, journal_path: str) -> tuple[bool, str]:
    """(ok, what to print)."""
    if not journal_path:
        return (
            False,
            "[central] is set but journal.path is empty: the shipper reads the local journal; set journal.path",
        )
    try:
        conn = connect(c, application="nolink check-config")
    except CentralError as e:
        return False, f"central: {e}"
    try:
        have = schema.version(conn)
        if have > schema.SCHEMA_VERSION:
            return False, (
                f"central: the database has schema version {have}, newer than this nolink knows "
                f"({schema.SCHEMA_VERSION}): upgrade nolink on this relay"
            )
        if have < schema.SCHEMA_VERSION:
            if c.migrate_at_start:
                return True, (
                    f"central: relay {c.relay_id}: schema version {have}; nolink serve migrates it to "
                    f"{schema.SCHEMA_VERSION} (central.migrate_at_start)"
                )
            return False, (
                f"central: schema version {have}, this nolink needs {schema.SCHEMA_VERSION}: run nolink "
                "central migrate as the database owner (or set central.migrate_at_start = true)"
            )
        user = conn.execute("SELECT current_user").fetchone()
        return True, (
            f"central: relay {c.relay_id} logs in as {user[0] if user else '?'}, schema version {have}"
        )
    finally:
        conn.close()
