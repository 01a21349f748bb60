"""Message routing for ``$default``: ``{"action": ...}`` dispatched to registered actions.

An action is a function ``(MessageContext) -> dict`` whose return value is the reply
(the route response carries it back to the client). Client mistakes raise
:class:`~careconnect_ws.errors.MessageError`, which becomes ``{"type": "error", "code": ..., "message": ...}``
with a stable ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import Catalogue
from .errors import MessageError
from .limits import LIMITS
from .registry import ActiveConnection, Registry
from .settings import Settings
from .streams import MAX_CORRELATION_ID_CHARS, MAX_STREAM_NAME_CHARS, Streams, Subscribed, Subscription
from .text import is_bounded_text, is_storable_text
from .topics import get_topic, topic_names

MAX_FIELD_CHARS = MAX_STREAM_NAME_CHARS


ClientError = MessageError
"""The old name of :class:`~careconnect_ws.errors.MessageError` (kept for actions written against it); raise
``MessageError`` in new code: ``ClientError`` is also botocore's name for another thing."""


@dataclass(frozen=True)
class MessageContext:
    connection: ActiveConnection
    message: Mapping[str, Any]
    registry: Registry
    streams: Streams
    settings: Settings = field(default_factory=Settings)

    @property
    def user_id(self) -> str:
        return self.connection.user_id

    @property
    def correlation_id(self) -> str | None:
        """The client's request ``id``, echoed in the reply (None when absent or unusable)."""
        return correlation_id(self.message)

    def string(self, name: str, *, required: bool = True, default: str | None = None) -> str | None:
        """A string field, checked: right type, not empty, not too long, storable as UTF-8 text."""
        value = self.message.get(name)
        if value is None:
            if required:
                raise MessageError("missing_field", f"'{name}' is required")
            return default
        if not isinstance(value, str):
            raise MessageError("invalid_field", f"'{name}' must be a string")
        if not value or len(value) > MAX_FIELD_CHARS:
            raise MessageError("invalid_field", f"'{name}' must be 1 to {MAX_FIELD_CHARS} characters")
        if not is_storable_text(value):
            raise MessageError("invalid_field", f"'{name}' contains characters that cannot be stored (NUL or lone surrogates)")
        return value

    def sequence(self, name: str) -> int | None:
        """An optional stream position: a whole number from 0 (``0``: from the oldest retained event)."""
        value = self.message.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQUENCE:
            raise MessageError("invalid_field", f"'{name}' must be a whole number from 0 (the last sequence you hold)")
        return value


MAX_SEQUENCE = 2**63 - 1
"""PostgreSQL's bigint: no stream position is larger."""

Action = Callable[[MessageContext], dict[str, Any]]


class Router:
    def __init__(self) -> None:
        self.actions: Catalogue[Action] = Catalogue("action")

    def action(self, name: str) -> Callable[[Action], Action]:
        """Register the decorated function for ``{"action": name}``; returns it unchanged."""

        def register(fn: Action) -> Action:
            return self.actions.register(name, fn)

        return register

    def names(self) -> list[str]:
        return self.actions.names()

    def log_name(self, action: Any) -> str | None:
        """What a log line may say about the client's ``action``: a known name, or ``unknown``."""
        if action is None:
            return None
        return action if isinstance(action, str) and action in self.actions else "unknown"

    def dispatch(self, ctx: MessageContext) -> dict[str, Any]:
        action = ctx.message.get("action")
        if action is None:
            raise MessageError("missing_field", '\'action\' is required, e.g. {"action": "ping"}')
        if not isinstance(action, str):
            raise MessageError("invalid_field", "'action' must be a string")
        fn = self.actions.get(action)
        if fn is None:
            shown = action[:64].encode("utf-8", "replace").decode("utf-8")
            raise MessageError("unknown_action", f"unknown action {shown!r}; known actions: {', '.join(self.names())}")
        return fn(ctx)


