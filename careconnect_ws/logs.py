"""Structured JSON log lines. Never a token or a message body: only ids, routes, outcomes, timings."""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from pathlib import Path

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def exception_summary(err: BaseException) -> dict[str, object]:
    """An exception for a log line: its type and where it was raised, never its text.

    Exception texts can quote values (a database error's failing row, a decoder's input),
    so a log line says where it went wrong and leaves the what out.
    """
    frames = traceback.extract_tb(err.__traceback__)[-5:]
    return {
        "errorType": type(err).__name__,
        "where": [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames],
    }


_configured = False


def configure_logging(level: int = logging.INFO) -> None:
    """Send this package's logs as JSON lines to stderr (CloudWatch in Lambda). Idempotent."""
    global _configured
    if _configured:
        return
    logger = logging.getLogger("careconnect_ws")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    # Lambda's runtime puts its own handler on the root logger: do not print every line twice.
    logger.propagate = False
    _configured = True
