"""Real API Gateway event shapes, captured (``tests/events/*.json``), with the changes a test needs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def make_event(
    name: str,
    *,
    connection_id: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
    **context: Any,
) -> dict[str, Any]:
    """A captured event with the given changes. ``body`` may be a str, bytes-like text or a dict."""
    event = copy.deepcopy(load_event(name))
    ctx = event["requestContext"]
    if connection_id is not None:
        ctx["connectionId"] = connection_id
    if body is not None:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
    if query is not None:
        event["queryStringParameters"] = query
    if authorizer is not None:
        ctx["authorizer"] = authorizer
    ctx.update(context)
    return event
