"""Rotating the database password and the token key needs no redeploy and loses nothing.

Secrets Manager is moto's, over HTTP (the runtime's own boto3 reader, pointed at it by
``AWS_ENDPOINT_URL_SECRETS_MANAGER``); PostgreSQL is a real server whose role authenticates with a password.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psycopg
import pytest

from careconnect_ws import contract
from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import Settings, get_settings, set_settings
from careconnect_ws.testing import connect
from careconnect_ws.tokens import issue_token
from rehearsal.moto_server import MotoServer
from tests.support.log_lines import captured_lines
from tests.support.runtime import own_migrated_server

KEY_1, KEY_2 = "k" * 40, "n" * 40


@pytest.fixture(scope="module")
def moto():
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def secrets(moto, monkeypatch):
    """A Secrets Manager client, with the runtime's environment pointed at the same server."""
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto.url,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("DATABASE_URL", "WS_JWT_SECRET", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    set_settings(None)
    db_module.reset_database()
    yield boto3.client("secretsmanager")
    set_settings(None)
    db_module.reset_database()


def _unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


@pytest.fixture
def password_server():
    """A server of this test's own with a role ``app`` that must give its password (scram-sha-256)."""
    with own_migrated_server() as server:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'first-password'")
            hba = Path(conn.execute("SHOW hba_file").fetchone()[0])
            hba.write_text("local all app scram-sha-256\n" + hba.read_text())
            conn.execute("SELECT pg_reload_conf()")
        yield server


def _app_url(server, password: str) -> str:
    return server.url_for("postgres", user="app").replace("app@", f"app:{password}@")


def _rotate_password(server, secrets, arn: str, password: str) -> None:
    """What Secrets Manager's RDS rotation does (set the password, make it AWSCURRENT), then every session of the
    role ends, so every container must open a new connection."""
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE app PASSWORD '{password}'")
        secrets.put_secret_value(SecretId=arn, SecretString=_app_url(server, password))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'")


def _publish(n: int, subject: str) -> dict:
    return lambda_handler(
        {
            contract.COMMAND_KEY: {
                "command": "publish",
                "topic": "email-verification",
                "subject": subject,
                "payload": {"type": "event", "n": n},
            }
        }
    )


def test_a_rotated_database_password_is_picked_up_while_events_flow_nothing_lost(password_server, secrets, monkeypatch):
    arn = secrets.create_secret(Name=_unique("db"), SecretString=_app_url(password_server, "first-password"))["ARN"]
    key_arn = secrets.create_secret(Name=_unique("jwt"), SecretString=KEY_1)["ARN"]
    monkeypatch.setenv(contract.DATABASE_SECRET_ARN, arn)
    monkeypatch.setenv(contract.JWT_SECRET_ARN, key_arn)
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "3600")  # only the refused password makes it read again
    containers, per_container = 3, 40
    failed = [0] * containers
    rotated = threading.Event()
    started = threading.Barrier(containers + 1)

    def container(index: int) -> None:
        # Each thread is a container of its own: its own connection, the same process-wide settings cache.
        started.wait()
        for n in range(per_container):
            if n == per_container // 2:
                rotated.wait(30)
            while _publish(n, f"container-{index}")["statusCode"] != 200:  # a publisher retries a 503
                failed[index] += 1
                time.sleep(0.05)

    with captured_lines() as lines:
        threads = [threading.Thread(target=container, args=(i,)) for i in range(containers)]
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(0.2)
        _rotate_password(password_server, secrets, arn, "second-password")
        rotated.set()
        for thread in threads:
            thread.join(60)
    assert all(f <= 1 for f in failed), f"at most one failed event per container, got {failed}"
    reconnects = [line for line in lines.lines if line["msg"].startswith("database password refused")]
    assert reconnects, "the containers reconnected with the re-read secret"
    with psycopg.connect(password_server.url) as conn:
        rows = conn.execute(
            "SELECT subject, array_agg(seq ORDER BY seq), array_agg((payload::jsonb->>'n')::int ORDER BY seq)"
            " FROM websocket_events GROUP BY subject ORDER BY subject"
        ).fetchall()
    assert [(s, seqs, ns) for s, seqs, ns in rows] == [
        (f"container-{i}", list(range(1, per_container + 1)), list(range(per_container))) for i in range(containers)
    ]
    assert "second-password" in get_settings().database_url


def test_the_database_secret_is_read_again_after_its_max_age(password_server, secrets, monkeypatch):
    arn = secrets.create_secret(Name=_unique("db"), SecretString=_app_url(password_server, "first-password"))["ARN"]
    monkeypatch.setenv(contract.DATABASE_SECRET_ARN, arn)
    monkeypatch.setenv("WS_JWT_SECRET", KEY_1)
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "1")
    assert _publish(1, "s")["statusCode"] == 200
    _rotate_password(password_server, secrets, arn, "second-password")
    time.sleep(1.2)
    with captured_lines() as lines:
        assert _publish(2, "s")["statusCode"] == 200
    assert not [line for line in lines.lines if line["msg"].startswith("database password refused")], (
        "read by age: the new password was in hand before the connect"
    )
    assert [line["changed"] for line in lines.lines if line["msg"] == "settings re-read"] == [["database_url"]]


