"""The local gateway with another team's handler, and the fidelity details API Gateway has."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from careconnect_ws.local.config import GatewayConfig
from careconnect_ws.testing.gateway import RunningGateway

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """A handler that records every event and answers like a simple echo Lambda."""

    def __init__(self, *, connect_delay: float = 0.0, subprotocol: str | None = None) -> None:
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.connect_delay = connect_delay
        self.subprotocol = subprotocol

    def __call__(self, event, context):
        with self.lock:
            self.events.append(event)
        route = (event.get("requestContext") or {}).get("routeKey")
        if route == "$connect":
            time.sleep(self.connect_delay)
            asked = (event.get("headers") or {}).get("Sec-WebSocket-Protocol", "")
            if self.subprotocol and self.subprotocol in [p.strip() for p in asked.split(",")]:
                return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": self.subprotocol}}
            return {"statusCode": 200}
        if route in ("$default", "shout"):
            body = event.get("body") or ""
            return {"statusCode": 200, "body": body.upper() if route == "shout" else body}
        return {"statusCode": 200}

    def of(self, route: str) -> list[dict]:
        with self.lock:
            return [
                e
                for e in self.events
                if (e.get("requestContext") or {}).get("routeKey") == route
                or (route == "schedule" and e.get("detail-type") == "Scheduled Event")
            ]


@pytest.fixture
def custom():
    started: list[RunningGateway] = []

    def start(handler, **config) -> RunningGateway:
        gw = RunningGateway(GatewayConfig(port=0, authorizer=False, **config), handler)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_the_readme_echo_handler_runs_behind_serve(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Any Python WebSocket Lambda behind it") :]
    (tmp_path / "echo.py").write_text(re.search(r"```python\n(.*?)```", section, re.S)[1])
    command = re.search(r"```sh\n(careconnect-ws serve --handler echo:handler)", section)[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "careconnect_ws", *command.split()[1:], "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None:
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
            line = server.stdout.readline()
            if match := re.search(r"ws://\S+/prod", line):
                url = match[0]
        with connect(url) as ws:  # no authorizer for another team's handler unless it brings one
            ws.send('{"hello": "echo"}')
            assert ws.recv(timeout=10) == '{"hello": "echo"}'
    finally:
        server.terminate()
        server.wait(30)


def test_custom_routes_and_selection_expression(custom):
    handler = Recorder()
    gw = custom(
        handler,
        routes=frozenset({"$connect", "$disconnect", "$default", "shout"}),
        two_way_routes=frozenset({"$default", "shout"}),
        route_selection_expression="$request.body.type",
    )
    with connect(gw.url) as ws:
        ws.send(json.dumps({"type": "shout", "text": "hi"}))
        assert ws.recv(timeout=10) == json.dumps({"type": "shout", "text": "hi"}).upper()
        ws.send(json.dumps({"type": "unknown"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "unknown"}
    assert [e["requestContext"]["routeKey"] for e in handler.events if e["requestContext"].get("eventType") == "MESSAGE"] == [
        "shout",
        "$default",
    ]


def test_subprotocol_is_chosen_by_the_connect_answer(custom):
    gw = custom(Recorder(subprotocol="chat.v2"))
    with connect(gw.url, subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
    plain = custom(Recorder())
    with connect(plain.url) as ws:
        assert ws.subprotocol is None


def test_a_single_frame_over_32_kb_closes_with_1009_but_fragments_pass(custom):
    handler = Recorder()
    gw = custom(handler)
    with connect(gw.url) as ws:
        assert "permessage-deflate" not in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")
    with connect(gw.url, max_size=None) as ws:
        fragments = ["x" * 30_000] * 3  # a 90 KB message in three frames under 32 KB each
        ws.send(iter(fragments))
        assert len(ws.recv(timeout=10)) == 90_000
    with connect(gw.url, max_size=None) as ws:
        ws.send("y" * 40_000)  # one frame of 40 KB
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009
    wait_for(lambda: any(e["requestContext"].get("disconnectStatusCode") == 1009 for e in handler.of("$disconnect")))


def test_an_oversize_frame_pipelined_with_the_handshake_closes_with_1009(custom):
    """The bypass from the review: the frame arrives in the same packet as the upgrade request, before
    the connection is set up. It must meet the limit from the first byte."""
    import os
    import struct

    handler = Recorder()
    gw = custom(handler)
    payload = b'{"action":"ping","pad":"' + b"z" * 60_000 + b'"}'
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x81, 0x80 | 127]) + struct.pack(">Q", len(payload)) + mask + masked
    raw = socket.create_connection(("127.0.0.1", gw.gateway.port))
    raw.sendall(
        f"GET /prod HTTP/1.1\r\nHost: 127.0.0.1:{gw.gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        + frame
    )
    raw.settimeout(10)
    received = b""
    while b"\r\n\r\n" not in received:
        received += raw.recv(4096)
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    while len(rest) < 4:
        chunk = raw.recv(4096)
        if not chunk:
            break
        rest += chunk
    raw.close()
    assert rest[0] & 0x0F == 0x8, rest[:16]  # a close frame, not a pong
    assert int.from_bytes(rest[2:4], "big") == 1009
    assert not [e for e in handler.of("$default")], "the oversize frame reached the handler"


def test_an_abandoned_handshake_still_gets_its_disconnect(custom):
    handler = Recorder(connect_delay=0.5)
    gw = custom(handler)
    raw = socket.create_connection(("127.0.0.1", gw.gateway.port))
    raw.sendall(
        f"GET /prod HTTP/1.1\r\nHost: 127.0.0.1:{gw.gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    wait_for(lambda: handler.of("$connect"))
    raw.close()  # gone while $connect is still running
    connect_id = handler.of("$connect")[0]["requestContext"]["connectionId"]
    disconnect = wait_for(lambda: [e for e in handler.of("$disconnect") if e["requestContext"]["connectionId"] == connect_id])
    assert disconnect[0]["requestContext"]["disconnectStatusCode"] == 1006


def test_cleanup_runs_on_a_schedule_while_serving(custom):
    handler = Recorder()
    custom(handler, cleanup_interval_seconds=0.2)
    events = wait_for(lambda: handler.of("schedule") if len(handler.of("schedule")) >= 2 else None)
    assert events[0]["source"] == "aws.events" and events[0]["detail-type"] == "Scheduled Event"


def test_throttling_can_be_lifted_or_set(custom):
    handler = Recorder()
    gw = custom(handler, throttling=False)
    assert gw.gateway.bucket is None
    with connect(gw.url) as ws:
        for i in range(600):  # past the stage's burst of 500
            ws.send(str(i))
        assert [ws.recv(timeout=10) for _ in range(600)] == [str(i) for i in range(600)]
    tight = custom(Recorder(), throttling_rate_limit=2, throttling_burst_limit=3)
    assert (tight.gateway.bucket.rate, tight.gateway.bucket.burst) == (2, 3)


def test_a_client_that_never_reads_cannot_hold_up_connections_posts(custom):
    """The finding: after a few dozen POSTs to a client that does not read, the sender hit its timeout.
    Now each POST returns within seconds, the stalled client is dropped (410 from then on, $disconnect
    1006), and a healthy client beside it keeps receiving."""
    import time

    from careconnect_ws.errors import ConnectionGone
    from careconnect_ws.management import ManagementApi

    handler = Recorder()
    gw = custom(handler)
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", gw.gateway.port))
    stalled.sendall(
        f"GET /prod HTTP/1.1\r\nHost: 127.0.0.1:{gw.gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    wait_for(lambda: len(gw.open_connection_ids()) == 1)
    (slow_id,) = gw.open_connection_ids()
    management = ManagementApi()
    with connect(gw.url, max_size=None) as healthy:
        healthy_id = next(
            c for c in wait_for(lambda: gw.open_connection_ids() if len(gw.open_connection_ids()) == 2 else None) if c != slow_id
        )
        chunk = "m" * 100_000
        slowest, gone_after = 0.0, None
        for i in range(200):
            started = time.monotonic()
            try:
                management.send(gw.management_url, slow_id, chunk)
            except ConnectionGone:
                gone_after = i
                break
            finally:
                slowest = max(slowest, time.monotonic() - started)
            management.send(gw.management_url, healthy_id, "still here")
            assert healthy.recv(timeout=10) == "still here"
        assert gone_after is not None and slowest < 4, (gone_after, slowest)
    wait_for(lambda: any(e["requestContext"].get("disconnectStatusCode") == 1006 for e in handler.of("$disconnect")))
    stalled.close()


def test_serve_two_way_routes_mirror_the_constructs_return_response():
    """``serve --routes chat.send,chat.read --two-way-routes chat.send`` is add_route(..., return_response=True)."""
    from careconnect_ws.cli import build_parser
    from careconnect_ws.errors import ConfigError
    from careconnect_ws.local.serve import gateway_config

    parser = build_parser()
    args = parser.parse_args(["serve", "--routes", "chat.send,chat.read", "--two-way-routes", "chat.send"])
    config = gateway_config(args, built_in=True)
    assert config.two_way_routes == {"$default", "chat.send"} and "chat.read" in config.routes
    with pytest.raises(ConfigError) as err:
        gateway_config(parser.parse_args(["serve", "--two-way-routes", "chat.send"]), built_in=True)
    assert err.value.variable == "--two-way-routes"
