"""Every registry statement has an index to use: the real plans of the real statements, from auto_explain.

The tables hold 20,000 filler rows (analyzed) so the planner costs them like a real registry, and
``enable_seqscan = off`` makes it show its hand: where no index can serve a lookup it still scans
the table, or walks an unrelated index end to end. Either is reported. (At 1,000,000 rows the
planner's unforced choices are checked by ``python -m bench registry``.)
"""

from __future__ import annotations

from careconnect_ws import db as db_module
from careconnect_ws.cleanup import run_cleanup
from careconnect_ws.handler import lambda_handler
from careconnect_ws.publishing import publish
from careconnect_ws.revocation import disconnect_user
from careconnect_ws.services import get_services
from careconnect_ws.testing.plans import explain_everything, registry_plans, unindexed_scans
from tests.support.events import make_event
from tests.support.runtime import token_for


def test_no_registry_statement_needs_a_sequential_scan(careconnect_connections, careconnect_database, sql):
    sql.execute("""
        INSERT INTO websocket_connections (connection_id, user_id, callback_url, expires_at, last_activity_at,
                                           is_active, disconnected_at)
        SELECT 'filler-' || i, 'user-' || (i % 5000), 'https://x/prod', now() + interval '1 hour', now(),
               i % 4 <> 0, CASE WHEN i % 4 = 0 THEN now() - interval '1 day' END
          FROM generate_series(1, 20000) AS i
    """)
    sql.execute("""
        INSERT INTO websocket_subscriptions (connection_id, topic, subject)
        SELECT 'filler-' || i, 'email-verification', 'user-' || (i % 5000) FROM generate_series(1, 20000) AS i
    """)
    sql.execute("INSERT INTO websocket_message_rate SELECT 'filler-' || i, now(), 1 FROM generate_series(1, 20000) AS i")
    sql.execute("""
        INSERT INTO websocket_streams (topic, subject, last_seq, last_published_at)
        SELECT 'email-verification', 'user-' || i, 4, now() - interval '2 days' FROM generate_series(1, 5000) AS i
    """)
    sql.execute("""
        INSERT INTO websocket_events (topic, subject, seq, published_at, payload)
        SELECT 'email-verification', 'user-' || (i % 5000 + 1), i / 5000 + 1, now() - interval '2 days' + i * interval '1 ms', '{}'
          FROM generate_series(0, 19999) AS i
    """)
    sql.execute(
        "ANALYZE websocket_connections, websocket_subscriptions, websocket_message_rate, websocket_streams, websocket_events"
    )
    conn = db_module.get_database().connection()
    explain_everything(conn)
    conn.execute("SET enable_seqscan = off")
    log = careconnect_database.root / "server.log"
    start = log.stat().st_size

    def event(name, cid, **kw):
        return lambda_handler(make_event(name, connection_id=cid, **kw))["statusCode"]

    for cid, user in (("p1=", "alice"), ("p2=", "alice"), ("p3=", "bob")):
        assert event("connect", cid, query={"token": token_for(user)}) == 200
        careconnect_connections.open.add(cid)
    assert event("message", "p1=", body={"action": "subscribe", "topic": "email-verification"}) == 200
    assert event("message", "p1=", body={"action": "ping"}) == 200
    assert event("message", "p1=", body={"action": "unsubscribe", "topic": "email-verification"}) == 200
    assert event("message", "p1=", body={"action": "subscribe", "topic": "email-verification"}) == 200
    services = get_services()
    publish("email-verification", "alice", {"type": "plan-check"})
    assert event("message", "p1=", body={"action": "subscribe", "topic": "email-verification", "since": 0}) == 200
    services.registry.deactivate_many(["p2="], reason="gone", status_code=410)
    assert event("disconnect", "p3=") == 200
    disconnect_user("alice")
    run_cleanup()

    plans = registry_plans(log, start)
    texts = " ".join(p.get("Query Text", "") for p in plans)
    for statement in (
        "pg_advisory_xact_lock",
        "careconnect_ws_check_message",
        "INSERT INTO websocket_subscriptions",
        "DELETE FROM websocket_subscriptions",
        "JOIN websocket_connections",
        "connection_id = ANY",
        "disconnect_status_code = 1008",
        "ttl-expired",
        "NOT is_active AND disconnected_at",
        "INSERT INTO websocket_events",
        "FROM websocket_events e",
        "DELETE FROM websocket_events",
    ):
        assert statement in texts, f"no plan was logged for the statement with {statement!r}"
    offenders = {" ".join(p["Query Text"].split())[36:260]: unindexed_scans(p) for p in plans if unindexed_scans(p)}
    assert offenders == {}
