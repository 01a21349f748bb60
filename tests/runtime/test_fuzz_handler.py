"""Property-based fuzzing of the handler on a real PostgreSQL.

Events are built from the captured shapes with hypothesis changing what a client, a stray
invocation or a broken harness could change: any JSON where a value is expected, odd text in
every string, random bodies, tokens and commands. For every event:

* nothing escapes the handler and nothing answers 5xx (the database is up, so a 5xx is our bug);
* a bystander's connection row and subscriptions never change;
* a refused ``$connect`` stores nothing.

``FUZZ_EXAMPLES`` sets how many examples run (default 2,000, derandomized so CI is repeatable);
``FUZZ_EXAMPLES=10000 FUZZ_RANDOM=1 pytest tests/runtime/test_fuzz_handler.py`` for a longer, random run.
"""

from __future__ import annotations

import copy
import json
import os
import time

import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careconnect_ws.handler import COMMAND_KEY, lambda_handler
from careconnect_ws.settings import set_settings
from tests.support.events import load_event
from tests.support.runtime import SECRET, make_settings, token_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"

VICTIM, VICTIM_CID = "victim", "victim-connection="
CIDS = ["m-1=", "m-2=", "m-3=", "Zm9vYmFy"]  # the attacker's ids (never the victim's: AWS assigns them)
USERS = ["mallory", "mallory-2", "eve"]

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\ud800", "$connect", "ping", "email-verification", VICTIM, "9" * 5000]),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
odd_text = st.one_of(st.text(max_size=60), st.sampled_from(["", "\x00", "\ud800", "A" * 5000, VICTIM]))
extreme_number = st.sampled_from([-(10**20), -1, 0, 2**31, 2**33, 2**63, 2**64, -(2**63) - 1, 1e308, -1e308, 10**300, 0.5])


@st.composite
def nested(draw):
    """JSON nested 1 to 2,000 levels deep, objects and arrays mixed (the stream-poisoning payloads)."""
    depth = draw(st.one_of(st.integers(1, 40), st.sampled_from([987, 1497, 2000])))
    value: object = draw(json_leaf)
    for level in range(depth):
        value = {"a": value} if (level + draw(st.integers(0, 1))) % 2 else [value]
    return value


@st.composite
def tokens(draw):
    kind = draw(st.sampled_from(["good", "foreign-aud", "expired", "garbage", "odd-sub", "odd-claims", "none"]))
    user = draw(st.sampled_from(USERS))
    now = int(time.time())
    if kind == "good":
        return token_for(user)
    if kind == "foreign-aud":
        return jwt.encode({"sub": user, "aud": "billing-api", "exp": now + 60}, SECRET, algorithm="HS256")
    if kind == "expired":
        return jwt.encode({"sub": user, "exp": now - 3600}, SECRET, algorithm="HS256")
    if kind == "odd-sub":
        sub = draw(json_value)
        return jwt.encode({"sub": sub, "exp": now + 60}, SECRET, algorithm="HS256")
    if kind == "odd-claims":  # signed, so only the claims' values are odd: times out of range, jti of any shape
        claims: dict = {"sub": user, "exp": now + 60}
        for claim in draw(st.lists(st.sampled_from(["iat", "exp", "nbf", "jti"]), min_size=1, max_size=3, unique=True)):
            claims[claim] = draw(extreme_number | json_value | st.just("j" * 300))
        return jwt.encode(claims, SECRET, algorithm="HS256")
    if kind == "none":
        return None
    return draw(odd_text)


@st.composite
def message_bodies(draw):
    kind = draw(st.sampled_from(["action", "json", "text", "bytes"]))
    if kind == "action":
        message = {"action": draw(st.sampled_from(["ping", "subscribe", "unsubscribe", "nope"]) | odd_text)}
        for field in draw(st.lists(st.sampled_from(["topic", "subject", "id", "extra", "since"]), max_size=3)):
            message[field] = draw(st.sampled_from(["email-verification", VICTIM]) | json_value | extreme_number)
        return json.dumps(message, ensure_ascii=draw(st.booleans())), False
    if kind == "json":
        return json.dumps(draw(json_value)), False
    if kind == "text":
        return draw(odd_text), False
    import base64

    raw = draw(st.binary(max_size=200))
    return (base64.b64encode(raw).decode() if draw(st.booleans()) else draw(odd_text)), True


def _mutate(draw, mapping, keys):
    for key in draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)):
        if draw(st.booleans()):
            mapping.pop(key, None)
        else:
            mapping[key] = draw(json_value)


@st.composite
def websocket_events(draw):
    name = draw(st.sampled_from(["connect", "message", "disconnect"]))
    event = copy.deepcopy(load_event(name))
    ctx = event["requestContext"]
    ctx["connectionId"] = draw(st.sampled_from(CIDS) | odd_text)
    if name == "connect":
        token = draw(tokens())
        event["queryStringParameters"] = None if token is None else {"token": token}
        if draw(st.integers(0, 4)) == 0:
            ctx["authorizer"] = {"userId": draw(st.sampled_from(USERS) | json_value), "tokenExpiresAt": draw(json_value)}
    if name == "message":
        event["body"], event["isBase64Encoded"] = draw(message_bodies())
    if name == "disconnect":
        ctx["disconnectStatusCode"] = draw(st.sampled_from([1000, 1001, 1006]) | json_value)
        ctx["disconnectReason"] = draw(odd_text | json_value)
    if draw(st.integers(0, 3)) == 0:
        _mutate(draw, ctx, ["routeKey", "eventType", "identity", "stage", "apiId", "domainName", "requestId", "connectedAt"])
    if draw(st.integers(0, 3)) == 0:
        _mutate(draw, event, ["headers", "queryStringParameters", "body", "isBase64Encoded", "multiValueHeaders"])
    return event


