"""Configuration from the environment, validated once per Lambda container.

Every problem names the variable to fix. Limits default from :data:`careconnect_ws.limits.LIMITS`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from . import contract
from .errors import ConfigError
from .limits import LIMITS
from .secrets import (
    SecretReader,
    boto3_secret_reader,
    database_url_from_secret,
    jwt_secret_from_secret,
    read_secret,
)

_PG_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGDATABASE")

# The parts of the configuration a caller can ask for (``Settings.from_env(needs=...)``).
DATABASE = "database"
TOKENS = "tokens"
SENDING = "sending"
LIMITS_PART = "limits"
ALL_PARTS = (DATABASE, TOKENS)

# Every variable the runtime reads, the part it belongs to and one line about it: the CLI's help
# lists them per command from here, and a test checks that each is really read.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "DATABASE_URL": (DATABASE, "PostgreSQL URL (or PGHOST/PGDATABASE/PGUSER/PGPASSWORD)"),
    "DATABASE_SECRET_ARN": (DATABASE, "Secrets Manager secret holding the URL or RDS-style JSON, instead of DATABASE_URL"),
    "DB_CONNECT_TIMEOUT_SECONDS": (DATABASE, "fail fast when the database is down (default 3)"),
    "DB_STATEMENT_TIMEOUT_MS": (DATABASE, "per statement, set per transaction (default 5000)"),
    "DB_PREPARED_STATEMENTS": (DATABASE, "on: prepare statements (direct connections; default off, pooler-safe)"),
    "WS_JWT_SECRET": (TOKENS, "HS256 key for connection tokens (32+ bytes)"),
    "WS_JWT_SECRET_ARN": (TOKENS, "Secrets Manager secret holding WS_JWT_SECRET"),
    "WS_JWT_PUBLIC_KEY": (TOKENS, "RS256 public key (PEM), instead of WS_JWT_SECRET"),
    "WS_JWT_ISSUER": (TOKENS, "required iss (needed with RS256)"),
    "WS_JWT_AUDIENCE": (TOKENS, "required aud (needed with RS256)"),
    "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": (SENDING, "management endpoint override (the stack output websocket_management_endpoint)"),
    "AWS_REGION": (SENDING, "region of the management endpoint (Lambda sets it)"),
    "CONNECTION_TTL_SECONDS": (LIMITS_PART, "a connection's lifetime (default 7200)"),
    "CONNECTION_IDLE_SECONDS": (LIMITS_PART, "cleanup deactivates connections idle this long (default 600)"),
    "INACTIVE_RETENTION_DAYS": (LIMITS_PART, "cleanup deletes rows inactive this long (default 30)"),
    "STREAM_RETENTION_SECONDS": (LIMITS_PART, "cleanup deletes published events older than this (default 86400)"),
    "TOUCH_INTERVAL_SECONDS": (LIMITS_PART, "last activity written at most this often (default 60)"),
    "WS_MAX_MESSAGES_PER_SECOND": (LIMITS_PART, "per connection (default 10; 0 off)"),
    "WS_MAX_MESSAGES_PER_USER_PER_SECOND": (LIMITS_PART, "over all of a user's connections (default 20; 0 off)"),
    "WS_MAX_CONNECTIONS_PER_USER": (LIMITS_PART, "(default 10; 0 off)"),
    "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION": (LIMITS_PART, "(default 50; 0 off)"),
    "WS_CONNECTION_ENDS_WITH_TOKEN": (LIMITS_PART, "on: a connection ends when its token expires (default off)"),
}


def environment_help(*parts: str) -> str:
    """The variables of these parts, one per line, for a command's ``--help``."""
    rows = [(name, text) for name, (part, text) in ENVIRONMENT.items() if part in parts]
    width = max(len(name) for name, _ in rows)
    return "environment:\n" + "\n".join(f"  {name.ljust(width)}  {text}" for name, text in rows)
