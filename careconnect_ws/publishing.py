"""Publishing: store an event in its stream, then push it to the stream's subscribers.

``careconnect_ws.publish(topic, subject, payload)`` from Python, the invoke event
``{"careconnect_ws": {"command": "publish", "topic": ..., "subject": ..., "payload": {...}}}`` and
``careconnect-ws publish --topic T --subject S --payload JSON`` all end here. Who may publish is the
backend (IAM to invoke the function, or access to the database); who may read is the topic's
``may_subscribe`` rule, checked when a client subscribes, again on every replay, and again for live pushes
once its last answer is older than ``WS_RULE_RECHECK_SECONDS`` (see :mod:`careconnect_ws.access`).

The event is committed before any push starts, in the same round trip that finds the recipients,
so a push that fails (a client between connections, a 5xx) loses nothing: the client resumes from
its last sequence. Only an unknown topic, a malformed subject or payload is refused, and then
nothing is stored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .access import recheck
from .delivery import DeliveryResult
from .errors import InvalidRequest
from .services import Services, get_services
from .streams import MAX_EVENT_BYTES, MAX_PAYLOAD_DEPTH, MAX_STREAM_NAME_CHARS, RESERVED_KEYS, StreamEvent, json_depth
from .text import is_bounded_text, is_storable_text
from .topics import Topic, get_topic, topic_names

logger = logging.getLogger(__name__)

MAX_SUBJECT_CHARS = MAX_STREAM_NAME_CHARS
"""A subject is often a user id (the default a client subscribes to), so it has the same bound."""

_WIDEST_SEQ = 2**63 - 1
"""The longest sequence number a stream can reach (bigint): an event's size is measured with it."""


@dataclass
class Published(DeliveryResult):
    """The stored event's stream and sequence, and who its push reached."""

    topic: str = ""
    subject: str = ""
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "subject": self.subject, "seq": self.seq, **super().as_dict()}


def check_stream(topic: Any, subject: Any) -> tuple[Topic, str]:
    """A backend's ``(topic, subject)``, checked: a registered topic (returned, with its rule) and a storable
    subject."""
    registered = get_topic(topic)
    if registered is None:
        raise InvalidRequest("unknown_topic", f"'topic' must be a registered topic: {', '.join(topic_names())}", status=404)
    if not is_bounded_text(subject, MAX_SUBJECT_CHARS):
        raise InvalidRequest("invalid_field", f"'subject' must be text of 1 to {MAX_SUBJECT_CHARS} characters")
    return registered, subject


def payload_text(payload: Any) -> str:
    """The payload as compact JSON object text, the form it is stored and pushed in; refused with a
    reason when it is not a JSON object, uses a reserved key, or would not fit in one message."""
    if isinstance(payload, str | bytes):
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError):
            raise InvalidRequest("invalid_payload", "'payload' must be a JSON object") from None
    if not isinstance(payload, Mapping):
        raise InvalidRequest("invalid_payload", '\'payload\' must be a JSON object, e.g. {"type": "care-plan"}')
    if json_depth(payload) > MAX_PAYLOAD_DEPTH:
        raise InvalidRequest(
            "payload_too_deep", f"'payload' nests objects and arrays more than {MAX_PAYLOAD_DEPTH} levels deep: flatten it"
        )
    reserved = sorted(RESERVED_KEYS.intersection(payload))
    if reserved:
        raise InvalidRequest(
            "reserved_field", f"'payload' may not use {', '.join(map(repr, reserved))}: every event carries its own"
        )
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        raise InvalidRequest("invalid_payload", f"'payload' is not JSON-serializable ({type(err).__name__})") from None
    if not is_storable_text(text):
        raise InvalidRequest("invalid_payload", "'payload' holds text that cannot be stored (NUL or lone surrogates)")
    return text


def check_event_size(topic: str, subject: str, text: str) -> None:
    """Refuse an event that, as pushed (``stream`` and the widest ``seq`` included), would not fit in one replay
    reply: it could never be replayed."""
    size = len(StreamEvent(topic, subject, _WIDEST_SEQ, text).encoded())
    if size > MAX_EVENT_BYTES:
        raise InvalidRequest(
            "payload_too_large",
            f"the event would be {size} bytes as sent, over {MAX_EVENT_BYTES}: an event must fit in "
            "one 128 KB message with its stream and sequence",
            status=413,
        )


def publish(topic: str, subject: str, payload: Any, *, services: Services | None = None) -> Published:
    """Store ``payload`` as the next event of stream ``(topic, subject)`` and push it to its subscribers.

    Returns the event's sequence and who was reached. Raises :class:`~careconnect_ws.errors.InvalidRequest`
    (nothing stored) for an unknown topic or a malformed subject or payload, and
    :class:`~careconnect_ws.errors.DatabaseUnavailable` when the event could not be stored.
    """
    rule, subject = check_stream(topic, subject)
    topic = rule.name
    text = payload_text(payload)
    check_event_size(topic, subject, text)
    services = services or get_services()
    recheck_seconds = None if rule.rule_is_static else float(services.settings.rule_recheck_seconds)
    appended = services.streams.append(topic, subject, text, recheck_seconds=recheck_seconds)
    recipients = recheck(rule, subject, appended.recipients, services)
    event = StreamEvent(topic, subject, appended.seq, text)
    delivery = services.delivery.broadcast(recipients, event.encoded())
    result = Published(delivery.delivered, delivery.gone, delivery.failed, topic=topic, subject=subject, seq=appended.seq)
    logger.info(
        "published",
        extra={
            "topic": topic,
            "seq": appended.seq,
            "recipients": len(appended.recipients),
            "reached": result.reached,
            "gone": len(result.gone),
            "failed": len(result.failed),
        },
    )
    return result
