"""careconnect-ws's pytest plugin (entry point ``pytest11``): fixtures for testing your extensions against real
parts. Imports nothing heavy until a fixture is used, so having the package installed never slows pytest down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ..contract import LOOPBACK_HOSTS


@pytest.fixture(scope="session")
def careconnect_database() -> Iterator[Any]:
    """A migrated PostgreSQL for the whole session (``.url``)."""
    from .database import throwaway_database

    with throwaway_database() as server:
        yield server


@pytest.fixture
def careconnect_runtime(careconnect_database: Any) -> Iterator[Any]:
    """Empty tables, and the runtime (``lambda_handler``, ``publish``, ...) pointed at ``careconnect_database`` with
    :data:`~careconnect_ws.testing.TEST_JWT_SECRET` as its token key; ``@connections`` calls can only reach this
    machine. The modules ``WS_EXTENSIONS`` names are imported first, as the function would. Yields the ``Settings``
    (replace them with ``careconnect_ws.settings.set_settings``)."""
    from .. import db as db_module
    from ..extensions import extension_names, load_extensions
    from ..management import set_management_api
    from ..settings import Settings, set_settings
    from . import TEST_JWT_SECRET
    from .database import clear_tables

    # WS_EXTENSIONS: the same topics, actions and notification types as the function, serve and the CLI.
    extensions = load_extensions()
    clear_tables(careconnect_database.url)
    settings = Settings(
        database_url=careconnect_database.url,
        jwt_secret=TEST_JWT_SECRET,
        region="us-east-1",
        extensions=extension_names() or extensions,
    )
    set_settings(settings)
    db_module.reset_database()
    set_management_api(loopback_only_management_api())
    yield settings
    db_module.reset_database()
    set_settings(None)
    set_management_api(None)


@pytest.fixture
def careconnect_connections(careconnect_runtime: Any) -> Iterator[Any]:
    """A :class:`~careconnect_ws.testing.ConnectionsRecorder` the runtime sends to (as the stack output
    ``websocket_management_endpoint``); put ids in ``.open`` to have them connected."""
    from dataclasses import replace

    from ..settings import set_settings
    from .connections import ConnectionsRecorder

    recorder = ConnectionsRecorder()
    set_settings(replace(careconnect_runtime, management_endpoint=recorder.url))
    yield recorder
    recorder.close()


@pytest.fixture
def careconnect_gateway(careconnect_runtime: Any) -> Iterator[Any]:
    """The local gateway running the built-in handler on a free port, the runtime sending through it."""
    from dataclasses import replace

    from ..local.config import GatewayConfig
    from ..settings import set_settings
    from .gateway import RunningGateway

    gateway = RunningGateway(GatewayConfig(port=0))
    set_settings(replace(careconnect_runtime, management_endpoint=gateway.management_url))
    yield gateway
    gateway.stop()


def loopback_only_management_api(**kwargs: Any) -> Any:
    """The real ``@connections`` client, refusing any endpoint off this machine: tests never call AWS."""
    from urllib.parse import urlparse

    from ..management import ManagementApi

    real = ManagementApi(**kwargs)

    def factory(endpoint: str) -> Any:
        host = urlparse(endpoint).hostname
        if host not in LOOPBACK_HOSTS:
            raise AssertionError(
                f"a test tried to reach {endpoint}: use the careconnect_connections or "
                "careconnect_gateway fixture (a local @connections endpoint)"
            )
        return real._default_client(endpoint)

    return ManagementApi(client_factory=factory, **kwargs)
