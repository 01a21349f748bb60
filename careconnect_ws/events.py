"""Thin typed views over API Gateway WebSocket events, exactly as AWS sends them.

Each view checks the event's shape once, when it is built: a field AWS sends as a string is
a string, a map is a map, a close code is a close code. An event API Gateway would never send
(a test harness, a misrouted invocation, a fuzzer) raises :class:`InvalidEvent`, which the
handler answers with 400 ``invalid_event``; after that every accessor can trust its types.

Keys AWS always sends are indexed; optional ones use ``.get``. Several optional keys can be
present with the value ``null`` (``queryStringParameters``, ``headers``, ``body``), so every
accessor treats ``None`` like absence.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from .errors import InvalidEvent  # noqa: F401  (raised here; part of this module's API)
from .text import MAX_USER_ID_CHARS, is_bounded_text

MAX_CONNECTION_ID_CHARS = 128
"""AWS's connection ids are 16 characters; anything past this is not one."""


def _optional(mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = mapping.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise InvalidEvent(f"{where}{key} must be {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", bool: "a boolean", Mapping: "an object"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _string_map(raw: Mapping[str, Any], key: str) -> dict[str, str]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidEvent(f"{key} must be an object of strings")
    return dict(value)


class WebSocketEvent:
    """A ``$connect``, ``$disconnect`` or message event."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        ctx = raw.get("requestContext")
        if not isinstance(ctx, Mapping):
            raise InvalidEvent("requestContext must be an object")
        self.ctx: Mapping[str, Any] = ctx
        cid = ctx.get("connectionId")
        if not is_bounded_text(cid, MAX_CONNECTION_ID_CHARS):
            raise InvalidEvent(f"requestContext.connectionId must be a string of 1 to {MAX_CONNECTION_ID_CHARS} characters")
        for key in ("routeKey", "eventType", "requestId", "stage", "apiId", "domainName", "messageId", "disconnectReason"):
            _optional(ctx, key, str, "requestContext.")
        _optional(ctx, "connectedAt", int, "requestContext.")
        code = _optional(ctx, "disconnectStatusCode", int, "requestContext.")
        if code is not None and not 1000 <= code <= 4999:
            raise InvalidEvent("requestContext.disconnectStatusCode must be a WebSocket close code (1000 to 4999)")
        identity = _optional(ctx, "identity", Mapping, "requestContext.") or {}
        self._source_ip = _optional(identity, "sourceIp", str, "requestContext.identity.")
        self._identity_user_agent = _optional(identity, "userAgent", str, "requestContext.identity.")
        self._authorizer: Mapping[str, Any] = _optional(ctx, "authorizer", Mapping, "requestContext.") or {}
        user_id = self._authorizer.get("userId")
        if user_id is not None and (not is_bounded_text(user_id, MAX_USER_ID_CHARS)):
            raise InvalidEvent(f"requestContext.authorizer.userId must be text of 1 to {MAX_USER_ID_CHARS} characters")
        self._query = _string_map(raw, "queryStringParameters")
        self._headers = {k.lower(): v for k, v in _string_map(raw, "headers").items()}
        self._body = self._decode_body(raw)

    @staticmethod
    def _decode_body(raw: Mapping[str, Any]) -> bytes | None:
        body: str | None = _optional(raw, "body", str, "")
        encoded = _optional(raw, "isBase64Encoded", bool, "")
        if body is None:
            return None
        if encoded:
            try:
                return base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidEvent("body is marked isBase64Encoded but is not valid base64") from None
        # Text frames are UTF-8 on the wire; a lone surrogate survives here and fails as invalid_encoding later.
        return body.encode("utf-8", "surrogatepass")

    @property
    def event_type(self) -> str:
        """``CONNECT``, ``MESSAGE`` or ``DISCONNECT``."""
        return self.ctx.get("eventType") or ""

    @property
    def route_key(self) -> str:
        return self.ctx.get("routeKey") or ""

    @property
    def connection_id(self) -> str:
        return str(self.ctx["connectionId"])

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
        return self._source_ip or None

    @property
    def user_agent(self) -> str | None:
        """From ``identity`` (sent on some events) or the ``User-Agent`` header."""
        return self._identity_user_agent or self.header("user-agent")

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
        return self._authorizer

    @property
    def caller_arn(self) -> str | None:
        """The IAM ARN API Gateway verified the SigV4 signature of (``AWS_IAM`` on the route), else None."""
        identity = self.ctx.get("identity")
        arn = identity.get("userArn") if isinstance(identity, Mapping) else None
        return arn if isinstance(arn, str) and arn.startswith("arn:") and len(arn) <= 256 else None

    @property
    def query(self) -> Mapping[str, str]:
        """Absent (not empty) when the URL has no query string."""
        return self._query

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    @property
    def body_bytes(self) -> bytes | None:
        """The raw message: text frames as UTF-8, binary frames base64-decoded."""
        return self._body


class AuthorizerEvent:
    """A Lambda REQUEST authorizer event for ``$connect`` (``type == "REQUEST"``)."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        arn = raw.get("methodArn")
        if not isinstance(arn, str) or not arn.startswith("arn:") or len(arn) > 2048:
            raise InvalidEvent("methodArn must be an execute-api ARN")
        self._query = _string_map(raw, "queryStringParameters")
        self._headers = {k.lower(): v for k, v in _string_map(raw, "headers").items()}

    @property
    def method_arn(self) -> str:
        return str(self.raw["methodArn"])

    @property
    def query(self) -> Mapping[str, str]:
        return self._query

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    @property
    def token(self) -> str | None:
        """The ``?token=`` parameter (see ``Settings.token_source`` for where a deployment reads it)."""
        return self._query.get("token") or None


def is_authorizer_event(raw: Mapping[str, Any]) -> bool:
    return raw.get("type") == "REQUEST" and "methodArn" in raw


def is_websocket_event(raw: Mapping[str, Any]) -> bool:
    ctx = raw.get("requestContext")
    return isinstance(ctx, Mapping) and "connectionId" in ctx and "methodArn" not in raw
