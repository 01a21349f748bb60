"""Durable streams in PostgreSQL: stored before pushed, gapless per stream, resumable with ``since``.

A stream is ``(topic, subject)``. :meth:`Streams.append` stores an event with the stream's next
sequence number and returns the connections subscribed to the stream, in one round trip.
:meth:`Streams.subscribe` records a subscription and reads what the client missed after ``since``,
in one round trip too.

Why nothing falls between replay and live delivery: both take a per-stream advisory lock first,
a publisher exclusively, a subscriber shared, in the same transaction as the statements that follow.
A publisher's recipient list is therefore read after every concurrent subscription committed (so it
includes them), and a subscriber's replay is read after every concurrent publish committed (so it
includes those events). An event published while a client resubscribes reaches it at least once;
twice at most, with the same sequence, which the client drops.

The sequence is gapless because the stream's counter row and the event are written by one
statement: both commit or neither does. Events are immutable and purged by age, oldest first; their
timestamps increase strictly within a stream, so a purge always removes a prefix of a stream, and a
``since`` that falls into a purged part is told ``resync_required`` instead of receiving a gap.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import class_row

from .db import Database
from .limits import LIMITS
from .registry import Recipient
from .text import MAX_USER_ID_CHARS

STREAM_KEY = "stream"
SEQ_KEY = "seq"
RESERVED_KEYS = frozenset({STREAM_KEY, SEQ_KEY})
"""Every pushed event carries these at the top level, beside the payload's own keys."""

MAX_STREAM_NAME_CHARS = MAX_USER_ID_CHARS
"""A topic or a subject is at most this many characters (a subject is often a user id: the same bound)."""

MAX_CORRELATION_ID_CHARS = 128
"""A client's request ``id``, echoed in the reply, is at most this many characters."""

_WORST_CHAR_BYTES = 6
"""The most bytes one character can take in a reply: a control character is escaped as ``\\u00XX``."""

REPLY_RESERVE_BYTES = 256 + _WORST_CHAR_BYTES * (2 * MAX_STREAM_NAME_CHARS + MAX_CORRELATION_ID_CHARS)
"""Room left in a 128 KB message for the reply around replayed events: its keys and numbers, the topic
and the subject (each at its widest), and the request's ``id``. An event is stored only when it fits in
what remains, *with* its own ``stream`` envelope, so a replay of one event never exceeds a message."""

PAGE_BYTES = LIMITS.max_message_bytes - REPLY_RESERVE_BYTES
"""Room for events in one replay reply."""

MAX_EVENT_BYTES = PAGE_BYTES
"""The largest event a publisher may store, as pushed (its ``stream`` and ``seq`` included): it must fit in
one replay reply, alone."""

MAX_PAYLOAD_DEPTH = 32
"""The deepest a payload may nest objects and arrays (the payload object itself is level 1). Every event
travels two levels deeper inside a replay reply, and every client parses it: 32 leaves room under every
JSON parser's recursion limit (CPython's stops near 1,000, browsers' far later) for any envelope."""

UNREADABLE_KEY = "unreadable"
"""A replayed event that cannot be sent as stored (stored before a bound existed) keeps its ``stream`` and
``seq``, so the client sees no gap, and carries this key with the reason instead of its payload."""

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth(value: Any) -> int:
    """How deep a parsed JSON value nests objects and arrays (a scalar: 0), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_PAYLOAD_DEPTH:
            return depth  # deep enough to refuse: no need to walk the rest
        pending.extend((child, depth + 1) for child in children)
    return deepest


def text_too_deep(text: str) -> bool:
    """True when JSON text nests deeper than :data:`MAX_PAYLOAD_DEPTH`, read without parsing it (brackets inside
    strings ignored; text with fewer brackets than the bound is not scanned at all)."""
    if text.count("{") + text.count("[") <= MAX_PAYLOAD_DEPTH:
        return False
    depth = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if match.group() in "{[" else -1
        if depth > MAX_PAYLOAD_DEPTH:
            return True
    return False


REPLAY_MAX_EVENTS = 1000
"""At most this many events per replay reply (and at most 128 KB): a long gap takes several requests,
so none can outlast the Lambda timeout. The reply says ``more`` and the client continues."""

# Both run as PL/pgSQL functions (migration 0003): each takes the stream's advisory lock first, so every
# statement after it reads a snapshot taken after the lock (see the module docstring), and their plans are
# kept for the session. One statement each, so both work with prepared statements and behind poolers.
_APPEND = (
    "SELECT * FROM careconnect_ws_publish(%(topic)s::text, %(subject)s::text, %(payload)s::text, %(recheck)s::double precision)"
)

# A publish's re-asked rule, settled in one statement: the subscriptions it still allows are checked now, the
# ones it refuses are gone (and so is every live push to them).
_SETTLE = """
WITH allowed AS (
    UPDATE websocket_subscriptions SET checked_at = now()
     WHERE connection_id = ANY(%(allowed)s::text[]) AND topic = %(topic)s AND subject = %(subject)s
), refused AS (
    DELETE FROM websocket_subscriptions
     WHERE connection_id = ANY(%(refused)s::text[]) AND topic = %(topic)s AND subject = %(subject)s
)
SELECT 1
"""

# Withdrawal: every subscription of the user's active connections to the topic (one subject, or all).
_WITHDRAW = """
DELETE FROM websocket_subscriptions s
 USING websocket_connections c
 WHERE c.user_id = %(user)s AND c.is_active AND s.connection_id = c.connection_id AND s.topic = %(topic)s
   AND (%(subject)s::text IS NULL OR s.subject = %(subject)s::text)
