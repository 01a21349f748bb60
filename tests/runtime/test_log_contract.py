"""The runtime really writes what the stack's alarms match: the metric filter pattern is built from
careconnect_ws.contract, and here it is evaluated against the handler's own log lines."""

from __future__ import annotations

import json
import logging

from careconnect_ws import contract
from careconnect_ws import db as db_module
from careconnect_ws.handler import lambda_handler
from careconnect_ws.logs import JsonFormatter
from careconnect_ws.settings import set_settings
from tests.support.events import load_event
from tests.support.log_filters import matches
from tests.support.runtime import make_settings


class Lines(logging.Handler):
    """The handler's log lines exactly as written (the package logger does not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def handled_line(caplog) -> dict:
    return next(line for line in reversed(caplog.lines) if line["msg"] == "handled")


def test_a_failed_scheduled_cleanup_is_what_the_alarm_counts_and_a_good_one_is_not(runtime):
    pattern = contract.failed_command_filter(contract.CLEANUP_COMMAND)
    logger = logging.getLogger("careconnect_ws")
    caplog = Lines()
    logger.addHandler(caplog)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        _run(pattern, caplog)
    finally:
        logger.removeHandler(caplog)
        logger.setLevel(previous)


def _run(pattern: str, caplog: Lines) -> None:
    scheduled = load_event("scheduled")
    assert lambda_handler(scheduled)["statusCode"] == 200
    assert not matches(pattern, handled_line(caplog))
    assert lambda_handler(contract.CLEANUP_EVENT)["statusCode"] == 200
    assert not matches(pattern, handled_line(caplog))

    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
    db_module.reset_database()
    assert lambda_handler(scheduled)["statusCode"] == 503
    line = handled_line(caplog)
    assert line[contract.LOG_ROUTE] == contract.command_route(contract.CLEANUP_COMMAND)
    assert matches(pattern, line)
