"""Every outcome of every route is a valid CloudWatch Embedded Metric Format record, with the Lambda context on
every line; and every metric the construct's alarms and dashboard can name is one the runtime really writes."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest

from careconnect_ws import contract
from careconnect_ws import db as db_module
from careconnect_ws.contract import Metric
from careconnect_ws.handler import lambda_handler
from careconnect_ws.logs import mark_cold_start
from careconnect_ws.settings import set_settings
from careconnect_ws.testing import connect, send
from tests.support.emf import metric_names, validate
from tests.support.events import load_event, make_event
from tests.support.log_lines import captured_lines
from tests.support.runtime import make_settings, token_for

DECLARED = {value for name, value in vars(Metric).items() if name.isupper()}
CONTEXT = SimpleNamespace(
    aws_request_id="8f1d-request",
    function_name="careconnect-ws-backend",
    function_version="7",
    invoked_function_arn="arn:aws:lambda:us-east-1:111122223333:function:careconnect-ws-backend:live",
)


def command(**fields) -> dict:
    return lambda_handler({contract.COMMAND_KEY: fields}, CONTEXT)


def test_every_route_and_outcome_is_a_valid_emf_record_and_every_declared_metric_is_written(
    careconnect_runtime, careconnect_connections, monkeypatch
):
    set_settings(
        make_settings(
            careconnect_runtime.database_url, management_endpoint=careconnect_connections.url, max_messages_per_second=2
        )
    )
    mark_cold_start()
    outcomes: set[tuple[str, str, int]] = set()
    with captured_lines() as lines:
        # $connect: accepted, refused (token, too many), and the database down.
        careconnect_connections.open |= {"c-1", "c-2"}
        assert connect("c-1", "u-1", context=CONTEXT).status == 200
        assert connect("c-2", "u-1", context=CONTEXT).status == 200
        assert connect("c-3", "u-3", context=CONTEXT).status == 200  # gone at the push below
        assert connect("c-4", "u-4", context=CONTEXT).status == 200  # its pushes fail
        careconnect_connections.refusing.add("c-4")
        assert lambda_handler(make_event("connect", connection_id="c-x", query={"token": "nope"}), CONTEXT)["statusCode"] == 401
        for user, cid in (("u-1", "c-1"), ("u-3", "c-3"), ("u-4", "c-4")):
            assert send(cid, {"action": "subscribe", "topic": "email-verification"}, context=CONTEXT).status == 200, user
        # $default: ok, a bad message, an unregistered connection, rate limited, closed for flooding.
        assert send("c-3", {"action": "ping"}, context=CONTEXT).status == 200
        assert send("c-4", {"action": "subscribe", "topic": "no-such-topic"}, context=CONTEXT).status == 404
        assert send("c-4", "{not json", context=CONTEXT).status == 400
        assert send("c-nobody", {"action": "ping"}, context=CONTEXT).status == 410
        for _ in range(5):
            send("c-2", {"action": "ping"}, context=CONTEXT)
        # The authorizer: allow and deny.
        authorizer = load_event("authorizer")
        authorizer["queryStringParameters"] = {"token": token_for("u-9")}
        lambda_handler(authorizer, CONTEXT)
        authorizer["queryStringParameters"] = {"token": "forged"}
        lambda_handler(authorizer, CONTEXT)
        # Commands: publish reaching delivered / gone / failed recipients, notify, cleanup, unknown.
        careconnect_connections.open.discard("c-3")
        for user in ("u-1", "u-3", "u-4"):
            assert command(command="notify", notification="email-verified", userId=user)["statusCode"] == 200
        assert command(command="publish", topic="email-verification", subject="u-1", payload={"type": "x"})["statusCode"] == 200
        assert command(command="cleanup")["statusCode"] == 200
        assert command(command="no-such-command")["statusCode"] == 400
        assert lambda_handler({"what": "ever"}, CONTEXT)["statusCode"] == 400
        assert lambda_handler(load_event("disconnect"), CONTEXT)["statusCode"] == 200
        # The handler's own failure, and the database down: handled 5xx.
        monkeypatch.setattr("careconnect_ws.handler.parse_message", lambda body: 1 / 0)
        assert send("c-1", {"action": "ping"}, context=CONTEXT).status == 500
        monkeypatch.undo()
        set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
        db_module.reset_database()
        assert connect("c-5", "u-1", context=CONTEXT).status == 503

    handled = lines.handled()
    for line in handled:
        metrics = validate(line)
        assert {ns for ns, _, _ in metrics} == {contract.METRIC_NAMESPACE}
        for _, name, dimensions in metrics:
            assert tuple(d for d, _ in dimensions) in contract.METRIC_DIMENSIONS[name], (name, dimensions)
            # Never a user or a connection id: only the function, a route key and an outcome code.
            assert {d for d, _ in dimensions} <= {
                contract.DIMENSION_FUNCTION,
                contract.DIMENSION_ROUTE,
                contract.DIMENSION_OUTCOME,
            }
        assert line[contract.DIMENSION_FUNCTION] == "careconnect-ws-backend"
        assert line[Metric.SERVER_ERRORS] == int(line["status"] >= 500)
        assert line[Metric.CLIENT_ERRORS] == int(400 <= line["status"] < 500)
        outcomes.add((line["route"], line["outcome"], line["status"]))
    assert set(metric_names(handled)) == DECLARED, "every metric the construct may name is one the runtime writes"
    assert {
        ("$connect", "connected", 200),
        ("$connect", "invalid_token", 401),
        ("$connect", "service_unavailable", 503),
        ("$default", "ok", 200),
        ("$default", "invalid_json", 400),
        ("$default", "unknown_topic", 404),
        ("$default", "not_connected", 410),
        ("$default", "rate_limited", 429),
        ("$default", "internal_error", 500),
        ("authorizer", "allow", 200),
        ("authorizer", "deny:invalid_token", 403),
        ("command:notify", "ok", 200),
        ("command:publish", "ok", 200),
        ("command:cleanup", "ok", 200),
        ("command:unknown", "unknown_command", 400),
        ("unknown", "unknown_event", 400),
        ("$disconnect", "already_inactive", 200),
    } <= outcomes, outcomes
    cold = [line for line in handled if line.get(Metric.COLD_STARTS)]
    assert len(cold) == 1 and cold[0] is handled[0] and cold[0][contract.LOG_COLD_START] is True
    delivered = [line for line in handled if line["route"] == "command:notify"]
    assert [(line[Metric.RECIPIENTS], line[Metric.DELIVERED], line[Metric.GONE], line[Metric.FAILED]) for line in delivered] == [
        (1, 1, 0, 0),
        (1, 0, 1, 0),
        (1, 0, 0, 1),
    ]
    assert sum(line.get(Metric.CLOSED_FOR_FLOODING, 0) for line in handled) >= 1


def test_every_line_of_an_invocation_carries_the_lambda_context(careconnect_runtime, monkeypatch):
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    monkeypatch.setattr("careconnect_ws.handler.parse_message", lambda body: 1 / 0)
    with captured_lines() as lines:
        assert connect("c-1", "u-1", context=CONTEXT).status == 200
        assert send("c-1", {"action": "ping"}, context=CONTEXT).status == 500
    assert len(lines.lines) >= 3  # two per-invocation lines and the unhandled error's own
    for line in lines.lines:
        assert line[contract.LOG_REQUEST_ID] == "8f1d-request"
        assert line[contract.LOG_FUNCTION] == "careconnect-ws-backend"
        assert line[contract.LOG_FUNCTION_VERSION] == "7"
        assert line[contract.LOG_TRACE_ID] == "1-5759e988-bd862e3fe1be46a994272793"
        assert isinstance(line[contract.LOG_COLD_START], bool)
    error = next(line for line in lines.lines if line["msg"] == "unhandled error")
    # An unexpected error keeps its type and place, never its text.
    assert error["errorType"] == "ZeroDivisionError" and "division" not in json.dumps(error)
    assert any("test_metrics.py" in where for where in error["where"])


def test_metrics_can_be_turned_off(careconnect_runtime):
    set_settings(make_settings(careconnect_runtime.database_url, metrics=False))
    with captured_lines() as lines:
        lambda_handler({"what": "ever"}, CONTEXT)
    line = lines.last_handled()
    assert "_aws" not in line and Metric.REQUESTS not in line and line["outcome"] == "unknown_event"


@pytest.mark.parametrize("value", ["off", "false", "0"])
def test_ws_metrics_is_a_switch(value):
    from careconnect_ws.settings import Settings

    assert Settings.from_env({"WS_METRICS": value}, needs=()).metrics is False
    assert Settings.from_env({}, needs=()).metrics is True


def test_no_handler_outside_lambda_is_named_after_a_request(monkeypatch):
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    from careconnect_ws.logs import context_fields

    fields = context_fields(None, environ={k: v for k, v in os.environ.items() if k != "_X_AMZN_TRACE_ID"})
    assert contract.LOG_REQUEST_ID not in fields and fields[contract.LOG_FUNCTION] == "careconnect-ws"
