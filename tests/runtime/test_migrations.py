"""Migrations: versioned, idempotent, safe when several run at once."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from careconnect_ws.migrations import HISTORY_TABLE, available, current_version, migrate


@pytest.fixture
def fresh_db(pg):
    name = f"mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = pg.url_for(name)
    yield url
    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_migrations_are_numbered_from_one_without_gaps():
    versions = [m.version for m in available()]
    assert versions == list(range(1, len(versions) + 1))


def test_applied_twice_the_second_run_does_nothing(fresh_db):
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        assert current_version(conn) == 0
        first = migrate(conn)
        assert [m.version for m in first] == [m.version for m in available()]
        assert migrate(conn) == []
        assert current_version(conn) == available()[-1].version
        assert conn.execute(f"SELECT count(*) FROM {HISTORY_TABLE}").fetchone()[0] == len(available())


def test_applied_concurrently_exactly_one_applies(fresh_db):
    results, errors = [], []
    barrier = threading.Barrier(6)

    def run():
        try:
            with psycopg.connect(fresh_db, autocommit=True) as conn:
                barrier.wait()
                results.append(len(migrate(conn)))
        except Exception as err:  # collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [0] * 5 + [len(available())]


def test_every_lookup_the_registry_does_has_an_index(pg):
    with psycopg.connect(pg.url, autocommit=True) as conn:
        indexes = {r[0]: r[1] for r in conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('websocket_connections', 'websocket_subscriptions')"
        )}
    defs = " ".join(indexes.values())
    # Every lookup the registry does: recipients by topic, expiry, idleness, purge (connection ids use the primary key).
    for needle in ("(expires_at) WHERE is_active", "(last_activity_at) WHERE is_active",
                   "(disconnected_at) WHERE (NOT is_active)", "(topic, subject)"):
        assert needle in defs, needle


def test_recipient_lookup_uses_the_topic_index(pg):
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT c.connection_id FROM websocket_subscriptions s JOIN websocket_connections c USING (connection_id)"
            " WHERE s.topic = 'email-verification' AND s.subject = 'u' AND c.is_active"
        ))
    assert "websocket_subscriptions_topic_subject_idx" in plan


def test_applied_through_a_connection_that_prepares_every_statement(fresh_db):
    """``careconnect-ws migrate`` with ``DB_PREPARED_STATEMENTS=on`` (and ``serve``'s embedded server):
    a migration file holds several statements, which a prepared statement cannot."""
    from careconnect_ws.db import Database

    database = Database(fresh_db, prepared_statements=True)
    try:
        assert [m.version for m in database.run(migrate)] == [m.version for m in available()]
        assert database.run(current_version) == available()[-1].version
    finally:
        database.close()
