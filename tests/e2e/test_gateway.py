"""End to end through the local gateway: real WebSocket clients, real sockets, real PostgreSQL, the same handler."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from careconnect_ws.handler import lambda_handler
from careconnect_ws.limits import GatewayLimits
from careconnect_ws.notifications import notify_email_verified
from tests.support.runtime import SECRET, token_for

ID_FORM = re.compile(r"^[A-Za-z0-9_-]{15}=$")


def open_ws(gateway, user="alice", **kw):
    return connect(f"{gateway.url}?token={token_for(user)}", **kw)


def call(ws, message: dict) -> dict:
    ws.send(json.dumps(message))
    return json.loads(ws.recv(timeout=10))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def assert_closed_with(ws, code: int) -> None:
    with pytest.raises(ConnectionClosed) as err:
        ws.recv(timeout=10)
    assert err.value.rcvd.code == code


def assert_row_closed_with(sql, code: int) -> None:
    wait_for(lambda: rows(sql)[0][2] is False)
    assert rows(sql)[0][3] == code


def rows(sql):
    return sql.execute(
        "SELECT connection_id, user_id, is_active, disconnect_status_code, disconnect_reason FROM websocket_connections"
        " ORDER BY connected_at"
    ).fetchall()


# -- connecting -------------------------------------------------------------------------------------------


def test_connect_with_a_valid_token_registers_the_connection(gateway, sql):
    with open_ws(gateway) as ws:
        assert call(ws, {"action": "ping"}) == {"type": "pong"}
        (cid,) = gateway.open_connection_ids()
        assert ID_FORM.match(cid)
        assert rows(sql) == [(cid, "alice", True, None, None)]


def test_connect_without_a_token_is_refused_401(gateway, sql):
    with pytest.raises(InvalidStatus) as err:
        connect(gateway.url)
    assert err.value.response.status_code == 401
    assert rows(sql) == []


def test_connect_with_a_bad_token_is_refused_403_by_the_authorizer(gateway, sql):
    with pytest.raises(InvalidStatus) as err:
        connect(f"{gateway.url}?token=forged")
    assert err.value.response.status_code == 403
    assert rows(sql) == []


def test_without_authorizer_the_connect_handler_answers_401(start_gateway, sql):
    gw = start_gateway(authorizer=False)
    with pytest.raises(InvalidStatus) as err:
        connect(f"{gw.url}?token=forged")
    assert err.value.response.status_code == 401
    with connect(f"{gw.url}?token={token_for('bob')}") as ws:
        assert call(ws, {"action": "ping"}) == {"type": "pong"}


# -- messages, subscriptions, notifications ----------------------------------------------------------------


def test_subscribe_then_notify_reaches_only_that_user(gateway, sql, careconnect_database):
    with open_ws(gateway, "alice") as alice, open_ws(gateway, "bob") as bob:
        assert call(alice, {"action": "subscribe", "topic": "email-verification"})["type"] == "subscribed"
        assert call(bob, {"action": "subscribe", "topic": "email-verification"})["type"] == "subscribed"
        # The Python API.
        result = notify_email_verified("alice", email="alice@example.org")
        assert result.reached == 1 and result.gone == [] and result.failed == {}
        pushed = json.loads(alice.recv(timeout=10))
        assert (pushed["type"], pushed["status"], pushed["userId"]) == ("email-verification", "verified", "alice")
        # The CLI, from "another terminal".
        env = {
            **os.environ,
            "DATABASE_URL": careconnect_database.url,
            "WS_JWT_SECRET": SECRET,
            "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": gateway.management_url,
        }
        proc = subprocess.run(
            [sys.executable, "-m", "careconnect_ws", "notify", "email-verified", "--user", "alice"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(alice.recv(timeout=10))["type"] == "email-verification"
        # Bob got nothing: a ping round trip proves his queue is empty.
        assert call(bob, {"action": "ping"}) == {"type": "pong"}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ('{"action": "fly"}', "unknown_action"),
        ('{"no": "action"}', "missing_field"),
        ('{"action": "subscribe", "topic": "email-verification", "subject": "bob"}', "forbidden"),
        (b"\xff\xfe", "invalid_encoding"),
    ],
)
def test_bad_messages_get_their_error_codes(gateway, frame, code):
    with open_ws(gateway) as ws:
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=10))
        assert (reply["type"], reply["code"]) == ("error", code)
        assert call(ws, {"action": "ping"}) == {"type": "pong"}


def test_message_over_128_kb_closes_with_1009(gateway, sql):
    with open_ws(gateway) as ws:
        ws.send(json.dumps({"action": "ping", "pad": "x" * (128 * 1024)}))
        assert_closed_with(ws, 1009)
    assert_row_closed_with(sql, 1009)


def test_client_close_marks_the_row_inactive_with_its_code(gateway, sql):
    with open_ws(gateway) as ws:
        call(ws, {"action": "ping"})
        ws.close(code=4000, reason="logging out")
    wait_for(lambda: rows(sql) and rows(sql)[0][2] is False)
    assert rows(sql)[0][2:] == (False, 4000, "logging out")


def test_vanished_client_next_send_gets_410_and_row_is_deactivated(start_gateway, sql):
    # $disconnect is best effort on AWS: this gateway's handler loses it, as AWS sometimes does.
    def handler_losing_disconnects(event, context):
        if event.get("requestContext", {}).get("eventType") == "DISCONNECT":
            return {"statusCode": 200}
        return lambda_handler(event, context)

    gw = start_gateway(handler=handler_losing_disconnects)
    with contextlib.suppress(ConnectionClosed, OSError), open_ws(gw) as ws:
        assert call(ws, {"action": "subscribe", "topic": "email-verification"})["type"] == "subscribed"
        (cid,) = gw.open_connection_ids()
        ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the network just went away
        ws.socket.close()
        wait_for(lambda: not gw.open_connection_ids())
    assert rows(sql)[0][2] is True  # the registry still believes in it
    result = notify_email_verified("alice")
    assert (result.delivered, result.gone) == ([], [cid])
    assert rows(sql)[0][2:] == (False, 410, "gone")


def test_idle_timeout_closes_with_1001_and_deactivates(start_gateway, sql):
    gw = start_gateway(idle_timeout_seconds=0.5)
    with open_ws(gw) as ws:
        assert_closed_with(ws, 1001)
    assert_row_closed_with(sql, 1001)


def test_activity_keeps_a_connection_alive_until_its_max_duration(start_gateway, sql):
    gw = start_gateway(idle_timeout_seconds=0.6, max_connection_seconds=1.5)
    with open_ws(gw) as ws:
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as err:
            while True:
                call(ws, {"action": "ping"})  # activity resets the idle timer
                time.sleep(0.2)
        lived = time.monotonic() - started
        assert err.value.rcvd.code == 1001
    assert 1.2 < lived < 5
    wait_for(lambda: rows(sql)[0][2] is False)


def test_throttling_refuses_the_burst_above_the_limit(start_gateway):
    gw = start_gateway(limits=GatewayLimits(throttling_rate_limit=1, throttling_burst_limit=10))
    with open_ws(gw) as ws:  # the connect takes one token
        for i in range(30):
            ws.send(json.dumps({"action": "ping", "id": str(i)}))
        replies = [json.loads(ws.recv(timeout=10)) for _ in range(30)]
    pongs = [r for r in replies if r.get("type") == "pong"]
    throttled = [r for r in replies if r.get("message") == "Too Many Requests"]
    assert len(pongs) + len(throttled) == 30
    assert 9 <= len(pongs) <= 11 and len(throttled) >= 19
    with pytest.raises(InvalidStatus) as err:  # new connections are throttled too
        for _ in range(5):
            open_ws(gw).close()
    assert err.value.response.status_code == 429


def test_many_concurrent_clients_nothing_lost(start_gateway, sql):
    from concurrent.futures import ThreadPoolExecutor

    gw = start_gateway(limits=GatewayLimits(throttling_rate_limit=10_000, throttling_burst_limit=10_000))
    clients, per_client = 200, 5

    def client(n: int) -> list[dict]:
        with connect(f"{gw.url}?token={token_for(f'user-{n}')}", open_timeout=30) as ws:
            got = []
            for i in range(per_client):
                ws.send(json.dumps({"action": "ping", "id": f"{n}-{i}"}))
            for _ in range(per_client):
                got.append(json.loads(ws.recv(timeout=30)))
            got.append(call(ws, {"action": "subscribe", "topic": "email-verification"}))
            return got

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(client, range(clients)))
    for n, got in enumerate(results):
        assert sorted(r["id"] for r in got[:per_client]) == sorted(f"{n}-{i}" for i in range(per_client))
        assert got[-1] == {"type": "subscribed", "topic": "email-verification", "subject": f"user-{n}", "seq": 0}
    wait_for(lambda: sql.execute("SELECT count(*) FROM websocket_connections WHERE NOT is_active").fetchone()[0] == clients, 30)
    assert sql.execute("SELECT count(*), count(DISTINCT user_id) FROM websocket_connections").fetchone() == (clients, clients)
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == clients
    assert sql.execute("SELECT DISTINCT disconnect_status_code FROM websocket_connections").fetchall() == [(1000,)]


def test_the_gateway_sends_events_shaped_like_api_gateway(start_gateway):
    seen: list[dict] = []

    def recording(event, context):
        seen.append(event)
        return lambda_handler(event, context)

    gw = start_gateway(handler=recording)
    with open_ws(gw) as ws:
        call(ws, {"action": "ping"})
    wait_for(lambda: any(e.get("requestContext", {}).get("eventType") == "DISCONNECT" for e in seen))
    authorizer, connect_event, message, disconnect = seen
    assert authorizer["type"] == "REQUEST" and authorizer["methodArn"].endswith("/prod/$connect")
    ctx = connect_event["requestContext"]
    assert (ctx["routeKey"], ctx["eventType"], ctx["stage"], ctx["apiId"]) == ("$connect", "CONNECT", "prod", "local")
    assert ID_FORM.match(ctx["connectionId"]) and "messageId" not in ctx
    assert isinstance(ctx["connectedAt"], int) and ctx["connectedAt"] > 1_700_000_000_000
    assert isinstance(ctx["requestTimeEpoch"], int) and ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["authorizer"]["userId"] == "alice" and ctx["authorizer"]["principalId"] == "alice"
    assert connect_event["queryStringParameters"]["token"] and connect_event["headers"]
    mctx = message["requestContext"]
    assert (mctx["routeKey"], mctx["eventType"]) == ("$default", "MESSAGE") and ID_FORM.match(mctx["messageId"])
    assert mctx["connectionId"] == ctx["connectionId"] and mctx["connectedAt"] == ctx["connectedAt"]
    assert message["body"] == '{"action": "ping"}' and message["isBase64Encoded"] is False
    dctx = disconnect["requestContext"]
    assert (dctx["eventType"], dctx["disconnectStatusCode"]) == ("DISCONNECT", 1000)
    assert "disconnectReason" in dctx and "messageId" not in dctx


def test_no_query_string_means_absent_query_parameters(start_gateway):
    seen: list[dict] = []

    def recording(event, context):
        seen.append(event)
        return lambda_handler(event, context)

    gw = start_gateway(handler=recording, authorizer=False)
    with pytest.raises(InvalidStatus):
        connect(gw.url)
    assert "queryStringParameters" not in seen[0]


# -- @connections with boto3, unchanged ------------------------------------------------------------------------


def test_boto3_post_get_delete_against_the_local_gateway(gateway, sql):
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=gateway.management_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    with open_ws(gateway) as ws:
        (cid,) = gateway.open_connection_ids()
        client.post_to_connection(ConnectionId=cid, Data=b'{"hello": "world"}')
        assert json.loads(ws.recv(timeout=10)) == {"hello": "world"}
        info = client.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["ConnectedAt"] <= info["LastActiveAt"]
        with pytest.raises(ClientError) as err:
            client.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024 + 1))
        assert err.value.response["Error"]["Code"] == "PayloadTooLargeException"
        client.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    wait_for(lambda: rows(sql)[0][2] is False)
    for op in (
        lambda: client.post_to_connection(ConnectionId=cid, Data=b"x"),
        lambda: client.get_connection(ConnectionId=cid),
        lambda: client.delete_connection(ConnectionId="never-existed="),
    ):
        with pytest.raises(client.exceptions.GoneException):
            op()


def test_unsigned_management_calls_are_refused(gateway):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{gateway.management_url}/@connections/abc=", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403


def test_the_gateway_enforces_the_limits_the_stage_is_synthesized_from(gateway, careconnect_runtime):
    """By behaviour, with the default configuration: the stage the construct synthesizes is the URL's, and its
    throttle (burst 500, then 100/s, one bucket for every client) refuses what is over it."""
    from dataclasses import replace

    from careconnect_ws.limits import LIMITS
    from careconnect_ws.settings import get_settings, set_settings
    from careconnect_ws_cdk.websocket_api_props import WebSocketApiProps

    assert gateway.url.endswith("/" + WebSocketApiProps.__dataclass_fields__["stage"].default)
    # Only the stage throttle may refuse here: the handler's own per-client limits off.
    set_settings(replace(get_settings(), max_messages_per_second=0, max_messages_per_user_per_second=0))
    sent = LIMITS.throttling_burst_limit + 200
    with open_ws(gateway, "burster") as ws:
        started = time.monotonic()
        for i in range(sent):
            ws.send(json.dumps({"action": "ping", "id": str(i)}))
        replies = [json.loads(ws.recv(timeout=30)) for _ in range(sent)]
        elapsed = time.monotonic() - started  # the bucket refills while the gateway works through the messages
    accepted = sum(1 for r in replies if r.get("type") == "pong")
    throttled = sum(1 for r in replies if r.get("message") == "Too Many Requests")
    assert accepted + throttled == sent and throttled > 0
    refill = LIMITS.throttling_rate_limit * (elapsed + 0.5)
    # The bucket starts full; the $connect took one token.
    assert LIMITS.throttling_burst_limit - 1 <= accepted <= LIMITS.throttling_burst_limit + refill, (accepted, elapsed)
