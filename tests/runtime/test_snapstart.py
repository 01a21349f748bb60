"""SnapStart's runtime hooks, simulated on a real PostgreSQL: nothing captured in a snapshot is used after a
restore, and outside Lambda nothing is registered."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from careconnect_ws import db as db_module
from careconnect_ws import snapstart
from careconnect_ws.handler import lambda_handler
from careconnect_ws.management import get_management_api
from careconnect_ws.settings import get_settings
from tests.support.events import make_event
from tests.support.runtime import token_for


class Hooks:
    """What ``snapshot_restore_py`` offers: two registration functions."""

    def __init__(self) -> None:
        self.before: list = []
        self.after: list = []

    def register_before_snapshot(self, fn) -> None:
        self.before.append(fn)

    def register_after_restore(self, fn) -> None:
        self.after.append(fn)


def test_outside_lambda_nothing_is_registered(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert snapstart.register() is False


def test_on_lambda_both_hooks_are_registered(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "careconnect-ws-backend")
    hooks = Hooks()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", hooks)
    assert snapstart.register() is True
    assert (hooks.before, hooks.after) == ([snapstart.before_snapshot], [snapstart.after_restore])


def test_after_a_restore_the_first_event_opens_a_new_database_connection(careconnect_connections):
    assert lambda_handler(make_event("connect", connection_id="s=", query={"token": token_for("snap")}))["statusCode"] == 200
    captured = db_module.get_database().connection()
    captured_pid = captured.info.backend_pid
    management = get_management_api()
    snapstart.before_snapshot()
    assert captured.closed, "no database socket may be in the snapshot"
    assert {"jwt", "cryptography", "botocore"} <= {m.split(".")[0] for m in sys.modules}
    snapstart.after_restore()
    assert get_management_api() is not management, "@connections clients (sockets, credentials) are rebuilt"
    response = lambda_handler(make_event("message", connection_id="s=", body={"action": "ping"}))
    assert json.loads(response["body"]) == {"type": "pong"}
    fresh = db_module.get_database().connection()
    assert fresh is not captured and fresh.info.backend_pid != captured_pid


def test_after_a_restore_settings_from_secrets_are_read_again_and_random_is_reseeded(careconnect_connections, monkeypatch):
    before = get_settings()
    monkeypatch.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db")
    random.seed(7)
    snapshot_draw = random.random()
    random.seed(7)
    snapstart.after_restore()
    assert random.random() != snapshot_draw
    from careconnect_ws import settings as settings_module

    assert settings_module._cached is None and before is not None  # read again (secrets included) at the next event


def test_the_hooks_cost_little_and_the_handler_import_still_loads_no_heavy_module():
    code = "import sys, json, careconnect_ws.handler;print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout))
    assert not loaded & {"boto3", "botocore", "jwt", "cryptography", "snapshot_restore_py"}
