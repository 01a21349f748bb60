"""Every route with events shaped like the real captures; registry state checked in SQL after each step."""

from __future__ import annotations

import json

import pytest

from careconnect_ws.handler import lambda_handler
from careconnect_ws.testing import connect, send
from tests.support.events import load_event, make_event
from tests.support.runtime import token_for

CID = "BFHPhfCWIAMCKlQ="


def row(sql, cid=CID):
    return sql.execute(
        "SELECT user_id, callback_url, is_active, disconnect_status_code, disconnect_reason, source_ip, user_agent,"
        " expires_at - connected_at AS ttl, last_activity_at FROM websocket_connections WHERE connection_id = %s",
        [cid],
    ).fetchone()


def test_connect_registers_the_connection(careconnect_runtime, sql):
    assert connect(CID, "user-1") == (200, {})
    user, callback, active, code, reason, ip, ua, ttl, _ = row(sql)
    assert (user, active, code, reason, ip, ua) == ("user-1", True, None, None, "166.90.225.1", "Mozilla/5.0 (test)")
    # Derived from apiId, region and stage, not domainName (custom domains do not serve @connections).
    assert callback == "https://abc123defg.execute-api.us-east-1.amazonaws.com/prod"
    assert ttl.total_seconds() == 7200


def test_connect_is_an_idempotent_upsert(careconnect_runtime, sql):
    assert connect(CID, "user-1").status == 200
    assert connect(CID, "user-1").status == 200
    assert sql.execute("SELECT count(*) FROM websocket_connections").fetchone()[0] == 1


def test_connect_without_query_string_is_refused_and_stores_nothing(careconnect_runtime, sql):
    event = load_event("connect")
    assert "queryStringParameters" not in event  # as AWS sends it: absent, not empty
    response = lambda_handler(event)
    assert response["statusCode"] == 401
    assert json.loads(response["body"])["code"] == "missing_token"
    assert sql.execute("SELECT count(*) FROM websocket_connections").fetchone()[0] == 0


def test_connect_with_null_headers_and_query(careconnect_runtime, sql):
    event = make_event("connect", query={"token": token_for("u")})
    event["headers"] = None
    event["multiValueHeaders"] = None
    assert lambda_handler(event)["statusCode"] == 200
    assert row(sql)[6] is None


def test_connect_takes_identity_from_the_authorizer_context(careconnect_runtime, sql):
    response = lambda_handler(make_event("connect", authorizer={"userId": "from-authorizer", "principalId": "from-authorizer"}))
    assert response["statusCode"] == 200
    assert row(sql)[0] == "from-authorizer"


def test_management_endpoint_override_is_stored(careconnect_runtime, sql):
    from careconnect_ws.settings import set_settings
    from tests.support.runtime import make_settings

    set_settings(make_settings(careconnect_runtime.database_url, management_endpoint="https://custom.example/prod"))
    assert connect(CID, "user-1").status == 200
    assert row(sql)[1] == "https://custom.example/prod"


def test_ping_gets_pong_through_the_route_response(careconnect_runtime, sql):
    connect(CID, "user-1")
    status, body = send(CID, {"action": "ping", "id": "req-1"})
    assert (status, body) == (200, {"type": "pong", "id": "req-1"})


def test_a_message_writes_last_activity_only_once_per_touch_interval(careconnect_runtime, sql):
    connect(CID, "user-1")
    assert careconnect_runtime.touch_interval_seconds == 60
    # Fresh activity: a message is a read, the row is not written.
    sql.execute("UPDATE websocket_connections SET last_activity_at = now() - interval '59 seconds'")
    before = row(sql)[8]
    xmin_before = sql.execute("SELECT xmin::text FROM websocket_connections").fetchone()[0]
    for _ in range(5):
        assert send(CID, {"action": "ping"})[0] == 200
    assert row(sql)[8] == before
    assert sql.execute("SELECT xmin::text FROM websocket_connections").fetchone()[0] == xmin_before
    # Activity older than the interval: the next message refreshes it, once.
    sql.execute("UPDATE websocket_connections SET last_activity_at = now() - interval '61 seconds'")
    stale = row(sql)[8]
    assert send(CID, {"action": "ping"})[0] == 200
    refreshed = row(sql)[8]
    assert refreshed > stale
    assert send(CID, {"action": "ping"})[0] == 200
    assert row(sql)[8] == refreshed


def test_subscribe_and_unsubscribe_email_verification(careconnect_runtime, sql):
    connect(CID, "user-1")
    assert send(CID, {"action": "subscribe", "topic": "email-verification"}) == (
        200,
        {"type": "subscribed", "topic": "email-verification", "subject": "user-1", "seq": 0},
    )
    # Subscribing twice is fine and stores one row.
    assert send(CID, {"action": "subscribe", "topic": "email-verification", "subject": "user-1"})[0] == 200
    assert sql.execute("SELECT topic, subject FROM websocket_subscriptions WHERE connection_id = %s", [CID]).fetchall() == [
        ("email-verification", "user-1")
    ]
    status, body = send(CID, {"action": "unsubscribe", "topic": "email-verification"})
    assert (status, body["type"], body["wasSubscribed"]) == (200, "unsubscribed", True)
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


