"""Durable streams: what storing every event before pushing it costs, each against a floor in the same run.

* publish to a stream with no subscribers, against one single-row ``INSERT`` of the same payload through
  the runtime's ``Database`` (the floor of any durable write);
* publish + fan-out to 1,000 subscribers, against the pre-stream ``notify`` path (recipients query, then the
  same 1,000 signed ``@connections`` POSTs) to the same 1,000;
* replay of 1,000 events to one client through the handler (subscribe with ``since``, following ``more``),
  against sending the same 1,000 events live through ``@connections``;
* purge of 1,000,000 expired events (among 100,000 retained ones), against a target of 2 s.

Real PostgreSQL with durable commits (``fsync`` on), a loopback aiohttp ``@connections`` endpoint, medians.
"""

from __future__ import annotations

import json
import statistics
import time

import psycopg

from bench.fanout import _start_endpoint
from bench.handler import _event
from careconnect_ws import db as db_module
from careconnect_ws.db import Database
from careconnect_ws.handler import lambda_handler
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.management import get_management_api, set_management_api
from careconnect_ws.migrations import migrate
from careconnect_ws.publishing import publish
from careconnect_ws.registry import NewConnection, Recipient
from careconnect_ws.services import get_services
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.streams import Streams

N = 1000
REPEAT = 5
PURGE_ROWS = 1_000_000
PURGE_TARGET_S = 2.0
PURGE_REPEAT = 3
SECRET = "bench-secret-that-is-at-least-32-bytes!!"
PAYLOAD = {"type": "care-plan-changed", "plan": "p-9", "changedBy": "nurse-1", "at": "2026-11-30T20:00:00Z"}


def _median_rate(fn, n: int = N) -> float:
    rates = []
    for r in range(REPEAT):
        started = time.perf_counter()
        for i in range(n):
            fn(r, i)
        rates.append(n / (time.perf_counter() - started))
    return statistics.median(rates)


def _subscribe_many(conn: psycopg.Connection, url: str, subject: str, n: int) -> list[str]:
    ids = [f"{subject}-{i:05d}=" for i in range(n)]
    conn.execute(
        "INSERT INTO websocket_connections (connection_id, user_id, callback_url, expires_at) "
        "SELECT id, 'fan', %s, now() + interval '1 hour' FROM unnest(%s::text[]) AS id",
        [url, ids],
    )
    conn.execute(
        "INSERT INTO websocket_subscriptions (connection_id, topic, subject) "
        "SELECT id, 'email-verification', %s FROM unnest(%s::text[]) AS id",
        [subject, ids],
    )
    return ids


