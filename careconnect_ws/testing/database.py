"""A throwaway PostgreSQL with the schema migrated, and emptying its tables between tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg


@contextmanager
def throwaway_database(**options: Any) -> Iterator[Any]:
    """A migrated PostgreSQL of its own (``.url``), removed afterwards; ``options`` go to ``TemporaryPostgres``
    (``fsync=True``, ``tcp=True``)."""
    from ..local.pgtemp import TemporaryPostgres
    from ..migrations import migrate

    server = TemporaryPostgres(**options).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            migrate(conn)
        yield server
    finally:
        server.stop()


def clear_tables(url: str) -> None:
    """Empty every table the migrations made (found in the catalog, so a new migration's tables are included)
    and keep the migration history."""
    from ..migrations import HISTORY_TABLE

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() AND tablename <> %s",
                [HISTORY_TABLE],
            ).fetchall()
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)}")
