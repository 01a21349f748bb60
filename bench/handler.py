"""Handler events per second against a real PostgreSQL, each as a ratio to the floor of one
psycopg round trip (``SELECT 1``) per event on the same server in the same run.
Also: import time of ``careconnect_ws.handler`` against ``import boto3, psycopg``."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import replace

import psycopg

from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.logs import configure_logging
from careconnect_ws.migrations import migrate
from careconnect_ws.registry import CHECK_MESSAGE
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

SECRET = "bench-secret-that-is-at-least-32-bytes!!"
N = 1000
REPEAT = 5
FSYNC = True


def _event(kind: str, cid: str, **extra) -> dict:
    ctx = {
        "routeKey": {"CONNECT": "$connect", "MESSAGE": "$default", "DISCONNECT": "$disconnect"}[kind],
        "eventType": kind,
        "stage": "prod",
        "apiId": "benchapi",
        "connectionId": cid,
        "requestId": "r",
        "domainName": "benchapi.execute-api.us-east-1.amazonaws.com",
        "connectedAt": 0,
        "requestTimeEpoch": 0,
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if kind == "DISCONNECT":
        ctx.update(disconnectStatusCode=1000, disconnectReason="bye")
    return {"requestContext": ctx, "isBase64Encoded": False, **extra}


def _rate(fn, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def _import_time(code: str, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _ping_rate(cid_of) -> float:
    return _rate(lambda i: lambda_handler(_event("MESSAGE", cid_of(i), body='{"action":"ping"}')), N)


def run() -> str:
    import logging
    from unittest import mock

    from careconnect_ws.registry import ActiveConnection, MessageCheck, Registry

    configure_logging(level=logging.WARNING)  # one log line per event would measure stderr, not the handler
    lines = [f"### Handler throughput (events/s, median of {REPEAT} runs of {N} events, one thread)", ""]
    kinds = (
        "floor",
        "runtime_floor",
        "bare",
        "bare_prepared",
        "connect",
        "message",
        "unlimited",
        "role",
        "prepared",
        "prepared_role",
        "prepared_role_unlimited",
        "python",
        "disconnect",
    )
    results: dict[str, list[float]] = {k: [] for k in kinds}
    with TemporaryPostgres(fsync=FSYNC) as pg:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
            # A role that carries the statement timeout itself: the runtime then sends no SET LOCAL.
            conn.execute("CREATE ROLE bench_app LOGIN")
            conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO bench_app")
            conn.execute("ALTER ROLE bench_app SET statement_timeout = '5s'")
        role_url = pg.url.replace("postgres@", "bench_app@")
        # Rate counting on (per connection and per user), with limits no bench connection reaches (a refusal
        # would close it), and a cap that lets one bench user hold every connection.
        limited = Settings(
            database_url=pg.url,
            jwt_secret=SECRET,
            region="us-east-1",
            max_connections_per_user=0,
            max_messages_per_second=1_000_000,
            max_messages_per_user_per_second=1_000_000,
        )
        unlimited = replace(limited, max_messages_per_second=0, max_messages_per_user_per_second=0)
        role = replace(limited, database_url=role_url)
        prepared = replace(limited, db_prepared_statements=True)
        prepared_role = replace(role, db_prepared_statements=True)
        prepared_role_unlimited = replace(prepared_role, max_messages_per_second=0, max_messages_per_user_per_second=0)
        set_settings(limited)
        db_module.reset_database()
        token = issue_token("bench-user", Settings(jwt_secret=SECRET))
        lambda_handler(_event("CONNECT", "bare", queryStringParameters={"token": token}))
        # The message path's statement, bare: Database.execute as the handler runs it (timeout included).
        bare_db = db_module.Database(pg.url)
        bare_prepared_db = db_module.Database(pg.url, prepared_statements=True)
        memory = MessageCheck(ActiveConnection("bare", "bench-user", "https://x/prod"), 1)
        with psycopg.connect(pg.url, autocommit=True) as floor_conn:
            for r in range(REPEAT):
                set_settings(limited)
                db_module.reset_database()
                results["floor"].append(_rate(lambda i: floor_conn.execute("SELECT 1").fetchone(), N))
                results["runtime_floor"].append(_rate(lambda i: bare_db.execute("SELECT 1").fetchone(), N))
                results["bare"].append(
                    _rate(
                        lambda i: bare_db.execute(
                            CHECK_MESSAGE, {"id": "bare", "touch": 60, "count": True, "limit": 10}
                        ).fetchone(),
                        N,
                    )
                )
                results["bare_prepared"].append(
                    _rate(
                        lambda i: bare_prepared_db.execute(
                            CHECK_MESSAGE, {"id": "bare", "touch": 60, "count": True, "limit": 10}
                        ).fetchone(),
                        N,
                    )
                )
                results["connect"].append(
                    _rate(
                        lambda i, r=r: lambda_handler(_event("CONNECT", f"c{r}-{i}", queryStringParameters={"token": token})), N
                    )
                )
                # Each connection sends several messages, as clients do (the rate window row is updated in place).
                results["message"].append(_ping_rate(lambda i, r=r: f"c{r}-{i % 100}"))
                set_settings(unlimited)
                results["unlimited"].append(_ping_rate(lambda i, r=r: f"c{r}-{i % 100}"))
                set_settings(role)
                db_module.reset_database()
                results["role"].append(_ping_rate(lambda i, r=r: f"c{r}-{i % 100}"))
                for kind, settings in (
                    ("prepared", prepared),
                    ("prepared_role", prepared_role),
                    ("prepared_role_unlimited", prepared_role_unlimited),
                ):
                    set_settings(settings)
                    db_module.reset_database()
                    results[kind].append(_ping_rate(lambda i, r=r: f"c{r}-{i % 100}"))
                with mock.patch.object(Registry, "check_message", lambda self, cid, **kw: memory):
                    results["python"].append(_ping_rate(lambda i: "bare"))
                set_settings(limited)
                db_module.reset_database()
                results["disconnect"].append(_rate(lambda i, r=r: lambda_handler(_event("DISCONNECT", f"c{r}-{i}")), N))
        bare_db.close()
        bare_prepared_db.close()
        db_module.reset_database()
        set_settings(None)
    floor = statistics.median(results["floor"])
    lines += [
        "| event | events/s | ratio to floor |",
        "|---|---:|---:|",
        f"| floor: one psycopg round trip (`SELECT 1`, psycopg's defaults: prepared after 5 runs) | {floor:,.0f} | 1.00 |",
    ]
    for kind, what in (
        ("runtime_floor", "`SELECT 1` through the runtime's pooler-safe path (`SET LOCAL` + simple protocol)"),
        ("bare", "the message path's one statement, bare (`Database.execute`)"),
        ("bare_prepared", "the same statement, `DB_PREPARED_STATEMENTS=on` (prepared; timeout set per session)"),
        ("connect", "`$connect` (JWT verify + per-user lock and cap + upsert)"),
        ("message", "message `ping` (read + rate count + route + reply)"),
        ("unlimited", "message `ping`, rate limit off (read + route + reply)"),
        ("role", "message `ping`, statement timeout on the role (no `SET LOCAL`)"),
        ("prepared", "message `ping`, `DB_PREPARED_STATEMENTS=on` (direct connection, timeout per session)"),
        ("prepared_role", "message `ping`, `DB_PREPARED_STATEMENTS=on` + timeout on the role"),
        ("prepared_role_unlimited", "the same, rate limit off (a pure read)"),
        ("python", "message `ping` with the registry answered from memory (the handler's own CPU)"),
        ("disconnect", "`$disconnect` (soft delete)"),
    ):
        rate = statistics.median(results[kind])
        lines.append(f"| {what} | {rate:,.0f} | {rate / floor:.2f} |")

    base = _import_time("pass")
    floor_import = _import_time("import boto3, psycopg")
    handler_import = _import_time("import careconnect_ws.handler")
    lines += [
        "",
        "### Cold import (median of 7 fresh interpreters, interpreter start-up subtracted)",
        "",
        "| import | ms | ratio to floor |",
        "|---|---:|---:|",
        f"| floor: `import boto3, psycopg` | {(floor_import - base) * 1000:.0f} | 1.00 |",
        f"| `import careconnect_ws.handler` | {(handler_import - base) * 1000:.0f} | "
        f"{(handler_import - base) / (floor_import - base):.2f} |",
    ]
    return "\n".join(lines)
