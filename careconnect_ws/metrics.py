"""CloudWatch metrics in Embedded Metric Format: the per-invocation log line *is* the metric record.

CloudWatch Logs extracts the metrics from a log line that carries an ``_aws`` block naming them, so
metrics cost no API call, no extra line and no dependency (what Powertools' ``Metrics`` does, without
its import). The names, units and dimension sets are :mod:`careconnect_ws.contract`'s, which the
construct's alarms and dashboard read: a metric an alarm watches is one this module writes.

Pure functions over the line's fields; the handler calls :func:`embed` once per invocation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .contract import (
    DIMENSION_FUNCTION,
    DIMENSION_OUTCOME,
    DIMENSION_ROUTE,
    METRIC_DIMENSIONS,
    METRIC_NAMESPACE,
    METRIC_UNITS,
    Metric,
)

UNKNOWN = "unknown"
"""A dimension the line has no value for (an event that never reached a route): CloudWatch drops a
record whose dimension is missing, so it gets this instead."""


def invocation_values(line: Mapping[str, Any], status: int | None) -> dict[str, float]:
    """The metric values one invocation's log line stands for."""
    values: dict[str, float] = {
        Metric.REQUESTS: 1,
        Metric.SERVER_ERRORS: int(status is not None and status >= 500),
        Metric.CLIENT_ERRORS: int(status is not None and 400 <= status < 500),
    }
    latency = line.get("latencyMs")
    if isinstance(latency, int | float):
        values[Metric.LATENCY] = latency
    if line.get("coldStart"):
        values[Metric.COLD_STARTS] = 1
    if line.get(DIMENSION_OUTCOME) == "rate_limited":
        values[Metric.RATE_LIMITED] = 1
    if line.get("closed") == "rate_limit":
        values[Metric.CLOSED_FOR_FLOODING] = 1
    if "recipients" in line:  # a publish or a notification pushed to its stream's subscribers
        for name, field in (
            (Metric.RECIPIENTS, "recipients"),
            (Metric.DELIVERED, "reached"),
            (Metric.GONE, "gone"),
            (Metric.FAILED, "failed"),
        ):
            value = line.get(field)
            if isinstance(value, int) and not isinstance(value, bool):
                values[name] = value
    return values


class EmfBlock(str):
    """The ``_aws`` member, already JSON: the directives of a set of metric names are rendered once per
    container and reused (the log formatter splices this text in instead of encoding the structure on every
    invocation, which kept metrics within a few per cent of a message's cost)."""


_rendered: dict[tuple[str, ...], str] = {}


def _directives(names: tuple[str, ...]) -> str:
    found = _rendered.get(names)
    if found is None:
        grouped: dict[tuple[tuple[str, ...], ...], list[dict[str, str]]] = {}
        for name in names:
            grouped.setdefault(METRIC_DIMENSIONS[name], []).append({"Name": name, "Unit": METRIC_UNITS.get(name, "Count")})
        found = _rendered[names] = json.dumps(
            [
                {"Namespace": METRIC_NAMESPACE, "Dimensions": [list(dims) for dims in dimension_sets], "Metrics": metrics}
                for dimension_sets, metrics in grouped.items()
            ]
        )
    return found


def embed(line: dict[str, Any], values: Mapping[str, float], timestamp_ms: int) -> dict[str, Any]:
    """Make ``line`` an EMF record of ``values``: the values become top-level members and ``_aws`` declares
    them, grouped by dimension sets. Missing dimension values are filled with :data:`UNKNOWN`."""
    for dimension in (DIMENSION_FUNCTION, DIMENSION_ROUTE, DIMENSION_OUTCOME):
        if not isinstance(line.get(dimension), str) or not line[dimension]:
            line[dimension] = UNKNOWN
    line.update(values)
    line["_aws"] = EmfBlock(f'{{"Timestamp": {int(timestamp_ms)}, "CloudWatchMetrics": {_directives(tuple(values))}}}')
    return line
