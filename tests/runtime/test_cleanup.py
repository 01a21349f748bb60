"""Cleanup: TTL and idle expiry in one statement, closing through the Management API, purging old rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from careconnect_ws.cleanup import run_cleanup
from careconnect_ws.handler import lambda_handler
from careconnect_ws.testing import connect
from tests.support.events import make_event
from tests.support.runtime import SECRET


def test_expired_and_idle_are_deactivated_and_closed_fresh_ones_kept(careconnect_connections, sql):
    for cid in ("fresh", "expired", "idle"):
        connect(cid, "u", connections=careconnect_connections, expect=200)
    lambda_handler(make_event("message", connection_id="expired", body={"action": "subscribe", "topic": "email-verification"}))
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute' WHERE connection_id = 'expired'")
    sql.execute("UPDATE websocket_connections SET last_activity_at = now() - interval '11 minutes' WHERE connection_id = 'idle'")
    result = run_cleanup()
    assert result.deactivated == {"expired": "ttl-expired", "idle": "idle-timeout"}
    assert (result.closed, result.close_failed) == (2, 0)
    assert sorted(careconnect_connections.deleted) == ["expired", "idle"]
    assert sql.execute("SELECT connection_id FROM websocket_connections WHERE is_active").fetchall() == [("fresh",)]
    # A second sweep finds nothing.
    assert run_cleanup().deactivated == {}


def test_purge_deletes_long_inactive_rows_and_their_subscriptions(careconnect_connections, sql):
    connect("old", "u", connections=careconnect_connections, expect=200)
    connect("recent", "u", connections=careconnect_connections, expect=200)
    lambda_handler(make_event("message", connection_id="old", body={"action": "subscribe", "topic": "email-verification"}))
    for cid in ("old", "recent"):
        lambda_handler(make_event("disconnect", connection_id=cid))
    sql.execute("UPDATE websocket_connections SET disconnected_at = now() - interval '31 days' WHERE connection_id = 'old'")
    assert run_cleanup().purged == 1
    assert sql.execute("SELECT connection_id FROM websocket_connections").fetchall() == [("recent",)]
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


def test_closing_is_optional_and_a_gone_client_is_fine(careconnect_connections, sql):
    connect("a", "u", connections=careconnect_connections, expect=200)
    careconnect_connections.open.discard("a")  # the client already vanished
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute'")
    result = run_cleanup()
    assert (len(result.deactivated), result.closed, result.close_failed) == (1, 1, 0)
    connect("b", "u", connections=careconnect_connections, expect=200)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute' WHERE connection_id = 'b'")
    assert run_cleanup(close_connections=False).closed == 0
    assert "b" not in careconnect_connections.deleted


def test_cli_cleanup(careconnect_connections, sql, careconnect_database):
    connect("a", "u", connections=careconnect_connections, expect=200)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '1 minute'")
    env = {
        **os.environ,
        "DATABASE_URL": careconnect_database.url,
        "WS_JWT_SECRET": SECRET,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": careconnect_connections.url,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "cleanup"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["deactivated"] == 1
