"""Email-verified notifications: the Python API, the direct-invoke event and the CLI share one path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from careconnect_ws.handler import lambda_handler
from careconnect_ws.notifications import notify_email_verified
from tests.support.events import make_event
from tests.support.runtime import SECRET, token_for


def connect_and_subscribe(cid, user, endpoint, subscribe=True):
    assert lambda_handler(make_event("connect", connection_id=cid, query={"token": token_for(user)}))["statusCode"] == 200
    endpoint.open.add(cid)
    if subscribe:
        reply = lambda_handler(make_event("message", connection_id=cid, body={"action": "subscribe", "topic": "email-verification"}))
        assert reply["statusCode"] == 200


def test_python_api_reaches_only_that_users_subscribed_connections(connections_endpoint):
    connect_and_subscribe("alice-1", "alice", connections_endpoint)
    connect_and_subscribe("alice-2", "alice", connections_endpoint)
    connect_and_subscribe("alice-unsubscribed", "alice", connections_endpoint, subscribe=False)
    connect_and_subscribe("bob-1", "bob", connections_endpoint)
    result = notify_email_verified("alice", email="alice@example.org")
    assert sorted(result.delivered) == ["alice-1", "alice-2"] and result.reached == 2
    (message,) = connections_endpoint.messages_for("alice-1")
    assert message["type"] == "email-verification" and message["status"] == "verified"
    assert message["userId"] == "alice" and message["email"] == "alice@example.org"
    assert message["verifiedAt"].endswith("Z")
    assert connections_endpoint.messages_for("bob-1") == []
    assert connections_endpoint.messages_for("alice-unsubscribed") == []


def test_direct_invoke_event(connections_endpoint):
    connect_and_subscribe("alice-1", "alice", connections_endpoint)
    response = lambda_handler({"careconnect_ws": {"command": "notify", "notification": "email-verified", "userId": "alice"}})
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["reached"] == 1


def test_gone_recipient_is_deactivated_and_not_an_error(connections_endpoint, sql):
    connect_and_subscribe("alice-1", "alice", connections_endpoint)
    connect_and_subscribe("alice-2", "alice", connections_endpoint)
    connections_endpoint.open.discard("alice-2")
    result = notify_email_verified("alice")
    assert (result.delivered, result.gone, result.failed) == (["alice-1"], ["alice-2"], {})
    assert sql.execute("SELECT is_active FROM websocket_connections WHERE connection_id = 'alice-2'").fetchone() == (False,)
    # The next notification does not try it again.
    assert notify_email_verified("alice").gone == []


def test_nobody_subscribed_reaches_nobody(connections_endpoint):
    assert notify_email_verified("nobody").as_dict() == {
        "topic": "email-verification", "subject": "nobody", "seq": 1, "delivered": [], "gone": [], "failed": {}, "reached": 0,
    }


def test_cli_notify(connections_endpoint, pg):
    connect_and_subscribe("alice-1", "alice", connections_endpoint)
    env = {
        **os.environ,
        "DATABASE_URL": pg.url,
        "WS_JWT_SECRET": SECRET,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": connections_endpoint.url,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "notify", "email-verified", "--user", "alice"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["delivered"] == ["alice-1"]
    assert len(connections_endpoint.messages_for("alice-1")) == 1
