"""The local gateway (``careconnect-ws serve``) on a free port, in a thread with its own event loop, for tests
that connect real WebSocket clients."""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class RunningGateway:
    """``RunningGateway(GatewayConfig(port=0), handler)``: started at once; ``.url`` for clients,
    ``.management_url`` for ``@connections``; ``stop()`` when done."""

    def __init__(self, config: Any, handler: Any = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway = self.call(self._make(config, handler))
        self.call(self.gateway.start())

    async def _make(self, config: Any, handler: Any) -> Any:
        from ..local.gateway import LocalGateway

        return LocalGateway(config, handler)

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return str(self.gateway.websocket_url)

    @property
    def management_url(self) -> str:
        return str(self.gateway.management_url)

    def open_connection_ids(self) -> list[str]:
        return list(self.gateway.connections)

    def stop(self) -> None:
        try:
            self.call(self.gateway.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
