"""The reference client: the whole client contract in asyncio, with ``websockets`` (the ``client`` extra).

::

    from careconnect_ws.client import Event, Resync, StreamClient

    async with StreamClient(url, token=fresh_token, streams=[("care-plan", "patient-17")]) as client:
        async for item in client:
            if isinstance(item, Resync):
                reload_state(item.topic, item.subject)   # what followed your position is past retention
            else:
                apply(item.topic, item.subject, item.seq, item.data)

What it does so the application does not have to:

* **Reconnects** whenever the connection ends (API Gateway's 2-hour limit, an idle close, a network
  change, a deploy), with exponential backoff and full jitter, asking ``token`` for a fresh token each
  time (a string, or a function, plain or async). Two refusals in a row with fresh tokens end it with
  :class:`AuthenticationFailed`; throttling (429) and 5xx are retried.
* **Resumes** every stream after a reconnect with ``since`` = the last sequence it delivered, follows
  ``more`` until the replay is complete, and yields :class:`Resync` when the server no longer holds
  what followed (the application reloads its state).
* **Delivers each event once, in order per stream**: duplicates (around a resume) are dropped and
  counted; an event that arrives ahead of a missing one is held until the gap is filled, and a gap
  that stays open for ``gap_timeout`` is filled by asking the server again.
* **Keeps the connection alive** with ``{"action": "ping"}`` every ``ping_interval`` seconds (API
  Gateway closes idle connections after 10 minutes).
* **Typed errors**: :class:`AuthenticationFailed`, :class:`SubscriptionRefused` (with the server's
  ``code``), raised from the iteration.

``positions`` (``{(topic, subject): seq}``) resumes from where a previous run stopped; ``0`` replays
everything retained; a stream without a position starts at the stream's current head.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .backoff import Backoff, Jitter

logger = logging.getLogger(__name__)

StreamKey = tuple[str, str]
TokenSource = str | Callable[[], str | Awaitable[str]]

# Server codes after which subscribing again later may work: retried, never raised.
_TRANSIENT = frozenset({"service_unavailable", "rate_limited", "not_connected"})


class StreamClientError(Exception):
    """Base of the errors the client raises from its iteration."""


class AuthenticationFailed(StreamClientError):
    """The gateway refused the handshake (401/403) twice in a row, with a fresh token each time."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"the connection was refused with HTTP {status}: check the token (its key, issuer and audience)")


class SubscriptionRefused(StreamClientError):
    """The server refused a subscription for good (``forbidden``, ``unknown_topic``, ``too_many_subscriptions``, ...)."""

    def __init__(self, stream: StreamKey, code: str, message: str) -> None:
        self.stream, self.code = stream, code
        super().__init__(f"{stream[0]}/{stream[1]}: {code}: {message}")


@dataclass(frozen=True)
class Event:
    """One event of a stream, delivered once and in order."""

    topic: str
    subject: str
    seq: int
    data: dict[str, Any]
    """The payload's own keys (without ``stream`` and ``seq``)."""


@dataclass(frozen=True)
class Resync:
    """The server no longer holds what followed this stream's position: reload the state it feeds.
    Events from ``seq + 1`` on follow as usual."""

    topic: str
    subject: str
    oldest: int
    seq: int


@dataclass
class _Stream:
    key: StreamKey
    position: int | None
    pending: dict[int, Event] = field(default_factory=dict)
    asking: bool = False
    """A subscribe is in flight: its reply will set or advance the position."""
    gap_since: float | None = None
    """When events started waiting behind a missing one."""
    retry_at: float | None = None
    """When to subscribe again after a transient refusal (the service was busy)."""

    def due(self, now: float, gap_timeout: float) -> bool:
        """Ask the server again: a gap stayed open too long, or a busy server's retry time came."""
        if self.asking:
            return False
        if self.retry_at is not None and now >= self.retry_at:
            return True
        return bool(self.pending) and self.gap_since is not None and now - self.gap_since >= gap_timeout


