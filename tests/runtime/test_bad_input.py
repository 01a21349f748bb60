"""Bad input gets a clear error with a stable code, and nothing is lost or raised."""

from __future__ import annotations

import base64
import json

import pytest

from careconnect_ws.handler import lambda_handler
from careconnect_ws.limits import LIMITS
from tests.support.events import make_event
from tests.support.runtime import token_for

CID = "conn-bad-input="


@pytest.fixture
def connected(careconnect_runtime, sql):
    assert lambda_handler(make_event("connect", connection_id=CID, query={"token": token_for("alice")}))["statusCode"] == 200
    return sql


def send_raw(body, *, b64=False):
    event = make_event("message", connection_id=CID)
    event["body"] = body
    event["isBase64Encoded"] = b64
    response = lambda_handler(event)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ("", 400, "empty_message"),
        (None, 400, "empty_message"),
        ("[1, 2, 3]", 400, "invalid_message"),
        ('"just a string"', 400, "invalid_message"),
        ("{}", 400, "missing_field"),
        ('{"action": 42}', 400, "invalid_field"),
        ('{"action": null}', 400, "missing_field"),
        ('{"action": "launch-missiles"}', 400, "unknown_action"),
        ('{"action": "subscribe"}', 400, "missing_field"),
        ('{"action": "subscribe", "topic": ["email-verification"]}', 400, "invalid_field"),
        ('{"action": "subscribe", "topic": ""}', 400, "invalid_field"),
        ('{"action": "subscribe", "topic": "lab-results"}', 404, "unknown_topic"),
        ('{"action": "subscribe", "topic": "email-verification", "subject": "bob"}', 403, "forbidden"),
        ('{"action": "subscribe", "topic": "email-verification", "subject": "\\u0000"}', 400, "invalid_field"),
        ('{"action": "subscribe", "topic": "email-verification", "subject": "\\ud800"}', 400, "invalid_field"),
        ('{"action": "subscribe", "topic": "email-verification", "subject": "' + "x" * 300 + '"}', 400, "invalid_field"),
        ("[" * 100_000 + "]" * 100_000, 413, "message_too_large"),
        ('{"action": "ping", "pad": "' + "x" * LIMITS.max_message_bytes + '"}', 413, "message_too_large"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else str(v),
)
def test_bad_messages_get_stable_error_codes(connected, body, status, code):
    got_status, reply = send_raw(body)
    assert (got_status, reply["type"], reply["code"]) == (status, "error", code)
    assert reply["message"]
    # The connection survives and still works.
    assert send_raw('{"action": "ping"}') == (200, {"type": "pong"})
    assert connected.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


def test_deeply_nested_json_under_the_size_limit(connected):
    assert send_raw("[" * 50_000 + "]" * 50_000)[1]["code"] in ("invalid_json", "invalid_message")


def test_invalid_utf8_in_a_binary_frame(connected):
    status, reply = send_raw(base64.b64encode(b'{"action": "\xff\xfe"}').decode(), b64=True)
    assert (status, reply["code"]) == (400, "invalid_encoding")


def test_binary_frame_with_valid_json_is_accepted(connected):
    assert send_raw(base64.b64encode(b'{"action": "ping"}').decode(), b64=True) == (200, {"type": "pong"})


def test_odd_but_valid_unicode_round_trips(connected):
    status, reply = send_raw(json.dumps({"action": "ping", "id": "😀 ünï\u200bcode \u202e"}))
    assert (status, reply["id"]) == (200, "😀 ünï\u200bcode \u202e")


def test_sql_injection_looking_strings_are_stored_verbatim(careconnect_runtime, sql):
    evil = "alice'); DROP TABLE websocket_connections; --"
    cid = "x'; DELETE FROM websocket_connections; --"
    assert lambda_handler(make_event("connect", connection_id=cid, query={"token": token_for(evil)}))["statusCode"] == 200
    event = make_event("message", connection_id=cid, body={"action": "subscribe", "topic": "email-verification"})
    assert json.loads(lambda_handler(event)["body"])["subject"] == evil
    assert sql.execute("SELECT connection_id, user_id FROM websocket_connections").fetchall() == [(cid, evil)]
    assert sql.execute("SELECT subject FROM websocket_subscriptions").fetchall() == [(evil,)]


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("not.a.jwt", "invalid_token"),
        ("x" * 10_000, "invalid_token"),
    ],
)
def test_connect_with_bad_tokens_is_refused_and_stores_nothing(careconnect_runtime, sql, token, code):
    query = None if token is None else {"token": token}
    event = make_event("connect", query=query) if query is not None else make_event("connect")
    response = lambda_handler(event)
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (401, code)
    assert sql.execute("SELECT count(*) FROM websocket_connections").fetchone()[0] == 0


def test_expired_token_is_refused(careconnect_runtime, sql):
    expired = token_for("alice", ttl_seconds=60, now=1_000_000)
    response = lambda_handler(make_event("connect", query={"token": expired}))
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (401, "token_expired")


def test_token_signed_with_another_key_is_refused(careconnect_runtime, sql):
    from careconnect_ws.settings import Settings
    from careconnect_ws.tokens import issue_token

    forged = issue_token("alice", Settings(jwt_secret="another-secret-that-is-32-bytes-long!!"))
    response = lambda_handler(make_event("connect", query={"token": forged}))
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (401, "invalid_token")


def test_alg_none_token_is_refused(careconnect_runtime, sql):
    import jwt

    unsigned = jwt.encode({"sub": "alice", "exp": 4_000_000_000}, key=None, algorithm="none")
    response = lambda_handler(make_event("connect", query={"token": unsigned}))
    assert response["statusCode"] == 401


def test_a_token_for_another_user_cannot_subscribe_to_their_topic(careconnect_runtime, sql):
    lambda_handler(make_event("connect", connection_id="mallory-conn", query={"token": token_for("mallory")}))
    event = make_event(
        "message", connection_id="mallory-conn", body={"action": "subscribe", "topic": "email-verification", "subject": "alice"}
    )
    response = lambda_handler(event)
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (403, "forbidden")
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0
