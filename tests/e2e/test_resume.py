"""Nothing lost between connections, end to end: the local gateway, real WebSocket clients on real
sockets, real PostgreSQL, the reference client, ``careconnect-ws listen`` and a chaos run."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import replace

from careconnect_ws.client import Event, Resync, StreamClient
from careconnect_ws.management import ManagementApi
from careconnect_ws.publishing import publish
from careconnect_ws.settings import get_settings, set_settings
from careconnect_ws.topics import Topic, get_topic, register_topic
from tests.e2e.test_gateway import call, open_ws, wait_for
from tests.support.runtime import SECRET, token_for

if get_topic("ward") is None:
    register_topic(Topic("ward", may_subscribe=lambda user, subject: user.startswith("staff-"), description="a ward's board"))


def test_a_client_that_disconnects_while_events_are_published_resumes_with_exactly_those(gateway):
    with open_ws(gateway, "staff-1") as ws:
        assert call(ws, {"action": "subscribe", "topic": "ward", "subject": "w1"})["seq"] == 0
        publish("ward", "w1", {"n": 0})
        last = json.loads(ws.recv(timeout=10))["seq"]
    wait_for(lambda: not gateway.open_connection_ids())
    for n in range(1, 26):
        assert publish("ward", "w1", {"n": n}).reached == 0
    with open_ws(gateway, "staff-1") as ws:
        reply = call(ws, {"action": "subscribe", "topic": "ward", "subject": "w1", "since": last})
        assert [e["n"] for e in reply["events"]] == list(range(1, 26))
        assert [e["seq"] for e in reply["events"]] == list(range(2, 27)) and reply["more"] is False
        publish("ward", "w1", {"n": 26})
        assert json.loads(ws.recv(timeout=10))["seq"] == 27


async def _collect(client: StreamClient, until: int, timeout: float = 30) -> list[Event | Resync]:
    got: list[Event | Resync] = []

    async def take() -> None:
        async for item in client:
            got.append(item)
            if isinstance(item, Event) and item.seq >= until:
                return

    await asyncio.wait_for(take(), timeout)
    return got


def _in_thread(fn, *args):
    """Run a blocking call (publish, @connections) off the event loop, with the test's settings."""
    settings = get_settings()

    def call_it():
        set_settings(settings)
        return fn(*args)

    return asyncio.to_thread(call_it)


def test_the_reference_client_resumes_after_every_kind_of_disconnect(start_gateway):
    gw = start_gateway(idle_timeout_seconds=1.5)
    management = ManagementApi()

    async def scenario() -> StreamClient:
        client = StreamClient(
            gw.url, token=lambda: token_for("staff-2"), streams=[("ward", "w2")], backoff_initial=0.05, backoff_max=0.2
        )
        async with client:
            await _in_thread(wait_for, lambda: client.connection is not None and gw.open_connection_ids())
            await asyncio.sleep(0.2)  # subscribed
            seq = 0
            for how in ("client close", "@connections DELETE", "idle close"):
                if how == "client close":
                    await client.connection.close()
                elif how == "@connections DELETE":
                    (cid,) = gw.open_connection_ids()
                    await _in_thread(management.close, gw.management_url, cid)
                else:
                    await asyncio.sleep(1.7)  # the gateway closes the idle connection (1001)
                for _ in range(5):  # published while the client is away (or reconnecting)
                    seq = (await _in_thread(publish, "ward", "w2", {"after": how})).seq
                await _in_thread(wait_for, lambda: gw.open_connection_ids())
            got = await _collect(client, seq)
        assert [e.seq for e in got] == list(range(1, seq + 1))
        assert [e.data["after"] for e in got] == ["client close"] * 5 + ["@connections DELETE"] * 5 + ["idle close"] * 5
        return client

    client = asyncio.run(scenario())
    assert client.connections >= 4