RETURNING s.connection_id, c.callback_url, s.subject
"""
_SUBSCRIBE = (
    "SELECT * FROM careconnect_ws_subscribe(%(id)s::text, %(topic)s::text, %(subject)s::text, %(max)s::int,"
    " %(since)s::bigint, %(max_events)s::int, %(max_bytes)s::bigint, %(overhead)s::int)"
)

# Oldest first, by the index: a purge, even one cut short by a timeout, removes a prefix of each stream.
PURGE_EVENTS = """
DELETE FROM websocket_events
 WHERE ctid = ANY (ARRAY(
    SELECT ctid FROM websocket_events
     WHERE published_at < now() - make_interval(secs => %s::double precision)
     ORDER BY published_at
     LIMIT %s))
"""


@dataclass(frozen=True)
class StreamEvent:
    """One stored event: its stream, its sequence and its payload as compact JSON text."""

    topic: str
    subject: str
    seq: int
    payload: str

    def message(self) -> dict[str, Any]:
        """What the client receives: the payload's keys with ``stream`` and ``seq`` beside them; for an event
        stored before its bounds existed (nested past :data:`MAX_PAYLOAD_DEPTH`, or not a JSON object), the
        ``stream`` and ``seq`` with :data:`UNREADABLE_KEY` saying why, so no replay fails and no gap opens."""
        head: dict[str, Any] = {STREAM_KEY: {"topic": self.topic, "subject": self.subject}, SEQ_KEY: self.seq}
        if text_too_deep(self.payload):
            return {**head, UNREADABLE_KEY: "payload_too_deep"}
        try:
            payload = json.loads(self.payload)
        except (ValueError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            return {**head, UNREADABLE_KEY: "payload_not_json"}
        return {**head, **payload}

    def encoded(self) -> bytes:
        """The same message as :meth:`message`, built from the stored text without parsing it again."""
        head = json.dumps(
            {STREAM_KEY: {"topic": self.topic, "subject": self.subject}, SEQ_KEY: self.seq},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        rest = self.payload[1:].strip()
        return (head[:-1] + ("}" if rest == "}" else "," + rest)).encode("utf-8")


@dataclass(frozen=True)
class Withdrawn:
    """A subscription withdrawal ended: the connection (to tell it) and the stream's subject."""

    connection_id: str
    callback_url: str
    subject: str


@dataclass(frozen=True)
class Appended:
    """A stored event's sequence and the connections subscribed to its stream when it was stored."""

    seq: int
    recipients: list[Recipient]


class Subscribed(enum.Enum):
    YES = "subscribed"
    NOT_ACTIVE = "not_active"
    LIMIT_REACHED = "limit_reached"


@dataclass(frozen=True)
class Subscription:
    """What :meth:`Streams.subscribe` found: the outcome, where the stream stands, and the replay."""

    outcome: Subscribed
    head: int
    """The stream's last sequence (0: nothing published yet)."""
    oldest: int | None
    """The oldest retained sequence (None: nothing retained)."""
    since: int | None = None
    """Where the replay starts (after this sequence); None when no replay was asked for."""
    events: list[StreamEvent] = field(default_factory=list)
    resync_required: bool = False
    """``since`` falls before retention (or after the head): the client must reload its state."""

    @property
    def more(self) -> bool:
        """More events are waiting after this replay page: ask again from the last one."""
        return bool(self.events) and self.events[-1].seq < self.head


