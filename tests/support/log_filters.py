"""CloudWatch Logs' JSON metric filter patterns, evaluated the way CloudWatch does for the form our alarms use."""

from __future__ import annotations

import json
import re

_CONDITION = re.compile(r'\$\.(\w+)\s*(=|!=)\s*("(?:[^"\\]|\\.)*"|-?\d+)')


def matches(pattern: str, line: dict) -> bool:
    """``{ $.a = "x" && $.b != 200 }``: every condition must hold for the log line (a JSON object)."""
    assert pattern.startswith("{") and pattern.endswith("}") and "||" not in pattern, pattern
    results = []
    for field, op, raw in _CONDITION.findall(pattern):
        expected = json.loads(raw)
        equal = line.get(field) == expected
        results.append(equal if op == "=" else not equal)
    return bool(results) and all(results)