class StreamClient:
    def __init__(
        self,
        url: str,
        *,
        token: TokenSource,
        streams: Iterable[StreamKey],
        positions: Mapping[StreamKey, int] | None = None,
        ping_interval: float = 240.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 30.0,
        gap_timeout: float = 2.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self._token = token
        positions = dict(positions or {})
        self._streams = {key: _Stream(key, positions.get(key)) for key in streams}
        self.ping_interval = ping_interval
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.gap_timeout = gap_timeout
        self.open_timeout = open_timeout
        self.duplicates = 0
        """Events received more than once (around a resume) and dropped."""
        self.connections = 0
        """How many times a connection was opened (1 + reconnects)."""
        self.connection: Any = None
        """The current ``websockets`` connection, or None between connections."""
        self._queue: asyncio.Queue[Event | Resync | BaseException] = asyncio.Queue()
        self._task: asyncio.Task[Any] | None = None
        self._ids = 0
        self._asked: dict[str, StreamKey] = {}
        self._closed = False

    def positions(self) -> dict[StreamKey, int]:
        """The last sequence delivered per stream: persist it to resume a later run with ``positions``."""
        return {key: s.position for key, s in self._streams.items() if s.position is not None}

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> StreamClient:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def __aiter__(self) -> AsyncIterator[Event | Resync]:
        return self

    async def __anext__(self) -> Event | Resync:
        if self._task is None:
            raise RuntimeError("use 'async with StreamClient(...) as client' before iterating")
        item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    # -- connecting ----------------------------------------------------------------------------------

    async def _fresh_token(self) -> str:
        token = self._token() if callable(self._token) else self._token
        return await token if inspect.isawaitable(token) else token

    async def _run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        attempt = refusals = 0
        while not self._closed:
            try:
                token = await self._fresh_token()
                separator = "&" if "?" in self.url else "?"
                async with connect(
                    f"{self.url}{separator}token={quote(token)}", open_timeout=self.open_timeout, compression=None
                ) as ws:
                    self.connection = ws
                    self.connections += 1
                    refusals = 0
                    await self._session(ws)
                    attempt = 0
            except InvalidStatus as err:
                status = err.response.status_code
                if status in (401, 403):
                    refusals += 1
                    if refusals >= 2:
                        await self._queue.put(AuthenticationFailed(status))
                        return
            except SubscriptionRefused as err:
                await self._queue.put(err)
                return
            except asyncio.CancelledError:
                raise
            except Exception as err:  # a network error, a close, a timeout: reconnect
                logger.debug("connection ended: %s", type(err).__name__)
            finally:
                self.connection = None
            if self._closed:
                return
            delay = Backoff(self.backoff_initial, self.backoff_max, jitter=Jitter.FULL).delay(attempt + 1)
            attempt = min(attempt + 1, 16)
            await asyncio.sleep(delay)

    async def _session(self, ws: Any) -> None:
        for stream in self._streams.values():
            stream.pending.clear()
            stream.gap_since = stream.retry_at = None
            await self._ask(ws, stream)
        timers = asyncio.create_task(self._timers(ws))
        try:
            async for raw in ws:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                for stream in self._on_message(message):
                    await self._ask(ws, stream)
        finally:
            timers.cancel()

    async def _timers(self, ws: Any) -> None:
        """Keep-alive pings, and asking again for what a gap or a busy server left open."""
        tick = max(0.05, min(self.gap_timeout, self.ping_interval) / 4)
        last_ping = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - last_ping >= self.ping_interval:
                await ws.send('{"action":"ping"}')
                last_ping = now
            for stream in self._streams.values():
                if stream.due(now, self.gap_timeout):
                    await self._ask(ws, stream)

    async def _ask(self, ws: Any, stream: _Stream) -> None:
        """Subscribe, resuming after the stream's position when there is one."""
        self._ids += 1
        request_id = f"s{self._ids}"
        self._asked[request_id] = stream.key
        message: dict[str, Any] = {"action": "subscribe", "topic": stream.key[0], "subject": stream.key[1], "id": request_id}
        if stream.position is not None:
            message["since"] = stream.position
        stream.asking = True
        stream.retry_at = None
        await ws.send(json.dumps(message))

    # -- messages ---------------------------------------------------------------------------------------

    def _on_message(self, message: Any) -> list[_Stream]:
        """Handle one message; returns the streams to subscribe to again now (a replay with ``more``)."""
        if not isinstance(message, dict):
            return []
        if "stream" in message and "seq" in message:
            stream_info = message.get("stream") or {}
            topic, subject = stream_info.get("topic"), stream_info.get("subject")
            stream = self._streams.get((topic, subject)) if isinstance(topic, str) and isinstance(subject, str) else None
            if stream is not None:
                self._offer(stream, _event(message))
            return []
        request_id = message.get("id")
        key = self._asked.pop(request_id, None) if isinstance(request_id, str) else None
        stream = self._streams.get(key) if key else None
        if stream is None:
            return []  # a pong, or a reply to a request this client no longer tracks
        kind = message.get("type")
        stream.asking = False
        if kind == "subscribed":
            return [stream] if self._on_subscribed(stream, message) else []
        if kind == "resync_required":
            self._queue.put_nowait(Resync(stream.key[0], stream.key[1], message["oldest"], message["seq"]))
            stream.position = message["seq"]
            self._drain(stream)
        elif kind == "error":
            code = message.get("code", "")
            if code not in _TRANSIENT:
                raise SubscriptionRefused(stream.key, code, message.get("message", ""))
            stream.retry_at = time.monotonic() + self.gap_timeout
        return []

    def _on_subscribed(self, stream: _Stream, reply: dict[str, Any]) -> bool:
        """Take a subscribe's reply; True when the replay says more is waiting."""
        if "events" not in reply:
            # A first subscribe: the stream's head is where this client starts.
            stream.position = reply["seq"] if stream.position is None else stream.position
        else:
            if stream.position is None or stream.position < reply["since"]:
                stream.position = reply["since"]
            for message in reply["events"]:
                self._offer(stream, _event(message), drain=False)
        self._drain(stream)
        return bool(reply.get("more"))

    def _offer(self, stream: _Stream, event: Event, *, drain: bool = True) -> None:
        if stream.position is not None and event.seq <= stream.position or event.seq in stream.pending:
            self.duplicates += 1
            return
        stream.pending[event.seq] = event
        if drain:
            self._drain(stream)

    def _drain(self, stream: _Stream) -> None:
        """Deliver what is contiguous after the position; note when a gap opened."""
        if stream.position is None:
            return
        for seq in [s for s in stream.pending if s <= stream.position]:
            del stream.pending[seq]
            self.duplicates += 1
        while stream.position + 1 in stream.pending:
            stream.position += 1
            self._queue.put_nowait(stream.pending.pop(stream.position))
        if stream.pending:
            stream.gap_since = stream.gap_since or time.monotonic()
        else:
            stream.gap_since = None


def _event(message: dict[str, Any]) -> Event:
    data = {k: v for k, v in message.items() if k not in ("stream", "seq")}
    return Event(message["stream"]["topic"], message["stream"]["subject"], message["seq"], data)
