"""Sending through the Management API: boto3 over HTTP to a local @connections, Stubber for 429/413/403."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from careconnect_ws.errors import (
    ConnectionGone,
    ManagementForbidden,
    ManagementThrottled,
    PayloadTooLarge,
)
from careconnect_ws.handler import lambda_handler
from careconnect_ws.limits import LIMITS
from careconnect_ws.management import ManagementApi, management_endpoint, region_of
from careconnect_ws.registry import Recipient
from careconnect_ws.services import get_services
from tests.support.events import make_event
from tests.support.runtime import token_for

ENDPOINT = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"


def stubbed() -> tuple[ManagementApi, Stubber, list[float]]:
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=ENDPOINT,
        region_name="eu-west-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    sleeps: list[float] = []
    api = ManagementApi(client_factory=lambda endpoint: client, sleep=sleeps.append)
    return api, Stubber(client), sleeps


def test_endpoint_is_built_from_api_id_region_and_stage():
    assert (
        management_endpoint(api_id="abc", region="eu-west-1", stage="prod")
        == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"
    )
    assert region_of(ENDPOINT, None) == "eu-west-1"
    assert region_of("http://127.0.0.1:8080/prod", "us-east-2") == "us-east-2"


def test_429_is_retried_with_backoff_then_succeeds():
    api, stub, sleeps = stubbed()
    for _ in range(2):
        stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
    stub.add_response("post_to_connection", {}, {"ConnectionId": "c1", "Data": b'{"a":1}'})
    with stub:
        api.send(ENDPOINT, "c1", {"a": 1})
    stub.assert_no_pending_responses()
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 0.5


def test_429_that_persists_is_reported():
    api, stub, sleeps = stubbed()
    for _ in range(api.max_attempts):
        stub.add_client_error("post_to_connection", "LimitExceededException", http_status_code=429)
    with stub, pytest.raises(ManagementThrottled) as err:
        api.send(ENDPOINT, "c1", "hi")
    assert err.value.status == 429 and err.value.connection_id == "c1"
    assert len(sleeps) == api.max_attempts - 1


def test_413_from_api_gateway_is_reported():
    api, stub, _ = stubbed()
    stub.add_client_error("post_to_connection", "PayloadTooLargeException", http_status_code=413)
    with stub, pytest.raises(PayloadTooLarge):
        api.send(ENDPOINT, "c1", "hi")


def test_oversize_payload_is_refused_before_the_call():
    api, stub, _ = stubbed()
    with stub, pytest.raises(PayloadTooLarge) as err:
        api.send(ENDPOINT, "c1", "x" * (LIMITS.max_message_bytes + 1))
    assert "131073 bytes" in str(err.value)
    stub.assert_no_pending_responses()


def test_403_says_which_permission_is_missing():
    api, stub, _ = stubbed()
    stub.add_client_error("post_to_connection", "ForbiddenException", http_status_code=403)
    with stub, pytest.raises(ManagementForbidden) as err:
        api.send(ENDPOINT, "c1", "hi")
    assert "execute-api:ManageConnections" in str(err.value)


def test_410_is_connection_gone():
    api, stub, _ = stubbed()
    stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)
    with stub, pytest.raises(ConnectionGone):
        api.send(ENDPOINT, "c1", "hi")


def test_boto3_over_http_send_info_close(careconnect_connections):
    api = get_services().management
    careconnect_connections.open.add("abc=")
    api.send(careconnect_connections.url, "abc=", {"hello": "wörld"})
    assert careconnect_connections.messages_for("abc=") == [{"hello": "wörld"}]
    assert api.info(careconnect_connections.url, "abc=")["Identity"]["SourceIp"] == "127.0.0.1"
    api.close(careconnect_connections.url, "abc=")
    assert careconnect_connections.deleted == ["abc="]
    with pytest.raises(ConnectionGone):
        api.send(careconnect_connections.url, "abc=", "again")
    api.close(careconnect_connections.url, "abc=")  # closing a gone connection is not an error


def test_broadcast_where_some_recipients_are_gone(careconnect_connections, sql):
    services = get_services()
    ids = [f"c{i}=" for i in range(12)]
    for cid in ids:
        lambda_handler(make_event("connect", connection_id=cid, query={"token": token_for(f"user-{cid}")}))
    careconnect_connections.open.update(ids[:8])  # the last four vanished without a close frame
    result = services.delivery.broadcast([Recipient(cid, careconnect_connections.url) for cid in ids], {"type": "hello"})
    assert sorted(result.delivered) == sorted(ids[:8])
    assert sorted(result.gone) == sorted(ids[8:])
    assert result.failed == {}
    inactive = sql.execute(
        "SELECT connection_id, disconnect_status_code, disconnect_reason FROM websocket_connections WHERE NOT is_active ORDER BY 1"
    ).fetchall()
    assert inactive == [(cid, 410, "gone") for cid in sorted(ids[8:])]


def test_broadcast_keeps_going_when_one_recipient_fails(careconnect_runtime):
    class Flaky(ManagementApi):
        def send(self, endpoint, connection_id, payload):
            if connection_id == "bad":
                raise ManagementForbidden(connection_id, "denied", status=403)
            if connection_id == "weird":
                raise RuntimeError("surprise")

    services = get_services()
    from careconnect_ws.delivery import Delivery

    delivery = Delivery(services.registry, Flaky())
    result = delivery.broadcast([Recipient(c, "http://127.0.0.1:1/prod") for c in ("a", "bad", "b", "weird")], "x")
    assert sorted(result.delivered) == ["a", "b"]
    assert set(result.failed) == {"bad", "weird"}
    assert "surprise" in result.failed["weird"]