def test_a_password_that_stays_wrong_is_a_503_not_a_500(password_server, secrets, monkeypatch):
    arn = secrets.create_secret(Name=_unique("db"), SecretString=_app_url(password_server, "wrong-password"))["ARN"]
    monkeypatch.setenv(contract.DATABASE_SECRET_ARN, arn)
    monkeypatch.setenv("WS_JWT_SECRET", KEY_1)
    with captured_lines() as lines:
        response = _publish(1, "s")
    assert response["statusCode"] == 503 and json.loads(response["body"])["code"] == "service_unavailable"
    line = lines.last_handled()
    assert "wrong-password" not in json.dumps(lines.lines), "a password never reaches a log line"
    assert line["outcome"] == "service_unavailable" and line["ServerErrors"] == 1


def test_during_a_key_rotation_tokens_signed_with_either_key_verify_and_the_old_one_stops_after_the_overlap(
    careconnect_runtime, secrets, monkeypatch
):
    key_arn = secrets.create_secret(Name=_unique("jwt"), SecretString=KEY_1)["ARN"]
    monkeypatch.setenv("DATABASE_URL", careconnect_runtime.database_url)
    monkeypatch.setenv(contract.JWT_SECRET_ARN, key_arn)
    monkeypatch.setenv("WS_JWT_PREVIOUS_KEY_SECONDS", "3")
    before = issue_token("alice", Settings(jwt_secret=KEY_1))
    assert connect("rotating=", token=before).status == 200  # this container read KEY_1
    secrets.put_secret_value(SecretId=key_arn, SecretString=KEY_2)  # the rotation
    after = issue_token("alice", Settings(jwt_secret=KEY_2))
    # A token signed with the new key before this container read it: the key is read again at once.
    assert connect("rotating=", token=after).status == 200
    assert get_settings().jwt_secret == KEY_2 and get_settings().jwt_previous_secret == KEY_1
    # ... and one signed just before the switch keeps working through the overlap,
    assert connect("rotating=", token=before).status == 200
    # ... a cold container too (it reads both versions).
    set_settings(None)
    assert connect("rotating=", token=before).status == 200 and connect("rotating=", token=after).status == 200
    # After the overlap, the previous key verifies nothing.
    time.sleep(3.5)
    refused = connect("rotating=", token=before)
    assert refused.outcome == (401, "invalid_token")
    set_settings(None)
    assert connect("rotating=", token=before).status == 401 and get_settings().jwt_previous_secret is None
    assert connect("rotating=", token=after).status == 200


def _count_reads(monkeypatch) -> list[int]:
    reads: list[int] = []
    from careconnect_ws import settings as settings_module

    real = settings_module.Settings.from_env
    monkeypatch.setattr(settings_module.Settings, "from_env", classmethod(lambda cls, *a, **k: reads.append(1) or real(*a, **k)))
    return reads


def _next_second() -> int:
    """Sleep to just past the next whole second; return it."""
    now = time.time()
    time.sleep(int(now) + 1.05 - now)
    return int(time.time())


def _signed(key: str, **claims) -> str:
    import jwt

    return jwt.encode({"sub": "mallory", "exp": int(time.time()) + 600, **claims}, key, algorithm="HS256")


def test_forged_tokens_read_the_key_again_at_most_once_per_claimed_second(careconnect_runtime, secrets, monkeypatch):
    key_arn = secrets.create_secret(Name=_unique("jwt"), SecretString=KEY_1)["ARN"]
    monkeypatch.setenv("DATABASE_URL", careconnect_runtime.database_url)
    monkeypatch.setenv(contract.JWT_SECRET_ARN, key_arn)
    reads = _count_reads(monkeypatch)
    assert connect("rotating=", token=_signed("f" * 40, iat=0)).status == 401
    assert len(reads) == 1, "the first event reads the settings; a token claiming an old iat forces nothing"
    second = _next_second()
    for _ in range(50):
        assert connect("rotating=", token=_signed("f" * 40, iat=second)).status == 401
    assert len(reads) == 2, "50 forged tokens claiming one second: one re-read"
    for forged in (_signed("f" * 40), _signed("f" * 40, iat=second + 3600), _signed("f" * 40, iat=second - 5)):
        assert connect("rotating=", token=forged).status == 401  # no iat, a future one, one before the last read: nothing read
    assert len(reads) == 2
    # A flood that claims the current second every time costs at most one read per second.
    started, ended = time.time(), time.time() + 2.5
    while time.time() < ended:
        assert connect("rotating=", token=_signed("f" * 40, iat=int(time.time()))).status == 401
    assert len(reads) - 2 <= int(ended) - int(started) + 1


def test_a_rotation_right_after_a_forged_token_forced_a_read_is_found_at_once(careconnect_runtime, secrets, monkeypatch):
    """Hardening round 4: with one read per 30 s that any token could spend, a forged token just before a rotation
    made every new-key token 401 in that container for 30 s."""
    key_arn = secrets.create_secret(Name=_unique("jwt"), SecretString=KEY_1)["ARN"]
    monkeypatch.setenv("DATABASE_URL", careconnect_runtime.database_url)
    monkeypatch.setenv(contract.JWT_SECRET_ARN, key_arn)
    assert connect("rotating=", token=issue_token("alice", Settings(jwt_secret=KEY_1))).status == 200
    second = _next_second()
    assert connect("rotating=", token=_signed("f" * 40, iat=second)).status == 401  # spends a re-read
    secrets.put_secret_value(SecretId=key_arn, SecretString=KEY_2)  # the rotation
    _next_second()
    started = time.monotonic()
    assert connect("rotating=", token=issue_token("alice", Settings(jwt_secret=KEY_2))).status == 200
    assert time.monotonic() - started < 1.0 and get_settings().jwt_secret == KEY_2
