"""Versioned schema migrations: ``NNNN_name.sql`` files applied in order, each once.

Applying is idempotent and safe to run concurrently: one transaction holds a
transaction-scoped advisory lock, so a second migrator waits and then finds
nothing left to do. Add a change as the next numbered file; never edit an
applied one (a live database keeps its data: write ``ALTER``, not ``DROP``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources

import psycopg

# Arbitrary but fixed: 'ccws' as an integer, shared by every migrator.
ADVISORY_LOCK_KEY = 0x63637773
HISTORY_TABLE = "careconnect_ws_schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str = field(repr=False)


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__package__).iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; return the ones this call applied."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute(f"SELECT version FROM {HISTORY_TABLE}")}
        for migration in available():
            if migration.version in done:
                continue
            # Several statements in one file: the simple protocol, never a prepared statement (a
            # connection opened with DB_PREPARED_STATEMENTS=on would otherwise try to prepare it).
            conn.execute(migration.sql, prepare=False)
            conn.execute(f"INSERT INTO {HISTORY_TABLE} (version, name) VALUES (%s, %s)", [migration.version, migration.name])
            applied_now.append(migration)
    return applied_now


def current_version(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT to_regclass(%s)", [HISTORY_TABLE]).fetchone()
    if row is None or row[0] is None:
        return 0
    row = conn.execute(f"SELECT coalesce(max(version), 0) FROM {HISTORY_TABLE}").fetchone()
    return int(row[0]) if row is not None else 0


def run_migrations() -> tuple[list[Migration], int]:
    """Apply what is missing to the configured database (``careconnect-ws migrate`` and the ``migrate`` invoke
    command): the migrations applied now, and the schema version after."""
    from ..db import get_database

    db = get_database()
    applied = db.run(migrate)
    return applied, db.run(current_version)
