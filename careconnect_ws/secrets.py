"""Reading settings from AWS Secrets Manager, so the database password and the token key
never sit in the Lambda's environment (nor in Terraform state).

``DATABASE_SECRET_ARN`` may hold an RDS-style JSON secret (``host``, ``port``, ``username``,
``password``, ``dbname``) or a plain ``postgresql://`` URL; ``WS_JWT_SECRET_ARN`` holds the
HS256 key as a string (or JSON ``{"secret": "..."}``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

SecretReader = Callable[[str], str]
"""Reads a secret's current value by ARN. The boto3 reader can also read other versions (see below)."""

CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


@dataclass(frozen=True)
class SecretVersion:
    value: str
    created: float | None = None
    """When this version was created (epoch seconds): for ``AWSCURRENT``, when the secret last changed."""


class Boto3SecretReader:
    """Secrets Manager through boto3 (loaded on first use)."""

    def __init__(self, client: Any = None) -> None:
        self.client = client

    def __call__(self, arn: str) -> str:
        version = self.version(arn, CURRENT)
        assert version is not None
        return version.value

    def version(self, arn: str, stage: str) -> SecretVersion | None:
        """The version ``stage`` labels, or None when no version has that label (a secret never rotated has no
        ``AWSPREVIOUS``)."""
        if self.client is None:
            import boto3

            self.client = boto3.client("secretsmanager")
        try:
            answer = self.client.get_secret_value(SecretId=arn, **({} if stage == CURRENT else {"VersionStage": stage}))
        except self.client.exceptions.ResourceNotFoundException:
            if stage == CURRENT:
                raise
            return None
        created = answer.get("CreatedDate")
        return SecretVersion(answer.get("SecretString") or "", created.timestamp() if created is not None else None)


def boto3_secret_reader(client: Any = None) -> Boto3SecretReader:
    return Boto3SecretReader(client)


def _client_errors() -> tuple[type[BaseException], ...]:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a runtime dependency
        return (Exception,)
    return (BotoCoreError, ClientError)


def _unreadable(variable: str, arn: str, err: BaseException) -> ConfigError:
    return ConfigError(
        variable, f"cannot read secret {arn}: {err} (the function's role needs secretsmanager:GetSecretValue on it)"
    )


def read_secret(variable: str, arn: str, reader: SecretReader) -> str:
    try:
        value = reader(arn)
    except _client_errors() as err:
        raise _unreadable(variable, arn, err) from None
    if not value:
        raise ConfigError(variable, f"secret {arn} has no SecretString")
    return value


@dataclass(frozen=True)
class KeyVersions:
    current: str
    current_since: float | None = None
    """When the current key became current (its version's creation)."""
    previous: str | None = None
    """The key before it, read only while it may still verify."""


def read_key_versions(variable: str, arn: str, reader: SecretReader, *, previous_within: int) -> KeyVersions:
    """The token key's current version and, when that changed less than ``previous_within`` seconds ago, the
    previous one (``AWSPREVIOUS``): during a rotation tokens signed with either verify. One call when the key
    has not changed lately, two when it has. A reader that only reads the current value gives no previous."""
    if not isinstance(reader, Boto3SecretReader):
        return KeyVersions(read_secret(variable, arn, reader))
    try:
        current = reader.version(arn, CURRENT)
        assert current is not None
        if not current.value:
            raise ConfigError(variable, f"secret {arn} has no SecretString")
        recent = current.created is not None and time.time() - current.created < previous_within
        previous = reader.version(arn, PREVIOUS) if recent else None
    except _client_errors() as err:
        raise _unreadable(variable, arn, err) from None
    return KeyVersions(current.value, current.created, previous.value if previous and previous.value else None)


def database_url_from_secret(value: str, variable: str = "DATABASE_SECRET_ARN") -> str:
    if value.startswith(("postgresql://", "postgres://")):
        return value
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(variable, "the secret is neither a postgresql:// URL nor JSON with host/username/password") from None
    from psycopg.conninfo import make_conninfo

    try:
        return make_conninfo(
            host=data["host"],
            port=str(data.get("port", 5432)),
            user=data["username"],
            password=data["password"],
            dbname=data.get("dbname") or data.get("database") or "postgres",
            sslmode=data.get("sslmode", "require"),
        )
    except KeyError as missing:
        raise ConfigError(variable, f"the secret's JSON lacks {missing}") from None


def jwt_secret_from_secret(value: str) -> str:
    if value.lstrip().startswith("{"):
        try:
            return str(json.loads(value)["secret"])
        except (json.JSONDecodeError, KeyError):
            raise ConfigError("WS_JWT_SECRET_ARN", 'JSON secrets must look like {"secret": "..."}') from None
    return value
