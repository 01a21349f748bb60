"""Shared fixtures on the pieces careconnect_ws.testing ships (its pytest plugin's session PostgreSQL, the recording
@connections endpoint), with this suite's own settings (tests/support/runtime.py)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.management import set_management_api
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing.connections import ConnectionsRecorder
from careconnect_ws.testing.database import clear_tables
from careconnect_ws.testing.plugin import loopback_only_management_api
from tests.support.runtime import make_settings


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
def runtime(pg) -> Iterator[Settings]:
    """Empty tables, settings pointing at the test server, fresh per-container state."""
    clear_tables(pg.url)
    settings = make_settings(pg.url)
    set_settings(settings)
    db_module.reset_database()
    set_management_api(loopback_only_management_api())
    yield settings
    db_module.reset_database()
    set_settings(None)
    set_management_api(None)


@pytest.fixture
def connections_endpoint(runtime) -> Iterator[ConnectionsRecorder]:
    """A local @connections endpoint, set as AWS_WEBSOCKET_API_GATEWAY_ENDPOINT for the runtime."""
    endpoint = ConnectionsRecorder()
    set_settings(make_settings(runtime.database_url, management_endpoint=endpoint.url))
    yield endpoint
    endpoint.close()