def run() -> str:
    import logging

    from careconnect_ws.logs import configure_logging

    configure_logging(level=logging.WARNING)
    url, loop, thread = _start_endpoint(open_ids=_OpenToAll())
    payload_text = json.dumps(PAYLOAD, separators=(",", ":"))
    out: dict[str, float] = {}
    with TemporaryPostgres(fsync=True) as pg, psycopg.connect(pg.url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload text NOT NULL)")
        set_settings(Settings(database_url=pg.url, jwt_secret=SECRET, management_endpoint=url))
        set_management_api(None)
        db_module.reset_database()
        services = get_services()
        db: Database = services.registry.db

        # 1. A publish with nobody subscribed, against one INSERT.
        out["insert"] = _median_rate(lambda r, i: db.execute("INSERT INTO bench_floor (payload) VALUES (%s)", [payload_text]))
        out["publish"] = _median_rate(lambda r, i: publish("email-verification", f"quiet-{r}", PAYLOAD))

        # 2. Fan-out to 1,000 subscribers: publish against the pre-stream notify.
        _subscribe_many(conn, url, "fan", N)

        def recipients() -> list[Recipient]:
            return [
                Recipient(*row)
                for row in db.execute(
                    "SELECT c.connection_id, c.callback_url FROM websocket_subscriptions s JOIN websocket_connections c"
                    " USING (connection_id) WHERE s.topic = %s AND s.subject = %s AND c.is_active AND c.expires_at > now()"
                    " ORDER BY c.connection_id",
                    ["email-verification", "fan"],
                ).fetchall()
            ]

        olds, news = [], []
        for _ in range(REPEAT):
            started = time.perf_counter()
            result = services.delivery.broadcast(recipients(), PAYLOAD)
            olds.append(time.perf_counter() - started)
            assert result.reached == N
            started = time.perf_counter()
            result = publish("email-verification", "fan", PAYLOAD)
            news.append(time.perf_counter() - started)
            assert result.reached == N
        out["fan_old"], out["fan_new"] = statistics.median(olds), statistics.median(news)

        # 3. Replay of 1,000 events to one client, against the same 1,000 pushed live.
        services.registry.register(NewConnection(connection_id="reader=", user_id="reader", callback_url=url, ttl_seconds=7200))
        for _ in range(N):
            publish("email-verification", "reader", PAYLOAD)
        replays, lives, pages = [], [], 0
        management = get_management_api()
        for _ in range(REPEAT):
            started = time.perf_counter()
            since, got, pages = 0, 0, 0
            while True:
                response = lambda_handler(
                    _event(
                        "MESSAGE",
                        "reader=",
                        body=json.dumps({"action": "subscribe", "topic": "email-verification", "since": since}),
                    )
                )
                reply = json.loads(response["body"])
                got += len(reply["events"])
                pages += 1
                if not reply["more"]:
                    break
                since = reply["events"][-1]["seq"]
            replays.append(time.perf_counter() - started)
            assert got == N, (got, reply)
            message = json.dumps({"stream": {"topic": "email-verification", "subject": "reader"}, "seq": 1, **PAYLOAD})
            started = time.perf_counter()
            for _ in range(N):
                management.send(url, "reader=", message)
            lives.append(time.perf_counter() - started)
        out["replay"], out["live"], out["pages"] = statistics.median(replays), statistics.median(lives), pages

        # 4. Purge 1,000,000 expired events (100,000 retained ones stay), three times over.
        purges = []
        for _ in range(PURGE_REPEAT):
            conn.execute("TRUNCATE websocket_events")
            conn.execute(
                f"""
                INSERT INTO websocket_events (topic, subject, seq, published_at, payload)
                SELECT 'email-verification', 'old-' || (i %% 10000), i / 10000 + 1,
                       now() - interval '2 days' + i * interval '1 ms', %s
                  FROM generate_series(0, {PURGE_ROWS - 1}) AS i
            """,
                [payload_text],
            )
            conn.execute(
                """
                INSERT INTO websocket_events (topic, subject, seq, published_at, payload)
                SELECT 'email-verification', 'new-' || (i %% 1000), i / 1000 + 1, now(), %s FROM generate_series(0, 99999) AS i
            """,
                [payload_text],
            )
            conn.execute("VACUUM ANALYZE websocket_events")
            started = time.perf_counter()
            purged = Streams(db).purge(older_than_seconds=86_400)
            purges.append(time.perf_counter() - started)
            assert purged == PURGE_ROWS, purged
        out["purge"] = statistics.median(purges)
        db_module.reset_database()
        set_settings(None)
        set_management_api(None)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    return "\n".join(
        [
            f"### Durable streams (medians of {REPEAT} runs, durable commits)",
            "",
            "| what | figure | floor in the same run | ratio |",
            "|---|---:|---:|---:|",
            f"| publish to a stream nobody subscribes to (store + recipients, one round trip) | {out['publish']:,.0f}/s | "
            f"one `INSERT`: {out['insert']:,.0f}/s | {out['publish'] / out['insert']:.2f} |",
            f"| publish + fan-out to {N:,} subscribers | {out['fan_new'] * 1000:.0f} ms | pre-stream notify to the same "
            f"{N:,}: {out['fan_old'] * 1000:.0f} ms | {out['fan_old'] / out['fan_new']:.2f} |",
            f"| replay of {N:,} events to one client through the handler ({out['pages']} replies) | "
            f"{out['replay'] * 1000:.0f} ms | the same {N:,} pushed live: {out['live'] * 1000:.0f} ms | "
            f"{out['live'] / out['replay']:.1f}× faster |",
            f"| purge of {PURGE_ROWS:,} expired events (100,000 retained stay; median of {PURGE_REPEAT}) | {out['purge']:.2f} s | target "
            f"{PURGE_TARGET_S:.0f} s | {out['purge'] / PURGE_TARGET_S:.2f} of the target |",
        ]
    )


class _OpenToAll(set):
    """Every connection id is open at the benchmark's endpoint."""

    def __contains__(self, item: object) -> bool:
        return True