def test_the_reference_client_reports_a_resync_when_its_position_is_past_retention(gateway, sql):
    for n in range(3):
        publish("ward", "w3", {"n": n})
    sql.execute("DELETE FROM websocket_events WHERE seq <= 2")

    async def scenario():
        async with StreamClient(
            gateway.url, token=token_for("staff-3"), streams=[("ward", "w3")], positions={("ward", "w3"): 1}
        ) as client:
            first = await asyncio.wait_for(client.__anext__(), 10)
            await _in_thread(publish, "ward", "w3", {"n": 3})
            second = await asyncio.wait_for(client.__anext__(), 10)
            return first, second

    first, second = asyncio.run(scenario())
    assert first == Resync("ward", "w3", oldest=3, seq=3)
    assert (second.seq, second.data) == (4, {"n": 3})


def test_listen_prints_the_missed_events_then_live_ones(gateway, careconnect_database):
    for n in range(3):
        publish("ward", "w4", {"n": n})
    env = {**os.environ, "WS_JWT_SECRET": SECRET, "CARECONNECT_WS_URL": gateway.url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "careconnect_ws",
            "listen",
            "--user",
            "staff-4",
            "--topic",
            "ward",
            "--subject",
            "w4",
            "--since",
            "1",
            "--count",
            "3",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: gateway.open_connection_ids(), timeout=30)
        time.sleep(0.3)
        publish("ward", "w4", {"n": 3})
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(m["seq"], m["n"]) for m in lines] == [(2, 1), (3, 2), (4, 3)]
    assert lines[0]["stream"] == {"topic": "ward", "subject": "w4"}


