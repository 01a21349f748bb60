"""Configuration from the environment, validated once per Lambda container.

Every problem names the variable to fix. Limits default from :data:`careconnect_ws.limits.LIMITS`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

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
REQUIRED_PARTS = (DATABASE, TOKENS)
"""The parts a caller can require (``Settings.from_env(needs=...)``); the other two (sending, limits) have
defaults or are optional, so they are always read and never required."""

@dataclass(frozen=True)
class Setting:
    """One variable the runtime reads: its name, the :class:`Settings` field it fills, the part of the
    configuration it belongs to, one line of help, and (for numbers and switches) its default and range.
    The table below is the one place a default is stated: the ``Settings`` fields, ``from_env``, the CLI's
    ``--help`` and the README's environment table (checked by a test) all come from it."""

    variable: str
    field: str
    part: str
    help: str
    default: Any = None
    low: int | None = None
    high: int | None = None

    @property
    def is_switch(self) -> bool:
        return isinstance(self.default, bool)

    @property
    def is_number(self) -> bool:
        return isinstance(self.default, int) and not self.is_switch

    def read(self, env: Mapping[str, str]) -> Any:
        """The value of a number or switch from ``env``, checked; its default when unset."""
        if self.is_switch:
            return _switch(env, self.variable, self.default)
        return _int(env, self.variable, self.default, self.low, self.high)

    def help_line(self) -> str:
        if self.is_switch:
            return f"{self.help} (default {'on' if self.default else 'off'})"
        if self.is_number:
            return f"{self.help} (default {self.default}{'; 0 off' if self.low == 0 else ''})"
        return self.help


TABLE: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "database_url", DATABASE, "PostgreSQL URL (or PGHOST/PGDATABASE/PGUSER/PGPASSWORD)"),
    Setting(contract.DATABASE_SECRET_ARN, "database_url", DATABASE,
            "Secrets Manager secret holding the URL or RDS-style JSON, instead of DATABASE_URL"),
    Setting("DB_CONNECT_TIMEOUT_SECONDS", "db_connect_timeout_seconds", DATABASE,
            "fail fast when the database is down", 3, 1, 60),
    Setting("DB_STATEMENT_TIMEOUT_MS", "db_statement_timeout_ms", DATABASE,
            "per statement, set per transaction", 5000, 100, 600_000),
    Setting("DB_PREPARED_STATEMENTS", "db_prepared_statements", DATABASE,
            "on: prepare statements (direct connections; off is pooler-safe)", False),
    Setting("WS_JWT_SECRET", "jwt_secret", TOKENS, "HS256 key for connection tokens (32+ bytes)"),
    Setting(contract.JWT_SECRET_ARN, "jwt_secret", TOKENS, "Secrets Manager secret holding WS_JWT_SECRET"),
    Setting(contract.JWT_PUBLIC_KEY, "jwt_public_key", TOKENS, "RS256 public key (PEM), instead of WS_JWT_SECRET"),
    Setting(contract.JWT_ISSUER, "jwt_issuer", TOKENS, "required iss (needed with RS256)"),
    Setting(contract.JWT_AUDIENCE, "jwt_audience", TOKENS, "required aud (needed with RS256)"),
    Setting("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "management_endpoint", SENDING,
            "management endpoint override (the stack output websocket_management_endpoint)"),
    Setting("AWS_REGION", "region", SENDING, "region of the management endpoint (Lambda sets it)"),
    Setting("CONNECTION_TTL_SECONDS", "connection_ttl_seconds", LIMITS_PART, "a connection's lifetime",
            LIMITS.connection_ttl_seconds, 1, LIMITS.connection_ttl_seconds),
    Setting("CONNECTION_IDLE_SECONDS", "idle_timeout_seconds", LIMITS_PART,
            "cleanup deactivates connections idle this long", LIMITS.idle_timeout_seconds, 1, LIMITS.idle_timeout_seconds),
    Setting("INACTIVE_RETENTION_DAYS", "inactive_retention_days", LIMITS_PART,
            "cleanup deletes rows inactive this long", 30, 0, 3650),
    Setting("STREAM_RETENTION_SECONDS", "stream_retention_seconds", LIMITS_PART,
            "published events are kept this long; cleanup deletes older ones", 86_400, 60, 90 * 86_400),
    Setting("TOUCH_INTERVAL_SECONDS", "touch_interval_seconds", LIMITS_PART,
            "last activity written at most this often", 60, 0, 3600),
    Setting("WS_MAX_MESSAGES_PER_SECOND", "max_messages_per_second", LIMITS_PART, "per connection", 10, 0, 10_000),
    Setting("WS_MAX_MESSAGES_PER_USER_PER_SECOND", "max_messages_per_user_per_second", LIMITS_PART,
            "over all of a user's connections", 20, 0, 100_000),
    Setting("WS_MAX_CONNECTIONS_PER_USER", "max_connections_per_user", LIMITS_PART, "open at once", 10, 0, 100_000),
    Setting("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "max_subscriptions_per_connection", LIMITS_PART,
            "per connection", 50, 0, 100_000),
    Setting("WS_CONNECTION_ENDS_WITH_TOKEN", "bind_connection_to_token_expiry", LIMITS_PART,
            "on: a connection ends when its token expires", False),
)
BY_VARIABLE = {row.variable: row for row in TABLE}

