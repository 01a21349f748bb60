"""Shared fixtures: a real PostgreSQL server started by the test session itself, event builders, tokens."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.management import ManagementApi, set_management_api
from careconnect_ws.migrations import migrate
from careconnect_ws.settings import Settings, set_settings
from tests.support.runtime import make_settings


@pytest.fixture(scope="session")
def pg() -> Iterator[TemporaryPostgres]:
    server = TemporaryPostgres().start()
    with psycopg.connect(server.url, autocommit=True) as conn:
        migrate(conn)
    yield server
    server.stop()


@pytest.fixture
def sql(pg) -> Iterator[psycopg.Connection]:
    """A separate connection for checking registry state in SQL."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


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


class FakeConnectionsEndpoint:
    """A real HTTP server answering like the Management API: boto3 talks to it over a socket.

    ``open`` holds the ids that are connected; any other id answers 410 Gone. A post to an id in ``refusing``
    answers 400 (a push that fails without the connection being gone).
    """

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.refusing: set[str] = set()
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
                    if cid in outer.refusing:
                        return self._reply(400, b'{"message": "Bad request"}')
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
