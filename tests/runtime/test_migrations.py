"""Migrations: versioned, idempotent, safe when several run at once."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from careconnect_ws.migrations import HISTORY_TABLE, available, current_version, migrate
from tests.support.threads import in_threads


@pytest.fixture
def fresh_db(careconnect_database):
    name = f"mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(careconnect_database.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = careconnect_database.url_for(name)
    yield url
    with psycopg.connect(careconnect_database.url, autocommit=True) as admin:
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

    in_threads(lambda _n: run(), 6)
    assert errors == []
    assert sorted(results) == [0] * 5 + [len(available())]


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
