"""Email-verified notifications: the Python API, the direct-invoke event and the CLI share one path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from careconnect_ws.handler import lambda_handler
from careconnect_ws.notifications import notify_email_verified
from careconnect_ws.testing import connect, send
from tests.support.runtime import SECRET


def connect_and_subscribe(cid, user, endpoint, subscribe=True):
    connect(cid, user, connections=endpoint, expect=200)
    if subscribe:
        send(cid, {"action": "subscribe", "topic": "email-verification"}, expect=200)


def test_python_api_reaches_only_that_users_subscribed_connections(careconnect_connections):
    connect_and_subscribe("alice-1", "alice", careconnect_connections)
    connect_and_subscribe("alice-2", "alice", careconnect_connections)
    connect_and_subscribe("alice-unsubscribed", "alice", careconnect_connections, subscribe=False)
    connect_and_subscribe("bob-1", "bob", careconnect_connections)
    result = notify_email_verified("alice", email="alice@example.org")
    assert sorted(result.delivered) == ["alice-1", "alice-2"] and result.reached == 2
    (message,) = careconnect_connections.messages_for("alice-1")
    assert message["type"] == "email-verification" and message["status"] == "verified"
    assert message["userId"] == "alice" and message["email"] == "alice@example.org"
    assert message["verifiedAt"].endswith("Z")
    assert careconnect_connections.messages_for("bob-1") == []
    assert careconnect_connections.messages_for("alice-unsubscribed") == []


def test_direct_invoke_event(careconnect_connections):
    connect_and_subscribe("alice-1", "alice", careconnect_connections)
    response = lambda_handler({"careconnect_ws": {"command": "notify", "notification": "email-verified", "userId": "alice"}})
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["reached"] == 1


def test_gone_recipient_is_deactivated_and_not_an_error(careconnect_connections, sql):
    connect_and_subscribe("alice-1", "alice", careconnect_connections)
    connect_and_subscribe("alice-2", "alice", careconnect_connections)
    careconnect_connections.open.discard("alice-2")
    result = notify_email_verified("alice")
    assert (result.delivered, result.gone, result.failed) == (["alice-1"], ["alice-2"], {})
    assert sql.execute("SELECT is_active FROM websocket_connections WHERE connection_id = 'alice-2'").fetchone() == (False,)
    # The next notification does not try it again.
    assert notify_email_verified("alice").gone == []


def test_nobody_subscribed_reaches_nobody(careconnect_connections):
    assert notify_email_verified("nobody").as_dict() == {
        "topic": "email-verification",
        "subject": "nobody",
        "seq": 1,
        "delivered": [],
        "gone": [],
        "failed": {},
        "reached": 0,
    }


def test_cli_notify(careconnect_connections, careconnect_database):
    connect_and_subscribe("alice-1", "alice", careconnect_connections)
    env = {
        **os.environ,
        "DATABASE_URL": careconnect_database.url,
        "WS_JWT_SECRET": SECRET,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": careconnect_connections.url,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "notify", "email-verified", "--user", "alice"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["delivered"] == ["alice-1"]
    assert len(careconnect_connections.messages_for("alice-1")) == 1
