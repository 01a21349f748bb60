"""`careconnect-ws status`: what someone on call needs from the database, read in one statement, with what to do.

A real PostgreSQL (the session's, plus databases of its own for the schema cases), the real CLI in a subprocess."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from careconnect_ws import migrations
from careconnect_ws.handler import lambda_handler
from careconnect_ws.publishing import publish
from careconnect_ws.status import _SNAPSHOT_SQL, Limits, Snapshot, problems
from careconnect_ws.testing import connect
from tests.support.cli import bare_run, minimal_env
from tests.support.events import make_event

LATEST = migrations.available()[-1].version


def status(url: str, *args: str) -> tuple[int, dict | None, str]:
    proc = bare_run("status", *args, env=minimal_env(DATABASE_URL=url))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None, proc.stderr


def test_a_healthy_registry_reports_its_figures_and_exits_0(careconnect_connections, careconnect_database):
    for cid, user in (("s1=", "ana"), ("s2=", "ana"), ("s3=", "ben")):
        connect(cid, user, connections=careconnect_connections, expect=200)
    lambda_handler(make_event("message", connection_id="s1=", body={"action": "subscribe", "topic": "email-verification"}))
    publish("email-verification", "ana", {"type": "check"})
    code, report, stderr = status(careconnect_database.url)
    assert code == 0, stderr
    assert report["ok"] is True and report["problems"] == [] and stderr == ""
    assert report["schema"] == {"version": LATEST, "expected": LATEST}
    assert report["connections"] == {"active": 3, "users": 2, "pastLifetime": 0, "idlePastLimit": 0}
    assert report["cleanupBehindSeconds"] == 0
    assert 0 <= report["events"]["oldestAgeSeconds"] < 60 and report["events"]["purgeBehindSeconds"] == 0
    assert report["events"]["retentionSeconds"] == 24 * 3600


def test_a_cleanup_that_stopped_is_a_problem_until_it_runs(careconnect_connections, careconnect_database, sql):
    for cid in ("old=", "quiet=", "fine="):
        connect(cid, "cara", connections=careconnect_connections, expect=200)
    sql.execute("UPDATE websocket_connections SET expires_at = now() - interval '2 hours' WHERE connection_id = 'old='")
    sql.execute("UPDATE websocket_connections SET last_activity_at = now() - interval '3 hours' WHERE connection_id = 'quiet='")
    code, report, stderr = status(careconnect_database.url)
    assert code == 1 and report["ok"] is False
    assert report["connections"] == {"active": 3, "users": 1, "pastLifetime": 1, "idlePastLimit": 1}
    # The quiet one is the most overdue: idle 3 h against a 10 min limit.
    assert 3 * 3600 - 600 <= report["cleanupBehindSeconds"] < 3 * 3600 - 600 + 60
    (problem,) = report["problems"]
    assert "the cleanup is 170 min behind" in problem and "careconnect-ws cleanup" in problem
    assert f"careconnect-ws: {problem}" in stderr
    # A grace longer than the delay: not a problem yet (the figures still say how far behind).
    code, report, _ = status(careconnect_database.url, "--grace", str(4 * 3600))
    assert code == 0 and report["cleanupBehindSeconds"] > 0

    cleanup = bare_run(
        "cleanup",
        env=minimal_env(DATABASE_URL=careconnect_database.url, AWS_WEBSOCKET_API_GATEWAY_ENDPOINT=careconnect_connections.url),
    )
    assert cleanup.returncode == 0, cleanup.stderr
    code, report, _ = status(careconnect_database.url)
    assert code == 0 and report["connections"]["active"] == 1 and report["cleanupBehindSeconds"] == 0


def test_events_kept_past_the_retention_are_a_problem(careconnect_runtime, careconnect_database, sql):
    sql.execute(
        "INSERT INTO websocket_events (topic, subject, seq, published_at, payload) "
        "VALUES ('email-verification', 'dan', 1, now() - interval '27 hours', '{}')"
    )
    code, report, _ = status(careconnect_database.url)
    assert code == 1
    assert 3 * 3600 <= report["events"]["purgeBehindSeconds"] < 3 * 3600 + 60
    (problem,) = report["problems"]
    assert "events older than the retention (86400 s)" in problem and "careconnect-ws cleanup" in problem


@pytest.fixture
def new_database(careconnect_database):
    """A database of its own on the session's server, dropped afterwards."""
    with psycopg.connect(careconnect_database.url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS status_schema")
        admin.execute("CREATE DATABASE status_schema")
        yield careconnect_database.url_for("status_schema")
        admin.execute("DROP DATABASE status_schema WITH (FORCE)")


def test_a_database_never_migrated_says_run_migrate(new_database):
    code, report, stderr = status(new_database)
    assert code == 1 and report["schema"] == {"version": 0, "expected": LATEST}
    assert "run `careconnect-ws migrate`" in report["problems"][0] and "run `careconnect-ws migrate`" in stderr


def test_a_schema_behind_this_release_says_run_migrate(new_database, monkeypatch):
    first_two = migrations.available()[:2]
    monkeypatch.setattr(migrations, "available", lambda: first_two)
    with psycopg.connect(new_database, autocommit=True) as conn:
        migrations.migrate(conn)
    code, report, _ = status(new_database)
    assert code == 1 and report["schema"] == {"version": 2, "expected": LATEST}
    assert report["problems"] == [
        f"the schema is at version 2, this release needs {LATEST}: run `careconnect-ws migrate` "
        "(idempotent, safe while traffic flows)"
    ]


def test_a_schema_newer_than_this_release_says_deploy_the_newer_release():
    now = datetime.now(UTC)
    snapshot = Snapshot(
        schema_version=LATEST + 1,
        active=0,
        users=0,
        past_lifetime=0,
        idle_past_limit=0,
        earliest_expiry=None,
        earliest_activity=None,
        oldest_event=None,
        events_estimate=-1,
        streams_estimate=-1,
        revoked_tokens=0,
        now=now,
    )
    limits = Limits(expected_schema=LATEST, idle_timeout_seconds=600, stream_retention_seconds=86400)
    assert problems(snapshot, limits) == [
        f"the schema is at version {LATEST + 1}, newer than this release knows ({LATEST}): a newer careconnect-ws "
        "migrated it; deploy that release here too"
    ]
    # Within the grace, nothing is a problem: a connection 10 minutes past its lifetime is the schedule's normal lag.
    snapshot = Snapshot(
        **{
            **snapshot.__dict__,
            "schema_version": LATEST,
            "past_lifetime": 1,
            "earliest_expiry": now - timedelta(minutes=10),
            "earliest_activity": now,
        }
    )
    assert problems(snapshot, limits) == []


def test_a_database_that_is_down_exits_1_saying_so():
    code, report, stderr = status("postgresql://nobody@127.0.0.1:9/none?connect_timeout=1")
    assert code == 1 and report is None and stderr.startswith("careconnect-ws: database unavailable")


def test_the_statement_reads_active_rows_through_partial_indexes_only(careconnect_runtime, sql):
    """Most rows of a real registry are inactive (kept 30 days): the statement must not read them."""
    sql.execute("""
        INSERT INTO websocket_connections (connection_id, user_id, callback_url, expires_at, last_activity_at,
                                           is_active, disconnected_at)
        SELECT 'filler-' || i, 'user-' || (i % 5000), 'https://x/prod', now() + interval '1 hour', now(),
               i % 20 = 0, CASE WHEN i % 20 <> 0 THEN now() - interval '1 day' END
          FROM generate_series(1, 20000) AS i
    """)
    sql.execute("""
        INSERT INTO websocket_events (topic, subject, seq, published_at, payload)
        SELECT 'email-verification', 'user-' || i, 1, now() - i * interval '1 s', '{}' FROM generate_series(1, 20000) AS i
    """)
    sql.execute("ANALYZE websocket_connections, websocket_events, websocket_revoked_tokens")
    sql.execute("SET enable_seqscan = off")
    query = psycopg.ClientCursor(sql).mogrify(_SNAPSHOT_SQL, {"idle": 600.0})
    ((plan,),) = sql.execute("EXPLAIN (FORMAT JSON) " + query).fetchone()
    partial = {
        row[0]
        for row in sql.execute(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'websocket_connections'::regclass "
            "AND pg_get_expr(indpred, indrelid) LIKE '%is_active%' AND pg_get_expr(indpred, indrelid) NOT LIKE '%NOT%'"
        )
    }
    scans = []
    stack = [(plan["Plan"], False)]
    while stack:
        node, under_limit = stack.pop()
        stack.extend((child, under_limit or node["Node Type"] == "Limit") for child in node.get("Plans", []))
        if node.get("Relation Name", "").startswith("websocket_") or node.get("Index Name", "").startswith("websocket_"):
            scans.append((node["Node Type"], node.get("Index Name"), "Index Cond" in node or under_limit))
    assert scans and all(kind != "Seq Scan" for kind, _, _ in scans), scans
    for kind, index, bounded in scans:
        # An index walked without a condition is fine when it holds the active rows alone, or when the walk stops
        # at the first row (min() through the index, under a Limit).
        assert bounded or index in partial, (kind, index)


def test_status_works_for_a_read_only_role(careconnect_database, sql):
    """Hardening round 4: status refused a read replica or a read-only role (it asked for a writable server)."""
    sql.execute("DROP ROLE IF EXISTS oncall_reader")
    sql.execute("CREATE ROLE oncall_reader LOGIN")
    sql.execute("ALTER ROLE oncall_reader SET default_transaction_read_only = on")
    sql.execute("GRANT pg_read_all_data TO oncall_reader")
    try:
        code, report, stderr = status(careconnect_database.url_for("postgres", user="oncall_reader"))
        assert code == 0, stderr
        assert report["schema"] == {"version": LATEST, "expected": LATEST}
    finally:
        sql.execute("DROP OWNED BY oncall_reader")
        sql.execute("DROP ROLE oncall_reader")


def test_migrate_and_status_are_commands_of_the_deployed_function(new_database, careconnect_runtime):
    """A database in private subnets needs no bastion: the function itself migrates it and reports its health
    ({"careconnect_ws": {"command": "migrate"}}, then "status"), the same functions as the CLI's commands."""
    from dataclasses import replace

    from careconnect_ws import db as db_module
    from careconnect_ws.settings import set_settings
    from careconnect_ws.testing import command_event, invoke

    set_settings(replace(careconnect_runtime, database_url=new_database))
    db_module.reset_database()
    before = invoke(command_event("status"))
    assert before.status == 200 and before.body["ok"] is False and before.body["schema"]["version"] == 0
    first = invoke(command_event("migrate"))
    assert first.status == 200 and first.body["schemaVersion"] == LATEST and len(first.body["applied"]) == LATEST
    assert invoke(command_event("migrate")).body == {"applied": [], "schemaVersion": LATEST}  # idempotent
    after = invoke(command_event("status", graceSeconds=7200))
    assert after.status == 200 and after.body["ok"] is True and after.body["schema"]["version"] == LATEST
    assert invoke(command_event("status", graceSeconds="soon")).outcome == (400, "invalid_field")
    db_module.reset_database()
