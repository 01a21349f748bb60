"""End-to-end fixtures: the local gateway on a real port, in a thread with its own event loop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from careconnect_ws.limits import LIMITS
from careconnect_ws.local.config import GatewayConfig
from careconnect_ws.settings import set_settings
from careconnect_ws.testing.gateway import RunningGateway
from tests.support.runtime import make_settings


@pytest.fixture
def start_gateway(careconnect_runtime) -> Iterator[Callable[..., RunningGateway]]:
    """Start a gateway with the given config changes; the runtime points at its @connections."""
    started: list[RunningGateway] = []

    def start(handler=None, **changes: Any) -> RunningGateway:
        limits = changes.pop("limits", LIMITS)
        config = replace(GatewayConfig(port=0, limits=limits), **changes)
        gw = RunningGateway(config, handler)
        started.append(gw)
        set_settings(make_settings(careconnect_runtime.database_url, management_endpoint=gw.management_url))
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(start_gateway) -> RunningGateway:
    return start_gateway()