ENVIRONMENT: dict[str, tuple[str, str]] = {row.variable: (row.part, row.help_line()) for row in TABLE}
"""Every variable the runtime reads: its part and its help line (the CLI's ``--help``, the stack's check of
``lambda_environment``)."""


def _default(variable: str) -> Any:
    return BY_VARIABLE[variable].default


def environment_help(*parts: str) -> str:
    """The variables of these parts, one per line, for a command's ``--help``."""
    rows = [(name, text) for name, (part, text) in ENVIRONMENT.items() if part in parts]
    width = max(len(name) for name, _ in rows)
    return "environment:\n" + "\n".join(f"  {name.ljust(width)}  {text}" for name, text in rows)
_MIN_SECRET_BYTES = 32


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What the runtime needs; build with :meth:`from_env` or directly in tests. Each field's variable,
    default and range are its row in :data:`TABLE`."""

    database_url: str = ""
    """``DATABASE_URL`` (or ``DATABASE_SECRET_ARN``); empty means libpq's ``PG*`` variables decide."""

    management_endpoint: str | None = None
    """``AWS_WEBSOCKET_API_GATEWAY_ENDPOINT``: overrides the endpoint derived from each connection."""

    region: str | None = None
    """``AWS_REGION`` (set by Lambda): used to derive the management endpoint."""

    connection_ttl_seconds: int = _default("CONNECTION_TTL_SECONDS")
    """How long a connection is valid."""

    idle_timeout_seconds: int = _default("CONNECTION_IDLE_SECONDS")
    """Cleanup deactivates connections idle this long."""

    inactive_retention_days: int = _default("INACTIVE_RETENTION_DAYS")
    """Cleanup deletes rows inactive this long."""

    stream_retention_seconds: int = _default("STREAM_RETENTION_SECONDS")
    """Published events are kept this long, so a client that reconnects within it resumes without loss (the
    default covers API Gateway's 2-hour connection limit with a wide margin). Cleanup deletes older ones; a
    ``since`` before them gets ``resync_required``."""

    jwt_secret: str | None = None
    """``WS_JWT_SECRET`` (or ``WS_JWT_SECRET_ARN``): HS256 key (at least 32 bytes)."""

    jwt_public_key: str | None = None
    """``WS_JWT_PUBLIC_KEY``: RS256 public key (PEM)."""

    jwt_issuer: str | None = None
    """``WS_JWT_ISSUER``: required ``iss`` when set."""

    jwt_audience: str | None = None
    """``WS_JWT_AUDIENCE``: required ``aud`` when set."""

    db_connect_timeout_seconds: int = _default("DB_CONNECT_TIMEOUT_SECONDS")
    """A dead database fails fast instead of eating the Lambda timeout."""

    db_statement_timeout_ms: int = _default("DB_STATEMENT_TIMEOUT_MS")
    """Per statement, set per transaction (pooler-safe)."""

    db_prepared_statements: bool = _default("DB_PREPARED_STATEMENTS")
    """On: each statement is prepared on its first run (Bind/Execute afterwards: no parse or plan per
    message) and the statement timeout is set once per session. For a direct connection (behind PgBouncer
    >= 1.21 with ``max_prepared_statements``, put the timeout on the role); off works behind any pooler."""

    touch_interval_seconds: int = _default("TOUCH_INTERVAL_SECONDS")
    """Last activity is written at most this often per connection, so a message costs a read. Must stay
    below ``CONNECTION_IDLE_SECONDS``."""

    max_messages_per_second: int = _default("WS_MAX_MESSAGES_PER_SECOND")
    """Per connection; past it a message gets ``rate_limited`` (429), past twice it the connection is
    closed. 0: no limit."""

    max_messages_per_user_per_second: int = _default("WS_MAX_MESSAGES_PER_USER_PER_SECOND")
    """Over all of a user's connections together; past it a message gets ``rate_limited`` (429), past
    twice it the sending connection is closed. 0: no limit."""

    max_connections_per_user: int = _default("WS_MAX_CONNECTIONS_PER_USER")
    """A further ``$connect`` is refused (``too_many_connections``). 0: no limit."""

    max_subscriptions_per_connection: int = _default("WS_MAX_SUBSCRIPTIONS_PER_CONNECTION")
    """A further subscribe gets ``too_many_subscriptions``. 0: no limit."""

    bind_connection_to_token_expiry: bool = _default("WS_CONNECTION_ENDS_WITH_TOKEN")
    """On: a connection ends when its token expires (it can no longer send or receive, and cleanup closes
    it) instead of at ``CONNECTION_TTL_SECONDS``."""

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        secret_reader: SecretReader | None = None,
        needs: Collection[str] = REQUIRED_PARTS,
    ) -> Settings:
        """Read and validate; ``*_SECRET_ARN`` variables are fetched from Secrets Manager (once per container).

        ``needs`` names the parts a caller uses (``"database"``, ``"tokens"``): only those are required,
        so ``careconnect-ws migrate`` does not ask for the token key and ``token`` needs no database.
        """
        unknown = set(needs) - set(REQUIRED_PARTS)
        if unknown:
            raise ValueError(f"unknown settings parts {sorted(unknown)}; use {REQUIRED_PARTS}")
        env = _with_secrets(dict(os.environ if environ is None else environ), secret_reader, needs)
        numbers = {row.field: row.read(env) for row in TABLE if row.is_number or row.is_switch}
        if numbers["touch_interval_seconds"] >= numbers["idle_timeout_seconds"]:
            raise ConfigError(
                "TOUCH_INTERVAL_SECONDS",
                f"{numbers['touch_interval_seconds']} must be below CONNECTION_IDLE_SECONDS "
                f"({numbers['idle_timeout_seconds']}), or cleanup would close active connections",
            )
        return cls(
            database_url=_database_url(env, needs),
            management_endpoint=_management_endpoint(env),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            **_token_settings(env, needs),
            **numbers,
        )