def parse_message(body: bytes | None, *, max_bytes: int = LIMITS.max_message_bytes) -> dict[str, Any]:
    """Bytes of a message -> a JSON object, or a MessageError with a stable code."""
    if body is None or not body.strip():
        raise MessageError("empty_message", 'send a JSON object such as {"action": "ping"}')
    if len(body) > max_bytes:
        raise MessageError("message_too_large", f"messages are limited to {max_bytes} bytes", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageError("invalid_encoding", "messages must be UTF-8 text") from None
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and the integer digit limit (a number over 4,300 digits).
        raise MessageError("invalid_json", "the message is not valid JSON (or holds a number too large to read)") from None
    if not isinstance(message, dict):
        raise MessageError("invalid_message", "the message must be a JSON object with an 'action'")
    return message


# -- the built-in actions ------------------------------------------------------------

router = Router()


@router.action("ping")
def ping(ctx: MessageContext) -> dict[str, Any]:
    return {"type": "pong"}


def correlation_id(message: Mapping[str, Any]) -> str | None:
    """A message's ``id`` when it can be echoed: text of 1 to 128 storable characters."""
    value = message.get("id")
    if is_bounded_text(value, MAX_CORRELATION_ID_CHARS):
        return value
    return None


def _stream_of(ctx: MessageContext) -> tuple[str, str]:
    """The message's ``topic`` and ``subject`` (default: the user's own), checked as text only."""
    topic = ctx.string("topic")
    subject = ctx.string("subject", required=False, default=ctx.user_id)
    assert topic is not None and subject is not None  # required, or defaulted
    return topic, subject


def _topic_and_subject(ctx: MessageContext) -> tuple[str, str]:
    """The stream a subscribe names, when the topic exists and its rule lets this user read it."""
    topic_name, subject = _stream_of(ctx)
    topic = get_topic(topic_name)
    if topic is None:
        raise MessageError("unknown_topic", f"unknown topic; known topics: {', '.join(topic_names())}", status=404)
    if not topic.allows(ctx.user_id, subject, ctx.connection.grants):
        raise MessageError("forbidden", f"this connection may not subscribe to {topic.name} for that subject", status=403)
    return topic.name, subject


@router.action("subscribe")
def subscribe(ctx: MessageContext) -> dict[str, Any]:
    """Subscribe to a stream; with ``since``, the reply carries the events after it (resume)."""
    topic, subject = _topic_and_subject(ctx)
    since = ctx.sequence("since")
    limit = ctx.settings.max_subscriptions_per_connection
    found = ctx.streams.subscribe(ctx.connection.connection_id, topic, subject, since=since, max_subscriptions=limit)
    if found.outcome is Subscribed.NOT_ACTIVE:
        raise MessageError("not_connected", "this connection is no longer registered: reconnect", status=410)
    if found.outcome is Subscribed.LIMIT_REACHED:
        raise MessageError(
            "too_many_subscriptions", f"a connection may hold {limit} subscriptions: unsubscribe from one first", status=429
        )
    return subscribed_reply(topic, subject, found, correlation=ctx.correlation_id)


def subscribed_reply(topic: str, subject: str, found: Subscription, *, correlation: str | None = None) -> dict[str, Any]:
    """``subscribed`` with the stream's position (and the replay, when ``since`` was given), or
    ``resync_required`` when what followed ``since`` is no longer retained. ``correlation`` is the ``id``
    the reply will carry: the page is measured as it is sent."""
    if found.resync_required:
        oldest = found.oldest if found.oldest is not None else found.head + 1
        return {"type": "resync_required", "topic": topic, "subject": subject, "oldest": oldest, "seq": found.head}
    reply: dict[str, Any] = {"type": "subscribed", "topic": topic, "subject": subject, "seq": found.head}
    if found.since is not None:
        events = [e.message() for e in found.events]
        reply.update(since=found.since, events=events, more=found.more)
        # The page was sized in SQL from the stored text; this guard keeps the reply, as sent (with its id),
        # within one message whatever the estimate missed (one event always fits: publishing sees to it).
        while len(events) > 1 and reply_bytes(reply, correlation) > LIMITS.max_message_bytes:
            del events[len(events) // 2 :]
            reply["more"] = True
    return reply


def reply_bytes(reply: Mapping[str, Any], correlation: str | None) -> int:
    """The size of ``reply`` on the wire, with the ``id`` the handler adds."""
    sent = {**reply, "id": correlation} if correlation is not None else reply
    return len(encode_reply(sent).encode("utf-8"))


def encode_reply(reply: Mapping[str, Any]) -> str:
    """A reply as the client receives it: compact JSON, text as is (the form events are stored in)."""
    return json.dumps(reply, separators=(",", ":"), ensure_ascii=False)


@router.action("unsubscribe")
def unsubscribe(ctx: MessageContext) -> dict[str, Any]:
    """Stop following a stream. It needs no permission (a rule that now refuses the user, or a topic no longer
    deployed, must not keep a subscription alive): it only ever removes this connection's own row."""
    topic, subject = _stream_of(ctx)
    removed = ctx.streams.unsubscribe(ctx.connection.connection_id, topic, subject)
    return {"type": "unsubscribed", "topic": topic, "subject": subject, "wasSubscribed": removed}
