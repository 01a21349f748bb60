"""The registry at 1,000,000 connection rows (and 1,000,000 subscriptions).

Every figure is the runtime's own statement through ``Registry`` on a real PostgreSQL with durable
commits, against the floor of one ``SELECT 1`` round trip through the same ``Database`` in the
same run. After timing, one more pass of every operation runs with ``auto_explain`` on the
runtime's connection (the planner's own choices, nothing forced) and the benchmark fails if any
plan scans a registry table without an index lookup.
"""

from __future__ import annotations

import random
import statistics
import time

import psycopg

from careconnect_ws.db import Database
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.migrations import migrate
from careconnect_ws.registry import NewConnection, Registry
from careconnect_ws.streams import Streams
from careconnect_ws.testing.plans import explain_everything, registry_plans, unindexed_scans

ROWS = 1_000_000
USERS = 250_000
EXPIRED = 100_000
N = 1000
REPEAT = 3
CLEANUP_TARGET_S = 2.0


def _fill(conn: psycopg.Connection) -> float:
    started = time.perf_counter()
    conn.execute(f"""
        INSERT INTO websocket_connections (connection_id, user_id, callback_url, connected_at, last_activity_at,
                                           expires_at, is_active, disconnected_at)
        SELECT 'conn-' || i, 'user-' || (i % {USERS}), 'https://abc.execute-api.us-east-1.amazonaws.com/prod',
               now(), now(), now() + interval '2 hours', i % 10 <> 0,
               CASE WHEN i % 10 = 0 THEN now() - interval '1 day' END
          FROM generate_series(1, {ROWS}) AS i
    """)
    conn.execute(f"""
        INSERT INTO websocket_subscriptions (connection_id, topic, subject)
        SELECT 'conn-' || i, 'email-verification', 'user-' || (i % {USERS}) FROM generate_series(1, {ROWS}) AS i
    """)
    conn.execute("VACUUM ANALYZE websocket_connections, websocket_subscriptions")
    return time.perf_counter() - started


def _rate(fn, n: int = N) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def _active_ids(rng: random.Random, n: int) -> list[str]:
    return [f"conn-{i}" for i in rng.sample(range(1, ROWS + 1), n * 2) if i % 10 != 0][:n]


def _operations(registry: Registry, streams: Streams, rng: random.Random, tag: str) -> dict:
    """One callable per operation, each taking the iteration number."""
    ids = _active_ids(rng, 3 * N)
    users = [f"user-{rng.randrange(USERS)}" for _ in range(N)]
    return {
        "register": lambda i: registry.register(
            NewConnection(
                connection_id=f"new-{tag}-{i}", user_id=users[i], callback_url="https://x/prod", ttl_seconds=7200, max_per_user=10
            )
        ),
        "message": lambda i: registry.check_message(ids[i], touch_interval_seconds=60, count=True),
        "subscribe": lambda i: streams.subscribe(ids[N + i], "email-verification", f"extra-{i}", max_subscriptions=50),
        "publish": lambda i: streams.append("email-verification", users[i], '{"type":"bench"}'),
        "disconnect": lambda i: registry.deregister(ids[2 * N + i], status_code=1000, reason="bye"),
    }


def _expire_some(conn: psycopg.Connection, rng: random.Random) -> None:
    start = rng.randrange(0, ROWS - EXPIRED * 2)
    conn.execute(
        "UPDATE websocket_connections SET expires_at = now() - interval '1 second' WHERE connection_id = ANY(%s) AND is_active",
        [[f"conn-{i}" for i in range(start, start + EXPIRED * 10 // 9)]],
    )


def run() -> str:
    rng = random.Random(7)
    results: dict[str, list[float]] = {k: [] for k in ("floor", "register", "message", "subscribe", "publish", "disconnect")}
    cleanups: list[tuple[float, int]] = []
    with TemporaryPostgres(fsync=True) as pg, psycopg.connect(pg.url, autocommit=True) as admin:
        migrate(admin)
        fill_s = _fill(admin)
        db = Database(pg.url)
        registry = Registry(db)
        streams = Streams(db)
        for r in range(REPEAT):
            results["floor"].append(_rate(lambda i: db.execute("SELECT 1").fetchone()))
            for name, op in _operations(registry, streams, rng, f"r{r}").items():
                results[name].append(_rate(op))
            _expire_some(admin, rng)
            started = time.perf_counter()
            expired = registry.expire(idle_seconds=600)
            cleanups.append((time.perf_counter() - started, len(expired)))
        # The plans, at this size, chosen by the planner itself.
        conn = db.connection()
        explain_everything(conn)
        log = pg.root / "server.log"
        start = log.stat().st_size
        for op in _operations(registry, streams, rng, "plans").values():
            op(0)
        _expire_some(admin, rng)
        registry.expire(idle_seconds=600)
        registry.purge(older_than_days=0)
        registry.deactivate_user("user-42", reason="revoked")
        plans = registry_plans(log, start)
        offenders = {" ".join(p["Query Text"].split())[:100]: unindexed_scans(p) for p in plans if unindexed_scans(p)}
        if offenders:
            raise AssertionError(f"statements without an index lookup at {ROWS:,} rows: {offenders}")
        statements = len({p.get("Query Text", "") for p in plans})
        db.close()
    floor = statistics.median(results["floor"])
    cleanup_s = statistics.median(c[0] for c in cleanups)
    lines = [
        f"### Registry at {ROWS:,} connections and {ROWS:,} subscriptions "
        f"(median of {REPEAT} runs of {N:,} operations, durable commits)",
        "",
        f"Filling took {fill_s:.0f} s. The plans of {statements} distinct statements (the runtime's, the PL/pgSQL "
        "function's and the cascades') were read back with auto_explain: every registry table is reached through "
        "an index lookup.",
        "",
        "| operation | ops/s | ratio to floor |",
        "|---|---:|---:|",
        f"| floor: `SELECT 1` through the runtime's `Database` | {floor:,.0f} | 1.00 |",
    ]
    labels = {
        "register": "`$connect` upsert (per-user lock + cap count)",
        "message": "message check (read + rate count)",
        "subscribe": "subscribe (with the per-connection cap)",
        "publish": "publish: store an event in one user's stream + find its recipients",
        "disconnect": "`$disconnect` soft delete",
    }
    for name, label in labels.items():
        rate = statistics.median(results[name])
        lines.append(f"| {label} | {rate:,.0f} | {rate / floor:.2f} |")
    lines += [
        "",
        "| cleanup | seconds | rows deactivated | target |",
        "|---|---:|---:|---:|",
        f"| one `expire` statement over {ROWS:,} rows, {EXPIRED:,} of them expired | {cleanup_s:.2f} | "
        f"{statistics.median(c[1] for c in cleanups):,.0f} | ≤ {CLEANUP_TARGET_S:.0f} s |",
    ]
    return "\n".join(lines)
