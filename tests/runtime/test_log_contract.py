"""The runtime really writes what the stack's alarms match: the metric filter pattern is built from
careconnect_ws.contract, and here it is evaluated against the handler's own log lines."""

from __future__ import annotations

from careconnect_ws import contract
from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import set_settings
from tests.support.events import load_event
from tests.support.log_filters import matches
from tests.support.log_lines import Lines, captured_lines
from tests.support.runtime import make_settings


def test_a_failed_scheduled_cleanup_is_what_the_alarm_counts_and_a_good_one_is_not(careconnect_runtime):
    with captured_lines() as lines:
        _run(contract.failed_command_filter(contract.CLEANUP_COMMAND), lines)


def _run(pattern: str, lines: Lines) -> None:
    scheduled = load_event("scheduled")
    assert lambda_handler(scheduled)["statusCode"] == 200
    assert not matches(pattern, lines.last_handled())
    assert lambda_handler(contract.CLEANUP_EVENT)["statusCode"] == 200
    assert not matches(pattern, lines.last_handled())

    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
    db_module.reset_database()
    assert lambda_handler(scheduled)["statusCode"] == 503
    line = lines.last_handled()
    assert line[contract.LOG_ROUTE] == contract.command_route(contract.CLEANUP_COMMAND)
    assert matches(pattern, line)
