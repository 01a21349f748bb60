"""The runtime's log lines exactly as written (the package logger does not propagate to pytest's caplog)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from careconnect_ws.logs import JsonFormatter, LambdaFields


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.addFilter(LambdaFields())  # as the runtime's own handler: the invocation's context on every line
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def handled(self) -> list[dict]:
        """The per-invocation lines."""
        return [line for line in self.lines if line["msg"] == "handled"]

    def last_handled(self) -> dict:
        return self.handled()[-1]


@contextmanager
def captured_lines() -> Iterator[Lines]:
    logger = logging.getLogger("careconnect_ws")
    lines = Lines()
    logger.addHandler(lines)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(previous)