def test_listen_without_a_url_names_the_variable():
    env = {k: v for k, v in os.environ.items() if k != "CARECONNECT_WS_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "listen", "--topic", "ward", "--token", "x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "CARECONNECT_WS_URL" in proc.stderr


# -- chaos ------------------------------------------------------------------------------------------------

# The default suite runs a short chaos run; CI runs it again with over 10,000 events in a step of its own
# (`make chaos`: CHAOS_EVENTS=10002, about a minute).
CHAOS_EVENTS = int(os.environ.get("CHAOS_EVENTS", "1500"))


def test_chaos_every_subscriber_ends_with_every_event_of_its_streams_in_order(start_gateway, capsys):
    """Publishers write to a few streams while subscribers are dropped at random (client close,
    @connections DELETE, the gateway's idle close) and resume through the reference client."""
    gw = start_gateway(idle_timeout_seconds=2.0, throttling=False)
    streams = [("ward", f"chaos-{i}") for i in range(4)]
    subscribers = {f"staff-c{i}": [streams[i % 4], streams[(i + 1) % 4]] for i in range(6)}
    rng = random.Random(17)
    management = ManagementApi()
    published: dict[tuple[str, str], int] = defaultdict(int)
    drops: dict[str, int] = defaultdict(int)
    settings = get_settings()

    def publisher(n: int, count: int) -> None:
        set_settings(settings)
        local = random.Random(n)
        for i in range(count):
            stream = local.choice(streams)
            publish(*stream, {"by": n, "i": i})

    async def scenario() -> dict[str, StreamClient]:
        clients = {
            user: StreamClient(
                gw.url,
                token=(lambda u=user: token_for(u)),
                streams=keys,
                positions={k: 0 for k in keys},
                backoff_initial=0.02,
                backoff_max=0.5,
                gap_timeout=0.5,
            )
            for user, keys in subscribers.items()
        }
        delivered: dict[str, dict[tuple[str, str], list[int]]] = {u: defaultdict(list) for u in clients}

        async def consume(user: str, client: StreamClient) -> None:
            async for item in client:
                assert isinstance(item, Event), item
                delivered[user][(item.topic, item.subject)].append(item.seq)

        async def chaos(stop: asyncio.Event) -> None:
            while not stop.is_set():
                await asyncio.sleep(rng.uniform(0.02, 0.12))
                user = rng.choice(list(clients))
                ws = clients[user].connection
                how = rng.choice(("client", "delete", "idle"))
                if ws is None or how == "idle":
                    continue  # idle closes happen by themselves: nobody pings within 2 s
                drops[how] += 1
                if how == "client":
                    await ws.close()
                else:
                    ids = await _in_thread(gw.open_connection_ids)
                    if ids:
                        await _in_thread(management.close, gw.management_url, rng.choice(ids))

        for client in clients.values():
            await client.__aenter__()
        consumers = [asyncio.create_task(consume(u, c)) for u, c in clients.items()]
        stop = asyncio.Event()
        chaos_task = asyncio.create_task(chaos(stop))
        per_publisher = CHAOS_EVENTS // 3
        await asyncio.gather(*(asyncio.to_thread(publisher, n, per_publisher) for n in range(3)))
        stop.set()
        await chaos_task
        heads = {s: _head(s) for s in streams}
        published.update(heads)

        def complete() -> bool:
            return all(len(delivered[u][s]) >= heads[s] for u, keys in subscribers.items() for s in keys)

        deadline = time.monotonic() + 120
        while not complete() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for client in clients.values():
            await client.close()
        for task in consumers:
            task.cancel()
        results["delivered"] = delivered
        return clients

    results: dict = {}
    started = time.monotonic()
    clients = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    delivered = results["delivered"]
    assert sum(published.values()) == 3 * (CHAOS_EVENTS // 3)
    for user, keys in subscribers.items():
        for stream in keys:
            assert delivered[user][stream] == list(range(1, published[stream] + 1)), (user, stream)
    reconnects = sum(c.connections - 1 for c in clients.values())
    duplicates = sum(c.duplicates for c in clients.values())
    with capsys.disabled():
        print(
            f"\nchaos: {sum(published.values())} events in {len(streams)} streams to {len(clients)} subscribers in "
            f"{elapsed:.1f} s; {reconnects} reconnects ({dict(drops)} forced, the rest idle closes); "
            f"{duplicates} duplicates dropped; 0 missing, 0 out of order"
        )
    assert reconnects > min(20, CHAOS_EVENTS // 100)


def _head(stream: tuple[str, str]) -> int:
    from careconnect_ws.db import get_database

    row = get_database().execute("SELECT last_seq FROM websocket_streams WHERE topic = %s AND subject = %s", list(stream))
    return row.fetchone()[0]


def test_an_event_published_while_a_client_resubscribes_arrives_live_or_in_the_replay(start_gateway):
    """The switch from replay to live under load, with no catch-up at the end to hide a loss: the client
    unsubscribes and resubscribes with ``since`` over and over while events are published to its stream;
    every event must arrive, live or replayed."""
    gw = start_gateway(throttling=False)
    # This client sends as fast as it can, on purpose.
    set_settings(replace(get_settings(), max_messages_per_second=0, max_messages_per_user_per_second=0))
    stop = threading.Event()
    last = {"seq": 0}
    settings = get_settings()

    def publisher() -> None:
        set_settings(settings)
        while not stop.is_set():
            last["seq"] = publish("ward", "race", {"x": 1}).seq

    received: set[int] = set()

    def contiguous() -> int:
        n = 0
        while n + 1 in received:
            n += 1
        return n

    def until_reply(ws, kind: str) -> dict:
        while True:
            message = json.loads(ws.recv(timeout=10))
            if "stream" in message:
                received.add(message["seq"])
            elif message.get("type") == kind:
                return message

    thread = threading.Thread(target=publisher)
    resubscribes = 0
    with open_ws(gw, "staff-race") as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": "ward", "subject": "race"}))
        until_reply(ws, "subscribed")
        thread.start()
        try:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                ws.send(json.dumps({"action": "unsubscribe", "topic": "ward", "subject": "race"}))
                until_reply(ws, "unsubscribed")
                ws.send(json.dumps({"action": "subscribe", "topic": "ward", "subject": "race", "since": contiguous()}))
                reply = until_reply(ws, "subscribed")
                assert reply["more"] is False
                received.update(e["seq"] for e in reply["events"])
                resubscribes += 1
        finally:
            stop.set()
            thread.join()
        deadline = time.monotonic() + 10
        while len(received) < last["seq"] and time.monotonic() < deadline:  # live pushes still in flight
            try:
                message = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            if "stream" in message:
                received.add(message["seq"])
    assert last["seq"] > 50 and resubscribes > 20
    assert sorted(received) == list(range(1, last["seq"] + 1))
