"""`careconnect-ws serve` as a newcomer runs it: embedded PostgreSQL, env file, a second terminal, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from careconnect_ws import contract
from careconnect_ws.local.serve import read_env_file


def cli(*args, env, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "careconnect_ws", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


# A team's own package, in the directory serve and the CLI run from (not installed): a topic any user may read.
TEAM_MODULE = """
from careconnect_ws.topics import Topic, register_topic

register_topic(Topic("care-plan", may_subscribe=lambda user, subject: True, static=True))
"""


def _shape(line: str) -> str:
    """A banner line with what changes from run to run (ports, paths, secrets, the module list) taken out."""
    line = re.sub(r"^([A-Z_]+)=.*$", r"\1=…", line)
    line = re.sub(r"\(--extension \S+\)|\(built-in handler\)", "(…)", line)
    return re.sub(r"\d+", "N", line)


def assert_matches_the_readme_sample(lines: list[str]) -> None:
    """The README shows what serve prints: the same lines, in the same order, up to ports, paths and secrets."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sample = readme.split("It prints the endpoints", 1)[1].split("```", 2)[1].strip("\n").splitlines()
    shown = [line for line in lines if not line.startswith(contract.EXTENSIONS)]
    assert [_shape(x) for x in sample] == [_shape(x) for x in shown]
    assert all(v.startswith(("'", "(")) for k, v in (x.split("=", 1) for x in shown if re.match(r"^[A-Z_]+=", x)))


def sourced(env_file: Path, shell: str, env: dict) -> dict[str, str]:
    """What ``set -a; . ./file`` sets in ``shell``: the README's recipe, run as written."""
    script = f'set -a; . "{env_file}"; python3 -c "import json, os; print(json.dumps(dict(os.environ)))"'
    done = subprocess.run([shell, "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_serve_end_to_end_with_embedded_postgres(tmp_path: Path):
    env_file = tmp_path / "local.env"
    (tmp_path / "acme_ws.py").write_text(TEAM_MODULE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "WS_", "AWS_WEBSOCKET"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "careconnect_ws", "serve", "--port", "0", "--env-file", str(env_file), "--extension", "acme_ws"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("# Ctrl-C stops") for line in lines):  # the whole banner
            assert time.monotonic() < deadline and server.poll() is None, (
                server.stderr.read() if server.poll() is not None else "timeout"
            )
            lines.append(server.stdout.readline().rstrip("\n"))
        while not env_file.exists():
            time.sleep(0.05)
        printed = {k: shlex.split(v)[0] for k, v in (line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))}
        assert_matches_the_readme_sample(lines)
        written = read_env_file(str(env_file))
        assert written == {**printed, **written} and set(written) >= {
            "DATABASE_URL",
            "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT",
            "WS_JWT_SECRET",
            "WS_EXTENSIONS",
        }
        assert "&" in written["DATABASE_URL"] and "?" in written["DATABASE_URL"]  # what broke the unquoted file
        for shell in ("bash", "sh"):
            assert {k: sourced(env_file, shell, env)[k] for k in written} == written, shell
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        ws_url = next(re.search(r"ws://\S+?(?=\?)", line)[0] for line in lines if "ws://" in line)

        terminal2 = {**env, **written}
        token = cli("token", "--user", "dana", env=terminal2, cwd=tmp_path).stdout.strip()
        with connect(f"{ws_url}?token={token}") as ws:
            ws.send(json.dumps({"action": "subscribe", "topic": "email-verification"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            # The team's topic, declared in its own module: served, and known to the CLI through the env file.
            ws.send(json.dumps({"action": "subscribe", "topic": "care-plan", "subject": "patient-17"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
            published = cli(
                "publish",
                "--topic",
                "care-plan",
                "--subject",
                "patient-17",
                "--payload",
                '{"type": "care-plan"}',
                env=terminal2,
                cwd=tmp_path,
            )
            assert published.returncode == 0, published.stderr
            assert json.loads(ws.recv(timeout=10))["type"] == "care-plan"
            ws.send(json.dumps({"action": "ping"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "pong"
            # The embedded server is a direct connection: statements are prepared (Bind/Execute with $n
            # parameters) and the role carries the timeout (no SET LOCAL in front of each statement).
            with psycopg.connect(written["DATABASE_URL"], autocommit=True) as db:
                last = [
                    row[0] for row in db.execute("SELECT query FROM pg_stat_activity WHERE application_name = 'careconnect-ws'")
                ]
                assert any("careconnect_ws_check_message($1" in q for q in last), last
                assert not any(q.startswith("SET LOCAL") for q in last), last
                assert db.execute("SHOW statement_timeout").fetchone()[0] == "5s"
            notified = cli("notify", "email-verified", "--user", "dana", env=terminal2, cwd=tmp_path)
            assert notified.returncode == 0, notified.stderr
            assert json.loads(notified.stdout)["reached"] == 1
            assert json.loads(ws.recv(timeout=10))["status"] == "verified"
            server.send_signal(signal.SIGINT)  # Ctrl-C
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=20)
            assert closed.value.rcvd.code == 1001
        assert server.wait(timeout=60) == 0
        log = server.stderr.read()
        assert '"route": "$disconnect"' in log and '"outcome": "disconnected"' in log
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_a_module_that_re_exports_the_built_in_handler_gets_the_built_in_mode(tmp_path: Path):
    """serve --handler acme_wrap:handler, where acme_wrap imports the team's actions and re-exports the handler:
    the embedded database, the authorizer and the limits, as without --handler (it answered 500 misconfigured)."""
    (tmp_path / "acme_wrap.py").write_text(
        "from careconnect_ws.handler import lambda_handler as handler\n"
        "from careconnect_ws.routing import router\n\n"
        "@router.action('acme.hello')\n"
        "def hello(ctx):\n    return {'type': 'hello', 'user': ctx.user_id}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_URL", "WS_", "AWS_WEBSOCKET"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "careconnect_ws", "serve", "--port", "0", "--handler", "acme_wrap:handler"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("# Ctrl-C stops") for line in lines):
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read() if server.poll() else "timeout"
            lines.append(server.stdout.readline().rstrip("\n"))
        assert lines[0] == "careconnect-ws local gateway (built-in handler)"
        assert any(line.startswith("# PostgreSQL:   embedded") for line in lines)
        values = {k: shlex.split(v)[0] for k, v in (x.split("=", 1) for x in lines if re.match(r"^[A-Z_]+=", x))}
        token = cli("token", "--user", "dana", env={**env, **values}, cwd=tmp_path).stdout.strip()
        with connect(f"{values['CARECONNECT_WS_URL']}?token={token}") as ws:
            ws.send(json.dumps({"action": "acme.hello"}))
            assert json.loads(ws.recv(timeout=10)) == {"type": "hello", "user": "dana"}
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
