"""The CLI as a user runs it, and the runtime's promise never to import the CDK."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from careconnect_ws.migrations import available
from tests.support.cli import bare_run, minimal_env
from tests.support.runtime import SECRET


def run_cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "careconnect_ws", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_migrate_command_on_a_new_database_then_again(careconnect_database):
    name = f"cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(careconnect_database.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    env = {"DATABASE_URL": careconnect_database.url_for(name), "WS_JWT_SECRET": SECRET}
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
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
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
    assert not loaded & {
        "cdktf",
        "constructs",
        "jsii",
        "cdktf_cdktf_provider_aws",
        "cdktn",
        "cdktn_provider_aws",
        "stacks",
        "careconnect_ws_cdk",
    }
    assert not loaded & {"boto3", "botocore", "jwt", "aiohttp"}, "heavy modules must load lazily"


def test_no_module_in_the_runtime_imports_the_cdk():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "careconnect_ws"
    pattern = re.compile(
        r"^\s*(from|import)\s+(cdktf|cdktn|constructs|jsii|cdktf_cdktf_provider_aws|cdktn_provider_aws|stacks|careconnect_ws_cdk)\b",
        re.M,
    )
    offenders = [str(p) for p in root.rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_the_benchmarks_stand_on_their_own():
    """bench/ runs from a clone without the test suite: it imports the package (its testing helpers included), never
    tests/."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "bench"
    pattern = re.compile(r"^\s*(from|import)\s+tests\b", re.M)
    assert [p.name for p in root.rglob("*.py") if pattern.search(p.read_text())] == []


