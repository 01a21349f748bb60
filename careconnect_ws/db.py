"""One PostgreSQL connection per Lambda container, reused across invocations, safe behind poolers.

Production puts RDS Proxy or PgBouncer (transaction mode) between the Lambda and the
database, so a statement must not depend on anything a pooler cannot keep:

* **No startup parameters.** PgBouncer rejects ``options`` (``FATAL: unsupported startup
  parameter: options``), and with ``ignore_startup_parameters = options`` it silently drops
  the statement timeout. The timeout is instead set *per transaction*: every statement is
  sent as ``SET LOCAL statement_timeout = N; <statement>`` in one simple-protocol message.
  The server runs the two as one implicit transaction, so the setting ends with it and never
  leaks to the next client of a pooled server connection. One message, one round trip. Where
  the role already carries a timeout at least as strict (``ALTER ROLE ... SET statement_timeout``),
  the ``SET LOCAL`` is left out.
* **No server-side prepared statements by default.** The simple protocol never prepares
  anything (psycopg's default prepares after 5 executions, which PgBouncer < 1.21 in transaction
  mode does not support and which pins an RDS Proxy connection). Values are still bound by
  psycopg, never formatted by us (``ClientCursor``: psycopg quotes each parameter for the
  connection's encoding).

``DB_PREPARED_STATEMENTS=on`` is for a direct connection, where the session is ours: every
single statement is prepared on its first run and then sent as Bind/Execute with server-side
parameters, which skips the parse and plan that dominate a short statement. The timeout is then
set once for the session at connect (no ``SET LOCAL`` per statement), or not at all when the role
carries it. (``SET LOCAL`` pipelined with a prepared statement was measured slower than the simple
protocol, so it is not offered.) Behind a pooler that keeps prepared statements (PgBouncer >= 1.21
with ``max_prepared_statements``) the session is not ours: put the timeout on the role. Multi-
statement calls (a lock preamble) keep the simple protocol.

Errors that mean "this connection can no longer serve writes" (a server closing the
connection, a writer demoted to a read-only replica by a failover, an admin shutdown)
close the connection and run the operation once more on a fresh one, connected with
``target_session_attrs=read-write`` so libpq skips a reader. If that fails too the caller
gets :class:`DatabaseUnavailable` (the handler answers 503). Every registry operation is
idempotent, so running one again is safe; nothing is acknowledged before it committed.

A connect that fails is not tried again at once: for 50 ms, doubling to 2 s (with jitter), every
operation answers :class:`DatabaseUnavailable` straight away. During a failover or a restart each
container then makes a handful of attempts, not one per event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict

from .backoff import Backoff, Jitter
from .errors import ConfigError, DatabaseUnavailable
from .settings import Settings, get_settings, redact

logger = logging.getLogger(__name__)
T = TypeVar("T")
Reload = Callable[[bool], str | None]
"""The current conninfo; with ``True``, read again now (after the server refused the password)."""
Params = Sequence[Any] | Mapping[str, Any] | None

APPLICATION_NAME = "careconnect-ws"
MAX_RECONNECT_BACKOFF_SECONDS = 2.0
RECONNECT_BACKOFF = Backoff(0.05, MAX_RECONNECT_BACKOFF_SECONDS, jitter=Jitter.EQUAL)
"""After a failed connect, the next is not tried for 50 ms, doubling up to 2 s: containers that failed together
retry apart, and none opens a connection per event while the database is away."""

# SQLSTATEs after which this connection cannot serve writes, though it may look open:
# 25006 read_only_sql_transaction (a failover demoted the writer we are connected to),
# 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (server starting or
# stopping). Class 08 (connection exceptions) arrives as a broken connection.
_RECONNECT_ERRORS = (
    pg_errors.ReadOnlySqlTransaction,
    pg_errors.AdminShutdown,
    pg_errors.CrashShutdown,
    pg_errors.CannotConnectNow,
)

# A prepared statement whose result type changed under it (a migration altered a table or
# function): a fresh connection has no stale statement, so it is safe to run once more there.
_STALE_PLAN = "cached plan must not change result type"


class Database:
    """A lazily opened autocommit connection with reconnect-once semantics."""

    def __init__(
        self,
        conninfo: str,
        *,
        connect_timeout: int = 3,
        statement_timeout_ms: int = 5000,
        prepared_statements: bool = False,
        reload: Reload | None = None,
        read_only: bool = False,
    ) -> None:
        self.conninfo = conninfo
        # Reads only (``careconnect-ws status``): any server will do, a read replica or a read-only role too.
        self.read_only = read_only
        # Where a fresh conninfo comes from when the secret behind it may have rotated (see _open).
        self.reload = reload
        self.connect_timeout = connect_timeout
        self.statement_timeout_ms = int(statement_timeout_ms)
        self.prepared_statements = prepared_statements
        # An int we own, validated by Settings: safe to put into the SQL text.
        self._timeout_statement = f"SET LOCAL statement_timeout = {self.statement_timeout_ms}; "
        self._conn: psycopg.Connection | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_failure = ""
        # True when every statement on this connection already runs under the timeout (the role's
        # setting, or the session's in prepared mode): then no SET LOCAL goes with it.
        self._session_has_timeout = False

    @classmethod
    def from_settings(cls, settings: Settings, *, reload: Reload | None = None, read_only: bool = False) -> Database:
        return cls(
            settings.database_url,
            connect_timeout=settings.db_connect_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            prepared_statements=settings.db_prepared_statements,
            reload=reload,
            read_only=read_only,
        )

    def _connect(self) -> psycopg.Connection:
        now = time.monotonic()
        if now < self._retry_at:
            # The last attempt failed moments ago (a failover, a restart): answer at once instead of
            # opening a connection per event, which would turn every container into a connection storm.
            raise DatabaseUnavailable(
                f"PostgreSQL was unreachable {self._last_failure}; the next attempt is in {(self._retry_at - now) * 1000:.0f} ms"
            )
        try:
            conn = self._open()
        except DatabaseUnavailable as err:
            self._failures += 1
            self._retry_at = time.monotonic() + RECONNECT_BACKOFF.delay(self._failures)
            self._last_failure = str(err).removeprefix("cannot connect to PostgreSQL: ")
            raise
        self._failures, self._retry_at = 0, 0.0
        return conn

    def _open(self) -> psycopg.Connection:
        """A new connection with the current conninfo. The database password rotates (Secrets Manager's RDS
        rotation): when the server refuses the password, the secret is read again and, if it changed,
        the connect is tried once more with it; a password that is still refused is DatabaseUnavailable."""
        if self.reload is not None:
            self.conninfo = self.reload(False) or self.conninfo  # re-read by age, if it is due
        try:
            return self._open_with(self.conninfo)
        except DatabaseUnavailable as err:
            if self.reload is None or not _is_authentication_failure(err.__cause__):
                raise
            fresh = self.reload(True)
            if not fresh or fresh == self.conninfo:
                raise
            logger.info("database password refused; connecting with the re-read secret")
            self.conninfo = fresh
            return self._open_with(fresh)

    def _open_with(self, conninfo: str) -> psycopg.Connection:
        given = conninfo_to_dict(conninfo)
        extra: dict[str, Any] = {}
        if "target_session_attrs" not in given:
            # After a failover the old writer's address may still resolve: refuse a read-only server (unless
            # this connection only reads).
            extra["target_session_attrs"] = "any" if self.read_only else "read-write"
        if "application_name" not in given:
            extra["application_name"] = APPLICATION_NAME
        try:
            return psycopg.connect(
                conninfo,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                cursor_factory=psycopg.Cursor if self.prepared_statements else psycopg.ClientCursor,
                prepare_threshold=0 if self.prepared_statements else None,
                **extra,
            )
        except psycopg.OperationalError as err:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {redact(_first_line(err), conninfo)}") from err
        except psycopg.ProgrammingError as err:  # a malformed conninfo: its message may quote the URL
            raise ConfigError(
                "DATABASE_URL", f"is not a valid connection string ({redact(_first_line(err), conninfo)})"
            ) from None

    def connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
            self._session_has_timeout = self._role_timeout_suffices(self._conn)
            if self.prepared_statements and not self._session_has_timeout:
                try:
                    self._conn.execute(f"SET statement_timeout = {self.statement_timeout_ms}", prepare=False)
                except psycopg.Error as err:
                    self.close()
                    raise DatabaseUnavailable(f"cannot set the statement timeout: {_first_line(err)}") from err
                self._session_has_timeout = True
        return self._conn

    def _role_timeout_suffices(self, conn: psycopg.Connection) -> bool:
        """True when the server already applies a statement timeout at least as strict as ours to every
        session of this role (``ALTER ROLE ... SET statement_timeout``): then no statement needs the
        ``SET LOCAL``. Checked once per connection; behind a pooler every server connection of the
        role has the same default."""
        try:
            row = conn.execute("SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'").fetchone()
        except psycopg.Error:
            return False
        return row is not None and 0 < row[0] <= self.statement_timeout_ms

    def execute(self, query: str, params: Params = None, *, row_factory: Any = None, preamble: str = "") -> psycopg.Cursor[Any]:
        """Run one statement under the statement timeout, in one round trip; return its cursor.

        ``preamble`` holds statements to run first in the same transaction (e.g. a lock), each ending
        with ``;``. The rows are already on the client when this returns: ``fetch*`` do no I/O.
        """

        def simple(conn: psycopg.Connection) -> psycopg.Cursor:
            prefix = "" if self._session_has_timeout else self._timeout_statement
            cur = psycopg.ClientCursor(conn, row_factory=row_factory) if row_factory else psycopg.ClientCursor(conn)
            cur.execute(prefix + preamble + query, params)
            for _ in range((1 if prefix else 0) + preamble.count(";")):
                cur.nextset()  # past the SET and the preamble to the statement's own result
            return cur

        def prepared(conn: psycopg.Connection) -> psycopg.Cursor:
            cur = conn.cursor(row_factory=row_factory) if row_factory else conn.cursor()
            return cur.execute(query, params)  # the session carries the timeout (see connection())

        return self.run(prepared if self.prepared_statements and not preamble else simple)

    def run(self, operation: Callable[[psycopg.Connection], T]) -> T:
        """Run ``operation`` on the connection; when the connection can no longer serve, reconnect once."""
        for attempt in (1, 2):
            conn = self.connection()
            try:
                return operation(conn)
            except (pg_errors.DuplicatePreparedStatement, pg_errors.InvalidSqlStatementName) as err:
                # A transaction pooler handed this client another server connection, which has not
                # got (or already has) the statement psycopg prepared: a configuration mistake.
                self.close()
                raise DatabaseUnavailable(
                    f"DB_PREPARED_STATEMENTS=on, but the server connection lost its prepared statements "
                    f"({_first_line(err)}): a pooler in transaction mode is in between; set "
                    f"DB_PREPARED_STATEMENTS=off (or use PgBouncer 1.21+ with max_prepared_statements)"
                ) from err
            except pg_errors.QueryCanceled as err:
                # statement_timeout: the server is there but too slow (a lock, a hung query).
                raise DatabaseUnavailable(f"PostgreSQL did not answer in time: {_first_line(err)}") from err
            except (psycopg.OperationalError, pg_errors.FeatureNotSupported, *_RECONNECT_ERRORS) as err:
                stale = isinstance(err, pg_errors.FeatureNotSupported)
                if stale and _STALE_PLAN not in str(err):
                    raise
                if not (stale or conn.closed or conn.broken or isinstance(err, _RECONNECT_ERRORS)):
                    raise DatabaseUnavailable(f"PostgreSQL refused the operation: {_first_line(err)}") from err
                self.close()
                if attempt == 2:
                    raise DatabaseUnavailable(f"PostgreSQL cannot serve writes right now: {_first_line(err)}") from err
                logger.info(
                    "database connection cannot serve, reconnecting once",
                    extra={"sqlstate": getattr(err, "sqlstate", None), "error": _first_line(err)},
                )
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


# 28P01 invalid_password, 28000 invalid_authorization_specification (pg_hba refused the role).
_AUTHENTICATION_SQLSTATES = ("28P01", "28000")


def _is_authentication_failure(err: BaseException | None) -> bool:
    """The server refused the credentials (not: the server is down). libpq reports a failed connect without a
    SQLSTATE in some versions, so its message is checked as well."""
    if not isinstance(err, psycopg.OperationalError):
        return False
    if getattr(err, "sqlstate", None) in _AUTHENTICATION_SQLSTATES:
        return True
    text = str(err)
    return "password authentication failed" in text or "SASL authentication failed" in text


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


# One Database per thread: in Lambda that is one per container; the local gateway's
# worker threads each behave like a container of their own.
_local = threading.local()


def get_database() -> Database:
    db = getattr(_local, "db", None)
    if db is None:
        db = _local.db = Database.from_settings(get_settings(), reload=_current_conninfo)
    return db


def _current_conninfo(now: bool) -> str | None:
    """The container's database URL: as cached (re-read from its secret once it is older than
    ``SECRETS_MAX_AGE_SECONDS``), or with ``now`` read again at once."""
    from .settings import refresh_settings

    settings = refresh_settings() if now else get_settings()
    return settings.database_url or None


def reset_database() -> None:
    """Close and forget this thread's connection (tests, settings changes)."""
    db = getattr(_local, "db", None)
    if db is not None:
        db.close()
        _local.db = None
