"""API Gateway's 32 KB limit on a single WebSocket frame (messages may be up to 128 KB in several frames).

aiohttp limits whole messages only, so this sits in front of its frame parser: it reads each
frame's header from the bytes as they arrive, from the first byte after the handshake (nothing is
copied or buffered beyond a 14-byte header) and, for a data frame longer than the limit, fails the
connection with 1009 as API Gateway does. It wraps the parser aiohttp installs on the request's
protocol; if a future aiohttp moves that, :class:`FrameLimitedResponse` says so (``frames_limited``)
and the gateway warns once that the frame limit is not enforced.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

MESSAGE_TOO_BIG = 1009
_CONTROL_OPCODES = {0x8, 0x9, 0xA}


class FrameSizeGuard:
    """A pass-through in front of aiohttp's ``WebSocketReader``."""

    def __init__(self, parser: Any, queue: Any, max_frame_bytes: int) -> None:
        self._parser = parser
        self._queue = queue
        self._limit = max_frame_bytes
        self._header = bytearray()
        self._payload_left = 0
        self._failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if not self._failed and (too_big := self._scan(memoryview(data))) is not None:
            self._failed = True
            from aiohttp.http_websocket import WebSocketError

            # What aiohttp's own parser does with a message over its limit: the receiver gets the error,
            # and aiohttp closes the connection with its code.
            self._queue.set_exception(
                WebSocketError(MESSAGE_TOO_BIG, f"Frame of {too_big} bytes exceeds the {self._limit}-byte frame limit")
            )
            return True, b""
        fed: tuple[bool, bytes] = self._parser.feed_data(data)
        return fed

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def _scan(self, data: memoryview) -> int | None:
        """Walk frame boundaries; return the length of the first data frame over the limit."""
        pos = 0
        while pos < len(data):
            if self._payload_left:
                step = min(self._payload_left, len(data) - pos)
                self._payload_left -= step
                pos += step
                continue
            while len(self._header) < self._header_length():
                if pos >= len(data):
                    return None  # the rest of the header comes with the next chunk
                take = min(self._header_length() - len(self._header), len(data) - pos)
                self._header += data[pos : pos + take]
                pos += take
            opcode, length = self._header[0] & 0x0F, self._payload_length()
            self._header.clear()
            if opcode not in _CONTROL_OPCODES and length > self._limit:
                return length
            self._payload_left = length
        return None

    def _header_length(self) -> int:
        if len(self._header) < 2:
            return 2
        flag = self._header[1] & 0x7F
        extra = 2 if flag == 126 else 8 if flag == 127 else 0
        return 2 + extra + (4 if self._header[1] & 0x80 else 0)

    def _payload_length(self) -> int:
        flag = self._header[1] & 0x7F
        if flag == 126:
            return int.from_bytes(self._header[2:4], "big")
        if flag == 127:
            return int.from_bytes(self._header[2:10], "big")
        return flag


class FrameLimitedResponse(web.WebSocketResponse):
    """aiohttp's ``WebSocketResponse`` with a :class:`FrameSizeGuard` in front of its parser from the first
    byte after the handshake: bytes a client sent in the same packet as its upgrade request wait in the
    protocol's tail until the parser is set, and go through the guard too (a guard added after
    ``prepare`` would let them pass unchecked)."""

    def __init__(self, *, max_frame_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_frame_bytes = max_frame_bytes
        self.frames_limited = False

    def _post_start(self, request: Any, *args: Any, **kwargs: Any) -> None:
        protocol = getattr(request, "protocol", None)
        tail = getattr(protocol, "_message_tail", b"")
        if tail and protocol is not None:
            protocol._message_tail = b""  # held back: fed below, through the guard
        super()._post_start(request, *args, **kwargs)
        parser = getattr(protocol, "_payload_parser", None)
        if (
            protocol is not None
            and parser is not None
            and hasattr(parser, "feed_data")
            and hasattr(self._reader, "set_exception")
        ):
            protocol._payload_parser = parser = FrameSizeGuard(parser, self._reader, self._max_frame_bytes)
            self.frames_limited = True
        if tail and parser is not None:
            parser.feed_data(tail)
