"""Events shaped exactly like API Gateway's WebSocket events (see tests/events for captures)."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Collection, Mapping
from typing import Any


def aws_id() -> str:
    """An id in API Gateway's form: 16 characters ending in '=' (e.g. ``BFHPhfCWIAMCKlQ=``)."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


def headers_of(raw: Mapping[str, str], multi: Mapping[str, list[str]]) -> dict[str, Any]:
    """``headers`` and ``multiValueHeaders`` as API Gateway sends them (absent when there are none)."""
    if not raw:
        return {}
    return {"headers": dict(raw), "multiValueHeaders": {k: list(v) for k, v in multi.items()}}


def base_context(
    *,
    route_key: str,
    event_type: str,
    connection_id: str,
    connected_at: int,
    stage: str,
    domain_name: str,
    api_id: str,
    source_ip: str,
    user_agent: str | None,
    signer: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    at = now_ms()
    request_id = aws_id()
    identity: dict[str, Any] = {"sourceIp": source_ip, **(signer or {})}
    if user_agent:
        identity["userAgent"] = user_agent
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(at),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": connected_at,
        "requestTimeEpoch": at,
        "identity": identity,
        "requestId": request_id,
        "domainName": domain_name,
        "connectionId": connection_id,
        "apiId": api_id,
    }


def connect_event(
    ctx: dict[str, Any],
    *,
    headers: dict[str, Any],
    query: Mapping[str, str],
    multi_query: Mapping[str, list[str]],
    authorizer: Mapping[str, Any] | None,
) -> dict[str, Any]:
    event: dict[str, Any] = dict(headers)
    if query:  # absent, not empty, when the URL has no query string
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {k: list(v) for k, v in multi_query.items()}
    if authorizer:
        ctx = {**ctx, "authorizer": dict(authorizer)}
    event["requestContext"] = ctx
    event["isBase64Encoded"] = False
    return event


def message_event(ctx: dict[str, Any], *, body: str, is_base64: bool, authorizer: Mapping[str, Any] | None) -> dict[str, Any]:
    ctx = {**ctx, "messageId": aws_id()}
    if authorizer:
        ctx["authorizer"] = dict(authorizer)
    return {"requestContext": ctx, "body": body, "isBase64Encoded": is_base64}


def disconnect_event(
    ctx: dict[str, Any], *, headers: dict[str, Any], status_code: int, reason: str, authorizer: Mapping[str, Any] | None
) -> dict[str, Any]:
    ctx = {**ctx, "disconnectStatusCode": status_code, "disconnectReason": reason}
    if authorizer:
        ctx["authorizer"] = dict(authorizer)
    return {**headers, "requestContext": ctx, "isBase64Encoded": False}


def authorizer_event(
    *,
    method_arn: str,
    headers: dict[str, Any],
    query: Mapping[str, str],
    multi_query: Mapping[str, list[str]],
    ctx: dict[str, Any],
) -> dict[str, Any]:
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        **headers,
        "queryStringParameters": dict(query),
        "multiValueQueryStringParameters": {k: list(v) for k, v in multi_query.items()},
        "stageVariables": {},
        "requestContext": ctx,
    }


def select_route(expression: str, body: str, routes: Collection[str]) -> str:
    """Evaluate ``$request.body.<path>`` against a JSON body; fall back to ``$default``."""
    prefix = "$request.body."
    if expression.startswith(prefix):
        try:
            value: Any = json.loads(body)
        except (ValueError, RecursionError):
            return "$default"
        for part in expression[len(prefix) :].split("."):
            if not isinstance(value, dict) or part not in value:
                return "$default"
            value = value[part]
        if isinstance(value, str) and value in routes:
            return value
    return "$default"
