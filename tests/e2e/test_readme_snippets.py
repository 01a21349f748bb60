"""The README's client-side snippets run as written, against the local gateway."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import boto3

from tests.conftest import token_for

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _python_block(heading: str) -> str:
    section = README[README.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_the_client_contract_snippet_subscribes_and_receives_pushes(gateway, sql, capsys):
    namespace: dict = {}
    exec(compile(_python_block("### Client contract"), "README.md", "exec"), namespace)
    listener = threading.Thread(target=namespace["listen"], args=(gateway.url, token_for("reader")))
    listener.start()
    try:
        from tests.e2e.test_gateway import wait_for

        connection_id = wait_for(lambda: next(iter(gateway.open_connection_ids()), None))
        client = boto3.client("apigatewaymanagementapi", endpoint_url=gateway.management_url, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        wait_for(lambda: sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 1)
        client.post_to_connection(ConnectionId=connection_id, Data=json.dumps({"type": "hello"}).encode())
        client.delete_connection(ConnectionId=connection_id)  # the loop ends when the connection closes
    finally:
        listener.join(20)
    out = capsys.readouterr().out
    assert "'type': 'subscribed'" in out and "'id': 's1'" in out
    assert "{'type': 'hello'}" in out


def test_the_invoke_example_is_an_event_the_handler_takes():
    payload = re.search(r"--payload '(\{.*?\})' out\.json", README)[1]
    event = json.loads(payload)
    assert event["careconnect_ws"]["command"] == "notify" and event["careconnect_ws"]["notification"] == "email-verified"
    assert "--cli-binary-format raw-in-base64-out" in README


def test_the_backend_push_snippet_runs(connections_endpoint, sql):
    from careconnect_ws.handler import lambda_handler
    from tests.conftest import make_event

    assert lambda_handler(make_event("connect", connection_id="u1=", query={"token": token_for("u-1")}))["statusCode"] == 200
    lambda_handler(make_event("message", connection_id="u1=", body={"action": "subscribe", "topic": "email-verification"}))
    connections_endpoint.open.add("u1=")
    code = _python_block("### Pushing a notification from the backend")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].reached == 1
    assert [m["email"] for m in connections_endpoint.messages_for("u1=")] == ["a@example.org", "a@example.org"]