def _with_secrets(env: dict[str, str], secret_reader: SecretReader | None, needs: Collection[str]) -> dict[str, str]:
    """The environment with ``DATABASE_URL`` / ``WS_JWT_SECRET`` filled from the secrets the ARNs name."""
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
    return env


def _database_url(env: Mapping[str, str], needs: Collection[str]) -> str:
    database_url = env.get("DATABASE_URL", "").strip()
    if DATABASE not in needs:
        return database_url
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
    return database_url


def _token_settings(env: Mapping[str, str], needs: Collection[str]) -> dict[str, str | None]:
    secret = env.get("WS_JWT_SECRET") or None
    public_key = env.get(contract.JWT_PUBLIC_KEY) or None
    issuer = env.get(contract.JWT_ISSUER) or None
    audience = env.get(contract.JWT_AUDIENCE) or None
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
            for variable, value in ((contract.JWT_ISSUER, issuer), (contract.JWT_AUDIENCE, audience)):
                if not value:
                    raise ConfigError(
                        variable,
                        "required with WS_JWT_PUBLIC_KEY (RS256): an identity provider signs tokens for many services, "
                        "so set the issuer and the audience this service accepts",
                    )
    return {"jwt_secret": secret, "jwt_public_key": public_key, "jwt_issuer": issuer, "jwt_audience": audience}


def _management_endpoint(env: Mapping[str, str]) -> str | None:
    endpoint = env.get("AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "").strip() or None
    if endpoint and not endpoint.startswith(("https://", "http://")):
        raise ConfigError(
            "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT",
            "must be the https:// management endpoint (the stack output websocket_management_endpoint)",
        )
    return endpoint.rstrip("/") if endpoint else None


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
