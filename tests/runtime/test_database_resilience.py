"""The database closing the connection, being down, or hanging: fail fast, answer clearly, recover."""

from __future__ import annotations

import time

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import set_settings
from careconnect_ws.testing import connect, send
from tests.support.events import make_event
from tests.support.runtime import make_settings, own_migrated_server


def test_connection_terminated_between_invocations_is_reestablished_once(careconnect_runtime, sql):
    assert connect("c1", "alice").status == 200
    pid_before = db_module.get_database().connection().info.backend_pid
    terminated = sql.execute("SELECT pg_terminate_backend(%s)", [pid_before]).fetchone()[0]
    assert terminated
    time.sleep(0.1)
    assert send("c1", {"action": "ping"}) == (200, {"type": "pong"})
    assert db_module.get_database().connection().info.backend_pid != pid_before


@pytest.fixture
def own_server():
    # Durable commits: this server is stopped with "immediate" and must keep its schema.
    with own_migrated_server(fsync=True, db_connect_timeout_seconds=2) as server:
        yield server


def test_database_down_answers_503_quickly_and_recovers(careconnect_runtime, own_server):
    assert connect("c1", "alice").status == 200
    own_server.kill()
    started = time.monotonic()
    response = connect("c2", "alice")
    assert response.status == 503
    assert response.body["code"] == "service_unavailable"
    for _ in range(2):  # while it is down, every message: 503 with the code a client retries on
        status, body = send("c1", {"action": "ping"})
        assert (status, body["type"], body["code"]) == (503, "error", "service_unavailable")
        assert "retry" in body["message"]
    disconnect = lambda_handler(make_event("disconnect", connection_id="c1"))
    assert disconnect["statusCode"] == 503
    assert time.monotonic() - started < 10
    own_server.restart()
    assert connect("c3", "alice").status == 200
    assert send("c3", {"action": "ping"}) == (200, {"type": "pong"})


def test_nothing_listening_fails_fast(careconnect_runtime):
    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres"))
    db_module.reset_database()
    started = time.monotonic()
    assert connect("c1", "alice").status == 503
    assert time.monotonic() - started < 5


def test_a_hung_statement_hits_the_statement_timeout(careconnect_runtime, careconnect_database):
    set_settings(make_settings(careconnect_database.url, db_statement_timeout_ms=300))
    db_module.reset_database()
    assert connect("c1", "alice").status == 200
    with psycopg.connect(careconnect_database.url) as locker:
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        status, body = send("c1", {"action": "ping"})
        elapsed = time.monotonic() - started
    assert (status, body["code"]) == (503, "service_unavailable")
    assert elapsed < 3
    assert send("c1", {"action": "ping"}) == (200, {"type": "pong"})
