"""Cleanup of the registry: ``$disconnect`` is best effort, so a periodic sweep is required.

One set-based statement deactivates connections past their TTL or idle beyond the
limit (returning them), the Management API optionally closes them, rows inactive
longer than the retention period are deleted, and so are published events older
than the stream retention (oldest first, in indexed batches).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .registry import Recipient
from .services import Services, get_services

logger = logging.getLogger(__name__)


@dataclass
class CleanupResult:
    deactivated: dict[str, str] = field(default_factory=dict)
    """connection id -> reason (``ttl-expired`` or ``idle-timeout``)."""
    closed: int = 0
    close_failed: int = 0
    purged: int = 0
    events_purged: int = 0
    swept: int = 0
    """Expired revoked-token ids and stale rate counters deleted."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "deactivated": len(self.deactivated),
            "ttlExpired": sum(1 for r in self.deactivated.values() if r == "ttl-expired"),
            "idleTimeout": sum(1 for r in self.deactivated.values() if r == "idle-timeout"),
            "closed": self.closed,
            "closeFailed": self.close_failed,
            "purged": self.purged,
            "eventsPurged": self.events_purged,
            "swept": self.swept,
        }


def run_cleanup(*, close_connections: bool = True, purge: bool = True, services: Services | None = None) -> CleanupResult:
    services = services or get_services()
    settings = services.settings
    result = CleanupResult()
    expired = services.registry.expire(idle_seconds=settings.idle_timeout_seconds)
    result.deactivated = {e.connection_id: e.disconnect_reason for e in expired}
    if close_connections and expired:
        closed = services.delivery.close_all([Recipient(e.connection_id, e.callback_url) for e in expired])
        for connection_id, error in closed.failed.items():
            logger.warning("could not close an expired connection", extra={"connectionId": connection_id, "error": error})
        result.closed, result.close_failed = closed.reached, len(closed.failed)
    if purge:
        result.purged = services.registry.purge(older_than_days=settings.inactive_retention_days)
        result.events_purged = services.streams.purge(older_than_seconds=settings.stream_retention_seconds)
        result.swept = services.registry.sweep()
    logger.info("cleanup finished", extra=result.as_dict())
    return result
