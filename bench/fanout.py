"""One notification to 10,000 recipients, against the Lambda timeout the stack configures.

10,000 connections of one user are registered and subscribed in a real PostgreSQL; an aiohttp
``@connections`` endpoint on loopback answers 200 for 9,000 of them and 410 Gone for the other
1,000 (clients that vanished), as API Gateway does. The floor is the same 10,000 raw HTTP POSTs
(16 keep-alive ``http.client`` workers, same payload, no signing) to the same endpoint in the same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time

import psycopg

from bench.gateway import raw_posts
from careconnect_ws import db as db_module
from careconnect_ws.delivery import MAX_WORKERS
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.management import set_management_api
from careconnect_ws.migrations import migrate
from careconnect_ws.notifications import email_verified_payload, notify_email_verified
from careconnect_ws.settings import Settings, set_settings

RECIPIENTS = 10_000
GONE = 1_000
REPEAT = 3
LAMBDA_TIMEOUT_S = 29  # the stack's default timeout_seconds
SECRET = "bench-secret-that-is-at-least-32-bytes!!"


def _start_endpoint(open_ids: set[str]) -> tuple[str, asyncio.AbstractEventLoop, threading.Thread]:
    from aiohttp import web

    received = {"n": 0}

    async def post(request: web.Request) -> web.Response:
        await request.read()
        if request.match_info["id"] not in open_ids:
            return web.json_response({"message": "Gone"}, status=410, headers={"x-amzn-ErrorType": "GoneException"})
        received["n"] += 1
        return web.Response(status=200)

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> int:
        app = web.Application()
        app.router.add_post("/prod/@connections/{id}", post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]

    port = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    return f"http://127.0.0.1:{port}/prod", loop, thread


def _fill(conn: psycopg.Connection, url: str, ids: list[str]) -> None:
    conn.execute("TRUNCATE websocket_subscriptions, websocket_connections")
    conn.execute(
        """
        INSERT INTO websocket_connections (connection_id, user_id, callback_url, expires_at)
        SELECT id, 'fan', %s, now() + interval '1 hour' FROM unnest(%s::text[]) AS id
        """,
        [url, ids],
    )
    conn.execute(
        "INSERT INTO websocket_subscriptions (connection_id, topic, subject) "
        "SELECT id, 'email-verification', 'fan' FROM unnest(%s::text[]) AS id",
        [ids],
    )


def run() -> str:
    import logging

    from careconnect_ws.logs import configure_logging

    configure_logging(level=logging.WARNING)
    ids = [f"fan-{i:05d}=" for i in range(RECIPIENTS)]
    open_ids = set(ids[GONE:])
    url, loop, thread = _start_endpoint(open_ids)
    floors, fans = [], []
    body = json.dumps(email_verified_payload("fan")).encode()
    with TemporaryPostgres(fsync=True) as pg, psycopg.connect(pg.url, autocommit=True) as conn:
        migrate(conn)
        set_settings(Settings(database_url=pg.url, jwt_secret=SECRET, management_endpoint=url))
        set_management_api(None)
        db_module.reset_database()
        for _ in range(REPEAT):
            floors.append(raw_posts(url, ids, body, workers=MAX_WORKERS, ok=(200, 410)))
            _fill(conn, url, ids)
            started = time.perf_counter()
            result = notify_email_verified("fan")
            fans.append(time.perf_counter() - started)
            assert (result.reached, len(result.gone), len(result.failed)) == (RECIPIENTS - GONE, GONE, 0), result.as_dict()
            inactive = conn.execute("SELECT count(*) FROM websocket_connections WHERE NOT is_active").fetchone()[0]
            assert inactive == GONE
        db_module.reset_database()
        set_settings(None)
        set_management_api(None)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    floor, fan = statistics.median(floors), statistics.median(fans)
    return "\n".join(
        [
            f"### One notification to {RECIPIENTS:,} recipients (median of {REPEAT} runs)",
            "",
            "| what | seconds | msg/s | ratio to floor |",
            "|---|---:|---:|---:|",
            f"| floor: {RECIPIENTS:,} raw HTTP POSTs, {MAX_WORKERS} keep-alive workers, unsigned | {floor:.2f} | "
            f"{RECIPIENTS / floor:,.0f} | 1.00 |",
            f"| `notify_email_verified`: recipients query + {RECIPIENTS:,} signed POSTs ({GONE:,} answer 410) + one "
            f"deactivating statement | {fan:.2f} | {RECIPIENTS / fan:,.0f} | {floor / fan:.2f} |",
            f"| the stack's Lambda timeout | {LAMBDA_TIMEOUT_S} | | |",
        ]
    )