def test_disconnect_deactivates_with_code_and_reason(careconnect_runtime, sql):
    connect(CID, "user-1")
    send(CID, {"action": "subscribe", "topic": "email-verification"})
    assert lambda_handler(make_event("disconnect"))["statusCode"] == 200
    _, _, active, code, reason, *_ = row(sql)
    assert (active, code, reason) == (False, 1001, "Going away")
    # Idempotent: a second $disconnect changes nothing.
    assert lambda_handler(make_event("disconnect", disconnectStatusCode=1006))["statusCode"] == 200
    assert row(sql)[3] == 1001


def test_disconnect_with_empty_reason_records_a_default(careconnect_runtime, sql):
    connect(CID, "user-1")
    lambda_handler(make_event("disconnect", disconnectReason="", disconnectStatusCode=1000))
    assert row(sql)[3:5] == (1000, "client-disconnect")


def test_message_after_disconnect_is_not_connected(careconnect_runtime, sql):
    connect(CID, "user-1")
    lambda_handler(make_event("disconnect"))
    status, body = send(CID, {"action": "ping"})
    assert (status, body["code"]) == (410, "not_connected")


def test_custom_route_key_messages_are_routed_by_action(careconnect_runtime, sql):
    connect(CID, "user-1")
    event = make_event("message", body={"action": "ping"}, routeKey="ping")
    assert json.loads(lambda_handler(event)["body"]) == {"type": "pong"}


def test_scheduled_event_runs_cleanup_and_closes_through_management_api(careconnect_connections, sql):
    connect(CID, "user-1")
    careconnect_connections.open.add(CID)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 second'")
    response = lambda_handler(load_event("scheduled"))
    assert response["statusCode"] == 200
    result = json.loads(response["body"])
    assert (result["deactivated"], result["ttlExpired"], result["closed"]) == (1, 1, 1)
    assert careconnect_connections.deleted == [CID]
    assert row(sql)[2:5] == (False, 1001, "ttl-expired")


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ([], "invalid_event"),
        ({"hello": "world"}, "unknown_event"),
        ({"careconnect_ws": {"command": "explode"}}, "unknown_command"),
        ({"careconnect_ws": {"command": "notify", "notification": "sms"}}, "unknown_notification"),
        ({"careconnect_ws": {"command": "notify", "notification": "email-verified", "userId": 7}}, "invalid_field"),
    ],
)
def test_unknown_events_are_answered_not_raised(careconnect_runtime, event, code):
    response = lambda_handler(event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["code"] == code


def test_one_error_vocabulary_a_custom_action_refuses_with_its_code_and_status(careconnect_connections):
    """What a team extending the runtime writes: an action that refuses raises ``MessageError`` (or the old
    ``routing.ClientError``, the same class) and the reply carries its code and status, nothing else to wire."""
    from careconnect_ws.errors import MessageError, RequestError
    from careconnect_ws.routing import ClientError, router

    assert ClientError is MessageError and issubclass(MessageError, RequestError)

    @router.action("test-refuse")
    def refuse(ctx):
        raise MessageError("not_your_ward", "this ward is not yours", status=403)

    try:
        assert lambda_handler(make_event("connect", connection_id="e=", query={"token": token_for("u")}))["statusCode"] == 200
        response = lambda_handler(make_event("message", connection_id="e=", body={"action": "test-refuse", "id": "7"}))
        assert response["statusCode"] == 403
        assert json.loads(response["body"]) == {
            "type": "error",
            "code": "not_your_ward",
            "message": "this ward is not yours",
            "id": "7",
        }
    finally:
        router.actions.remove("test-refuse")


def test_a_database_that_cannot_serve_has_one_name_in_replies_and_log_lines(careconnect_runtime, caplog):
    import logging

    from careconnect_ws import db as db_module
    from careconnect_ws.settings import set_settings
    from tests.support.runtime import make_settings

    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
    db_module.reset_database()
    outcomes, codes = set(), set()
    for event in (
        make_event("connect", connection_id="x=", query={"token": token_for("u")}),
        make_event("message", connection_id="x=", body={"action": "ping"}),
        make_event("disconnect", connection_id="x="),
        {"careconnect_ws": {"command": "cleanup"}},
    ):
        with caplog.at_level(logging.INFO, logger="careconnect_ws"):
            db_module.reset_database()
            response = lambda_handler(event)
        assert response["statusCode"] == 503
        codes.add(json.loads(response["body"])["code"])
        outcomes.add(next(r.outcome for r in reversed(caplog.records) if r.getMessage() == "handled"))
    assert codes == outcomes == {"service_unavailable"}
