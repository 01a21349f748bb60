"""Notifications pushed to clients out of band. The Python API, the direct-invoke event
and ``careconnect-ws notify`` all go through :func:`notify_email_verified`.

    from careconnect_ws.notifications import notify_email_verified
    result = notify_email_verified("user-123")
    print(result.reached)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from .delivery import DeliveryResult
from .services import Services, get_services
from .topics import EMAIL_VERIFICATION

logger = logging.getLogger(__name__)


def email_verified_payload(user_id: str, *, email: str | None = None, verified_at: datetime | None = None) -> dict:
    verified_at = verified_at or datetime.now(UTC)
    payload = {
        "type": EMAIL_VERIFICATION,
        "status": "verified",
        "userId": user_id,
        "verifiedAt": verified_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    if email:
        payload["email"] = email
    return payload


def notify_email_verified(
    user_id: str,
    *,
    email: str | None = None,
    verified_at: datetime | None = None,
    services: Services | None = None,
) -> DeliveryResult:
    """Push ``{"type": "email-verification", "status": "verified", ...}`` to every active
    connection of ``user_id`` subscribed to ``email-verification``; returns who was reached."""
    if not isinstance(user_id, str) or not user_id or len(user_id) > 256:
        raise ValueError("user_id must be a non-empty string of at most 256 characters")
    services = services or get_services()
    recipients = services.registry.recipients(EMAIL_VERIFICATION, user_id, user_id=user_id)
    result = services.delivery.broadcast(recipients, email_verified_payload(user_id, email=email, verified_at=verified_at))
    logger.info(
        "notification sent",
        extra={"topic": EMAIL_VERIFICATION, "recipients": len(recipients), "reached": result.reached,
               "gone": len(result.gone), "failed": len(result.failed)},
    )
    return result
