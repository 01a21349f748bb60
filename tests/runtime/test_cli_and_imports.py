"""The CLI as a user runs it, and the runtime's promise never to import the CDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg

from tests.conftest import SECRET


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "careconnect_ws", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_migrate_command_on_a_new_database_then_again(pg):
    name = f"cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {"DATABASE_URL": pg.url.rsplit("/", 1)[0] + f"/{name}", "WS_JWT_SECRET": SECRET}
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "0001_initial" in first.stdout
    second = run_cli("migrate", env=env)
    assert "nothing to apply" in second.stdout and "schema version 2" in second.stdout


def test_token_command_prints_a_token_the_runtime_accepts():
    from careconnect_ws.settings import Settings
    from careconnect_ws.tokens import verify_token

    proc = run_cli("token", "--user", "alice", env={"WS_JWT_SECRET": SECRET})
    assert proc.returncode == 0, proc.stderr
    assert verify_token(proc.stdout.strip(), Settings(jwt_secret=SECRET)) == "alice"


def test_missing_configuration_exits_2_naming_the_variable():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "WS_JWT"))}
    proc = subprocess.run([sys.executable, "-m", "careconnect_ws", "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "DATABASE_URL" in proc.stderr


def test_database_down_exits_1_with_a_clear_message():
    proc = run_cli("migrate", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x", "WS_JWT_SECRET": SECRET})
    assert proc.returncode == 1
    assert "database unavailable" in proc.stderr


def test_handler_import_loads_neither_the_cdk_nor_boto3_nor_jwt():
    code = (
        "import sys, json, careconnect_ws.handler, careconnect_ws.notifications, careconnect_ws.cleanup;"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {"cdktf", "constructs", "jsii", "cdktf_cdktf_provider_aws", "cdktn", "stacks"}
    assert not loaded & {"boto3", "botocore", "jwt", "aiohttp"}, "heavy modules must load lazily"


def test_no_module_in_the_runtime_imports_the_cdk():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "careconnect_ws"
    pattern = re.compile(r"^\s*(from|import)\s+(cdktf|cdktn|constructs|jsii|cdktf_cdktf_provider_aws|stacks)\b", re.M)
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
