"""Cold starts as Lambda runs them: the zip unpacked, no bytecode writing, CPython 3.12, fresh interpreters.

Floors in the same run: a bare ``python -c pass`` and ``import boto3, psycopg`` (boto3 as the managed runtime
ships it, compiled; psycopg from the zip). Measured, each the median of 7 fresh interpreters:

* importing the handler from the zip as built (with its bytecode), and from the same files without it
  (the zip before bytecode: every module compiled at every cold start), and from a tree whose bytecode
  Python cached itself (the development figure BENCHMARKS.md gave before);
* the handler's import plus the first ``$connect`` (the authorizer with a JWT, then ``$connect`` registering
  against a real PostgreSQL), which loads PyJWT and ``cryptography`` and opens the database connection;
* SnapStart's restore path: the after-restore hook's own time, against a fresh database connect.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import psycopg

from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.migrations import migrate
from careconnect_ws_cdk.lambda_artifact import PYTHON_VERSION, build, target_python

RUNS = 7
SECRET = "bench-secret-that-is-at-least-32-bytes!!"

_IMPORT = """
import sys, time
t = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import careconnect_ws.handler
print(time.perf_counter() - t)
"""

_FLOOR = """
import sys, time
t = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import boto3, psycopg
print(time.perf_counter() - t)
"""

_FIRST_CONNECT = """
import json, os, sys, time
t = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from careconnect_ws.handler import lambda_handler
imported = time.perf_counter() - t
token = sys.argv[2]
ctx = {"routeKey": "$connect", "eventType": "CONNECT", "stage": "prod", "apiId": "benchapi", "connectionId": "cold=",
       "requestId": "r", "domainName": "benchapi.execute-api.us-east-1.amazonaws.com", "connectedAt": 0,
       "requestTimeEpoch": 0, "identity": {"sourceIp": "127.0.0.1"}}
allowed = lambda_handler({"type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:1:benchapi/prod/$connect",
                          "queryStringParameters": {"token": token}, "requestContext": ctx, "headers": {}})
assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow", allowed
authorizer = {k: v for k, v in allowed["context"].items()}
connected = lambda_handler({"requestContext": {**ctx, "authorizer": authorizer}, "isBase64Encoded": False})
assert connected["statusCode"] == 200, connected
print(json.dumps([imported, time.perf_counter() - t]))
"""

_RESTORE = """
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[3]]
import psycopg
from careconnect_ws import snapstart
from careconnect_ws.db import get_database
get_database().connection()
snapstart.before_snapshot()
hook = snapstart.after_restore()
t = time.perf_counter()
psycopg.connect(sys.argv[2], autocommit=True).close()
print(json.dumps([hook, time.perf_counter() - t]))
"""


def _median(python: str, code: str, *args: str, env: dict[str, str]) -> float | list[float]:
    results = []
    for _ in range(RUNS):
        # -B, not PYTHONDONTWRITEBYTECODE: -I ignores every PYTHON* variable (Lambda's /var/task is read-only).
        out = subprocess.run([python, "-I", "-B", "-c", code, *args], capture_output=True, text=True, timeout=120, env=env)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if isinstance(results[0], list):
        return [statistics.median(r[i] for r in results) for i in range(len(results[0]))]
    return statistics.median(results)


def run() -> str:
    python = target_python()
    if python is None:
        return (
            f"### Cold start from the Lambda artifact\n\nNot measured: no CPython {PYTHON_VERSION} on this machine "
            f"(Lambda's runtime). Install python{PYTHON_VERSION} or set CARECONNECT_WS_LAMBDA_PYTHON."
        )
    arch = "x86_64" if platform.machine() in ("x86_64", "AMD64") else "arm64"
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory(prefix="ccws-cold-") as tmp:
        root = Path(tmp)
        artifact = build(arch, out=root / f"{arch}.zip")
        zip_mib = artifact.stat().st_size / 2**20
        with zipfile.ZipFile(artifact) as zf:
            pyc_mib = sum(i.compress_size for i in zf.infolist() if i.filename.endswith(".pyc")) / 2**20
            zf.extractall(root / "task")
        task = root / "task"
        bare = root / "no-bytecode"
        shutil.copytree(task, bare, ignore=shutil.ignore_patterns("__pycache__"))
        cached = root / "cached"
        shutil.copytree(bare, cached)
        # The development figure: Python writes its own (timestamp) bytecode on a first import, then uses it.
        subprocess.run([python, "-I", "-c", _IMPORT, str(cached)], check=True, capture_output=True, timeout=120)
        boto = root / "boto3"
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(boto), "boto3"],
            check=True,
            capture_output=True,
            timeout=600,
        )

        figures = {
            "pass": _time_pass(python, env),
            "floor": _median(python, _FLOOR, str(task), str(boto), env=env),
            "zip": _median(python, _IMPORT, str(task), env=env),
            "bare": _median(python, _IMPORT, str(bare), env=env),
            "cached": _median(python, _IMPORT, str(cached), env=env),
        }
        files_before = sorted(task.rglob("*"))
        with TemporaryPostgres() as pg, psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
            from careconnect_ws.settings import Settings
            from careconnect_ws.tokens import issue_token

            token = issue_token("cold", Settings(jwt_secret=SECRET))
            db_env = {
                **env,
                "DATABASE_URL": pg.url,
                "WS_JWT_SECRET": SECRET,
                "AWS_REGION": "us-east-1",
                "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "http://127.0.0.1:9/prod",
            }
            connect_zip = _median(python, _FIRST_CONNECT, str(task), token, env=db_env)
            connect_bare = _median(python, _FIRST_CONNECT, str(bare), token, env=db_env)
            restore = _median(python, _RESTORE, str(task), pg.url, str(boto), env=db_env)
        assert sorted(task.rglob("*")) == files_before, "something wrote into the task directory"
    ms = {k: v * 1000 for k, v in figures.items()}
    return "\n".join(
        [
            f"### Cold start from the Lambda artifact ({arch}, CPython {PYTHON_VERSION}, median of {RUNS} fresh interpreters)",
            "",
            f"The zip unpacked as Lambda does, no bytecode writing (`-B`). The zip is {zip_mib:.2f} MiB, of which "
            f"bytecode {pyc_mib:.2f} MiB.",
            "",
            "| what | ms | ratio |",
            "|---|---:|---:|",
            f"| floor: `python -c pass` (interpreter start-up, whole process) | {ms['pass']:.0f} | |",
            f"| floor: `import boto3, psycopg` | {ms['floor']:.0f} | 1.00 |",
            f"| `import careconnect_ws.handler`, zip with bytecode | {ms['zip']:.0f} | {figures['zip'] / figures['floor']:.2f} of the floor |",
            f"| the same, the files without bytecode (the zip before) | {ms['bare']:.0f} | {figures['bare'] / figures['floor']:.2f} of the floor |",
            f"| the same, bytecode cached by Python itself (development) | {ms['cached']:.0f} | zip / cached: "
            f"{figures['zip'] / figures['cached']:.2f} |",
            f"| import + first `$connect` (authorizer with a JWT, then register), zip with bytecode | {connect_zip[1] * 1000:.0f} | "
            f"without bytecode: {connect_bare[1] * 1000:.0f} ms |",
            f"| SnapStart after-restore hook | {restore[0] * 1000:.2f} | a fresh database connect: {restore[1] * 1000:.1f} ms |",
        ]
    )


def _time_pass(python: str, env: dict[str, str]) -> float:
    results = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([python, "-I", "-B", "-c", "pass"], check=True, env=env, timeout=60)
        results.append(time.perf_counter() - started)
    return statistics.median(results)