@st.composite
def other_events(draw):
    kind = draw(st.sampled_from(["authorizer", "command", "anything"]))
    if kind == "authorizer":
        event = copy.deepcopy(load_event("authorizer"))
        token = draw(tokens())
        event["queryStringParameters"] = None if token is None else {"token": token}
        if draw(st.integers(0, 3)) == 0:
            event["methodArn"] = draw(json_value)
        return event
    if kind == "command" and draw(st.booleans()):
        return {COMMAND_KEY: draw(backend_commands())}
    if kind == "command":
        command = {"command": draw(st.sampled_from(["notify", "cleanup", "disconnect-user", "other"]) | json_value)}
        command["notification"] = draw(st.sampled_from(["email-verified"]) | json_value)
        command["userId"] = draw(st.sampled_from(USERS) | odd_text | json_value)
        command["email"] = draw(json_value)
        if command["userId"] == VICTIM:  # the backend's own commands are trusted; the victim is not the target
            command["userId"] = "mallory"
        return {COMMAND_KEY: command}
    return draw(json_value)


@st.composite
def backend_commands(draw):
    """A backend's publish, revocation, restore and withdrawal with odd, nested and numeric-extreme values."""
    name = draw(st.sampled_from(["publish", "revoke-token", "restore-user", "withdraw-access"]))
    command: dict = {"command": name}
    if name == "publish":
        command["topic"] = draw(st.sampled_from(["email-verification"]) | odd_text)
        command["subject"] = draw(st.sampled_from(["mallory", "eve"]) | odd_text | json_value)
        command["payload"] = draw(nested() | json_value | st.builds(lambda n: {"n": n}, extreme_number))
        if command["subject"] == VICTIM:
            command["subject"] = "mallory"
    elif name == "revoke-token":
        command["jti"] = draw(odd_text | json_value | st.just("j" * 300))
        command["exp"] = draw(extreme_number | json_value)
    else:
        command["userId"] = draw(st.sampled_from(USERS) | odd_text | json_value)
        command["topic"] = draw(st.sampled_from(["email-verification"]) | odd_text | json_value)
        command["subject"] = draw(st.none() | odd_text | json_value)
        if command["userId"] == VICTIM:  # the backend's own commands are trusted; the victim is not the target
            command["userId"] = "mallory"
    return command


def _state(sql):
    row = sql.execute("SELECT * FROM websocket_connections WHERE connection_id = %s", [VICTIM_CID]).fetchone()
    subs = sql.execute(
        "SELECT topic, subject FROM websocket_subscriptions WHERE connection_id = %s ORDER BY 1, 2", [VICTIM_CID]
    ).fetchall()
    return row, subs


@pytest.fixture
def victim(careconnect_runtime, careconnect_connections, sql):
    # Lift the rate limit: a fuzzer sends faster than any client and would only test the 429 path.
    set_settings(
        make_settings(
            careconnect_runtime.database_url,
            management_endpoint=careconnect_connections.url,
            max_messages_per_second=0,
            max_messages_per_user_per_second=0,
            max_connections_per_user=3,
        )
    )
    connect = copy.deepcopy(load_event("connect"))
    connect["requestContext"]["connectionId"] = VICTIM_CID
    connect["queryStringParameters"] = {"token": token_for(VICTIM)}
    assert lambda_handler(connect)["statusCode"] == 200
    message = copy.deepcopy(load_event("message"))
    message["requestContext"]["connectionId"] = VICTIM_CID
    message["body"] = json.dumps({"action": "subscribe", "topic": "email-verification"})
    assert lambda_handler(message)["statusCode"] == 200
    return _state(sql)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(event=st.one_of(websocket_events(), websocket_events(), other_events()))
def test_no_client_shaped_event_escapes_or_answers_5xx(victim, sql, event):
    cid = None
    if isinstance(event, dict) and isinstance(event.get("requestContext"), dict):
        cid = event["requestContext"].get("connectionId")
    stored_before = _rows_for(sql, cid)
    response = lambda_handler(event)
    assert isinstance(response, dict)
    status = response.get("statusCode", 200)  # authorizer answers are policies, not status codes
    assert status < 500, (status, response.get("body"))
    if "body" in response:
        json.loads(response["body"])
    assert _state(sql) == victim, "a bystander's connection or subscriptions changed"
    if cid is not None and event.get("requestContext", {}).get("eventType") == "CONNECT" and status != 200:
        assert _rows_for(sql, cid) == stored_before, "a refused $connect stored something"


def _rows_for(sql, cid):
    if not isinstance(cid, str) or "\x00" in cid:
        return None
    try:
        cid.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return sql.execute("SELECT * FROM websocket_connections WHERE connection_id = %s", [cid]).fetchall()
