"""The runtime pointed at a test's own servers: settings, tokens, a PostgreSQL to kill or restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from careconnect_ws import db as db_module
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.migrations import migrate
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

SECRET = "test-secret-that-is-at-least-32-bytes-long!"


def make_settings(pg_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": pg_url, "jwt_secret": SECRET, "region": "us-east-1"}
    values.update(overrides)
    return Settings(**values)


def token_for(user_id: str, **kwargs: Any) -> str:
    return issue_token(user_id, Settings(jwt_secret=SECRET), **kwargs)


@contextmanager
def own_migrated_server(*, fsync: bool = False, **settings: Any) -> Iterator[TemporaryPostgres]:
    """A PostgreSQL of the test's own (to kill, restart or make read-only), migrated, with the runtime
    pointed at it; ``settings`` override :func:`make_settings`'s."""
    server = TemporaryPostgres(fsync=fsync).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            migrate(conn)
        set_settings(make_settings(server.url, **settings))
        db_module.reset_database()
        yield server
    finally:
        db_module.reset_database()
        server.stop()
        set_settings(None)


def rsa_public_pem() -> str:
    """A fresh RS256 public key in PEM form (what an identity provider publishes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
