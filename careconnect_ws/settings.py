"""Configuration from the environment, validated once per Lambda container.

Every problem names the variable to fix. Limits default from :data:`careconnect_ws.limits.LIMITS`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from typing import Any

from . import contract
from .errors import ConfigError
from .extensions import extension_names
from .limits import LIMITS
from .secrets import (
    SecretReader,
    boto3_secret_reader,
    database_url_from_secret,
    jwt_secret_from_secret,
    read_key_versions,
    read_secret,
)
from .topics import declared_topics

logger = logging.getLogger(__name__)
_PG_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGDATABASE")

# The parts of the configuration a caller can ask for (``Settings.from_env(needs=...)``).
DATABASE = "database"
TOKENS = "tokens"
SENDING = "sending"
LIMITS_PART = "limits"
OPERATIONS = "operations"
REQUIRED_PARTS = (DATABASE, TOKENS)
"""The parts a caller can require (``Settings.from_env(needs=...)``); the others (sending, limits,
operations) have defaults or are optional, so they are always read and never required."""


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
        assert self.low is not None and self.high is not None, f"{self.variable}: a number needs its range"
        return _int(env, self.variable, self.default, self.low, self.high)

    def help_line(self) -> str:
        if self.is_switch:
            return f"{self.help} (default {'on' if self.default else 'off'})"
        if self.is_number:
            return f"{self.help} (default {self.default}{'; 0 off' if self.low == 0 else ''})"
        return self.help


TABLE: tuple[Setting, ...] = (
    Setting("DATABASE_URL", "database_url", DATABASE, "PostgreSQL URL (or PGHOST/PGDATABASE/PGUSER/PGPASSWORD)"),
    Setting(
        contract.DATABASE_SECRET_ARN,
        "database_url",
        DATABASE,
        "Secrets Manager secret holding the URL or RDS-style JSON, instead of DATABASE_URL",
    ),
    Setting(
        "DB_CONNECT_TIMEOUT_SECONDS", "db_connect_timeout_seconds", DATABASE, "fail fast when the database is down", 3, 1, 60
    ),
    Setting(
        "DB_STATEMENT_TIMEOUT_MS", "db_statement_timeout_ms", DATABASE, "per statement, set per transaction", 5000, 100, 600_000
    ),
    Setting(
        "DB_PREPARED_STATEMENTS",
        "db_prepared_statements",
        DATABASE,
        "on: prepare statements (direct connections; off is pooler-safe)",
        False,
    ),
    Setting("WS_JWT_SECRET", "jwt_secret", TOKENS, "HS256 key for connection tokens (32+ bytes)"),
    Setting(contract.JWT_SECRET_ARN, "jwt_secret", TOKENS, "Secrets Manager secret holding WS_JWT_SECRET"),
    Setting(
        "WS_JWT_PREVIOUS_KEY_SECONDS",
        "jwt_previous_key_seconds",
        TOKENS,
        "after the WS_JWT_SECRET_ARN secret changes, its previous key still verifies this long",
        3600,
        0,
        604_800,
    ),
    Setting(contract.JWT_PUBLIC_KEY, "jwt_public_key", TOKENS, "RS256 public key (PEM), instead of WS_JWT_SECRET"),
    Setting(
        contract.JWT_JWKS_URL, "jwt_jwks_url", TOKENS, "identity provider's JWKS URL (RS256/ES256 keys by kid), instead of a key"
    ),
    Setting(
        "WS_JWT_JWKS_MAX_AGE_SECONDS",
        "jwks_max_age_seconds",
        TOKENS,
        "the key set is fetched again after this long",
        600,
        60,
        86_400,
    ),
    Setting(
        "WS_JWT_JWKS_MIN_REFRESH_SECONDS",
        "jwks_min_refresh_seconds",
        TOKENS,
        "an unknown kid fetches the key set again at most this often",
        30,
        1,
        3600,
    ),
    Setting(
        "WS_IAM_REVOCATION_SECONDS",
        "iam_revocation_seconds",
        TOKENS,
        "with WS_CONNECT_AUTH=iam, disconnect-user refuses the principal's signed connects this long",
        3600,
        60,
        604_800,
    ),
    Setting(
        contract.CONNECT_AUTH,
        "connect_auth",
        TOKENS,
        "token (a JWT, default) or iam: $connect takes SigV4-signed handshakes, the caller's ARN is the user",
    ),
    Setting(
        contract.TOKEN_SOURCE,
        "token_source",
        TOKENS,
        "where $connect finds the token: query:<parameter>, header:<name> or protocol (default query:token)",
    ),
    Setting(contract.JWT_ISSUER, "jwt_issuer", TOKENS, "required iss (needed with RS256 and JWKS)"),
    Setting(contract.JWT_AUDIENCE, "jwt_audience", TOKENS, "required aud (needed with RS256 and JWKS)"),
    Setting(
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT",
        "management_endpoint",
        SENDING,
        "management endpoint override (the stack output websocket_management_endpoint)",
    ),
    Setting("AWS_REGION", "region", SENDING, "region of the management endpoint (Lambda sets it)"),
    Setting(
        "CONNECTION_TTL_SECONDS",
        "connection_ttl_seconds",
        LIMITS_PART,
        "a connection's lifetime",
        LIMITS.connection_ttl_seconds,
        1,
        LIMITS.connection_ttl_seconds,
    ),
    Setting(
        "CONNECTION_IDLE_SECONDS",
        "idle_timeout_seconds",
        LIMITS_PART,
        "cleanup deactivates connections idle this long",
        LIMITS.idle_timeout_seconds,
        1,
        LIMITS.idle_timeout_seconds,
    ),
    Setting(
        "INACTIVE_RETENTION_DAYS", "inactive_retention_days", LIMITS_PART, "cleanup deletes rows inactive this long", 30, 0, 3650
    ),
    Setting(
        "STREAM_RETENTION_SECONDS",
        "stream_retention_seconds",
        LIMITS_PART,
        "published events are kept this long; cleanup deletes older ones",
        86_400,
        60,
        90 * 86_400,
    ),
    Setting(
        "TOUCH_INTERVAL_SECONDS", "touch_interval_seconds", LIMITS_PART, "last activity written at most this often", 60, 0, 3600
    ),
    Setting("WS_MAX_MESSAGES_PER_SECOND", "max_messages_per_second", LIMITS_PART, "per connection", 10, 0, 10_000),
    Setting(
        "WS_MAX_MESSAGES_PER_USER_PER_SECOND",
        "max_messages_per_user_per_second",
        LIMITS_PART,
        "over all of a user's connections",
        20,
        0,
        100_000,
    ),
    Setting("WS_MAX_CONNECTIONS_PER_USER", "max_connections_per_user", LIMITS_PART, "open at once", 10, 0, 100_000),
    Setting(
        "WS_MAX_SUBSCRIPTIONS_PER_CONNECTION", "max_subscriptions_per_connection", LIMITS_PART, "per connection", 50, 0, 100_000
    ),
    Setting(
        "WS_CONNECTION_ENDS_WITH_TOKEN",
        "bind_connection_to_token_expiry",
        LIMITS_PART,
        "on: a connection ends when its token expires",
        False,
    ),
    Setting(
        "WS_RULE_RECHECK_SECONDS",
        "rule_recheck_seconds",
        LIMITS_PART,
        "a topic's code rule is asked again for live pushes once its answer is this old",
        300,
        0,
        86_400,
    ),
    Setting(
        "SECRETS_MAX_AGE_SECONDS",
        "secrets_max_age_seconds",
        OPERATIONS,
        "secrets are read again after this long (and after an authentication failure); 0: only after a failure",
        300,
        0,
        86_400,
    ),
    Setting(
        "WS_METRICS", "metrics", OPERATIONS, "CloudWatch metrics (Embedded Metric Format) in each invocation's log line", True
    ),
    Setting(
        contract.EXTENSIONS,
        "extensions",
        OPERATIONS,
        "your modules (comma-separated) imported at cold start: topics, actions, notification types",
    ),
    Setting(
        contract.TOPICS_VARIABLE,
        "topics",
        OPERATIONS,
        'topics declared without code, JSON: [{"name": "care-plan", "rule": "own-subject|any-user|claim:<name>"}]',
    ),
)
BY_VARIABLE = {row.variable: row for row in TABLE}

ENVIRONMENT: dict[str, tuple[str, str]] = {row.variable: (row.part, row.help_line()) for row in TABLE}
"""Every variable the runtime reads: its part and its help line (the CLI's ``--help``, the stack's check of
``function_environment``)."""


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

    jwt_previous_secret: str | None = None
    """The ``WS_JWT_SECRET_ARN`` secret's ``AWSPREVIOUS`` key, while it may still verify (see below)."""

    jwt_previous_secret_until: float | None = None
    """Epoch seconds until which :attr:`jwt_previous_secret` verifies: the current version's creation plus
    ``WS_JWT_PREVIOUS_KEY_SECONDS``, so tokens signed just before a rotation keep working and no longer."""

    jwt_previous_key_seconds: int = _default("WS_JWT_PREVIOUS_KEY_SECONDS")
    """How long after a key rotation the previous HS256 key still verifies (cover your tokens' lifetime)."""

    jwt_public_key: str | None = None
    """``WS_JWT_PUBLIC_KEY``: RS256 public key (PEM)."""

    jwt_jwks_url: str | None = None
    """``WS_JWT_JWKS_URL``: the identity provider's key set; tokens are verified with the key their ``kid``
    names (RS256 or ES256)."""

    jwks_max_age_seconds: int = _default("WS_JWT_JWKS_MAX_AGE_SECONDS")
    """The key set is fetched again after this long (a failed fetch keeps the keys already known)."""

    connect_auth: str = "token"
    """``WS_CONNECT_AUTH``: ``token`` (a JWT) or ``iam`` (``AWS_IAM`` on ``$connect``: API Gateway has verified the
    client's SigV4 signature, and its IAM ARN is the connection's user; no token key is needed)."""

    token_source: contract.TokenSource = contract.DEFAULT_TOKEN_SOURCE
    """``WS_TOKEN_SOURCE``: where ``$connect`` (and its authorizer) find the client's token; the construct's
    ``token_source`` sets the same value on the function and the authorizer."""

    jwks_min_refresh_seconds: int = _default("WS_JWT_JWKS_MIN_REFRESH_SECONDS")
    """A token naming an unknown ``kid`` fetches the set again at most this often per container."""

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

    rule_recheck_seconds: int = _default("WS_RULE_RECHECK_SECONDS")
    """A topic's code rule (``Topic.may_subscribe``) is trusted this long for live pushes, then asked again;
    a subscription it now refuses ends. 0: asked on every push."""

    iam_revocation_seconds: int = _default("WS_IAM_REVOCATION_SECONDS")
    """After ``disconnect-user`` revokes an IAM principal (``WS_CONNECT_AUTH=iam``), its signed handshakes are
    refused this long: they carry no ``iat`` that could show they came later, and the credentials that signed
    them are the principal's own, so the revocation is by time (default: an hour, STS credentials' default
    lifetime); ``restore-user`` lifts it sooner. Tokens are revoked by their ``iat`` instead."""

    secrets_max_age_seconds: int = _default("SECRETS_MAX_AGE_SECONDS")
    """Settings that came from Secrets Manager are read again after this long, so a rotated database password
    or token key is picked up without a redeploy (and at once after an authentication failure)."""

    from_secrets: bool = False
    """True when a ``*_SECRET_ARN`` filled a value: only then is there anything to read again."""

    metrics: bool = _default("WS_METRICS")
    extensions: tuple[str, ...] = ()
    """``WS_EXTENSIONS``: the modules :mod:`careconnect_ws.extensions` imports (checked here, loaded there)."""
    topics: tuple[str, ...] = ()
    """The names of the topics ``WS_TOPICS`` declares (checked here, registered with the extensions)."""
    """On: each invocation's log line is also a CloudWatch Embedded Metric Format record (namespace
    ``CareConnectWs``), which CloudWatch turns into metrics with no API call."""

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
        env = dict(os.environ if environ is None else environ)
        numbers = {row.field: row.read(env) for row in TABLE if row.is_number or row.is_switch}
        env, from_secrets, previous = _with_secrets(env, secret_reader, needs, numbers["jwt_previous_key_seconds"])
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
            **previous,
            **numbers,
            extensions=extension_names(env),
            topics=tuple(t.name for t in declared_topics(env.get(contract.TOPICS_VARIABLE, ""))),
            from_secrets=from_secrets,
        )


