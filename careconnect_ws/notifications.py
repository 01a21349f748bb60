"""Notifications pushed to clients out of band, defined once each in a registry.

A notification type is a thin definition on top of :func:`careconnect_ws.publishing.publish`: its
name, the topic of the stream it publishes to (the subject is the user id), its optional fields and
how they become the payload. Every notification is therefore stored in the stream
``(topic, user_id)`` before it is pushed, and a client that was between connections gets it when it
resumes with ``since``. The Python API
(:func:`notify`), the direct-invoke event (``{"careconnect_ws": {"command": "notify",
"notification": NAME, "userId": ..., FIELD: ...}}``) and ``careconnect-ws notify NAME``
all read the same definition, so adding a type is one :func:`register_notification` call::

    from careconnect_ws.notifications import Field, NotificationType, register_notification
    register_notification(NotificationType(
        name="care-plan-updated", topic="care-plan", description="Tell a user their care plan changed.",
        fields=(Field("plan", "the plan's id", required=True),),
        payload=lambda user_id, fields, at: {"type": "care-plan", "userId": user_id, "plan": fields["plan"]},
    ))

Revocation is :mod:`careconnect_ws.revocation` (its functions lived here until 0.2; the old names warn).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .catalogue import Catalogue
from .errors import InvalidRequest
from .publishing import Published, publish
from .services import Services
from .text import check_user_id, is_bounded_text
from .topics import EMAIL_VERIFICATION

logger = logging.getLogger(__name__)

MAX_NOTIFICATION_FIELD_CHARS = 1024
"""A notification field a backend sends (not a client's message field: ``routing.MAX_FIELD_CHARS``)."""


class InvalidNotification(InvalidRequest, ValueError):
    """The request names an unknown type or a field is missing or malformed; the message says which."""


@dataclass(frozen=True)
class Field:
    """An optional (or required) string field of a notification."""

    name: str
    help: str
    required: bool = False
    max_chars: int = MAX_NOTIFICATION_FIELD_CHARS


Payload = Callable[[str, Mapping[str, str], datetime], dict[str, Any]]


@dataclass(frozen=True)
class NotificationType:
    name: str
    topic: str
    """The stream is ``(topic, user_id)``: its subscribers receive it (the topic's rule decides who may)."""
    payload: Payload
    """``(user_id, fields, at) -> dict``: the JSON message each connection receives."""
    description: str = ""
    fields: tuple[Field, ...] = ()

    def validate(self, user_id: Any, fields: Mapping[str, Any]) -> dict[str, str]:
        """The fields this type takes, checked; raises :class:`InvalidNotification` naming the field."""
        check_user_id(user_id, InvalidNotification)
        checked: dict[str, str] = {}
        for field in self.fields:
            value = fields.get(field.name)
            if value is None:
                if field.required:
                    raise InvalidNotification("missing_field", f"{self.name} needs '{field.name}' ({field.help})")
                continue
            if not is_bounded_text(value, field.max_chars):
                raise InvalidNotification("invalid_field", f"'{field.name}' must be text of 1 to {field.max_chars} characters")
            checked[field.name] = value
        return checked


NOTIFICATIONS: Catalogue[NotificationType] = Catalogue("notification")
"""Every notification type this deployment knows, by name."""


def register_notification(kind: NotificationType) -> NotificationType:
    return NOTIFICATIONS.register(kind.name, kind)


def notification_types() -> list[NotificationType]:
    return list(NOTIFICATIONS)


def get_notification(name: Any) -> NotificationType:
    kind = NOTIFICATIONS.get(name)
    if kind is None:
        raise InvalidNotification("unknown_notification", f"notification must be one of: {', '.join(NOTIFICATIONS.names())}")
    return kind


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def notify(
    name: str,
    user_id: str,
    *,
    at: datetime | None = None,
    services: Services | None = None,
    **fields: Any,
) -> Published:
    """Publish notification ``name`` to the stream ``(topic, user_id)``: stored, then pushed to its subscribers."""
    kind = get_notification(name)
    checked = kind.validate(user_id, fields)
    return publish(kind.topic, user_id, kind.payload(user_id, checked, at or datetime.now(UTC)), services=services)


# -- the built-in types ------------------------------------------------------------------


def _email_verified_payload(user_id: str, fields: Mapping[str, str], at: datetime) -> dict[str, Any]:
    payload = {"type": EMAIL_VERIFICATION, "status": "verified", "userId": user_id, "verifiedAt": _iso(at)}
    if fields.get("email"):
        payload["email"] = fields["email"]
    return payload


EMAIL_VERIFIED = register_notification(
    NotificationType(
        name="email-verified",
        topic=EMAIL_VERIFICATION,
        description="tell a user's connections their email is verified",
        fields=(Field("email", "the verified address, included in the message", max_chars=320),),
        payload=_email_verified_payload,
    )
)


def email_verified_payload(user_id: str, *, email: str | None = None, verified_at: datetime | None = None) -> dict[str, Any]:
    return _email_verified_payload(user_id, {"email": email} if email else {}, verified_at or datetime.now(UTC))


def notify_email_verified(
    user_id: str,
    *,
    email: str | None = None,
    verified_at: datetime | None = None,
    services: Services | None = None,
) -> Published:
    """Publish ``{"type": "email-verification", "status": "verified", ...}`` to ``user_id``'s stream."""
    return notify(EMAIL_VERIFIED.name, user_id, at=verified_at, services=services, email=email)


# -- moved ---------------------------------------------------------------------------------

_MOVED = {"disconnect_user", "revoke_token", "restore_user"}


def __getattr__(name: str) -> Any:
    """``disconnect_user``, ``revoke_token`` and ``restore_user`` moved to :mod:`careconnect_ws.revocation`: the
    old names work for one release, warn, and still raise :class:`InvalidNotification` as they did."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import functools

    from . import revocation
    from .deprecations import moved

    new = getattr(revocation, name)
    moved(f"careconnect_ws.notifications.{name}", f"careconnect_ws.revocation.{name}")

    @functools.wraps(new)
    def old(*args: Any, **kwargs: Any) -> Any:
        try:
            return new(*args, **kwargs)
        except InvalidRequest as err:
            raise InvalidNotification(err.code, str(err), status=err.status) from None

    return old
