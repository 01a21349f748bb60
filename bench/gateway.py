"""Through the local gateway on loopback: connections opened/s, messages round-tripped/s, and the
fan-out of one notification to 1,000 connections against a floor of raw HTTP POSTs to the same
server's @connections in the same run (same payload, same 16-way concurrency, keep-alive)."""

from __future__ import annotations

import asyncio
import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlparse

import psycopg
from aiohttp import web
from websockets.asyncio.client import connect

from careconnect_ws import db as db_module
from careconnect_ws.limits import GatewayLimits
from careconnect_ws.local.config import GatewayConfig
from careconnect_ws.local.gateway import LocalGateway
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.logs import configure_logging
from careconnect_ws.management import set_management_api
from careconnect_ws.migrations import migrate
from careconnect_ws.notifications import email_verified_payload, notify_email_verified
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

SECRET = "bench-secret-that-is-at-least-32-bytes!!"
REPEAT = 3
FANOUT = 1000


async def _start_echo() -> tuple[web.AppRunner, int]:
    """The floor for connects and round trips: a bare aiohttp WebSocket echo on the same loop."""

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def _start_gateway() -> tuple[LocalGateway, asyncio.AbstractEventLoop, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    limits = GatewayLimits(throttling_rate_limit=1e9, throttling_burst_limit=10**9)
    gateway = LocalGateway(GatewayConfig(port=0, limits=limits))
    asyncio.run_coroutine_threadsafe(gateway.start(), loop).result(30)
    return gateway, loop, thread


async def _open(url: str, n: int, concurrency: int = 50) -> list:
    sem = asyncio.Semaphore(concurrency)

    async def one(_):
        async with sem:
            return await connect(url, open_timeout=60, max_queue=None)

    return await asyncio.gather(*(one(i) for i in range(n)))


async def _round_trips(sockets: list, per_socket: int) -> float:
    async def drive(ws):
        for _ in range(per_socket):
            await ws.send('{"action":"ping"}')
            await ws.recv()

    started = time.perf_counter()
    await asyncio.gather(*(drive(ws) for ws in sockets))
    return len(sockets) * per_socket / (time.perf_counter() - started)


def raw_posts(management_url: str, ids: list[str], body: bytes, workers: int = 16, ok: tuple[int, ...] = (200,)) -> float:
    """The fan-out floor: unsigned POSTs to ``@connections`` from keep-alive ``http.client`` workers; seconds."""
    parsed = urlparse(management_url)
    local = threading.local()

    def post(cid: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        conn.request(
            "POST",
            f"{parsed.path}/@connections/{quote(cid, safe='')}",
            body=body,
            headers={"Authorization": "AWS4-HMAC-SHA256 bench", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        assert response.status in ok, response.status

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(post, ids))
    return time.perf_counter() - started


async def _drain(sockets: list, count: int) -> None:
    await asyncio.gather(*(asyncio.wait_for(ws.recv(), 60) for ws in sockets for _ in range(count)))


def run() -> str:
    import logging

    configure_logging(level=logging.WARNING)
    with TemporaryPostgres() as pg:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
            # As serve sets up its embedded database: the role carries the statement timeout.
            conn.execute("ALTER ROLE CURRENT_USER SET statement_timeout = 5000")
        gateway, loop, thread = _start_gateway()
        # One bench user holds every connection and sends as fast as it can: the per-client limits are lifted.
        # Prepared statements, as serve runs the built-in handler against its embedded database.
        set_settings(
            Settings(
                database_url=pg.url,
                jwt_secret=SECRET,
                management_endpoint=gateway.management_url,
                max_connections_per_user=0,
                max_messages_per_second=0,
                max_messages_per_user_per_second=0,
                db_prepared_statements=True,
            )
        )
        set_management_api(None)
        db_module.reset_database()
        url = f"{gateway.websocket_url}?token={issue_token('fan', Settings(jwt_secret=SECRET))}"
        echo_runner, echo_port = asyncio.run_coroutine_threadsafe(_start_echo(), loop).result(30)
        echo_url = f"ws://127.0.0.1:{echo_port}/echo"
        connect_rates, rt_rates, fan_times, floor_times = [], [], [], []
        echo_connect_rates, echo_rt_rates = [], []

        async def scenario() -> None:
            for _ in range(REPEAT):
                started = time.perf_counter()
                echoes = await _open(echo_url, FANOUT)
                echo_connect_rates.append(FANOUT / (time.perf_counter() - started))
                echo_rt_rates.append(await _round_trips(echoes[:50], 100))
                await asyncio.gather(*(ws.close() for ws in echoes))
                started = time.perf_counter()
                sockets = await _open(url, FANOUT)
                connect_rates.append(FANOUT / (time.perf_counter() - started))
                rt_rates.append(await _round_trips(sockets[:50], 100))
                for ws in sockets:
                    await ws.send('{"action":"subscribe","topic":"email-verification"}')
                await _drain(sockets, 1)
                ids = list(gateway.connections)
                body = json.dumps(email_verified_payload("fan")).encode()
                floor_times.append(await asyncio.to_thread(raw_posts, gateway.management_url, ids, body))
                await _drain(sockets, 1)
                started = time.perf_counter()
                result = await asyncio.to_thread(notify_email_verified, "fan")
                fan_times.append(time.perf_counter() - started)
                assert result.reached == FANOUT, result.as_dict()
                await _drain(sockets, 1)
                await asyncio.gather(*(ws.close() for ws in sockets))
                while gateway.connections:
                    await asyncio.sleep(0.05)

        asyncio.run(scenario())
        asyncio.run_coroutine_threadsafe(gateway.stop(), loop).result(60)
        asyncio.run_coroutine_threadsafe(echo_runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        db_module.reset_database()
        set_settings(None)
    floor, fan = statistics.median(floor_times), statistics.median(fan_times)
    echo_connect, echo_rt = statistics.median(echo_connect_rates), statistics.median(echo_rt_rates)
    gw_connect, gw_rt = statistics.median(connect_rates), statistics.median(rt_rates)
    return "\n".join(
        [
            f"### Local gateway (median of {REPEAT} runs, client and server on the same 2 cores)",
            "",
            "| what | figure | ratio to floor |",
            "|---|---:|---:|",
            f"| floor: WebSocket handshakes/s to a bare aiohttp echo (50 at a time) | {echo_connect:,.0f} | 1.00 |",
            f"| connections opened/s (authorizer + `$connect` with JWT + upsert, upgrade) | {gw_connect:,.0f} | {gw_connect / echo_connect:.2f} |",
            f"| floor: echo round trips/s, bare aiohttp (50 connections × 100) | {echo_rt:,.0f} | 1.00 |",
            f"| messages round-tripped/s (`ping` → handler → route response) | {gw_rt:,.0f} | {gw_rt / echo_rt:.2f} |",
            f"| floor: {FANOUT:,} raw HTTP POSTs to `@connections` (16 keep-alive workers) | {floor * 1000:,.0f} ms · {FANOUT / floor:,.0f} msg/s | 1.00 |",
            f"| fan-out: `notify_email_verified` to {FANOUT:,} subscribed connections (query + SigV4 + gateway) | "
            f"{fan * 1000:,.0f} ms · {FANOUT / fan:,.0f} msg/s | {floor / fan:.2f} |",
        ]
    )
