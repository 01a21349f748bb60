"""The same handler behind a real PgBouncer in transaction mode (default configuration) and directly."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import set_settings
from tests.support.events import make_event
from tests.support.pgbouncer import PgBouncer, find_pgbouncer
from tests.support.runtime import make_settings, token_for
from tests.support.threads import in_threads


def start_bouncer(careconnect_database, *, pool_size: int) -> PgBouncer:
    if find_pgbouncer() is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed: .ci/run installs it (apt-get install pgbouncer)")
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer); CI installs it")
    return PgBouncer(
        server_port=careconnect_database.port, server_host=str(careconnect_database.root), pool_size=pool_size
    ).start()


@pytest.fixture(scope="module")
def bouncer(careconnect_database) -> Iterator[PgBouncer]:
    server = start_bouncer(careconnect_database, pool_size=2)
    yield server
    server.stop()


@pytest.fixture
def via_bouncer(careconnect_runtime, bouncer) -> Iterator[PgBouncer]:
    set_settings(make_settings(bouncer.url, db_statement_timeout_ms=400))
    db_module.reset_database()
    yield bouncer
    db_module.reset_database()


def test_the_pooler_is_real_and_refuses_startup_options(bouncer):
    # What the runtime used to send: PgBouncer's default configuration rejects it.
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(bouncer.url, options="-c statement_timeout=5000", connect_timeout=3)


def event(name, cid, **kwargs):
    return lambda_handler(make_event(name, connection_id=cid, **kwargs))


def test_many_clients_through_transaction_pooling(via_bouncer, sql):
    """Eight containers share two server connections; each runs every statement well past psycopg's
    prepare threshold (5): nothing fails, nothing leaks between them."""
    results: list[int] = []
    lock = threading.Lock()

    def container(n: int) -> None:
        settings = make_settings(via_bouncer.url, db_statement_timeout_ms=400)
        set_settings(settings)  # the same settings in every thread; each thread has its own connection
        statuses = []
        for i in range(8):
            cid = f"pool-{n}-{i}="
            statuses.append(event("connect", cid, query={"token": token_for(f"user-{n}-{i}")})["statusCode"])
            body = {"action": "subscribe", "topic": "email-verification"}
            statuses.append(event("message", cid, body=body)["statusCode"])
            for _ in range(3):
                statuses.append(event("message", cid, body={"action": "ping"})["statusCode"])
            statuses.append(event("disconnect", cid)["statusCode"])
        db_module.reset_database()
        with lock:
            results.extend(statuses)

    in_threads(container, 8)
    assert len(results) == 8 * 8 * 6
    assert set(results) == {200}
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 64
    assert sql.execute("SELECT count(*) FROM websocket_connections WHERE NOT is_active").fetchone()[0] == 64


def test_publishing_and_resuming_behind_transaction_pooling(via_bouncer, sql):
    """Four containers publish to one stream through two pooled server connections: the per-stream
    lock is transaction-scoped, so the sequence stays gapless; a client then resumes from 0."""
    from careconnect_ws.publishing import publish

    seqs: list[int] = []
    lock = threading.Lock()

    def container(n: int) -> None:
        set_settings(make_settings(via_bouncer.url))
        mine = [publish("email-verification", "pooled", {"by": n, "i": i}).seq for i in range(20)]
        db_module.reset_database()
        with lock:
            seqs.extend(mine)

    in_threads(container, 4)
    assert sorted(seqs) == list(range(1, 81))
    set_settings(make_settings(via_bouncer.url))
    assert event("connect", "reader=", query={"token": token_for("pooled")})["statusCode"] == 200
    body = {"action": "subscribe", "topic": "email-verification", "since": 0}
    reply = json.loads(event("message", "reader=", body=body)["body"])
    assert [e["seq"] for e in reply["events"]] == list(range(1, 81))


def test_the_statement_timeout_holds_behind_the_pooler_and_does_not_leak(via_bouncer, careconnect_database, sql):
    assert event("connect", "slow=", query={"token": token_for("alice")})["statusCode"] == 200
    with psycopg.connect(careconnect_database.url) as locker:
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        response = event("message", "slow=", body={"action": "ping"})
        elapsed = time.monotonic() - started
    assert (response["statusCode"], json.loads(response["body"])["code"]) == (503, "service_unavailable")
    assert elapsed < 3, "the 400 ms statement timeout did not end the hung statement"
    assert event("message", "slow=", body={"action": "ping"})["statusCode"] == 200
    # SET LOCAL ended with its transaction: another client of the same server connections sees the default.
    with psycopg.connect(via_bouncer.url, autocommit=True) as other:
        for _ in range(4):
            assert other.execute("SHOW statement_timeout").fetchone()[0] == "0"


def test_direct_connections_run_the_same_statements(careconnect_runtime, sql):
    assert event("connect", "direct=", query={"token": token_for("alice")})["statusCode"] == 200
    conn = db_module.get_database().connection()
    # Nothing prepared on the server, whatever psycopg's default threshold would have done.
    for _ in range(8):
        assert event("message", "direct=", body={"action": "ping"})["statusCode"] == 200
    assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0] == 0
    assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"


def test_a_role_level_timeout_replaces_the_per_statement_set(careconnect_runtime, careconnect_database, sql):
    """``ALTER ROLE … SET statement_timeout`` (at least as strict as ours) is detected once per connection:
    statements then go without the SET LOCAL, and a hung one still ends at the role's timeout."""
    sql.execute("DROP ROLE IF EXISTS careconnect_timeout_test")
    sql.execute("CREATE ROLE careconnect_timeout_test LOGIN")
    sql.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO careconnect_timeout_test")
    sql.execute("ALTER ROLE careconnect_timeout_test SET statement_timeout = '300ms'")
    url = careconnect_database.url.replace("postgres@", "careconnect_timeout_test@")
    try:
        database = db_module.Database(url, statement_timeout_ms=5000)
        database.connection()
        assert database._session_has_timeout
        with psycopg.connect(careconnect_database.url) as locker:
            locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(db_module.DatabaseUnavailable, match="did not answer in time"):
                database.execute("SELECT count(*) FROM websocket_connections")
            assert time.monotonic() - started < 3
        # A role timeout looser than ours is not enough: the SET LOCAL stays.
        loose = db_module.Database(url, statement_timeout_ms=100)
        loose.connection()
        assert not loose._session_has_timeout
        database.close()
        loose.close()
    finally:
        sql.execute("DROP OWNED BY careconnect_timeout_test")
        sql.execute("DROP ROLE careconnect_timeout_test")


