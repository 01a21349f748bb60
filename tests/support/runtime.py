"""The runtime pointed at a test's own servers: settings, tokens, a PostgreSQL to kill or restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from careconnect_ws import db as db_module
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing import TEST_JWT_SECRET, token_for
from careconnect_ws.testing.database import throwaway_database

__all__ = ["SECRET", "make_settings", "own_migrated_server", "rsa_public_pem", "token_for"]

SECRET = TEST_JWT_SECRET
"""The token key of careconnect_ws.testing's careconnect_runtime (what the runtime fixture is)."""


def make_settings(pg_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": pg_url, "jwt_secret": SECRET, "region": "us-east-1"}
    values.update(overrides)
    return Settings(**values)


@contextmanager
def own_migrated_server(*, fsync: bool = False, **settings: Any) -> Iterator[TemporaryPostgres]:
    """A PostgreSQL of the test's own (to kill, restart or make read-only), migrated, with the runtime
    pointed at it; ``settings`` override :func:`make_settings`'s."""
    with throwaway_database(fsync=fsync) as server:
        set_settings(make_settings(server.url, **settings))
        db_module.reset_database()
        try:
            yield server
        finally:
            db_module.reset_database()
            set_settings(None)


def rsa_public_pem() -> str:
    """A fresh RS256 public key in PEM form (what an identity provider publishes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
