"""`python main.py` as a user runs it: a fresh process, configuration from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_main_writes_the_stack_without_absolute_paths(tmp_path):
    env = {
        **os.environ,
        "CDKTF_OUTDIR": str(tmp_path / "out"),
        "CARECONNECT_WS_STACK_NAME": "ws-ci",
        "CARECONNECT_WS_STAGE": "staging",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out" / "stacks" / "ws-ci" / "cdk.tf.json"
    raw = out.read_text()
    for marker in (str(ROOT), str(tmp_path), "/home/", "/root/"):
        assert marker not in raw
    doc = json.loads(raw)
    (stage,) = doc["resource"]["aws_apigatewayv2_stage"].values()
    assert stage["name"] == "staging"
    assert set(doc["output"]) >= {
        "websocket_api_endpoint", "websocket_management_endpoint", "websocket_api_id", "websocket_api_execution_arn",
    }


def test_main_reports_bad_configuration_by_name():
    env = {**os.environ, "CARECONNECT_WS_LOG_RETENTION_DAYS": "-5", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    proc = subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "log_retention_days=-5 is not allowed" in proc.stderr
