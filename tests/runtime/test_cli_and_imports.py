"""The CLI as a user runs it, and the runtime's promise never to import the CDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from careconnect_ws.migrations import available
from tests.conftest import SECRET


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "careconnect_ws", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_migrate_command_on_a_new_database_then_again(pg):
    name = f"cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {"DATABASE_URL": pg.url_for(name), "WS_JWT_SECRET": SECRET}
    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "0001_initial" in first.stdout
    second = run_cli("migrate", env=env)
    assert "nothing to apply" in second.stdout and f"schema version {available()[-1].version}" in second.stdout


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
    assert not loaded & {"cdktf", "constructs", "jsii", "cdktf_cdktf_provider_aws", "cdktn", "cdktn_provider_aws", "stacks", "careconnect_ws_cdk"}
    assert not loaded & {"boto3", "botocore", "jwt", "aiohttp"}, "heavy modules must load lazily"


def test_no_module_in_the_runtime_imports_the_cdk():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "careconnect_ws"
    pattern = re.compile(r"^\s*(from|import)\s+(cdktf|cdktn|constructs|jsii|cdktf_cdktf_provider_aws|cdktn_provider_aws|stacks|careconnect_ws_cdk)\b", re.M)
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def _minimal_env(**values: str) -> dict[str, str]:
    """The environment without any runtime variable, plus exactly the given ones."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "DATABASE_", "WS_", "AWS_WEBSOCKET", "CONNECTION_", "DB_"))}
    return {**env, **values}


def _bare_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "careconnect_ws", *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_package_offers_publish_without_importing_the_database_driver():
    code = (
        "import sys, careconnect_ws;"
        "assert 'psycopg' not in sys.modules and 'careconnect_ws.publishing' not in sys.modules;"
        "import careconnect_ws.publishing, careconnect_ws.notifications;"
        "from careconnect_ws import publish;"
        "assert callable(careconnect_ws.publish) and careconnect_ws.publish is careconnect_ws.publishing.publish;"
        "print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_every_subcommand_runs_with_only_what_it_uses(runtime, connections_endpoint, sql):
    """No token key for the database commands, no database for `token`."""
    from careconnect_ws.handler import lambda_handler
    from tests.conftest import make_event, token_for

    db_only = _minimal_env(DATABASE_URL=runtime.database_url)
    with_endpoint = {**db_only, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": connections_endpoint.url}
    assert lambda_handler(make_event("connect", connection_id="cli=", query={"token": token_for("carol")}))["statusCode"] == 200
    lambda_handler(make_event("message", connection_id="cli=", body={"action": "subscribe", "topic": "email-verification"}))
    connections_endpoint.open.add("cli=")

    migrate = _bare_run("migrate", env=db_only)
    assert migrate.returncode == 0, migrate.stderr
    notify = _bare_run("notify", "email-verified", "--user", "carol", "--email", "c@example.org", env=with_endpoint)
    assert notify.returncode == 0, notify.stderr
    assert json.loads(notify.stdout)["delivered"] == ["cli="]
    assert connections_endpoint.messages_for("cli=")[-1]["email"] == "c@example.org"
    publish = _bare_run("publish", "--topic", "email-verification", "--subject", "carol", "--payload", '{"type": "x"}',
                        env=with_endpoint)
    assert publish.returncode == 0, publish.stderr
    assert (json.loads(publish.stdout)["seq"], json.loads(publish.stdout)["delivered"]) == (2, ["cli="])
    assert connections_endpoint.messages_for("cli=")[-1] == {
        "stream": {"topic": "email-verification", "subject": "carol"}, "seq": 2, "type": "x"}
    refused = _bare_run("publish", "--topic", "email-verification", "--subject", "carol", "--payload", '{"seq": 1}',
                        env=with_endpoint)
    assert refused.returncode == 2 and "'seq'" in refused.stderr and "Traceback" not in refused.stderr
    cleanup = _bare_run("cleanup", env=with_endpoint)
    assert cleanup.returncode == 0, cleanup.stderr
    revoke = _bare_run("disconnect-user", "--user", "carol", env=with_endpoint)
    assert revoke.returncode == 0, revoke.stderr
    assert json.loads(revoke.stdout)["delivered"] == ["cli="]
    assert "cli=" in connections_endpoint.deleted
    assert sql.execute("SELECT is_active, disconnect_reason FROM websocket_connections").fetchone() == (False, "revoked")
    token = _bare_run("token", "--user", "alice", env=_minimal_env(WS_JWT_SECRET=SECRET))
    assert token.returncode == 0, token.stderr


def test_token_refuses_a_lifetime_that_is_already_over():
    proc = _bare_run("token", "--user", "alice", "--ttl", "-5", env=_minimal_env(WS_JWT_SECRET=SECRET))
    assert proc.returncode == 2
    assert "at least 1" in proc.stderr


def _subcommands():
    from careconnect_ws.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    for name, command in sub.choices.items():
        yield [name], command
        nested = [a for a in command._actions if isinstance(a, __import__("argparse")._SubParsersAction)]
        for action in nested:
            for child in action.choices:
                yield [name, child], action.choices[child]


def test_every_subcommand_help_is_plain_text_and_lists_real_variables():
    import inspect
    import re

    from careconnect_ws import contract
    from careconnect_ws import settings as settings_module

    source = inspect.getsource(settings_module.Settings.from_env)
    read = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', source)) | {"AWS_REGION"}
    read |= {value for name in re.findall(r"contract\.([A-Z_]+)", source) for value in [getattr(contract, name)]}
    seen = 0
    for path, _ in _subcommands():
        proc = run_cli(*path, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "``" not in proc.stdout and ":class:" not in proc.stdout, f"{path}: reStructuredText in --help"
        listed = re.findall(r"^  ([A-Z][A-Z0-9_]+)  ", proc.stdout, re.M)
        if path[0] != "serve" or listed:
            assert listed, f"{' '.join(path)} --help lists no environment variables"
        for name in listed:
            assert name in settings_module.ENVIRONMENT, f"{name} listed by {path} is not a known setting"
            assert name in read, f"{name} listed by {path} is not read by Settings.from_env"
        seen += 1
    assert seen >= 7
    assert set(settings_module.ENVIRONMENT) <= read | {"AWS_REGION"}


def test_version_comes_from_the_one_source():
    from importlib.metadata import version

    from careconnect_ws import __version__

    proc = run_cli("--version")
    assert proc.stdout.strip() == f"careconnect-ws {__version__}"
    assert version("careconnect-ws") == __version__


@pytest.mark.parametrize("url", [
    "postgresql://app:s3cret-pw@127.0.0.1:1/db?bogus=1",
    "postgresql://app:s3cret-pw@[bad/db",
    "host=db.internal password=s3cret-pw bogus=1",
    "host=db.internal password='s3cret-pw' sslmode=nonsense",
])
@pytest.mark.parametrize("command", [("migrate",), ("serve", "--port", "0"), ("cleanup",)])
def test_a_malformed_database_url_is_named_and_its_password_never_printed(url, command):
    proc = _bare_run(*command, env=_minimal_env(DATABASE_URL=url, WS_JWT_SECRET=SECRET))
    assert proc.returncode in (1, 2), proc
    output = proc.stdout + proc.stderr
    assert "s3cret-pw" not in output and "Traceback" not in output
    assert "DATABASE_URL" in output or "database unavailable" in output
