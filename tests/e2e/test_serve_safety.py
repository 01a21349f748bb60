"""`careconnect-ws serve` is safe to leave running: nobody else on the machine or the network gets in."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from websockets.sync.client import connect

from careconnect_ws.local.pgtemp import TemporaryPostgres


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "DATABASE_URL", "WS_JWT", "AWS_WEBSOCKET", "AWS_ACCESS", "AWS_SECRET"))
    }
    return {**env, **extra}


class Serve:
    """`careconnect-ws serve` in a subprocess; reads the banner up to the last KEY=value line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, stderr=subprocess.PIPE, umask: int | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "careconnect_ws", "serve", "--port", "0", *args],
            env=env or clean_env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("# Ctrl-C") for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
            self.lines.append(self.proc.stdout.readline().rstrip("\n"))
        self.values = {
            k: v if v.startswith("(") else shlex.split(v)[0]
            for k, v in (x.split("=", 1) for x in self.lines if re.match(r"^[A-Z_]+=", x))
        }  # the banner shell-quotes its values
        self.port = int(re.search(r":(\d+)/prod", "\n".join(self.lines))[1])

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_a_non_loopback_host_needs_an_explicit_flag():
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--host" in proc.stderr and "--allow-remote" in proc.stderr


def test_beyond_loopback_connections_api_verifies_signatures_against_the_printed_credentials():
    import boto3
    from botocore.exceptions import ClientError

    server = Serve("--host", "0.0.0.0", "--allow-remote")
    try:
        assert "Listening on 0.0.0.0, reachable from other machines" in server.text
        assert "ws://127.0.0.1:" in server.text  # the real addresses, this machine's among them
        # Named so that sourcing the env file never replaces the shell's own AWS credentials.
        assert not any(k.startswith("AWS_") and k != "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT" for k in server.values)
        creds = {
            "AWS_ACCESS_KEY_ID": server.values["CARECONNECT_WS_LOCAL_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": server.values["CARECONNECT_WS_LOCAL_SECRET_ACCESS_KEY"],
        }
        endpoint = f"http://127.0.0.1:{server.port}/prod"
        token = subprocess.run(
            [sys.executable, "-m", "careconnect_ws", "token", "--user", "ann"],
            env=clean_env(WS_JWT_SECRET=server.values["WS_JWT_SECRET"]),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        with connect(f"ws://127.0.0.1:{server.port}/prod?token={token}") as ws:
            ws.send('{"action": "ping", "id": "who-am-i"}')
            assert "pong" in ws.recv(timeout=10)
            connection_id = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import psycopg,sys; print(psycopg.connect(sys.argv[1]).execute("
                    "\"SELECT connection_id FROM websocket_connections WHERE user_id = 'ann'\").fetchone()[0])",
                    server.values["DATABASE_URL"],
                ],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout.strip()

            def client(key: str, secret: str):
                return boto3.client(
                    "apigatewaymanagementapi",
                    endpoint_url=endpoint,
                    region_name="us-east-1",
                    aws_access_key_id=key,
                    aws_secret_access_key=secret,
                )

            for key, secret in (
                (creds["AWS_ACCESS_KEY_ID"], "not-the-secret"),
                ("AKIDSOMEONEELSE", creds["AWS_SECRET_ACCESS_KEY"]),
            ):
                with pytest.raises(ClientError) as refused:
                    client(key, secret).post_to_connection(ConnectionId=connection_id, Data=b"intruder")
                assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
                with pytest.raises(ClientError):
                    client(key, secret).delete_connection(ConnectionId=connection_id)
            import urllib.error
            import urllib.request

            unsigned = urllib.request.Request(f"{endpoint}/@connections/{connection_id}", data=b"x", method="POST")
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(unsigned, timeout=10)
            assert err.value.code == 403
            client(creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]).post_to_connection(
                ConnectionId=connection_id, Data=b"from the backend"
            )
            assert ws.recv(timeout=10) == "from the backend"
            # careconnect-ws itself signs with the printed names, beside (not instead of) real AWS credentials.
            ws.send('{"action": "subscribe", "topic": "email-verification"}')
            assert "subscribed" in ws.recv(timeout=10)
            sourced = clean_env(
                **{k: v for k, v in server.values.items() if not v.startswith("(")},
                AWS_ACCESS_KEY_ID="AKIAREALDEVELOPERKEY",
                AWS_SECRET_ACCESS_KEY="real-secret",
            )
            notify = subprocess.run(
                [sys.executable, "-m", "careconnect_ws", "notify", "email-verified", "--user", "ann"],
                env=sourced,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert notify.returncode == 0 and '"reached": 1' in notify.stdout, notify.stderr
            assert "email-verification" in ws.recv(timeout=10)
    finally:
        server.stop()


def test_secrets_given_are_never_printed(careconnect_database, tmp_path):
    secret = "operator-secret-that-is-at-least-32-bytes-long"
    password_url = careconnect_database.url.replace("postgres@", "postgres:operator-password@")
    env_file = tmp_path / "out.env"
    server = Serve("--env-file", str(env_file), env=clean_env(DATABASE_URL=password_url, WS_JWT_SECRET=secret))
    try:
        deadline = time.monotonic() + 10
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert secret not in server.text and "operator-password" not in server.text
        assert "DATABASE_URL=(from your environment)" in server.lines
        assert "WS_JWT_SECRET=(from your environment)" in server.lines
        assert secret not in env_file.read_text() and "operator-password" not in env_file.read_text()
    finally:
        server.stop()
    assert secret not in server.proc.stderr.read()


def test_the_env_file_is_created_private_whatever_the_umask(tmp_path):
    env_file = tmp_path / "local.env"
    server = Serve("--env-file", str(env_file), umask=0)
    try:
        deadline = time.monotonic() + 10
        while not env_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        assert "WS_JWT_SECRET=" in env_file.read_text()
    finally:
        server.stop()


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root to act as another user")
def test_another_user_cannot_reach_the_embedded_database():
    other = pwd.getpwnam("nobody")
    with TemporaryPostgres() as db:
        with psycopg.connect(db.url) as mine:  # the user who started it
            assert mine.execute("SELECT 1").fetchone() == (1,)
        with pytest.raises(psycopg.OperationalError):  # nothing listens on TCP
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{db.port}/postgres", connect_timeout=3)
        # The socket is the only way in; another user cannot even reach it (the system Python: the
        # project's virtualenv may sit where that user cannot read).
        socket_path = f"{db.root}/.s.PGSQL.{db.port}"
        assert Path(socket_path).exists()
        probe = subprocess.run(
            ["/usr/bin/python3", "-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", socket_path],
            user=other.pw_uid,
            group=other.pw_gid,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert probe.returncode != 0
        assert "PermissionError" in probe.stderr


def test_a_supervisor_that_never_reads_stderr_does_not_stall_the_handlers():
    # stderr is a pipe nobody drains: its 64 KB fill after a few hundred log lines.
    server = Serve(
        "--no-throttle",
        stderr=subprocess.PIPE,
        env=clean_env(WS_MAX_MESSAGES_PER_SECOND="0", WS_MAX_MESSAGES_PER_USER_PER_SECOND="0"),
    )
    try:
        token = subprocess.run(
            [sys.executable, "-m", "careconnect_ws", "token", "--user", "busy"],
            env=clean_env(WS_JWT_SECRET=server.values["WS_JWT_SECRET"]),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        started = time.monotonic()
        with connect(f"ws://127.0.0.1:{server.port}/prod?token={token}") as ws:
            for _ in range(1500):  # one log line each, ~300 KB of logs
                ws.send('{"action": "ping"}')
                ws.recv(timeout=10)
        assert time.monotonic() - started < 30
        # And it still exits promptly on Ctrl-C, though its stderr is full.
        stopping = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(20) == 0
        assert time.monotonic() - stopping < 15
    finally:
        server.stop()


def test_killing_serve_with_sigkill_leaves_no_postgresql_running():
    server = Serve()
    root = re.search(r"host=([^&\s]+)", server.values["DATABASE_URL"])[1]
    pid = int((Path(root) / "data" / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, 0)  # running
    server.proc.kill()  # SIGKILL: no atexit, no finally
    server.proc.wait(10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the embedded PostgreSQL outlived serve")
    while Path(root).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(root).exists()


def test_a_symlink_planted_at_the_env_file_path_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.bashrc"
    victim.write_text("export PATH=/usr/bin\n")
    planted = tmp_path / "shared" / "local.env"
    planted.parent.mkdir()
    planted.symlink_to(victim)
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "serve", "--port", "0", "--env-file", str(planted)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 2 and "symbolic link" in proc.stderr
    assert victim.read_text() == "export PATH=/usr/bin\n"
    assert planted.is_symlink()


def test_serve_starts_with_an_identity_providers_key_set_and_its_tokens_connect():
    """Hardening round 4: serve set a development secret beside WS_JWT_JWKS_URL, and the two ways to verify
    tokens made it refuse to start."""
    from careconnect_ws.testing.identity_provider import AUDIENCE, ISSUER, IdentityProvider, SigningKey

    provider = IdentityProvider(SigningKey("RSA"))
    server = Serve(env=clean_env(WS_JWT_JWKS_URL=provider.jwks_url, WS_JWT_ISSUER=ISSUER, WS_JWT_AUDIENCE=AUDIENCE))
    try:
        assert "WS_JWT_JWKS_URL=(from your environment)" in server.lines and "WS_JWT_SECRET" not in server.values
        with connect(f"ws://127.0.0.1:{server.port}/prod?token={provider.keys[0].sign('alice')}") as ws:
            ws.send('{"action": "ping", "id": "p"}')
            assert '"pong"' in ws.recv(timeout=10)
        assert provider.fetches >= 1
    finally:
        server.stop()
        provider.close()


def test_a_stop_signal_is_not_lost_when_the_loops_wakeup_pipe_is_full():
    """Hardening round 4: right after 1,000 clients disconnected at once, worker threads had filled the event
    loop's self-pipe, the signal's wakeup byte was dropped and Ctrl-C was ignored. Filled here on purpose."""
    import asyncio

    from careconnect_ws.local.serve import stop_on_signals

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        restore = stop_on_signals(loop, stop)
        try:
            writer = loop._csock  # the self-pipe call_soon_threadsafe writes to
            writer.setblocking(False)
            try:
                while True:
                    writer.send(b"\0" * 4096)
            except BlockingIOError:
                pass  # full, as after a thousand threads woke the loop
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(stop.wait(), 5)
            return stop.is_set()
        finally:
            restore()

    assert asyncio.run(scenario())


def test_serve_on_a_busy_port_says_so_and_exits_2():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        from tests.support.cli import bare_run, minimal_env

        done = bare_run("serve", "--port", str(port), "--no-authorizer", env=minimal_env())
    assert done.returncode == 2, done.stderr
    assert f"--port: port {port} is in use on 127.0.0.1" in done.stderr and "--port 0" in done.stderr
