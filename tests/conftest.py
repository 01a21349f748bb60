"""Shared fixtures. The session PostgreSQL (``careconnect_database``), the runtime pointed at it
(``careconnect_runtime``) and the recording ``@connections`` endpoint (``careconnect_connections``) are the ones
careconnect_ws.testing's pytest plugin ships, used here under the same names a team's tests use; this file adds a
SQL connection for checking state."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from careconnect_ws.local.pgtemp import TemporaryPostgres


@pytest.fixture
def sql(careconnect_database: TemporaryPostgres) -> Iterator[psycopg.Connection]:
    """A separate connection for checking registry state in SQL."""
    with psycopg.connect(careconnect_database.url, autocommit=True) as conn:
        yield conn
