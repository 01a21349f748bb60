"""Calling a handler the way API Gateway does, one line per step: for this repository's tests and yours.

    from careconnect_ws.testing import connect, send, disconnect, token_for

    assert connect("c-1", "alice", connections=careconnect_connections).status == 200
    status, body = send("c-1", {"action": "subscribe", "topic": "care-plan", "subject": "patient-17"})
    assert send("c-1", {"action": "nope"}).outcome == (400, "unknown_action")

Every helper takes ``handler=`` (default: the built-in ``careconnect_ws.handler.lambda_handler``; give your own
module's when it wraps it) and ``context=`` (a Lambda context object, for handlers that read one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from .events import make_event

Handler = Callable[..., Mapping[str, Any]]


class Recorder(Protocol):
    """What :func:`connect` marks open: a :class:`~careconnect_ws.testing.ConnectionsRecorder`."""

    open: set[str]


class Answer(NamedTuple):
    """The handler's answer: its status and its JSON body (``{}`` when it has none). Unpacks as
    ``status, body``; ``code`` is the error code of a refusal, ``outcome`` the pair ``(status, code)``."""

    status: int
    body: dict[str, Any]

    @property
    def code(self) -> str | None:
        code = self.body.get("code")
        return code if isinstance(code, str) else None

    @property
    def outcome(self) -> tuple[int, str | None]:
        return self.status, self.code


def invoke(event: Mapping[str, Any], *, handler: Handler | None = None, context: Any = None, expect: int | None = None) -> Answer:
    """Run ``event`` through ``handler`` and read its answer; ``expect``: fail, showing the answer, unless the
    status is this one."""
    if handler is None:
        from ..handler import lambda_handler

        handler = lambda_handler
    response = handler(dict(event), context)
    raw = response.get("body")
    body = json.loads(raw) if isinstance(raw, str) and raw else {}
    answer = Answer(int(response["statusCode"]), body if isinstance(body, dict) else {"body": body})
    if expect is not None and answer.status != expect:
        raise AssertionError(f"{event.get('requestContext', {}).get('routeKey', 'the event')} answered {answer}, not {expect}")
    return answer


def connect(
    connection_id: str,
    user: str | None = None,
    *,
    token: str | None = None,
    connections: Recorder | None = None,
    handler: Handler | None = None,
    context: Any = None,
    expect: int | None = None,
    **changes: Any,
) -> Answer:
    """``$connect`` for ``user`` (a token signed with the test key, :func:`~careconnect_ws.testing.token_for`) or
    with ``token`` as given (or neither: ``authorizer=`` and ``headers=`` in ``changes`` say who connects). Once
    connected, ``connections`` (the recording ``@connections`` endpoint) has the connection open, so pushes
    reach it."""
    if user is not None and token is None:
        from . import token_for

        token = token_for(user)
    if token is not None:
        changes["query"] = {**changes.get("query", {}), "token": token}
    answer = invoke(
        make_event("connect", connection_id=connection_id, **changes), handler=handler, context=context, expect=expect
    )
    if connections is not None and answer.status == 200:
        connections.open.add(connection_id)
    return answer


def send(
    connection_id: str,
    body: Any,
    *,
    route: str = "$default",
    handler: Handler | None = None,
    context: Any = None,
    expect: int | None = None,
    **changes: Any,
) -> Answer:
    """A message on ``route`` (``body``: a dict, encoded for you, or the raw text a client sent)."""
    event = make_event("message", connection_id=connection_id, body=body, routeKey=route, **changes)
    return invoke(event, handler=handler, context=context, expect=expect)


def disconnect(
    connection_id: str,
    *,
    connections: Recorder | None = None,
    handler: Handler | None = None,
    context: Any = None,
    **changes: Any,
) -> Answer:
    """``$disconnect``; ``connections`` forgets the connection (its ``@connections`` calls answer 410 from now)."""
    answer = invoke(make_event("disconnect", connection_id=connection_id, **changes), handler=handler, context=context)
    if connections is not None:
        connections.open.discard(connection_id)
    return answer