_MIN_SECRET_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the runtime needs; build with :meth:`from_env` or directly in tests."""

    database_url: str = ""
    """``DATABASE_URL``; empty means libpq's ``PG*`` variables decide."""

    management_endpoint: str | None = None
    """``AWS_WEBSOCKET_API_GATEWAY_ENDPOINT``: overrides the endpoint derived from each connection."""

    region: str | None = None
    """``AWS_REGION`` (set by Lambda): used to derive the management endpoint."""

    connection_ttl_seconds: int = LIMITS.connection_ttl_seconds
    """``CONNECTION_TTL_SECONDS``: how long a connection is valid. Default: 7200."""

    idle_timeout_seconds: int = LIMITS.idle_timeout_seconds
    """``CONNECTION_IDLE_SECONDS``: cleanup deactivates connections idle this long. Default: 600."""

    inactive_retention_days: int = 30
    """``INACTIVE_RETENTION_DAYS``: cleanup deletes rows inactive this long. Default: 30."""

    stream_retention_seconds: int = 86_400
    """``STREAM_RETENTION_SECONDS``: published events are kept this long, so a client that reconnects
    within it resumes without loss (covers API Gateway's 2-hour connection limit with a wide margin).
    Cleanup deletes older ones; a ``since`` before them gets ``resync_required``. Default: 86400 (24 h)."""

    jwt_secret: str | None = None
    """``WS_JWT_SECRET``: HS256 key (at least 32 bytes)."""

    jwt_public_key: str | None = None
    """``WS_JWT_PUBLIC_KEY``: RS256 public key (PEM)."""

    jwt_issuer: str | None = None
    """``WS_JWT_ISSUER``: required ``iss`` when set."""

    jwt_audience: str | None = None
    """``WS_JWT_AUDIENCE``: required ``aud`` when set."""

    db_connect_timeout_seconds: int = 3
    """``DB_CONNECT_TIMEOUT_SECONDS``: a dead database fails fast instead of eating the Lambda timeout."""

    db_statement_timeout_ms: int = 5000
    """``DB_STATEMENT_TIMEOUT_MS``: per statement, set per transaction (pooler-safe). Default: 5000."""

    db_prepared_statements: bool = False
    """``DB_PREPARED_STATEMENTS``: ``on`` prepares each statement on its first run (Bind/Execute
    afterwards: no parse or plan per message) and sets the statement timeout once per session. For a
    direct connection (behind PgBouncer >= 1.21 with ``max_prepared_statements``, put the timeout on
    the role); off works behind any pooler. Default: off."""

    touch_interval_seconds: int = 60
    """``TOUCH_INTERVAL_SECONDS``: last activity is written at most this often per connection, so a
    message costs a read. Must stay below ``CONNECTION_IDLE_SECONDS``. Default: 60."""

    max_messages_per_second: int = 10
    """``WS_MAX_MESSAGES_PER_SECOND``: per connection; past it a message gets ``rate_limited`` (429),
    past twice it the connection is closed. 0: no limit. Default: 10."""

    max_messages_per_user_per_second: int = 20
    """``WS_MAX_MESSAGES_PER_USER_PER_SECOND``: over all of a user's connections together; past it a message
    gets ``rate_limited`` (429), past twice it the sending connection is closed. 0: no limit. Default: 20."""

    max_connections_per_user: int = 10
    """``WS_MAX_CONNECTIONS_PER_USER``: a further ``$connect`` is refused (``too_many_connections``).
    0: no limit. Default: 10."""

    max_subscriptions_per_connection: int = 50
    """``WS_MAX_SUBSCRIPTIONS_PER_CONNECTION``: a further subscribe gets ``too_many_subscriptions``.
    0: no limit. Default: 50."""

    bind_connection_to_token_expiry: bool = False
    """``WS_CONNECTION_ENDS_WITH_TOKEN``: ``on`` ends a connection when its token expires (it can no
    longer send or receive, and cleanup closes it) instead of at ``CONNECTION_TTL_SECONDS``. Default: off."""

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secret_reader: SecretReader | None = None,
        needs: Collection[str] = ALL_PARTS,
    ) -> Settings:
        """Read and validate; ``*_SECRET_ARN`` variables are fetched from Secrets Manager (once per container).

        ``needs`` names the parts a caller uses (``"database"``, ``"tokens"``): only those are required,
        so ``careconnect-ws migrate`` does not ask for the token key and ``token`` needs no database.
        """
        unknown = set(needs) - set(ALL_PARTS)
        if unknown:
            raise ValueError(f"unknown settings parts {sorted(unknown)}; use {ALL_PARTS}")
        env = dict(os.environ if environ is None else environ)
        wanted = {contract.DATABASE_SECRET_ARN: DATABASE in needs, contract.JWT_SECRET_ARN: TOKENS in needs}
        for arn_variable, needed in wanted.items():
            arn = env.get(arn_variable, "").strip()
            if not arn or not needed:
                continue
            if not arn.startswith("arn:"):
                raise ConfigError(arn_variable, "must be a Secrets Manager ARN (arn:aws:secretsmanager:...)")
            value = read_secret(arn_variable, arn, secret_reader or boto3_secret_reader())
            if arn_variable == contract.DATABASE_SECRET_ARN:
                env["DATABASE_URL"] = database_url_from_secret(value)
            else:
                env["WS_JWT_SECRET"] = jwt_secret_from_secret(value)
        database_url = env.get("DATABASE_URL", "").strip()
        if DATABASE in needs:
            if not database_url and not any(env.get(v) for v in _PG_VARIABLES):
                raise ConfigError(
                    "DATABASE_URL",
                    "not set: give a PostgreSQL URL (postgresql://user:pass@host:5432/db), DATABASE_SECRET_ARN, "
                    "or the standard PGHOST/PGDATABASE/PGUSER/PGPASSWORD variables",
                )
            if database_url and not database_url.startswith(("postgresql://", "postgres://")) and "=" not in database_url:
                raise ConfigError("DATABASE_URL", "must be a postgresql:// URL or a libpq key=value string")
            if database_url:
                _check_conninfo(database_url)

        secret = env.get("WS_JWT_SECRET") or None
        public_key = env.get("WS_JWT_PUBLIC_KEY") or None
        issuer = env.get("WS_JWT_ISSUER") or None
        audience = env.get("WS_JWT_AUDIENCE") or None
        if TOKENS in needs:
            if secret and public_key:
                raise ConfigError("WS_JWT_SECRET", "set either WS_JWT_SECRET (HS256) or WS_JWT_PUBLIC_KEY (RS256), not both")
            if not secret and not public_key:
                raise ConfigError(
                    "WS_JWT_SECRET", "not set: set WS_JWT_SECRET (HS256) or WS_JWT_PUBLIC_KEY (RS256, PEM) to verify tokens"
                )
            if secret and len(secret.encode()) < _MIN_SECRET_BYTES:
                raise ConfigError("WS_JWT_SECRET", f"too short: HS256 needs at least {_MIN_SECRET_BYTES} bytes")
            if public_key:
                public_key = public_key.replace("\\n", "\n")
                _check_public_key(public_key)
                # A shared identity provider signs tokens for other services with the same key:
                # without both checks, a token minted for another service opens a connection here.
                for variable, value in (("WS_JWT_ISSUER", issuer), ("WS_JWT_AUDIENCE", audience)):
                    if not value:
                        raise ConfigError(
                            variable,
                            "required with WS_JWT_PUBLIC_KEY (RS256): an identity provider signs tokens for many services, "
                            "so set the issuer and the audience this service accepts",
                        )

        endpoint = env.get("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "").strip() or None
        if endpoint and not endpoint.startswith(("https://", "http://")):
            raise ConfigError(
                "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT",
                "must be the https:// management endpoint (the stack output websocket_management_endpoint)",
            )
        idle = _int(env, "CONNECTION_IDLE_SECONDS", LIMITS.idle_timeout_seconds, 1, LIMITS.idle_timeout_seconds)
        touch = _int(env, "TOUCH_INTERVAL_SECONDS", 60, 0, 3600)
        if touch >= idle:
            raise ConfigError(
                "TOUCH_INTERVAL_SECONDS",
                f"{touch} must be below CONNECTION_IDLE_SECONDS ({idle}), or cleanup would close active connections",
            )
        return cls(
            database_url=database_url,
            management_endpoint=endpoint.rstrip("/") if endpoint else None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            connection_ttl_seconds=_int(env, "CONNECTION_TTL_SECONDS", LIMITS.connection_ttl_seconds, 1, LIMITS.connection_ttl_seconds),
            idle_timeout_seconds=idle,
            inactive_retention_days=_int(env, "INACTIVE_RETENTION_DAYS", 30, 0, 3650),
            stream_retention_seconds=_int(env, "STREAM_RETENTION_SECONDS", 86_400, 60, 90 * 86_400),
            jwt_secret=secret,
            jwt_public_key=public_key,
            jwt_issuer=issuer,
            jwt_audience=audience,
            db_connect_timeout_seconds=_int(env, "DB_CONNECT_TIMEOUT_SECONDS", 3, 1, 60),
            db_statement_timeout_ms=_int(env, "DB_STATEMENT_TIMEOUT_MS", 5000, 100, 600_000),
            db_prepared_statements=_switch(env, "DB_PREPARED_STATEMENTS", False),
            touch_interval_seconds=touch,
            max_messages_per_second=_int(env, "WS_MAX_MESSAGES_PER_SECOND", 10, 0, 10_000),
            max_messages_per_user_per_second=_int(env, "WS_MAX_MESSAGES_PER_USER_PER_SECOND", 20, 0, 100_000),
            max_connections_per_user=_int(env, "WS_MAX_CONNECTIONS_PER_USER", 10, 0, 100_000),
            max_subscriptions_per_connection=_int(env, "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", 50, 0, 100_000),
            bind_connection_to_token_expiry=_switch(env, "WS_CONNECTION_ENDS_WITH_TOKEN", False),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is out of range: use {low} to {high}")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ConfigError(name, f"{raw!r} is not a switch: use on or off")


def _check_conninfo(url: str) -> None:
    """libpq's own parse of ``DATABASE_URL``, so a typo fails here, naming the variable, and never as a
    driver error that quotes the URL (and its password) back."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except psycopg.Error as err:
        reason = redact(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, url)
        raise ConfigError("DATABASE_URL", f"is not a valid PostgreSQL URL or key=value string ({reason})") from None


def redact(text: str, conninfo: str) -> str:
    """``text`` without the connection string or its password in it (for messages that quote them)."""
    import re

    secrets = [conninfo]
    secrets += re.findall(r"://[^:/@\s]*:([^@\s]+)@", conninfo)  # postgresql://user:PASSWORD@host
    secrets += re.findall(r"password\s*=\s*'((?:[^'\\]|\\.)*)'|password\s*=\s*(\S+)", conninfo)  # key=value form
    for secret in sorted({x for item in secrets for x in (item if isinstance(item, tuple) else (item,)) if x}, key=len,
                         reverse=True):
        text = text.replace(secret, "***")
    return text


def _check_public_key(pem: str) -> None:
    from jwt.algorithms import RSAAlgorithm

    try:
        RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
    except Exception as err:  # PyJWT raises several types for a bad key
        raise ConfigError("WS_JWT_PUBLIC_KEY", f"not a usable RSA public key in PEM form ({err})") from None


_lock = threading.Lock()
_cached: Settings | None = None


def get_settings() -> Settings:
    """The container's settings, read and validated on first use."""
    global _cached
    if _cached is None:
        with _lock:
            if _cached is None:
                _cached = Settings.from_env()
    return _cached


def set_settings(settings: Settings | None) -> None:
    """Replace (or, with ``None``, forget) the cached settings: for the local gateway and tests."""
    global _cached
    with _lock:
        _cached = settings
