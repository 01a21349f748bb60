"""Cleanup: TTL and idle expiry in one statement, closing through the Management API, purging old rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from careconnect_ws.cleanup import run_cleanup
from careconnect_ws.handler import lambda_handler
from tests.support.events import make_event
from tests.support.runtime import SECRET, token_for


def connect(cid, endpoint):
    lambda_handler(make_event("connect", connection_id=cid, query={"token": token_for("u")}))
    endpoint.open.add(cid)


def test_expired_and_idle_are_deactivated_and_closed_fresh_ones_kept(connections_endpoint, sql):
    for cid in ("fresh", "expired", "idle"):
        connect(cid, connections_endpoint)
    lambda_handler(make_event("message", connection_id="expired", body={"action": "subscribe", "topic": "email-verification"}))
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute' WHERE connection_id = 'expired'")
    sql.execute("UPDATE websocket_connections SET last_activity_at = now() - interval '11 minutes' WHERE connection_id = 'idle'")
    result = run_cleanup()
    assert result.deactivated == {"expired": "ttl-expired", "idle": "idle-timeout"}
    assert (result.closed, result.close_failed) == (2, 0)
    assert sorted(connections_endpoint.deleted) == ["expired", "idle"]
    assert sql.execute("SELECT connection_id FROM websocket_connections WHERE is_active").fetchall() == [("fresh",)]
    # A second sweep finds nothing.
    assert run_cleanup().deactivated == {}


def test_purge_deletes_long_inactive_rows_and_their_subscriptions(connections_endpoint, sql):
    connect("old", connections_endpoint)
    connect("recent", connections_endpoint)
    lambda_handler(make_event("message", connection_id="old", body={"action": "subscribe", "topic": "email-verification"}))
    for cid in ("old", "recent"):
        lambda_handler(make_event("disconnect", connection_id=cid))
    sql.execute("UPDATE websocket_connections SET disconnected_at = now() - interval '31 days' WHERE connection_id = 'old'")
    assert run_cleanup().purged == 1
    assert sql.execute("SELECT connection_id FROM websocket_connections").fetchall() == [("recent",)]
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


def test_closing_is_optional_and_a_gone_client_is_fine(connections_endpoint, sql):
    connect("a", connections_endpoint)
    connections_endpoint.open.discard("a")  # the client already vanished
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute'")
    result = run_cleanup()
    assert (len(result.deactivated), result.closed, result.close_failed) == (1, 1, 0)
    connect("b", connections_endpoint)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute' WHERE connection_id = 'b'")
    assert run_cleanup(close_connections=False).closed == 0
    assert "b" not in connections_endpoint.deleted


def test_cli_cleanup(connections_endpoint, sql, pg):
    connect("a", connections_endpoint)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute'")
    env = {**os.environ, "DATABASE_URL": pg.url, "WS_JWT_SECRET": SECRET,
           "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": connections_endpoint.url}
    proc = subprocess.run([sys.executable, "-m", "careconnect_ws", "cleanup"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["deactivated"] == 1