def test_the_construct_library_reaches_the_runtime_only_through_its_shared_definitions():
    """The construct library reads what both halves must agree on (the contract, the limits, the release that drops
    deprecated names) and nothing else of the runtime: no database driver or handler code in a synth."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "careconnect_ws_cdk"
    text = "".join(p.read_text() for p in root.rglob("*.py"))
    used = set(re.findall(r"^\s*from careconnect_ws\.(\w+)", text, re.M))
    used |= {
        name.strip() for names in re.findall(r"^\s*from careconnect_ws import ([\w, ]+)", text, re.M) for name in names.split(",")
    }
    assert "import careconnect_ws\n" not in text
    assert used == {"contract", "limits", "deprecations"}


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


def test_every_subcommand_runs_with_only_what_it_uses(careconnect_runtime, careconnect_connections, sql):
    """No token key for the database commands, no database for `token`."""
    from careconnect_ws.handler import lambda_handler
    from tests.support.events import make_event
    from tests.support.runtime import token_for

    db_only = minimal_env(DATABASE_URL=careconnect_runtime.database_url)
    with_endpoint = {**db_only, "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": careconnect_connections.url}
    assert lambda_handler(make_event("connect", connection_id="cli=", query={"token": token_for("carol")}))["statusCode"] == 200
    lambda_handler(make_event("message", connection_id="cli=", body={"action": "subscribe", "topic": "email-verification"}))
    careconnect_connections.open.add("cli=")

    migrate = bare_run("migrate", env=db_only)
    assert migrate.returncode == 0, migrate.stderr
    notify = bare_run("notify", "email-verified", "--user", "carol", "--email", "c@example.org", env=with_endpoint)
    assert notify.returncode == 0, notify.stderr
    assert json.loads(notify.stdout)["delivered"] == ["cli="]
    assert careconnect_connections.messages_for("cli=")[-1]["email"] == "c@example.org"
    publish = bare_run(
        "publish", "--topic", "email-verification", "--subject", "carol", "--payload", '{"type": "x"}', env=with_endpoint
    )
    assert publish.returncode == 0, publish.stderr
    assert (json.loads(publish.stdout)["seq"], json.loads(publish.stdout)["delivered"]) == (2, ["cli="])
    assert careconnect_connections.messages_for("cli=")[-1] == {
        "stream": {"topic": "email-verification", "subject": "carol"},
        "seq": 2,
        "type": "x",
    }
    refused = bare_run(
        "publish", "--topic", "email-verification", "--subject", "carol", "--payload", '{"seq": 1}', env=with_endpoint
    )
    assert refused.returncode == 2 and "'seq'" in refused.stderr and "Traceback" not in refused.stderr
    cleanup = bare_run("cleanup", env=with_endpoint)
    assert cleanup.returncode == 0, cleanup.stderr
    revoke = bare_run("disconnect-user", "--user", "carol", env=with_endpoint)
    assert revoke.returncode == 0, revoke.stderr
    assert json.loads(revoke.stdout)["delivered"] == ["cli="]
    assert "cli=" in careconnect_connections.deleted
    assert sql.execute("SELECT is_active, disconnect_reason FROM websocket_connections").fetchone() == (False, "revoked")
    token = bare_run("token", "--user", "alice", env=minimal_env(WS_JWT_SECRET=SECRET))
    assert token.returncode == 0, token.stderr


def test_token_refuses_a_lifetime_that_is_already_over():
    proc = bare_run("token", "--user", "alice", "--ttl", "-5", env=minimal_env(WS_JWT_SECRET=SECRET))
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
    import re

    from careconnect_ws import settings as settings_module

    seen = 0
    for path, _ in _subcommands():
        proc = run_cli(*path, "--help")
        assert proc.returncode == 0, proc.stderr
        assert "``" not in proc.stdout and ":class:" not in proc.stdout, f"{path}: reStructuredText in --help"
        listed = re.findall(r"^  ([A-Z][A-Z0-9_]+)  ", proc.stdout, re.M)
        if path[0] != "serve" or listed:
            assert listed, f"{' '.join(path)} --help lists no environment variables"
        for name in listed:
            assert name in settings_module.BY_VARIABLE, f"{name} listed by {path} is not a row of the settings table"
        seen += 1
    assert seen >= 9


def test_every_variable_in_the_settings_table_is_read_and_checked():
    """Behaviour, not source text: a number or switch out of range is refused naming its variable, and each
    value given reaches its field."""
    from careconnect_ws.errors import ConfigError
    from careconnect_ws.settings import TABLE, Settings

    base = {"DATABASE_URL": "postgresql://app@db.internal/app", "WS_JWT_SECRET": SECRET}
    for row in TABLE:
        if row.is_number:
            for bad in ("lots", str(row.high + 1), str(row.low - 1)):
                with pytest.raises(ConfigError, match=row.variable):
                    Settings.from_env({**base, row.variable: bad})
            value = row.high if row.variable != "TOUCH_INTERVAL_SECONDS" else 1
            env = {**base, row.variable: str(value)}
            if row.variable == "CONNECTION_IDLE_SECONDS":
                env["TOUCH_INTERVAL_SECONDS"] = "0"
            assert getattr(Settings.from_env(env), row.field) == value
        elif row.is_switch:
            with pytest.raises(ConfigError, match=row.variable):
                Settings.from_env({**base, row.variable: "maybe"})
            assert getattr(Settings.from_env({**base, row.variable: "on"}), row.field) is True
            assert getattr(Settings.from_env({**base, row.variable: "off"}), row.field) is False
    secrets = {
        "arn:aws:secretsmanager:us-east-1:1:secret:db": "postgresql://app@from-secret/app",
        "arn:aws:secretsmanager:us-east-1:1:secret:jwt": SECRET + "-rotated",
    }
    read = Settings.from_env(
        {
            "DATABASE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:db",
            "WS_JWT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:jwt",
            "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": "https://x.execute-api.eu-west-1.amazonaws.com/prod/",
            "AWS_REGION": "eu-west-1",
        },
        secret_reader=lambda arn: secrets[arn],
    )
    assert (read.database_url, read.jwt_secret, read.region) == (
        "postgresql://app@from-secret/app",
        SECRET + "-rotated",
        "eu-west-1",
    )
    assert read.management_endpoint == "https://x.execute-api.eu-west-1.amazonaws.com/prod"
    from tests.support.runtime import rsa_public_pem

    rs = Settings.from_env(
        {
            "DATABASE_URL": base["DATABASE_URL"],
            "WS_JWT_PUBLIC_KEY": rsa_public_pem(),
            "WS_JWT_ISSUER": "https://idp",
            "WS_JWT_AUDIENCE": "careconnect",
        }
    )
    assert (rs.jwt_issuer, rs.jwt_audience, rs.jwt_public_key.startswith("-----BEGIN")) == ("https://idp", "careconnect", True)


def test_the_readmes_environment_table_is_the_settings_table():
    import re
    from pathlib import Path

    from careconnect_ws.settings import TABLE

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Environment") : readme.index("### Database")]
    documented: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names, defaults = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]), re.findall(r"`([^`]+)`", cells[1])
        for i, name in enumerate(names):
            documented[name] = defaults[i] if len(defaults) == len(names) else cells[1]
    assert {row.variable for row in TABLE} <= set(documented), "every variable the runtime reads is documented"
    for row in TABLE:
        if row.is_switch:
            assert documented[row.variable] == ("on" if row.default else "off"), row.variable
        elif row.is_number:
            assert documented[row.variable] == str(row.default), row.variable


def test_version_comes_from_the_one_source():
    from importlib.metadata import version

    from careconnect_ws import __version__

    proc = run_cli("--version")
    assert proc.stdout.strip() == f"careconnect-ws {__version__}"
    assert version("careconnect-ws") == __version__


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret-pw@127.0.0.1:1/db?bogus=1",
        "postgresql://app:s3cret-pw@[bad/db",
        "host=db.internal password=s3cret-pw bogus=1",
        "host=db.internal password='s3cret-pw' sslmode=nonsense",
    ],
)
@pytest.mark.parametrize("command", [("migrate",), ("serve", "--port", "0"), ("cleanup",)])
def test_a_malformed_database_url_is_named_and_its_password_never_printed(url, command):
    proc = bare_run(*command, env=minimal_env(DATABASE_URL=url, WS_JWT_SECRET=SECRET))
    assert proc.returncode in (1, 2), proc
    output = proc.stdout + proc.stderr
    assert "s3cret-pw" not in output and "Traceback" not in output
    assert "DATABASE_URL" in output or "database unavailable" in output


def test_every_module_is_mapped_to_its_tests():
    """tests/README.md names every source module (a newcomer finds a module's tests from it) and every test
    file it names exists."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    readme = (root / "tests" / "README.md").read_text()
    named = set(re.findall(r"`([A-Za-z0-9_.*]+)`", readme))
    for package in ("careconnect_ws", "careconnect_ws_cdk", "stacks", "rehearsal"):
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root / package).with_suffix("").parts
            if parts == ("__init__",):
                continue
            dotted = ".".join(p for p in parts if p != "__init__")
            # A subpackage is named as itself or as "name.*" (its modules listed beside it).
            assert {dotted, dotted.split(".")[-1], f"{package}.{dotted}", f"{dotted}.*"} & named, (
                f"{package}/{path.relative_to(root / package)} is not in tests/README.md"
            )
    for test_file in re.findall(r"`((?:runtime|e2e|infra|extension|consumer|rehearsal)/test_\w+\.py)", readme):
        assert (root / "tests" / test_file).is_file(), f"tests/README.md names {test_file}, which does not exist"


def test_the_function_and_the_cli_run_the_same_backend_commands(careconnect_runtime):
    """careconnect_ws.commands is the one table: every entry is an invoke command and a CLI subcommand with an
    option per argument, and an unknown command names them all."""
    from careconnect_ws.cli import build_parser
    from careconnect_ws.commands import COMMANDS
    from careconnect_ws.handler import lambda_handler

    parser = build_parser()
    subcommands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, entry in COMMANDS.items():
        assert name in subcommands
        help_text = subcommands[name].format_help()
        for argument in entry.arguments:
            if name != "notify":
                assert argument.option in help_text, (name, argument.option)
    unknown = lambda_handler({"careconnect_ws": {"command": "nope"}})
    assert unknown["statusCode"] == 400
    message = json.loads(unknown["body"])["message"]
    assert all(repr(name) in message for name in COMMANDS)
    refused = lambda_handler({"careconnect_ws": {"command": "withdraw-access", "userId": "u", "topic": ""}})
    assert (refused["statusCode"], json.loads(refused["body"])["code"]) == (400, "invalid_field")
