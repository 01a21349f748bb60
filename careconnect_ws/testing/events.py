"""Every event API Gateway sends the Lambda, in its real shape: captured events (``events/*.json`` beside this
module) with the changes a test asks for. A handler that works on these works on AWS's."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from .. import contract

_CAPTURED = Path(__file__).resolve().parent / "events"


@cache
def _captured(name: str) -> str:
    return (_CAPTURED / f"{name}.json").read_text()


def captured_event(name: str) -> dict[str, Any]:
    """A captured event as AWS sent it: ``connect``, ``message``, ``disconnect``, ``authorizer`` or ``scheduled``."""
    event: dict[str, Any] = json.loads(_captured(name))
    return event


def make_event(
    name: str,
    *,
    connection_id: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A captured event with the given changes. ``body`` may be a str or anything JSON (encoded for you);
    ``context`` entries replace ``requestContext`` fields (``routeKey="chat.send"``, ``stage="dev"``...)."""
    event = copy.deepcopy(captured_event(name))
    ctx = event["requestContext"]
    if connection_id is not None:
        ctx["connectionId"] = connection_id
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if query is not None:
        event["queryStringParameters"] = query
    if authorizer is not None:
        ctx["authorizer"] = authorizer
    if headers is not None:
        event["headers"] = {**event.get("headers", {}), **headers}
        event["multiValueHeaders"] = {**event.get("multiValueHeaders", {}), **{k: [v] for k, v in headers.items()}}
    ctx.update(context)
    return event


def connect_event(connection_id: str = "conn-1", *, token: str | None = None, **changes: Any) -> dict[str, Any]:
    """``$connect`` (with ``?token=`` when given)."""
    if token is not None:
        changes["query"] = {**changes.get("query", {}), "token": token}
    return make_event("connect", connection_id=connection_id, **changes)


def message_event(connection_id: str = "conn-1", body: Any = None, *, route: str = "$default", **changes: Any) -> dict[str, Any]:
    """A message on ``route`` (``$default``, or a custom route key such as ``chat.send``)."""
    return make_event("message", connection_id=connection_id, body=body, routeKey=route, **changes)


def disconnect_event(
    connection_id: str = "conn-1", *, status_code: int = 1000, reason: str = "", **changes: Any
) -> dict[str, Any]:
    return make_event(
        "disconnect", connection_id=connection_id, disconnectStatusCode=status_code, disconnectReason=reason, **changes
    )


def authorizer_event(token: str | None = None, **changes: Any) -> dict[str, Any]:
    """The ``$connect`` REQUEST authorizer's event (with ``?token=`` when given)."""
    event = copy.deepcopy(captured_event("authorizer"))
    if token is not None:
        event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "token": token}
    event.update(changes)
    return event


def scheduled_event() -> dict[str, Any]:
    """EventBridge's scheduled event: what runs the cleanup."""
    return captured_event("scheduled")


def command_event(command: str, **fields: Any) -> dict[str, Any]:
    """A direct invocation: ``command_event("publish", topic=..., subject=..., payload={...})``."""
    return {contract.COMMAND_KEY: {"command": command, **fields}}
