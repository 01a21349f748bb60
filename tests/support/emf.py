"""CloudWatch Embedded Metric Format, checked the way CloudWatch Logs reads it (the specification's rules:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
A line that breaks one of them is dropped by CloudWatch without a word, so the tests check every rule."""

from __future__ import annotations

import math
from collections.abc import Iterator

UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(line: dict) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """Assert ``line`` is a valid EMF record; return its metrics as (namespace, name, ((dimension, value), ...))."""
    aws = line.get("_aws")
    assert isinstance(aws, dict), "no _aws block"
    assert isinstance(aws.get("Timestamp"), int) and aws["Timestamp"] > 1_500_000_000_000, "Timestamp: epoch milliseconds"
    directives = aws.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives, "CloudWatchMetrics: a non-empty list"
    found = []
    for directive in directives:
        namespace = directive.get("Namespace")
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255, "Namespace: 1 to 255 characters"
        dimension_sets = directive.get("Dimensions")
        assert isinstance(dimension_sets, list), "Dimensions: a list of dimension sets"
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30, "a dimension set: at most 30 names"
            for name in dimension_set:
                assert isinstance(line.get(name), str) and 1 <= len(line[name]) <= 1024, f"dimension {name}: a string member"
        metrics = directive.get("Metrics")
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100, "Metrics: 1 to 100 definitions"
        names = [m.get("Name") for m in metrics]
        assert len(set(names)) == len(names), "a metric declared twice in one directive"
        for metric in metrics:
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 1024
            assert metric.get("Unit", "None") in UNITS, f"{name}: unit {metric.get('Unit')!r}"
            value = line.get(name)
            assert _number(value) or (isinstance(value, list) and 0 < len(value) <= 100 and all(map(_number, value))), (
                f"metric {name}: a number member"
            )
            for dimension_set in dimension_sets or [[]]:
                found.append((namespace, name, tuple((d, line[d]) for d in dimension_set)))
    return found


def metric_names(lines: list[dict]) -> Iterator[str]:
    for line in lines:
        for _, name, _ in validate(line):
            yield name
