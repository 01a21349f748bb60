"""Out-of-band delivery: one message to many connections, concurrently, never stopped by one failure."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .errors import ConnectionGone, ManagementApiError
from .logs import exception_summary
from .management import ManagementApi, encode_payload
from .registry import Recipient, Registry

logger = logging.getLogger(__name__)
MAX_WORKERS = 16


@dataclass
class DeliveryResult:
    """Who got the message, who was gone (and is now deactivated), who failed and why."""

    delivered: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def reached(self) -> int:
        return len(self.delivered)

    def as_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "gone": self.gone, "failed": self.failed, "reached": self.reached}


class Delivery:
    def __init__(self, registry: Registry, management: ManagementApi, *, endpoint_override: str | None = None) -> None:
        self.registry = registry
        self.management = management
        self.endpoint_override = endpoint_override

    def endpoint_for(self, recipient: Recipient) -> str:
        return self.endpoint_override or recipient.callback_url

    def broadcast(self, recipients: Sequence[Recipient], payload: Any, *, max_workers: int = MAX_WORKERS) -> DeliveryResult:
        data = encode_payload(payload)  # encoded once, not per recipient
        result = DeliveryResult()

        def send(recipient: Recipient) -> tuple[str, str | None, str | None]:
            try:
                self.management.send(self.endpoint_for(recipient), recipient.connection_id, data)
                return recipient.connection_id, "delivered", None
            except ConnectionGone:
                return recipient.connection_id, "gone", None
            except ManagementApiError as err:
                return recipient.connection_id, "failed", str(err)
            except Exception as err:  # one recipient's surprise must not stop the others
                logger.error(
                    "unexpected error sending to a connection",
                    extra={"connectionId": recipient.connection_id, **exception_summary(err)},
                )
                return recipient.connection_id, "failed", f"{type(err).__name__}: {err}"

        if len(recipients) <= 1:
            outcomes = [send(r) for r in recipients]
        else:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(recipients))) as pool:
                outcomes = list(pool.map(send, recipients))
        for connection_id, outcome, error in outcomes:
            if outcome == "delivered":
                result.delivered.append(connection_id)
            elif outcome == "gone":
                result.gone.append(connection_id)
            else:
                result.failed[connection_id] = error or "failed"
        if result.gone:
            # One statement for all of them: 410 means the client is not coming back on this id.
            self.registry.deactivate_many(result.gone, reason="gone", status_code=410)
        return result

    def close_all(self, recipients: Sequence[Recipient], *, max_workers: int = MAX_WORKERS) -> DeliveryResult:
        """Close connections through ``@connections`` (API Gateway then sends ``$disconnect``), concurrently.
        A connection already gone counts as closed; a refusal is recorded, never raised."""
        result = DeliveryResult()

        def close(recipient: Recipient) -> tuple[str, str | None]:
            try:
                self.management.close(self.endpoint_for(recipient), recipient.connection_id)
                return recipient.connection_id, None
            except ManagementApiError as err:
                return recipient.connection_id, str(err)

        if recipients:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(recipients))) as pool:
                for connection_id, error in pool.map(close, recipients):
                    if error is None:
                        result.delivered.append(connection_id)
                    else:
                        result.failed[connection_id] = error
        return result
