"""The database closing the connection, being down, or hanging: fail fast, answer clearly, recover."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import set_settings
from tests.support.events import make_event
from tests.support.runtime import make_settings, own_migrated_server, token_for


def connect(cid="c1", user="alice"):
    return lambda_handler(make_event("connect", connection_id=cid, query={"token": token_for(user)}))


def ping(cid="c1"):
    response = lambda_handler(make_event("message", connection_id=cid, body={"action": "ping"}))
    return response["statusCode"], json.loads(response["body"])


def test_connection_terminated_between_invocations_is_reestablished_once(runtime, sql):
    assert connect()["statusCode"] == 200
    pid_before = db_module.get_database().connection().info.backend_pid
    terminated = sql.execute("SELECT pg_terminate_backend(%s)", [pid_before]).fetchone()[0]
    assert terminated
    time.sleep(0.1)
    assert ping() == (200, {"type": "pong"})
    assert db_module.get_database().connection().info.backend_pid != pid_before


@pytest.fixture
def own_server():
    # Durable commits: this server is stopped with "immediate" and must keep its schema.
    with own_migrated_server(fsync=True, db_connect_timeout_seconds=2) as server:
        yield server


def test_database_down_answers_503_quickly_and_recovers(runtime, own_server):
    assert connect()["statusCode"] == 200
    own_server.kill()
    started = time.monotonic()
    response = connect("c2")
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["code"] == "service_unavailable"
    for _ in range(2):  # while it is down, every message: 503 with the code a client retries on
        status, body = ping()
        assert (status, body["type"], body["code"]) == (503, "error", "service_unavailable")
        assert "retry" in body["message"]
    disconnect = lambda_handler(make_event("disconnect", connection_id="c1"))
    assert disconnect["statusCode"] == 503
    assert time.monotonic() - started < 10
    own_server.restart()
    assert connect("c3")["statusCode"] == 200
    assert ping("c3") == (200, {"type": "pong"})


def test_nothing_listening_fails_fast(runtime):
    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres"))
    db_module.reset_database()
    started = time.monotonic()
    assert connect()["statusCode"] == 503
    assert time.monotonic() - started < 5


def test_a_hung_statement_hits_the_statement_timeout(runtime, pg):
    set_settings(make_settings(pg.url, db_statement_timeout_ms=300))
    db_module.reset_database()
    assert connect()["statusCode"] == 200
    with psycopg.connect(pg.url) as locker:
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        status, body = ping()
        elapsed = time.monotonic() - started
    assert (status, body["code"]) == (503, "service_unavailable")
    assert elapsed < 3
    assert ping() == (200, {"type": "pong"})