def _with_secrets(
    env: dict[str, str], secret_reader: SecretReader | None, needs: Collection[str], previous_key_seconds: int
) -> tuple[dict[str, str], bool, dict[str, Any]]:
    """The environment with ``DATABASE_URL`` / ``WS_JWT_SECRET`` filled from the secrets the ARNs name; whether
    any was; and the token key's previous version while it may still verify."""
    wanted = {contract.DATABASE_SECRET_ARN: DATABASE in needs, contract.JWT_SECRET_ARN: TOKENS in needs}
    reader = secret_reader or boto3_secret_reader()
    filled, previous = False, {}
    for arn_variable, needed in wanted.items():
        arn = env.get(arn_variable, "").strip()
        if not arn or not needed:
            continue
        if not arn.startswith("arn:"):
            raise ConfigError(arn_variable, "must be a Secrets Manager ARN (arn:aws:secretsmanager:...)")
        filled = True
        if arn_variable == contract.DATABASE_SECRET_ARN:
            env["DATABASE_URL"] = database_url_from_secret(read_secret(arn_variable, arn, reader))
            continue
        versions = read_key_versions(arn_variable, arn, reader, previous_within=previous_key_seconds)
        env["WS_JWT_SECRET"] = jwt_secret_from_secret(versions.current)
        if versions.previous is not None and versions.current_since is not None:
            previous = {
                "jwt_previous_secret": jwt_secret_from_secret(versions.previous),
                "jwt_previous_secret_until": versions.current_since + previous_key_seconds,
            }
    return env, filled, previous


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


