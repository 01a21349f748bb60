"""Thin typed views over API Gateway WebSocket events, exactly as AWS sends them.

Keys AWS always sends are indexed; optional ones use ``.get``. Several optional keys
can be present with the value ``null`` (``queryStringParameters``, ``headers``, ``body``),
so every accessor treats ``None`` like absence.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import cached_property
from typing import Any


class WebSocketEvent:
    """A ``$connect``, ``$disconnect`` or message event."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.ctx: Mapping[str, Any] = raw["requestContext"]

    @property
    def event_type(self) -> str:
        """``CONNECT``, ``MESSAGE`` or ``DISCONNECT``."""
        return self.ctx.get("eventType") or ""

    @property
    def route_key(self) -> str:
        return self.ctx.get("routeKey") or ""

    @property
    def connection_id(self) -> str:
        return self.ctx["connectionId"]

    @property
    def request_id(self) -> str | None:
        return self.ctx.get("requestId")

    @property
    def stage(self) -> str:
        return self.ctx.get("stage") or ""

    @property
    def api_id(self) -> str:
        return self.ctx.get("apiId") or ""

    @property
    def domain_name(self) -> str:
        return self.ctx.get("domainName") or ""

    @property
    def connected_at_ms(self) -> int | None:
        return self.ctx.get("connectedAt")

    @property
    def source_ip(self) -> str | None:
        return (self.ctx.get("identity") or {}).get("sourceIp") or None

    @property
    def user_agent(self) -> str | None:
        """From ``identity`` (sent on some events) or the ``User-Agent`` header."""
        return (self.ctx.get("identity") or {}).get("userAgent") or self.header("user-agent")

    @property
    def message_id(self) -> str | None:
        """Only on MESSAGE events."""
        return self.ctx.get("messageId")

    @property
    def disconnect_status_code(self) -> int | None:
        """Only on DISCONNECT events (1000 normal, 1001 going away, 1006 lost, …)."""
        return self.ctx.get("disconnectStatusCode")

    @property
    def disconnect_reason(self) -> str | None:
        return self.ctx.get("disconnectReason") or None

    @property
    def authorizer(self) -> Mapping[str, Any]:
        """The REQUEST authorizer's context, when an authorizer ran on ``$connect``."""
        return self.ctx.get("authorizer") or {}

    @property
    def query(self) -> Mapping[str, str]:
        """Absent (not empty) when the URL has no query string."""
        return self.raw.get("queryStringParameters") or {}

    @cached_property
    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in (self.raw.get("headers") or {}).items()}

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    @property
    def body_bytes(self) -> bytes | None:
        """The raw message: text frames as UTF-8, binary frames base64-decoded."""
        body = self.raw.get("body")
        if body is None:
            return None
        if self.raw.get("isBase64Encoded"):
            return base64.b64decode(body, validate=False)
        return body.encode("utf-8", "surrogatepass")


class AuthorizerEvent:
    """A Lambda REQUEST authorizer event for ``$connect`` (``type == "REQUEST"``)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    @property
    def method_arn(self) -> str:
        return self.raw["methodArn"]

    @property
    def token(self) -> str | None:
        query = self.raw.get("queryStringParameters") or {}
        return query.get("token") or None


def is_authorizer_event(raw: Mapping[str, Any]) -> bool:
    return raw.get("type") == "REQUEST" and "methodArn" in raw


def is_websocket_event(raw: Mapping[str, Any]) -> bool:
    ctx = raw.get("requestContext")
    return isinstance(ctx, Mapping) and "connectionId" in ctx and "methodArn" not in raw
