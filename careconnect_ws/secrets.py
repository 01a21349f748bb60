"""Reading settings from AWS Secrets Manager, so the database password and the token key
never sit in the Lambda's environment (nor in Terraform state).

``DATABASE_SECRET_ARN`` may hold an RDS-style JSON secret (``host``, ``port``, ``username``,
``password``, ``dbname``) or a plain ``postgresql://`` URL; ``WS_JWT_SECRET_ARN`` holds the
HS256 key as a string (or JSON ``{"secret": "..."}``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

SecretReader = Callable[[str], str]


def boto3_secret_reader(client: Any = None) -> SecretReader:
    def read(arn: str) -> str:
        nonlocal client
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        return client.get_secret_value(SecretId=arn)["SecretString"]

    return read


def read_secret(variable: str, arn: str, reader: SecretReader) -> str:
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - boto3 is a runtime dependency
        BotoCoreError = ClientError = Exception  # type: ignore[misc,assignment]
    try:
        value = reader(arn)
    except (BotoCoreError, ClientError) as err:
        raise ConfigError(variable, f"cannot read secret {arn}: {err} (the function's role needs secretsmanager:GetSecretValue on it)") from None
    if not value:
        raise ConfigError(variable, f"secret {arn} has no SecretString")
    return value


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