def _token_settings(env: Mapping[str, str], needs: Collection[str]) -> dict[str, Any]:
    secret = env.get("WS_JWT_SECRET") or None
    public_key = env.get(contract.JWT_PUBLIC_KEY) or None
    jwks_url = env.get(contract.JWT_JWKS_URL, "").strip() or None
    issuer = env.get(contract.JWT_ISSUER) or None
    audience = env.get(contract.JWT_AUDIENCE) or None
    connect_auth = env.get(contract.CONNECT_AUTH, "").strip().lower() or "token"
    if connect_auth not in ("token", "iam"):
        raise ConfigError(contract.CONNECT_AUTH, f"{connect_auth!r}: use token (a JWT) or iam (SigV4-signed handshakes)")
    if TOKENS in needs:
        given = [
            name
            for name, value in (
                ("WS_JWT_SECRET", secret),
                (contract.JWT_PUBLIC_KEY, public_key),
                (contract.JWT_JWKS_URL, jwks_url),
            )
            if value
        ]
        if len(given) > 1:
            raise ConfigError(
                given[0],
                f"set one way to verify tokens, not {' and '.join(given)}: WS_JWT_SECRET "
                "(HS256), WS_JWT_PUBLIC_KEY (RS256, PEM) or WS_JWT_JWKS_URL (your identity provider)",
            )
        if not given and connect_auth == "token":
            raise ConfigError(
                "WS_JWT_SECRET",
                "not set: set WS_JWT_SECRET (HS256), WS_JWT_PUBLIC_KEY (RS256, PEM) or WS_JWT_JWKS_URL "
                "(your identity provider's key set) to verify tokens",
            )
        if secret and len(secret.encode()) < _MIN_SECRET_BYTES:
            raise ConfigError("WS_JWT_SECRET", f"too short: HS256 needs at least {_MIN_SECRET_BYTES} bytes")
        if public_key:
            public_key = public_key.replace("\\n", "\n")
            _check_public_key(public_key)
        if jwks_url:
            _check_jwks_url(jwks_url)
        if public_key or jwks_url:
            # A shared identity provider signs tokens for other services with the same key:
            # without both checks, a token minted for another service opens a connection here.
            for variable, value in ((contract.JWT_ISSUER, issuer), (contract.JWT_AUDIENCE, audience)):
                if not value:
                    raise ConfigError(
                        variable,
                        f"required with {given[0]}: an identity provider signs tokens for many services, "
                        "so set the issuer and the audience this service accepts",
                    )
    return {
        "jwt_secret": secret,
        "jwt_public_key": public_key,
        "jwt_jwks_url": jwks_url,
        "jwt_issuer": issuer,
        "jwt_audience": audience,
        "token_source": _token_source(env),
        "connect_auth": connect_auth,
    }