@pytest.fixture
def prepared(careconnect_runtime) -> Iterator[None]:
    set_settings(make_settings(careconnect_runtime.database_url, db_prepared_statements=True, db_statement_timeout_ms=400))
    db_module.reset_database()
    yield
    db_module.reset_database()


def test_prepared_statements_on_a_direct_connection(prepared, careconnect_database, sql):
    """``DB_PREPARED_STATEMENTS=on``: the message path's statement is prepared once and reused, the
    handler answers as with the simple protocol, and the timeout is the session's (set at connect)."""
    assert event("connect", "prep=", query={"token": token_for("alice")})["statusCode"] == 200
    for _ in range(6):
        assert event("message", "prep=", body={"action": "ping"})["statusCode"] == 200
    conn = db_module.get_database().connection()
    statements = [row[0] for row in conn.execute("SELECT statement FROM pg_prepared_statements")]
    assert sum("careconnect_ws_check_message" in text for text in statements) == 1
    # Subscribe/unsubscribe, the lock-preamble $connect and $disconnect all still work in this mode.
    assert event("message", "prep=", body={"action": "subscribe", "topic": "email-verification"})["statusCode"] == 200
    assert event("connect", "prep2=", query={"token": token_for("alice")})["statusCode"] == 200
    assert event("disconnect", "prep2=")["statusCode"] == 200
    # Publishing and resuming (both PL/pgSQL functions, called as one prepared statement each).
    from careconnect_ws.publishing import publish

    assert [publish("email-verification", "alice", {"n": n}).seq for n in range(3)] == [1, 2, 3]
    body = {"action": "subscribe", "topic": "email-verification", "since": 1}
    assert [e["n"] for e in json.loads(event("message", "prep=", body=body)["body"])["events"]] == [1, 2]
    # The session carries the timeout, so no statement needs a SET LOCAL in front of it.
    assert conn.execute("SHOW statement_timeout").fetchone()[0] == "400ms"
    assert db_module.get_database()._session_has_timeout
    with psycopg.connect(careconnect_database.url) as locker:
        locker.execute("LOCK TABLE websocket_connections IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        assert event("message", "prep=", body={"action": "ping"})["statusCode"] == 503
        assert time.monotonic() - started < 3


def test_a_prepared_statement_outdated_by_a_migration_is_run_again_on_a_fresh_connection(prepared, sql):
    """A migration that changes a result type makes the server refuse the old prepared statement
    ("cached plan must not change result type"): the runtime reconnects once instead of failing."""
    sql.execute("DROP TABLE IF EXISTS prepared_shape")
    sql.execute("CREATE TABLE prepared_shape (a int)")
    sql.execute("INSERT INTO prepared_shape VALUES (1)")
    try:
        database = db_module.get_database()
        assert database.execute("SELECT * FROM prepared_shape").fetchall() == [(1,)]
        pid = database.connection().info.backend_pid
        sql.execute("ALTER TABLE prepared_shape ADD COLUMN b int DEFAULT 2")
        assert database.execute("SELECT * FROM prepared_shape").fetchall() == [(1, 2)]
        assert database.connection().info.backend_pid != pid
    finally:
        sql.execute("DROP TABLE prepared_shape")


def test_prepared_statements_behind_an_old_transaction_pooler_answer_503_naming_the_setting(
    careconnect_runtime, careconnect_database, caplog
):
    """PgBouncer 1.18 in transaction mode cannot keep prepared statements: turning them on there is a
    configuration mistake, answered 503 (never 500) with a log line that names the variable to change."""
    single = start_bouncer(careconnect_database, pool_size=1)  # every client on one server connection
    settings = make_settings(single.url, db_prepared_statements=True)
    other = db_module.Database.from_settings(settings)
    try:
        set_settings(settings)
        db_module.reset_database()
        assert event("connect", "old-pooler=", query={"token": token_for("alice")})["statusCode"] == 200
        # Another container prepares first: psycopg names its statements as ours (_pg3_0, ...) on the
        # one server connection both are given.
        assert other.execute("SELECT %s::int", (1,)).fetchone() == (1,)
        response = event("message", "old-pooler=", body={"action": "ping"})
        assert response["statusCode"] == 503
        assert any("set DB_PREPARED_STATEMENTS=off" in str(getattr(r, "error", "")) for r in caplog.records)
    finally:
        other.close()
        db_module.reset_database()
        single.stop()