def replay_position(since: int, head: int, oldest: int | None) -> int | None:
    """Where a replay asked for ``since`` starts, or None when it cannot (resync required).

    ``0`` means "from the oldest retained"; any other ``since`` must lie within retention.
    """
    if since > head:
        return None  # the client holds more than exists: another database, or a reset
    if since == 0:
        return head if oldest is None else oldest - 1
    if since == head:
        return since
    if oldest is None or oldest > since + 1:
        return None  # what follows `since` has been purged
    return since


class Streams:
    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, topic: str, subject: str, payload: str, *, recheck_seconds: float | None = None) -> Appended:
        """Store ``payload`` (compact JSON object text) as the stream's next event; who to push it to.

        With ``recheck_seconds``, each recipient whose subscription the topic's rule last allowed longer ago
        than that is marked ``recheck_due`` (see :meth:`settle`)."""
        rows = self.db.execute(
            _APPEND, {"topic": topic, "subject": subject, "payload": payload, "recheck": recheck_seconds}
        ).fetchall()
        seq = rows[0][0]
        return Appended(seq, [Recipient(cid, url, user, bool(due)) for _, cid, url, user, due in rows if cid is not None])

    def settle(self, topic: str, subject: str, *, allowed: Sequence[str], refused: Sequence[str]) -> None:
        """Record a re-asked rule's answers for the stream's subscriptions: ``allowed`` connections are checked
        as of now, ``refused`` ones lose the subscription. One round trip."""
        if allowed or refused:
            self.db.execute(_SETTLE, {"topic": topic, "subject": subject, "allowed": list(allowed), "refused": list(refused)})

    def withdraw(self, user_id: str, topic: str, subject: str | None = None) -> list[Withdrawn]:
        """End the subscriptions of ``user_id``'s active connections to ``topic`` (to one ``subject``, or to
        all of the topic's streams), at once: no later publish pushes to them. Returns what was ended."""
        return self.db.execute(
            _WITHDRAW, {"user": user_id, "topic": topic, "subject": subject}, row_factory=class_row(Withdrawn)
        ).fetchall()

    def subscribe(
        self,
        connection_id: str,
        topic: str,
        subject: str,
        *,
        since: int | None = None,
        max_subscriptions: int = 0,
        max_events: int = REPLAY_MAX_EVENTS,
        max_bytes: int = PAGE_BYTES,
    ) -> Subscription:
        """Subscribe an active connection (idempotent) and, with ``since``, read the events after it.

        The replay is at most ``max_events`` events and ``max_bytes`` of messages (always at least one
        event, which publishing keeps within one message).
        """
        overhead = len(StreamEvent(topic, subject, 0, "{}").encoded()) + 16  # the envelope, a longer seq, a comma
        row = self.db.execute(
            _SUBSCRIBE,
            {
                "id": connection_id,
                "topic": topic,
                "subject": subject,
                "max": max_subscriptions,
                "since": since,
                "max_events": max_events,
                "max_bytes": max_bytes,
                "overhead": overhead,
            },
        ).fetchone()
        assert row is not None  # the function always answers one row
        active, already, inserted, head, oldest, seqs, payloads = row
        if not active:
            return Subscription(Subscribed.NOT_ACTIVE, head, oldest)
        outcome = Subscribed.YES if already or inserted else Subscribed.LIMIT_REACHED
        if since is None or outcome is not Subscribed.YES:
            return Subscription(outcome, head, oldest)
        start = replay_position(since, head, oldest)
        events = [StreamEvent(topic, subject, s, p) for s, p in zip(seqs or (), payloads or (), strict=True)]
        if start is None or (events and events[0].seq != start + 1) or not _contiguous(events):
            return Subscription(outcome, head, oldest, since, resync_required=True)
        return Subscription(outcome, head, oldest, start, events)

    def unsubscribe(self, connection_id: str, topic: str, subject: str) -> bool:
        cur = self.db.execute(
            "DELETE FROM websocket_subscriptions WHERE connection_id = %s AND topic = %s AND subject = %s",
            [connection_id, topic, subject],
        )
        return cur.rowcount == 1

    def purge(self, *, older_than_seconds: int, batch: int = 50_000) -> int:
        """Delete events published longer ago than retention, oldest first, in batches (each its own
        statement, so a backlog never outlasts the statement timeout)."""
        purged = 0
        while True:
            deleted = self.db.execute(PURGE_EVENTS, [older_than_seconds, batch]).rowcount
            purged += deleted
            if deleted < batch:
                return purged


def _contiguous(events: list[StreamEvent]) -> bool:
    return all(b.seq == a.seq + 1 for a, b in zip(events, events[1:], strict=False))
