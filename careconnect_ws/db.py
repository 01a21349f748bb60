"""One PostgreSQL connection per Lambda container, reused across invocations.

A warm container keeps its connection; when the server has closed it (restart,
failover, ``pg_terminate_backend``, idle timeout in a proxy) the next operation
reconnects once and runs again. Every operation the registry runs is idempotent,
so running one again after a broken connection is safe. Connect and statement
timeouts make a dead database fail in seconds, not at the Lambda timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg

from .errors import DatabaseUnavailable
from .settings import Settings, get_settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Database:
    """A lazily opened autocommit connection with reconnect-once semantics."""

    def __init__(self, conninfo: str, *, connect_timeout: int = 3, statement_timeout_ms: int = 5000) -> None:
        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = statement_timeout_ms
        self._conn: psycopg.Connection | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )

    def _connect(self) -> psycopg.Connection:
        try:
            return psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                options=f"-c statement_timeout={self.statement_timeout_ms}",
                application_name="careconnect-ws",
            )
        except psycopg.OperationalError as err:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {_first_line(err)}") from err

    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def run(self, operation: Callable[[psycopg.Connection], T]) -> T:
        """Run ``operation`` on the connection; on a broken connection reconnect once and run again."""
        for attempt in (1, 2):
            conn = self.connection()
            try:
                return operation(conn)
            except psycopg.OperationalError as err:
                broken = conn.closed or conn.broken
                if not broken:
                    # e.g. statement_timeout: the server is there but too slow.
                    raise DatabaseUnavailable(f"PostgreSQL did not answer in time: {_first_line(err)}") from err
                self.close()
                if attempt == 2:
                    raise DatabaseUnavailable(f"PostgreSQL connection lost: {_first_line(err)}") from err
                logger.info("database connection lost, reconnecting once", extra={"error": _first_line(err)})
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


# One Database per thread: in Lambda that is one per container; the local gateway's
# worker threads each behave like a container of their own.
_local = threading.local()


def get_database() -> Database:
    db = getattr(_local, "db", None)
    if db is None:
        db = _local.db = Database.from_settings(get_settings())
    return db


def reset_database() -> None:
    """Close and forget this thread's connection (tests, settings changes)."""
    db = getattr(_local, "db", None)
    if db is not None:
        db.close()
        _local.db = None
