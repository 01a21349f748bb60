"""The README's construct snippets run as written (its testing snippets run in the consumer step, against the
installed wheel: tests/consumer/test_installed_library.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _blocks(heading: str) -> list[str]:
    section = README[README.index(heading) :]
    section = section[: section.index("\n## ", 1)] if "\n## " in section[1:] else section
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run_app(code: str, tmp_path: Path, monkeypatch) -> dict:
    # The jsii Node process keeps the cwd it started with: point the app's outdir at tmp_path instead.
    assert code.count("App()") == 1
    code = code.replace("App()", f"App(outdir={str(tmp_path / 'out')!r})")
    tmp_path.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    (stack,) = (tmp_path / "out" / "stacks").iterdir()
    return json.loads((stack / "cdk.tf.json").read_text())


def test_every_construct_snippet_synthesizes_as_written(tmp_path, monkeypatch, default_synth):  # jsii loaded
    first, two_apis, system = _blocks("## Using the construct in another stack")[:3]
    doc = _run_app(first, tmp_path / "first", monkeypatch)
    assert len(doc["resource"]["aws_apigatewayv2_route"]) == 3 and "websocket_api_endpoint" in doc["output"]

    doc = _run_app(two_apis, tmp_path / "two", monkeypatch)
    assert {"chat_websocket_api_endpoint", "alerts_websocket_api_endpoint"} <= set(doc["output"])
    assert len(doc["resource"]["aws_apigatewayv2_route_response"]) == 3  # chat's $default and chat.send, alerts'

    artifact = tmp_path / "system" / "dist" / "lambda" / "careconnect-ws-lambda-arm64.zip"
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    doc = _run_app(system, tmp_path / "system", monkeypatch)
    assert len(doc["resource"]["aws_cloudwatch_metric_alarm"]) >= 10 and "aws_cloudwatch_dashboard" in doc["resource"]
