"""End-to-end fixtures: the local gateway on a real port, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from careconnect_ws.limits import LIMITS
from careconnect_ws.local.config import GatewayConfig
from careconnect_ws.local.gateway import LocalGateway
from careconnect_ws.settings import set_settings
from tests.support.runtime import make_settings


class RunningGateway:
    def __init__(self, config: GatewayConfig, handler=None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = self.call(self._make(config, handler))
        self.call(self.gateway.start())

    async def _make(self, config, handler):
        return LocalGateway(config, handler)

    def call(self, coro, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.gateway.websocket_url

    @property
    def management_url(self) -> str:
        return self.gateway.management_url

    def open_connection_ids(self) -> list[str]:
        return list(self.gateway.connections)

    def stop(self) -> None:
        try:
            self.call(self.gateway.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def start_gateway(runtime) -> Iterator[Callable[..., RunningGateway]]:
    """Start a gateway with the given config changes; the runtime points at its @connections."""
    started: list[RunningGateway] = []

    def start(handler=None, **changes: Any) -> RunningGateway:
        limits = changes.pop("limits", LIMITS)
        config = replace(GatewayConfig(port=0, limits=limits), **changes)
        gw = RunningGateway(config, handler)
        started.append(gw)
        set_settings(make_settings(runtime.database_url, management_endpoint=gw.management_url))
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture
def gateway(start_gateway) -> RunningGateway:
    return start_gateway()
