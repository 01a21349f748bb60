"""`python main.py` as a user runs it: a fresh process, configuration from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_main(tmp_path, **env):
    full_env = {**os.environ, "CDKTF_OUTDIR": str(tmp_path / "out"), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", **env}
    return subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=300)


def test_main_writes_the_complete_stack_with_its_asset_and_no_absolute_paths(tmp_path, fake_artifact):
    proc = run_main(
        tmp_path, CARECONNECT_WS_STACK_NAME="ws-ci", CARECONNECT_WS_STAGE="staging", CARECONNECT_WS_ARTIFACT_PATH=fake_artifact
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    stack_dir = tmp_path / "out" / "stacks" / "ws-ci"
    raw = (stack_dir / "cdk.tf.json").read_text()
    for marker in (str(ROOT), str(tmp_path), "/home/", "/root/"):
        assert marker not in raw
    doc = json.loads(raw)
    (stage,) = doc["resource"]["aws_apigatewayv2_stage"].values()
    assert stage["name"] == "staging"
    (function,) = doc["resource"]["aws_lambda_function"].values()
    assert (stack_dir / function["filename"]).is_file()  # the asset travels with the stack, by relative path
    assert set(doc["output"]) >= {
        "websocket_api_endpoint",
        "websocket_management_endpoint",
        "websocket_api_id",
        "websocket_api_execution_arn",
    }


def test_main_with_a_missing_artifact_exits_2_in_one_line_naming_the_variable(tmp_path):
    # (A missing default zip names the build command: tests/infra/test_configuration_errors.py.)
    proc = run_main(tmp_path, CARECONNECT_WS_ARTIFACT_PATH=str(tmp_path / "missing.zip"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("careconnect-ws: CARECONNECT_WS_ARTIFACT_PATH=") and "no such file" in proc.stderr
    assert proc.stderr.count("\n") == 1
