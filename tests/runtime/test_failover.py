"""A writer demoted to read-only in the middle of a stream of events: only 503s while it lasts,
a reconnect once it is over, and nothing acknowledged is lost."""

from __future__ import annotations

import json
import time

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from tests.support.events import make_event
from tests.support.runtime import own_migrated_server, token_for


@pytest.fixture
def server(careconnect_runtime):
    with own_migrated_server(touch_interval_seconds=0) as own:
        yield own


def read_only(url: str, on: bool) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}")
        admin.execute("SELECT pg_reload_conf()")
    # The postmaster passes the reload on to every backend asynchronously: give it a moment.
    time.sleep(0.3)


def run(name, cid, **kwargs):
    response = lambda_handler(make_event(name, connection_id=cid, **kwargs))
    body = json.loads(response.get("body") or "{}")
    return response["statusCode"], body.get("code")


def stream(tag: str, n: int) -> list[tuple[str, str, int, str | None]]:
    """connect, subscribe, ping for n connections: (kind, connection id, status, code)."""
    out = []
    for i in range(n):
        cid = f"{tag}-{i}="
        out.append(("connect", cid, *run("connect", cid, query={"token": token_for(f"{tag}-user-{i}")})))
        out.append(("subscribe", cid, *run("message", cid, body={"action": "subscribe", "topic": "email-verification"})))
        out.append(("ping", cid, *run("message", cid, body={"action": "ping"})))
    return out


def test_read_only_writer_answers_503_then_recovers_without_losing_anything(server):
    before = stream("before", 5)
    pid_before = db_module.get_database().connection().info.backend_pid
    read_only(server.url, True)
    try:
        during = stream("during", 10)
    finally:
        read_only(server.url, False)
    after = stream("after", 5)

    assert {status for *_, status, _ in before + after} == {200}
    # While read-only: every answer is 503 service_unavailable, never a 500.
    assert {(status, code) for *_, status, code in during} == {(503, "service_unavailable")}
    # The container reconnected rather than staying on a connection that cannot write.
    assert db_module.get_database().connection().info.backend_pid != pid_before

    with psycopg.connect(server.url) as check:
        active = {r[0] for r in check.execute("SELECT connection_id FROM websocket_connections WHERE is_active")}
        subscribed = {r[0] for r in check.execute("SELECT connection_id FROM websocket_subscriptions")}
    acknowledged_connects = {cid for kind, cid, status, _ in before + during + after if kind == "connect" and status == 200}
    acknowledged_subscribes = {cid for kind, cid, status, _ in before + during + after if kind == "subscribe" and status == 200}
    assert acknowledged_connects <= active
    assert acknowledged_subscribes <= subscribed
    assert len(acknowledged_connects) == 10


def test_a_dropped_connection_during_a_write_is_retried_once(server):
    assert run("connect", "x=", query={"token": token_for("alice")}) == (200, None)
    pid = db_module.get_database().connection().info.backend_pid
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert run("message", "x=", body={"action": "ping"}) == (200, None)


def test_while_the_database_is_read_only_a_container_does_not_open_a_connection_per_event(server, monkeypatch):
    """The finding: every event opened a new connection during a read-only window (a connection storm
    across containers). Now a failed connect is retried after 50 ms, doubling to 2 s."""
    assert run("connect", "storm=", query={"token": token_for("storm")})[0] == 200
    attempts = []
    real_connect = psycopg.connect

    def counting_connect(*args, **kwargs):
        attempts.append(time.monotonic())
        return real_connect(*args, **kwargs)

    read_only(server.url, True)
    monkeypatch.setattr(db_module.psycopg, "connect", counting_connect)
    started = time.monotonic()
    statuses = []
    while time.monotonic() - started < 2.0:
        statuses.append(run("message", "storm=", body={"action": "ping"})[0])
    window = time.monotonic() - started
    assert set(statuses) == {503} and len(statuses) > 100
    # 50 ms doubling (with jitter): 0, ~0.05, ~0.15, ~0.35, ~0.75, ~1.55 s ... a handful, not one per event.
    assert len(attempts) <= 10, (len(attempts), len(statuses), window)
    read_only(server.url, False)
    deadline = time.monotonic() + 5
    while run("message", "storm=", body={"action": "ping"})[0] != 200:
        assert time.monotonic() < deadline, "did not recover within the 2 s backoff ceiling"
        time.sleep(0.05)


def test_a_disconnect_the_database_missed_is_recorded_once_it_is_back(careconnect_runtime):
    with own_migrated_server(fsync=True) as server:  # durable: a killed server keeps what it committed
        _disconnect_missed_then_recorded(server)


def _disconnect_missed_then_recorded(server) -> None:
    assert run("connect", "gone=", query={"token": token_for("gone")})[0] == 200
    assert run("connect", "stay=", query={"token": token_for("stay")})[0] == 200
    server.kill()
    assert run("disconnect", "gone=")[0] == 503
    server.restart()
    deadline = time.monotonic() + 5
    while run("message", "stay=", body={"action": "ping"})[0] != 200:  # any event that reaches the database
        assert time.monotonic() < deadline
        time.sleep(0.05)
    with psycopg.connect(server.url) as check:
        row = check.execute(
            "SELECT is_active, disconnect_status_code FROM websocket_connections WHERE connection_id = 'gone='"
        ).fetchone()
    sent = make_event("disconnect", connection_id="gone=")["requestContext"]["disconnectStatusCode"]
    assert row == (False, sent)
