"""Shared fixtures: the ones careconnect_ws.testing's pytest plugin ships (the session PostgreSQL, the runtime
pointed at it, the recording @connections endpoint) under this suite's short names, and a SQL connection."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.settings import Settings
from careconnect_ws.testing.connections import ConnectionsRecorder


@pytest.fixture(scope="session")
def pg(careconnect_database) -> TemporaryPostgres:
    """The session's migrated PostgreSQL: careconnect_ws.testing's, the plugin the package ships."""
    return careconnect_database


@pytest.fixture
def sql(pg) -> Iterator[psycopg.Connection]:
    """A separate connection for checking registry state in SQL."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def runtime(careconnect_runtime) -> Settings:
    """Empty tables, settings pointing at the test server, fresh per-container state: the plugin's fixture."""
    return careconnect_runtime


@pytest.fixture
def connections_endpoint(careconnect_connections) -> ConnectionsRecorder:
    """A local @connections endpoint, set as AWS_WEBSOCKET_API_GATEWAY_ENDPOINT for the runtime: the plugin's."""
    return careconnect_connections
