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
from dataclasses import dataclass, field
from typing import Any

from .db import Database
from .limits import LIMITS
from .registry import Recipient

STREAM_KEY = "stream"
SEQ_KEY = "seq"
RESERVED_KEYS = frozenset({STREAM_KEY, SEQ_KEY})
"""Every pushed event carries these at the top level, beside the payload's own keys."""

REPLY_RESERVE_BYTES = 2048
"""Room left in a 128 KB message for the reply around replayed events (type, topic, subject, id)."""

PAGE_BYTES = LIMITS.max_message_bytes - REPLY_RESERVE_BYTES
"""Room for events in one replay reply."""

MAX_EVENT_BYTES = PAGE_BYTES
"""The largest event a publisher may store: it must fit in one replay reply, alone."""

REPLAY_MAX_EVENTS = 1000
"""At most this many events per replay reply (and at most 128 KB): a long gap takes several requests,
so none can outlast the Lambda timeout. The reply says ``more`` and the client continues."""

# Both run as PL/pgSQL functions (migration 0003): each takes the stream's advisory lock first, so every
# statement after it reads a snapshot taken after the lock (see the module docstring), and their plans are
# kept for the session. One statement each, so both work with prepared statements and behind poolers.
_APPEND = "SELECT * FROM careconnect_ws_publish(%(topic)s::text, %(subject)s::text, %(payload)s::text)"
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
        """What the client receives: the payload's keys with ``stream`` and ``seq`` beside them."""
        return {STREAM_KEY: {"topic": self.topic, "subject": self.subject}, SEQ_KEY: self.seq, **json.loads(self.payload)}

    def encoded(self) -> bytes:
        """The same message as :meth:`message`, built from the stored text without parsing it again."""
        head = json.dumps({STREAM_KEY: {"topic": self.topic, "subject": self.subject}, SEQ_KEY: self.seq},
                          separators=(",", ":"), ensure_ascii=False)
        rest = self.payload[1:].strip()
        return (head[:-1] + ("}" if rest == "}" else "," + rest)).encode("utf-8")


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

    def append(self, topic: str, subject: str, payload: str) -> Appended:
        """Store ``payload`` (compact JSON object text) as the stream's next event; who to push it to."""
        rows = self.db.execute(_APPEND, {"topic": topic, "subject": subject, "payload": payload}).fetchall()
        seq = rows[0][0]
        return Appended(seq, [Recipient(cid, url) for _, cid, url in rows if cid is not None])

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
            {"id": connection_id, "topic": topic, "subject": subject, "max": max_subscriptions,
             "since": since, "max_events": max_events, "max_bytes": max_bytes, "overhead": overhead},
        ).fetchone()
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
