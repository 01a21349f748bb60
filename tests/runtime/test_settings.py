"""Configuration: every missing or malformed setting names its variable."""

from __future__ import annotations

import pytest

from careconnect_ws.errors import ConfigError
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import Settings, set_settings

GOOD = {"DATABASE_URL": "postgresql://u@localhost/db", "WS_JWT_SECRET": "s" * 32}


def test_defaults():
    s = Settings.from_env(GOOD)
    assert (s.connection_ttl_seconds, s.idle_timeout_seconds, s.management_endpoint) == (7200, 600, None)


def test_pg_variables_instead_of_database_url():
    s = Settings.from_env({"PGHOST": "db", "PGDATABASE": "care", "WS_JWT_SECRET": "s" * 32})
    assert s.database_url == ""


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"WS_JWT_SECRET": "s" * 32}, "DATABASE_URL", "not set"),
        ({**GOOD, "DATABASE_URL": "mysql-ish"}, "DATABASE_URL", "postgresql://"),
        ({"DATABASE_URL": "postgresql://x"}, "WS_JWT_SECRET", "not set"),
        ({**GOOD, "WS_JWT_SECRET": "short"}, "WS_JWT_SECRET", "at least 32 bytes"),
        ({**GOOD, "WS_JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"}, "WS_JWT_SECRET", "not WS_JWT_SECRET and WS_JWT_PUBLIC_KEY"),
        ({"DATABASE_URL": "postgresql://x", "WS_JWT_PUBLIC_KEY": "not a key"}, "WS_JWT_PUBLIC_KEY", "PEM"),
        ({**GOOD, "CONNECTION_TTL_SECONDS": "two hours"}, "CONNECTION_TTL_SECONDS", "whole number"),
        ({**GOOD, "CONNECTION_TTL_SECONDS": "0"}, "CONNECTION_TTL_SECONDS", "out of range"),
        ({**GOOD, "CONNECTION_TTL_SECONDS": "9000"}, "CONNECTION_TTL_SECONDS", "out of range"),
        ({**GOOD, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "wss://x/prod"}, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT", "https://"),
    ],
)
def test_bad_settings_name_the_variable(env, variable, words):
    with pytest.raises(ConfigError) as err:
        Settings.from_env(env)
    assert err.value.variable == variable
    assert str(err.value).startswith(variable) and words in str(err.value)


def test_rs256_public_key_is_accepted_and_verifies(careconnect_runtime):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from careconnect_ws.tokens import verify_token

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://x",
            "WS_JWT_PUBLIC_KEY": pem.replace("\n", "\\n"),
            "WS_JWT_ISSUER": "https://idp.example",
            "WS_JWT_AUDIENCE": "careconnect-ws",
        }
    )
    claims = {"sub": "alice", "exp": 4_000_000_000, "iss": "https://idp.example", "aud": "careconnect-ws"}
    assert verify_token(jwt.encode(claims, key, algorithm="RS256"), s) == "alice"
    # A token for another audience is refused.
    from careconnect_ws.errors import TokenError

    with pytest.raises(TokenError):
        verify_token(jwt.encode({**claims, "aud": "other"}, key, algorithm="RS256"), s)


def test_misconfiguration_answers_500_and_does_not_raise(monkeypatch):
    from tests.support.events import make_event

    set_settings(None)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name in ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    try:
        response = lambda_handler(make_event("connect", query={"token": "x"}))
    finally:
        set_settings(None)
    assert response["statusCode"] == 500
    assert '"misconfigured"' in response["body"]


class TestSecretsManager:
    """The database URL and the token key from Secrets Manager (Stubber: there is no local Secrets Manager here)."""

    ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"
    JWT_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:jwt-AbCdEf"

    def stubbed(self):
        import boto3
        from botocore.stub import Stubber

        client = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        return client, Stubber(client)

    def test_rds_style_json_secret_and_jwt_secret(self):
        import json

        from careconnect_ws.secrets import boto3_secret_reader

        client, stub = self.stubbed()
        rds = {
            "engine": "postgres",
            "host": "db.internal",
            "port": 5432,
            "username": "care",
            "password": "p@ss w'rd",
            "dbname": "care",
        }
        stub.add_response("get_secret_value", {"SecretString": json.dumps(rds)}, {"SecretId": self.ARN})
        stub.add_response("get_secret_value", {"SecretString": "k" * 40}, {"SecretId": self.JWT_ARN})
        with stub:
            s = Settings.from_env(
                {"DATABASE_SECRET_ARN": self.ARN, "WS_JWT_SECRET_ARN": self.JWT_ARN}, secret_reader=boto3_secret_reader(client)
            )
        from psycopg.conninfo import conninfo_to_dict

        parsed = conninfo_to_dict(s.database_url)
        assert (parsed["host"], parsed["user"], parsed["password"], parsed["dbname"], parsed["sslmode"]) == (
            "db.internal",
            "care",
            "p@ss w'rd",
            "care",
            "require",
        )
        assert s.jwt_secret == "k" * 40

    def test_unreadable_secret_names_the_variable_and_the_permission(self):
        from careconnect_ws.secrets import boto3_secret_reader

        client, stub = self.stubbed()
        stub.add_client_error("get_secret_value", "AccessDeniedException", http_status_code=400)
        with stub, pytest.raises(ConfigError) as err:
            Settings.from_env(
                {"DATABASE_SECRET_ARN": self.ARN, "WS_JWT_SECRET": "s" * 32}, secret_reader=boto3_secret_reader(client)
            )
        assert err.value.variable == "DATABASE_SECRET_ARN" and "secretsmanager:GetSecretValue" in str(err.value)

    @pytest.mark.parametrize(("value", "words"), [("not-a-url", "neither"), ('{"host": "h"}', "lacks")])
    def test_malformed_database_secret(self, value, words):
        with pytest.raises(ConfigError) as err:
            Settings.from_env({"DATABASE_SECRET_ARN": self.ARN, "WS_JWT_SECRET": "s" * 32}, secret_reader=lambda arn: value)
        assert words in str(err.value)

    def test_arn_must_be_an_arn(self):
        with pytest.raises(ConfigError) as err:
            Settings.from_env({"DATABASE_SECRET_ARN": "db-password", "WS_JWT_SECRET": "s" * 32}, secret_reader=lambda arn: "")
        assert err.value.variable == "DATABASE_SECRET_ARN"
