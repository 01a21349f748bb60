"""Structured JSON log lines. Never a token or a message body: only ids, routes, outcomes, timings."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from . import contract

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


_ENCODER = json.JSONEncoder(default=str, ensure_ascii=False)  # one encoder, not one per line


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
        text = _ENCODER.encode(line)
        emf = record.__dict__.get("_aws")
        if isinstance(emf, str):  # an Embedded Metric Format block, already JSON (careconnect_ws.metrics)
            text = f'{text[:-1]}, "_aws": {emf}}}'
        return text


_invocation: ContextVar[dict[str, Any] | None] = ContextVar("careconnect_ws_invocation", default=None)


@contextmanager
def invocation_fields() -> Iterator[dict[str, Any]]:
    """The fields of the one log line an invocation writes (``route``, ``outcome``, ``status``, ...), for
    :func:`note` to add to from anywhere in the handler instead of a dict handed through every call."""
    fields: dict[str, Any] = {}
    token = _invocation.set(fields)
    try:
        yield fields
    finally:
        _invocation.reset(token)


_lambda: ContextVar[dict[str, Any] | None] = ContextVar("careconnect_ws_lambda", default=None)
_cold_start = True


def mark_cold_start() -> None:
    """The next invocation is a container's first (after a SnapStart restore, too)."""
    global _cold_start
    _cold_start = True


def context_fields(context: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What every log line of an invocation carries, named as Lambda's log tools key on them: the Lambda
    request id, the function and its version, whether this is a cold start, and the X-Ray trace id."""
    global _cold_start
    cold, _cold_start = _cold_start, False
    function, version = _function_of(environ)
    trace = (os.environ if environ is None else environ).get("_X_AMZN_TRACE_ID", "")  # set per invocation
    root = trace[5:].split(";", 1)[0] if trace.startswith("Root=") else None
    fields = {
        contract.LOG_REQUEST_ID: getattr(context, "aws_request_id", None),
        contract.LOG_FUNCTION: getattr(context, "function_name", None) or function,
        contract.LOG_FUNCTION_VERSION: getattr(context, "function_version", None) or version,
        contract.LOG_COLD_START: cold,
        contract.LOG_TRACE_ID: root,
    }
    return {key: value for key, value in fields.items() if value is not None}


_container: tuple[str, str | None] | None = None


def _function_of(environ: Mapping[str, str] | None) -> tuple[str, str | None]:
    """The function's name and version from Lambda's environment: fixed for a container, so read once."""
    global _container
    if environ is not None:
        return environ.get("AWS_LAMBDA_FUNCTION_NAME") or "careconnect-ws", environ.get("AWS_LAMBDA_FUNCTION_VERSION")
    if _container is None:
        _container = _function_of(os.environ)
    return _container


@contextmanager
def lambda_context(context: Any) -> Iterator[dict[str, Any]]:
    """Put the invocation's :func:`context_fields` on every log line written inside the block, in any
    logger of this package (a handler filter adds them in the logging thread)."""
    fields = context_fields(context)
    token = _lambda.set(fields)
    try:
        yield fields
    finally:
        _lambda.reset(token)


class LambdaFields(logging.Filter):
    """Copies the invocation's context fields onto each record, in the thread that logs it (the local
    gateway formats in a writer thread, where the context variable is not set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _lambda.get()
        if fields:
            for key, value in fields.items():
                if key not in record.__dict__:
                    setattr(record, key, value)
        return True


def note(**fields: Any) -> None:
    """Add to the current invocation's log line (nothing happens outside an invocation)."""
    current = _invocation.get()
    if current is not None:
        current.update(fields)


def current_fields() -> dict[str, Any]:
    """A copy of the current invocation's log line so far (empty outside an invocation)."""
    return dict(_invocation.get() or {})


def exception_summary(err: BaseException) -> dict[str, Any]:
    """An exception for a log line: its type and where it was raised, never its text.

    Exception texts can quote values (a database error's failing row, a decoder's input),
    so a log line says where it went wrong and leaves the what out.
    """
    frames = traceback.extract_tb(err.__traceback__)[-5:]
    return {
        "errorType": type(err).__name__,
        "where": [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames],
    }


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread; when the queue is full (nobody reads stderr) it drops
    and counts instead of blocking the thread that logged."""

    dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Format in the writer thread, not here: keep only what formatting needs.
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            type(self).dropped += 1


class _StderrWriter(threading.Thread):
    """The one thread that writes queued records to stderr. Not a ``logging.Handler``: if nobody reads
    stderr it blocks in a write, and logging's exit-time flush must not wait on a lock it holds."""

    def __init__(self, records: queue.Queue[Any], formatter: logging.Formatter) -> None:
        super().__init__(name="careconnect-ws-log-writer", daemon=True)
        self.records = records
        self.formatter = formatter

    def run(self) -> None:
        while (record := self.records.get()) is not None:
            try:
                data = (self.formatter.format(record) + "\n").encode("utf-8", "replace")
                while data:
                    data = data[os.write(2, data) :]
            except Exception:  # a line that cannot be written is lost, never the writer
                continue


_configured = False
_writer: _StderrWriter | None = None


def configure_logging(level: int = logging.INFO, *, non_blocking: bool = False, queue_size: int = 10_000) -> None:
    """Send this package's logs as JSON lines to stderr (CloudWatch in Lambda). Idempotent.

    ``non_blocking`` (the local gateway): one writer thread owns stderr and the logging threads only
    enqueue, so a terminal or supervisor that stops reading stderr never stalls a handler thread;
    past ``queue_size`` waiting lines, new ones are dropped and counted.
    """
    global _configured, _writer
    if _configured:
        return
    logger = logging.getLogger("careconnect_ws")
    if non_blocking:
        records: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        handler: logging.Handler = _DroppingQueueHandler(records)
        _writer = _StderrWriter(records, JsonFormatter())
        _writer.start()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    handler.addFilter(LambdaFields())
    logger.addHandler(handler)
    logger.setLevel(level)
    # Lambda's runtime puts its own handler on the root logger: do not print every line twice.
    logger.propagate = False
    _configured = True


def stop_logging(timeout: float = 2.0) -> None:
    """Let the writer thread of non-blocking logging finish what is queued (at the end of ``serve``),
    waiting at most ``timeout``: if nobody reads stderr the thread is stuck in a write, and exiting
    must not wait for it (it is a daemon thread)."""
    global _writer
    if _writer is not None:
        try:
            _writer.records.put_nowait(None)
        except queue.Full:
            pass
        _writer.join(timeout)
        _writer = None


def dropped_lines() -> int:
    return _DroppingQueueHandler.dropped
