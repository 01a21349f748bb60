"""Memory of ``careconnect-ws serve`` (the gateway process, built-in handler) idle and holding 200 clients.

The server runs as a user runs it, in its own process with its embedded PostgreSQL; 200 clients of
200 users connect from this process over loopback, each subscribes and pings. The figure is the
resident set of the gateway process itself (``VmRSS``); the embedded PostgreSQL's processes are
reported apart. The floor: the same interpreter with the gateway's modules imported and nothing served.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

from bench.proctree import _children

CLIENTS = 200


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _postgres_mib(database_url: str) -> float:
    """The embedded server daemonizes (pg_ctl): find its postmaster through the data directory."""
    socket_dir = re.search(r"host=([^&]+)", database_url)[1]
    postmaster = int((Path(socket_dir) / "data" / "postmaster.pid").read_text().split()[0])
    return _rss_mib(postmaster) + _tree_mib(postmaster)


def _tree_mib(pid: int) -> float:
    total, stack = 0.0, list(_children(pid))
    while stack:
        child = stack.pop()
        try:
            total += _rss_mib(child)
        except OSError:
            continue
        stack += _children(child)
    return total


def _floor_mib() -> float:
    code = (
        "import careconnect_ws.local.gateway, careconnect_ws.handler, careconnect_ws.local.serve, psycopg, aiohttp;"
        "import os; print(open(f'/proc/{os.getpid()}/status').read())"
    )
    status = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1]) / 1024


def run() -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WS_JWT", "PG"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "careconnect_ws", "serve", "--port", "0", "--no-throttle"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines: list[str] = []
        while not any(line.startswith("# Ctrl-C") for line in lines):
            lines.append(server.stdout.readline().rstrip("\n"))
        values = {
            k: v if v.startswith("(") else shlex.split(v)[0]
            for k, v in (x.split("=", 1) for x in lines if re.match(r"^[A-Z_]+=", x))
        }  # the banner shell-quotes its values
        url = re.search(r"ws://\S+?/prod", "\n".join(lines))[0]
        time.sleep(1)
        idle = _rss_mib(server.pid)
        from careconnect_ws.settings import Settings
        from careconnect_ws.tokens import issue_token

        settings = Settings(jwt_secret=values["WS_JWT_SECRET"])
        tokens = [issue_token(f"user-{i}", settings) for i in range(CLIENTS)]

        async def hold() -> tuple[float, float]:
            sockets = [await connect(f"{url}?token={t}") for t in tokens]
            for ws in sockets:
                await ws.send('{"action": "subscribe", "topic": "email-verification"}')
                await ws.recv()
                await ws.send('{"action": "ping"}')
                await ws.recv()
            await asyncio.sleep(1)
            held, database = _rss_mib(server.pid), _postgres_mib(values["DATABASE_URL"])
            await asyncio.gather(*(ws.close() for ws in sockets))
            return held, database

        held, database = asyncio.run(hold())
    finally:
        server.terminate()
        server.wait(60)
    floor = _floor_mib()
    return "\n".join(
        [
            f"### `careconnect-ws serve` memory (gateway process RSS, built-in handler, {CLIENTS} clients)",
            "",
            "| what | MiB | ratio to floor |",
            "|---|---:|---:|",
            f"| floor: the interpreter with the gateway's modules imported | {floor:.0f} | 1.00 |",
            f"| `serve`, idle | {idle:.0f} | {idle / floor:.2f} |",
            f"| `serve` holding {CLIENTS} clients (each subscribed, each has pinged) | {held:.0f} | {held / floor:.2f} |",
            f"| its embedded PostgreSQL (all server processes, apart) | {database:.0f} | |",
        ]
    )
