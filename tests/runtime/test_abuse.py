"""Regression tests for the adversarial review: each finding, reproduced, now closed."""

from __future__ import annotations

import base64
import json
import logging
import time

import jwt
import pytest

from careconnect_ws.errors import ConfigError
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing import connect, disconnect, send
from careconnect_ws.tokens import issue_token
from tests.support.events import load_event, make_event
from tests.support.runtime import SECRET, make_settings, token_for


def signed(claims: dict, key: str = SECRET) -> str:
    return jwt.encode({"exp": int(time.time()) + 600, **claims}, key, algorithm="HS256")


def count(sql, table="websocket_connections"):
    return sql.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# -- tokens ---------------------------------------------------------------------------------


def test_a_token_minted_for_another_audience_is_refused_when_none_is_configured(careconnect_runtime, sql):
    foreign = signed({"sub": "alice", "aud": "billing-api"})
    authorizer = load_event("authorizer")
    authorizer["queryStringParameters"] = {"token": foreign}
    decision = lambda_handler(authorizer)
    assert decision["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert connect("abuse=", token=foreign).outcome == (401, "invalid_token")
    assert count(sql) == 0


def test_the_configured_audience_is_required_and_must_match(careconnect_runtime, sql):
    set_settings(make_settings(careconnect_runtime.database_url, jwt_audience="careconnect-ws"))
    assert connect("a=", token=signed({"sub": "alice", "aud": "billing-api"})).outcome == (401, "invalid_token")
    assert connect("b=", token=signed({"sub": "alice"})).outcome == (401, "invalid_token")
    assert connect("c=", token=signed({"sub": "alice", "aud": "careconnect-ws"})).outcome == (200, None)


@pytest.mark.parametrize("missing", ["WS_JWT_ISSUER", "WS_JWT_AUDIENCE"])
def test_rs256_needs_issuer_and_audience(missing):
    from tests.support.runtime import rsa_public_pem

    env = {
        "DATABASE_URL": "postgresql://x",
        "WS_JWT_PUBLIC_KEY": rsa_public_pem(),
        "WS_JWT_ISSUER": "https://idp",
        "WS_JWT_AUDIENCE": "ws",
    }
    Settings.from_env(env)  # complete: fine
    del env[missing]
    with pytest.raises(ConfigError, match=f"^{missing}: required with WS_JWT_PUBLIC_KEY"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "token",
    [
        "\ud800",
        "abc.\ud800.def",
        signed({"sub": "\ud800"}),
        signed({"sub": "a\x00b"}),
        signed({"sub": "x" * 257}),
        signed({"sub": 42}),
        signed({"sub": "alice", "exp": "soon"}),
        base64.urlsafe_b64encode(b'{"alg":"HS256"}').decode()
        + "."
        + base64.urlsafe_b64encode(b'{"sub":' + b"9" * 5000 + b"}").decode()
        + ".sig",
    ],
    ids=["lone-surrogate", "surrogate-in-part", "surrogate-sub", "nul-sub", "long-sub", "int-sub", "string-exp", "huge-number"],
)
def test_undecodable_tokens_and_unstorable_subjects_are_invalid_token(careconnect_runtime, sql, token):
    assert connect("abuse=", token=token).outcome == (401, "invalid_token")
    authorizer = load_event("authorizer")
    authorizer["queryStringParameters"] = {"token": token}
    assert lambda_handler(authorizer)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert count(sql) == 0


def test_a_connection_can_end_with_its_token(careconnect_runtime, sql):
    set_settings(make_settings(careconnect_runtime.database_url, bind_connection_to_token_expiry=True))
    short = issue_token("alice", Settings(jwt_secret=SECRET), ttl_seconds=60)
    assert connect("abuse=", token=short).outcome == (200, None)
    lifetime = sql.execute("SELECT extract(epoch FROM expires_at - connected_at) FROM websocket_connections").fetchone()[0]
    assert 55 <= lifetime <= 61
    # From the authorizer's context too (as API Gateway passes it: possibly a string).
    exp = int(time.time()) + 120
    assert connect("via-authorizer=", authorizer={"userId": "bob", "tokenExpiresAt": str(exp)}).outcome == (200, None)
    row = sql.execute("SELECT extract(epoch FROM expires_at) FROM websocket_connections WHERE user_id = 'bob'").fetchone()
    assert abs(float(row[0]) - exp) < 2


def test_issue_token_refuses_a_lifetime_that_is_already_over():
    from careconnect_ws.errors import TokenError

    with pytest.raises(TokenError, match="at least 1 second"):
        issue_token("alice", Settings(jwt_secret=SECRET), ttl_seconds=-5)


# -- per-client limits -------------------------------------------------------------------------


def test_connections_per_user_are_capped_and_a_refused_connect_stores_nothing(careconnect_runtime, sql):
    set_settings(make_settings(careconnect_runtime.database_url, max_connections_per_user=3))
    for i in range(3):
        assert connect(f"mine-{i}=", token=token_for("alice")).outcome == (200, None)
    assert connect("one-too-many=", token=token_for("alice")).outcome == (429, "too_many_connections")
    assert sql.execute("SELECT count(*) FROM websocket_connections WHERE connection_id = 'one-too-many='").fetchone()[0] == 0
    # Other users are not affected; reconnecting an existing id is not a new connection.
    assert connect("bobs=", token=token_for("bob")).outcome == (200, None)
    assert connect("mine-0=", token=token_for("alice")).outcome == (200, None)
    # A closed connection frees its place.
    assert disconnect("mine-1=").outcome == (200, None)
    assert connect("after-close=", token=token_for("alice")).outcome == (200, None)


def test_the_user_cap_holds_under_concurrent_connects(careconnect_runtime, sql):
    import threading

    from careconnect_ws import db as db_module

    set_settings(make_settings(careconnect_runtime.database_url, max_connections_per_user=5))
    statuses = []

    def connect_racer(i):
        statuses.append(connect(f"race-{i}=", token=token_for("racer")).status)
        db_module.reset_database()

    threads = [threading.Thread(target=connect_racer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [429] * 7
    assert sql.execute("SELECT count(*) FROM websocket_connections WHERE user_id = 'racer' AND is_active").fetchone()[0] == 5


def test_subscriptions_per_connection_are_capped(careconnect_runtime, sql):
    from careconnect_ws.topics import TOPICS, Topic, register_topic

    register_topic(Topic("open-test-topic", may_subscribe=lambda user, subject: True))
    try:
        set_settings(make_settings(careconnect_runtime.database_url, max_subscriptions_per_connection=4))
        assert connect("abuse=", token=token_for("alice")).outcome == (200, None)
        for i in range(4):
            assert send("abuse=", {"action": "subscribe", "topic": "open-test-topic", "subject": f"s{i}"}).outcome == (200, None)
        assert send("abuse=", {"action": "subscribe", "topic": "open-test-topic", "subject": "s4"}).outcome == (
            429,
            "too_many_subscriptions",
        )
        # Subscribing again to one it holds is still fine.
        assert send("abuse=", {"action": "subscribe", "topic": "open-test-topic", "subject": "s0"}).outcome == (200, None)
        assert count(sql, "websocket_subscriptions") == 4
    finally:
        TOPICS.remove("open-test-topic")


def test_a_flooding_connection_is_limited_then_closed(careconnect_runtime, careconnect_connections, sql):
    set_settings(
        make_settings(
            careconnect_runtime.database_url, management_endpoint=careconnect_connections.url, max_messages_per_second=5
        )
    )
    assert connect("flood=", token=token_for("mallory")).outcome == (200, None)
    assert connect("calm=", token=token_for("bob")).outcome == (200, None)
    careconnect_connections.open.update({"flood=", "calm="})
    # All within one rate window (the window is one wall-clock second): wait for a fresh one.
    time.sleep(1 - time.time() % 1)
    results = [send("flood=", {"action": "ping"}).outcome for _ in range(12)]
    assert results[:5] == [(200, None)] * 5
    assert set(results[5:]) == {(429, "rate_limited")}
    # Past twice the limit the connection was closed through @connections DELETE.
    assert "flood=" in careconnect_connections.deleted
    assert "calm=" not in careconnect_connections.deleted
    assert send("calm=", {"action": "ping"}).outcome == (200, None)


def test_reregistering_an_id_for_another_user_drops_the_old_subscriptions(careconnect_runtime, sql):
    assert connect("reused=", token=token_for("alice")).outcome == (200, None)
    assert send("reused=", {"action": "subscribe", "topic": "email-verification"}).outcome == (200, None)
    assert connect("reused=", token=token_for("bob")).outcome == (200, None)
    assert count(sql, "websocket_subscriptions") == 0
    # The same user reconnecting on the same id keeps them (idempotent $connect).
    assert send("reused=", {"action": "subscribe", "topic": "email-verification"}).outcome == (200, None)
    assert connect("reused=", token=token_for("bob")).outcome == (200, None)
    assert count(sql, "websocket_subscriptions") == 1


# -- what reaches the logs ------------------------------------------------------------------------


def test_logs_name_only_known_actions_and_bound_every_client_value(careconnect_runtime, caplog):
    assert connect("abuse=", token=token_for("alice")).outcome == (200, None)
    caplog.set_level(logging.INFO, logger="careconnect_ws")
    caplog.clear()
    huge = "A" * 125_000
    assert send("abuse=", {"action": huge}).outcome == (400, "unknown_action")
    assert send("abuse=", {"action": "ping"}).outcome == (200, None)
    handled = [r for r in caplog.records if r.getMessage() == "handled"]
    assert [r.action for r in handled] == ["unknown", "ping"]
    for record in caplog.records:
        assert huge[:200] not in json.dumps(vars(record), default=str)


def test_an_unhandled_error_logs_where_not_what(careconnect_runtime, caplog, monkeypatch):
    from careconnect_ws import routing

    def explode(ctx):
        raise RuntimeError("Failing row contains (secret-patient-value)")

    monkeypatch.setitem(routing.router.actions._items, "ping", explode)
    assert connect("abuse=", token=token_for("alice")).outcome == (200, None)
    caplog.set_level(logging.INFO, logger="careconnect_ws")
    assert send("abuse=", {"action": "ping"}).outcome == (500, "internal_error")
    lines = json.dumps([vars(r) for r in caplog.records], default=str)
    assert "secret-patient-value" not in lines
    error = next(r for r in caplog.records if r.getMessage() == "unhandled error")
    assert error.errorType == "RuntimeError" and any("explode" in w for w in error.where)


# -- inputs a client (or a stray invocation) controls -----------------------------------------


def test_a_number_past_the_integer_digit_limit_is_invalid_json(careconnect_runtime):
    assert connect("abuse=", token=token_for("alice")).outcome == (200, None)
    assert send("abuse=", '{"action": "ping", "n": ' + "9" * 5000 + "}").outcome == (400, "invalid_json")


def _ctx(**changes):
    event = make_event("message", connection_id="shape=", body={"action": "ping"})
    event["requestContext"].update(changes)
    return event


@pytest.mark.parametrize(
    "event",
    [
        _ctx(connectionId=42),
        _ctx(connectionId=""),
        _ctx(connectionId="x" * 500),
        _ctx(connectionId="a\x00b"),
        _ctx(routeKey=["$default"]),
        _ctx(identity="1.2.3.4"),
        _ctx(identity={"sourceIp": 1234}),
        _ctx(authorizer={"userId": 7}),
        _ctx(authorizer={"userId": "\ud800"}),
        _ctx(authorizer="alice"),
        _ctx(disconnectStatusCode=99999, eventType="DISCONNECT", routeKey="$disconnect"),
        _ctx(disconnectStatusCode="1000", eventType="DISCONNECT", routeKey="$disconnect"),
        {**_ctx(), "headers": ["Host"]},
        {**_ctx(), "headers": {"Host": 1}},
        {**_ctx(), "queryStringParameters": "token=x"},
        {**_ctx(), "queryStringParameters": {"token": ["a", "b"]}},
        {**_ctx(), "body": "!!not base64!!", "isBase64Encoded": True},
        {**_ctx(), "body": {"action": "ping"}},
        {**_ctx(), "isBase64Encoded": "yes"},
        {"type": "REQUEST", "methodArn": 12},
        {"type": "REQUEST", "methodArn": "arn:aws:execute-api:x", "queryStringParameters": {"token": 5}},
    ],
)
def test_events_api_gateway_never_sends_are_invalid_event(careconnect_runtime, sql, event):
    response = lambda_handler(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == "invalid_event"
    assert count(sql) == 0


def test_the_subscription_cap_holds_under_concurrent_subscribes_on_one_connection(careconnect_runtime, sql, careconnect_database):
    """Hardening round 4: concurrent subscribes on one connection reached 59 against a cap of 50 (each counted
    the committed subscriptions, so two at once both saw room for one more). Forced here: one subscribe holds its
    transaction open while another runs."""
    import threading

    import psycopg

    assert connect("abuse=", token=token_for("alice")).outcome == (200, None)
    call_subscribe = "SELECT inserted FROM careconnect_ws_subscribe('abuse=', 'open-race-topic', %s, 2, NULL, 1000, 100000, 64)"
    assert sql.execute(call_subscribe, ["s0"]).fetchone()[0] is True
    second: list[bool] = []
    with psycopg.connect(careconnect_database.url) as first:  # a transaction of its own, left open
        assert first.execute(call_subscribe, ["s1"]).fetchone()[0] is True

        def other() -> None:
            with psycopg.connect(careconnect_database.url, autocommit=True) as conn:
                second.append(conn.execute(call_subscribe, ["s2"]).fetchone()[0])

        racer = threading.Thread(target=other)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "the second subscribe waits for the first's transaction"
        first.commit()
    racer.join(10)
    assert second == [False]
    assert count(sql, "websocket_subscriptions") == 2
