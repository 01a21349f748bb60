"""``python -m bench serverless_offline``: the same load against serverless-offline 13 running our handler
and against ``careconnect-ws serve``, one database, one run. Not in the default set: it needs npm and
downloads serverless 3 + serverless-offline 13 into ``.bench-serverless-offline/`` on first use.

Each gateway runs as its own process tree (RSS summed over the tree: serverless-offline starts one Python
process per concurrent invocation); the clients are the gateway benchmark's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from bench.gateway import SECRET, _open, _round_trips
from bench.proctree import _tree_rss_kib
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.migrations import migrate
from careconnect_ws.settings import Settings
from careconnect_ws.tokens import issue_token

ROOT = Path(__file__).resolve().parent.parent
APP = Path(__file__).with_name("serverless_offline_app")
WORK = ROOT / ".bench-serverless-offline"
PACKAGES = ["serverless@3", "serverless-offline@13"]
CLIENTS = int(os.environ.get("CLIENTS", "50"))


def _install() -> None:
    if (WORK / "node_modules" / "serverless-offline").is_dir():
        return
    if shutil.which("npm") is None:
        raise SystemExit("serverless_offline needs npm (Node.js) on PATH")
    WORK.mkdir(exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(WORK), *PACKAGES], check=True, stdout=subprocess.DEVNULL
    )


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


async def _load(url: str) -> tuple[float, float]:
    started = time.perf_counter()
    sockets = await _open(url, CLIENTS)
    connect_rate = CLIENTS / (time.perf_counter() - started)
    await _round_trips(sockets, 5)  # every worker warm before the measured rounds
    rates = [await _round_trips(sockets, 20) for _ in range(3)]
    await asyncio.gather(*(ws.close() for ws in sockets))
    return connect_rate, statistics.median(rates)


def _measure(cmd: list[str], port: int, url: str, env: dict[str, str], cwd: Path | None = None) -> dict[str, float]:
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )  # its own process group: stopped as a whole below
    try:
        started = time.perf_counter()
        _wait_port(port, proc)
        ready = time.perf_counter() - started
        time.sleep(1)
        idle = _tree_rss_kib(proc.pid) / 1024
        peak = [idle]

        async def run() -> tuple[float, float]:
            async def sample() -> None:
                while True:
                    peak[0] = max(peak[0], _tree_rss_kib(proc.pid) / 1024)
                    await asyncio.sleep(0.2)

            sampler = asyncio.create_task(sample())
            try:
                return await asyncio.wait_for(_load(url), 300)
            finally:
                sampler.cancel()

        connects, round_trips = asyncio.run(run())
        return {"ready": ready, "idle": idle, "peak": peak[0], "connects": connects, "round_trips": round_trips}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run() -> str:
    _install()
    bin_dir = str(Path(sys.executable).parent)
    with TemporaryPostgres() as pg:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
        token = issue_token("load-user", Settings(jwt_secret=SECRET))
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": pg.url,
            "WS_JWT_SECRET": SECRET,
            "WS_MAX_CONNECTIONS_PER_USER": "0",
            "WS_MAX_MESSAGES_PER_SECOND": "0",
            "WS_MAX_MESSAGES_PER_USER_PER_SECOND": "0",
            "SLS_TELEMETRY_DISABLED": "1",
        }
        ours = _measure(
            [f"{bin_dir}/careconnect-ws", "serve", "--port", "3101", "--no-throttle"],
            3101,
            f"ws://127.0.0.1:3101/prod?token={token}",
            env,
        )
        peer = _measure(
            [str(WORK / "node_modules" / ".bin" / "serverless"), "offline", "start", "--noPrependStageInUrl"],
            3001,
            f"ws://127.0.0.1:3001?token={token}",
            {**env, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "http://127.0.0.1:3001"},
            cwd=APP,
        )
    lines = [
        f"### careconnect-ws serve vs serverless-offline 13 ({CLIENTS} clients, our handler in both, one database)",
        "",
        "| gateway | port open | idle RSS | peak RSS (process tree) | cold connects/s | warm round trips/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in (("`careconnect-ws serve`", ours), ("serverless-offline 13", peer)):
        lines.append(
            f"| {name} | {r['ready']:.1f} s | {r['idle']:,.0f} MB | {r['peak']:,.0f} MB | "
            f"{r['connects']:,.1f} | {r['round_trips']:,.0f} |"
        )
    lines += [
        "",
        f"Ours against the peer: connects {ours['connects'] / peer['connects']:.1f}×, round trips "
        f"{ours['round_trips'] / peer['round_trips']:.2f}×, peak memory {peer['peak'] / ours['peak']:.1f}× less.",
    ]
    return "\n".join(lines)