def _token_source(env: Mapping[str, str]) -> contract.TokenSource:
    raw = env.get(contract.TOKEN_SOURCE, "").strip()
    try:
        return contract.TokenSource.parse(raw) if raw else contract.DEFAULT_TOKEN_SOURCE
    except ValueError as err:
        raise ConfigError(contract.TOKEN_SOURCE, str(err)) from None


def _check_jwks_url(url: str) -> None:
    """https, or http to this machine (a local identity provider in development)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    local = parts.hostname in contract.LOOPBACK_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or (parts.scheme == "http" and local)):
        raise ConfigError(
            contract.JWT_JWKS_URL,
            f"{url!r} must be an https:// URL (e.g. https://cognito-idp.<region>"
            ".amazonaws.com/<user pool id>/.well-known/jwks.json)",
        )


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
    except Exception as err:  # psycopg.Error for libpq's refusals; anything else is still the URL's fault
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        # libpq quotes the part it could not read, and that part may be a piece of the password: never shown.
        reason = redact(_unquoted(first), url) if isinstance(err, psycopg.Error) else ""
        raise ConfigError(
            "DATABASE_URL",
            "is not a valid PostgreSQL URL or key=value string"
            + (f" ({reason})" if reason else f" ({type(err).__name__})")
            + "; percent-encode special characters in the password (@ is %40, % is %25)",
        ) from None


def _unquoted(message: str) -> str:
    """``message`` with everything from its first quote to its last replaced: libpq quotes what it could not read,
    and a password holding quotes would otherwise end the quoted part early."""
    quotes = [i for i, c in enumerate(message) if c in "\"'"]
    if not quotes:
        return message
    return message[: quotes[0]] + '"…"' + message[quotes[-1] + 1 :]


def credentials_of(conninfo: str) -> list[str]:
    """The password(s) a connection string holds, as written and percent-decoded, found however malformed the
    string is: in a URL everything between the user's ``:`` and the *last* ``@`` (an unencoded ``@`` in a
    password is the usual mistake), a ``password=`` query parameter, or a key=value ``password``."""
    from urllib.parse import unquote

    found: list[str] = []
    _, sep, rest = conninfo.partition("://")
    if sep:
        userinfo = rest[: rest.rfind("@")] if "@" in rest else ""
        _, colon, password = userinfo.partition(":")
        if colon:
            found.append(password)
    for quoted, plain in re.findall(r"password\s*=\s*'((?:[^'\\]|\\.)*)'|password\s*=\s*([^\s&]+)", conninfo):
        found.append(quoted or plain)
    # An unquoted value with spaces (malformed): it runs to the next "key=".
    found += re.findall(r"password\s*=\s*(.*?)(?=\s+\w+\s*=|\s*$)", conninfo)
    if sep:  # a URL's query parameter: its value runs to the next & (spaces and quotes included, when malformed)
        found += re.findall(r"[?&]password=([^&]*)", conninfo)
    found += [unquote(p) for p in found]
    return [p for p in dict.fromkeys(found) if p]


def redact(text: str, conninfo: str) -> str:
    """``text`` without the connection string, its password, or any piece of the password of four characters or
    more (or the whole of a shorter one) in it: for messages that may quote them."""
    text = text.replace(conninfo, "***") if conninfo else text
    for secret in sorted(credentials_of(conninfo), key=len, reverse=True):
        for length in range(len(secret), min(4, len(secret)) - 1, -1):
            for start in range(len(secret) - length + 1):
                piece = secret[start : start + length]
                if piece in text:
                    text = text.replace(piece, "***")
    return text


def _check_public_key(pem: str) -> None:
    from jwt.algorithms import RSAAlgorithm

    try:
        RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(pem)
    except Exception as err:  # PyJWT raises several types for a bad key
        raise ConfigError("WS_JWT_PUBLIC_KEY", f"not a usable RSA public key in PEM form ({err})") from None


_lock = threading.Lock()
_cached: Settings | None = None
_read_at = 0.0
_read_wall = float("-inf")
"""When the cached settings were read, by the wall clock (a token's claimed ``iat`` is compared with it)."""
_forced_iat = float("-inf")
"""The largest ``iat`` a token claimed when it forced a key re-read."""


def get_settings() -> Settings:
    """The container's settings, read and validated on first use; those that came from Secrets Manager are
    read again once ``SECRETS_MAX_AGE_SECONDS`` have passed (a failed re-read keeps the ones in use)."""
    cached = _cached
    if cached is None or _stale(cached):
        with _lock:
            if _cached is None or _stale(_cached):
                _reread()
    return _cached  # type: ignore[return-value]


def _stale(settings: Settings) -> bool:
    return (
        settings.from_secrets
        and settings.secrets_max_age_seconds > 0
        and time.monotonic() - _read_at >= settings.secrets_max_age_seconds
    )


def _reread() -> None:
    global _cached, _read_at, _read_wall
    previous = _cached
    try:
        fresh = Settings.from_env()
    except Exception as err:
        if previous is None:
            raise
        # Secrets Manager unreachable for a moment, or a bad value put in a secret: keep serving with what
        # works, say so, and try again after another max age (or at the next authentication failure). A
        # ConfigError's text names the variable and never a value; another error's text might quote one.
        logger.warning(
            "settings not re-read; keeping the ones in use",
            extra={"error": str(err) if isinstance(err, ConfigError) else type(err).__name__},
        )
        _read_at = time.monotonic()
        return
    if previous is not None and fresh != previous:
        changed = sorted(f.name for f in fields(Settings) if getattr(fresh, f.name) != getattr(previous, f.name))
        logger.info("settings re-read", extra={"changed": changed})  # names only, never values
    _cached, _read_at, _read_wall = fresh, time.monotonic(), time.time()


def refresh_settings() -> Settings:
    """Read the settings again now, because the database just refused the password (which only happens on a
    connect, itself backed off), unless they came from no secret. Tokens go through
    :func:`refresh_settings_for_token`, which a flood of forged tokens cannot turn into a flood of reads."""
    with _lock:
        if _cached is None or _cached.from_secrets:
            _reread()
        return _cached  # type: ignore[return-value]


_CLOCK_AHEAD_SECONDS = 2
"""A token's claimed ``iat`` may be this far ahead of our clock and still force a key re-read."""


def refresh_settings_for_token(claimed_iat: int | None) -> Settings:
    """Read the settings again because a token's signature did not verify, when that can help: the token claims
    to be issued no earlier than the second the settings were read (it may be signed with a key rotated in
    since), and later than every token that already forced a read. See :func:`careconnect_ws.tokens.reread_key`."""
    global _forced_iat
    with _lock:
        if _cached is None:
            _reread()
        elif (
            _cached.from_secrets
            and claimed_iat is not None
            and claimed_iat > _forced_iat
            and int(_read_wall) <= claimed_iat <= time.time() + _CLOCK_AHEAD_SECONDS
        ):
            _forced_iat = claimed_iat
            _reread()
        return _cached  # type: ignore[return-value]


def peek_settings() -> Settings | None:
    """The cached settings, or None before they were read (nothing is read here)."""
    return _cached


def set_settings(settings: Settings | None) -> None:
    """Replace (or, with ``None``, forget) the cached settings: for the local gateway and tests."""
    global _cached, _read_at, _read_wall, _forced_iat
    with _lock:
        _cached = settings
        _read_at, _read_wall = time.monotonic(), time.time()
        _forced_iat = float("-inf")
