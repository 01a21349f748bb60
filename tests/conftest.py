"""Shared fixtures: a real PostgreSQL server started by the test session itself, event builders, tokens."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.management import ManagementApi, set_management_api
from careconnect_ws.migrations import migrate
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

EVENTS = Path(__file__).parent / "events"
SECRET = "test-secret-that-is-at-least-32-bytes-long!"


@pytest.fixture(scope="session")
def pg() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres().start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        migrate(conn)
    yield server
    server.stop()


@contextmanager
def own_migrated_server(*, fsync: bool = False, **settings: Any) -> Iterator[TemporaryPostgres]:
    """A PostgreSQL of the test's own (to kill, restart or make read-only), migrated, with the runtime
    pointed at it; ``settings`` override :func:`make_settings`'s."""
    server = TemporaryPostgres(fsync=fsync).start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            migrate(conn)
        set_settings(make_settings(server.url, **settings))
        db_module.reset_database()
        yield server
    finally:
        db_module.reset_database()
        server.stop()
        set_settings(None)


@pytest.fixture
def sql(pg) -> Iterator[psycopg.Connection]:
    """A separate connection for checking registry state in SQL."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


def make_settings(pg_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": pg_url, "jwt_secret": SECRET, "region": "us-east-1"}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def runtime(pg) -> Iterator[Settings]:
    """Empty tables, settings pointing at the test server, fresh per-container state."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("TRUNCATE websocket_subscriptions, websocket_connections, websocket_message_rate, websocket_streams, websocket_events,"
                     " websocket_revocations, websocket_revoked_tokens, websocket_user_rate")
    settings = make_settings(pg.url)
    set_settings(settings)
    db_module.reset_database()
    set_management_api(loopback_only_management_api())
    yield settings
    db_module.reset_database()
    set_settings(None)
    set_management_api(None)


def loopback_only_management_api(**kwargs: Any) -> ManagementApi:
    """The real client, refusing any endpoint off this machine: tests never call AWS."""
    real = ManagementApi(**kwargs)

    def factory(endpoint: str):
        host = urlparse(endpoint).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {endpoint}: use the connections_endpoint fixture")
        return real._default_client(endpoint)

    return ManagementApi(client_factory=factory, **kwargs)


def token_for(user_id: str, **kwargs: Any) -> str:
    return issue_token(user_id, Settings(jwt_secret=SECRET), **kwargs)


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


class FakeConnectionsEndpoint:
    """A real HTTP server answering like the Management API: boto3 talks to it over a socket.

    ``open`` holds the ids that are connected; any other id answers 410 Gone.
    """

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.received: list[tuple[str, bytes]] = []
        self.deleted: list[str] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _id(self) -> str:
                return unquote(self.path.rsplit("/@connections/", 1)[1])

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cid = self._id()
                with outer.lock:
                    if cid not in outer.open:
                        return self._reply(410, b'{"message": "Gone"}')
                    outer.received.append((cid, data))
                self._reply(200)

            def do_GET(self) -> None:
                cid = self._id()
                if cid not in outer.open:
                    return self._reply(410, b'{"message": "Gone"}')
                self._reply(200, json.dumps({"connectedAt": "2026-11-26T07:00:00Z", "identity": {"sourceIp": "127.0.0.1", "userAgent": "test"}}).encode())

            def do_DELETE(self) -> None:
                cid = self._id()
                with outer.lock:
                    if cid not in outer.open:
                        return self._reply(410, b'{"message": "Gone"}')
                    outer.open.discard(cid)
                    outer.deleted.append(cid)
                self._reply(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prod"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages_for(self, cid: str) -> list[dict]:
        return [json.loads(d) for c, d in self.received if c == cid]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connections_endpoint(runtime) -> Iterator[FakeConnectionsEndpoint]:
    """A local @connections endpoint, set as AWS_WEBSOCKET_API_GATEWAY_ENDPOINT for the runtime."""
    endpoint = FakeConnectionsEndpoint()
    set_settings(make_settings(runtime.database_url, management_endpoint=endpoint.url))
    yield endpoint
    endpoint.close()
