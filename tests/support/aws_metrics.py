"""The metrics an alarm or a dashboard may name: AWS's own (from the services' metric documentation) and the
runtime's (from careconnect_ws.contract, which the runtime's EMF lines are tested against). A widget or alarm
naming anything else shows an empty graph or never fires, and CloudWatch accepts it without complaint."""

from __future__ import annotations

import re
from typing import Any

from careconnect_ws import contract

_STAGE = (("ApiId",), ("ApiId", "Stage"), ("ApiId", "Stage", "Route"))
AWS_METRICS: dict[str, dict[str, tuple[tuple[str, ...], ...]]] = {
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-logging.html
    "AWS/ApiGateway": {
        name: _STAGE
        for name in ("ConnectCount", "MessageCount", "IntegrationError", "ClientError", "ExecutionError", "IntegrationLatency")
    },
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    "AWS/Lambda": {
        name: (("FunctionName",), ("FunctionName", "Resource"))
        for name in ("Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions")
    },
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible": (("QueueName",),)},
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-monitoring.html
    "AWS/Events": {"Invocations": (("RuleName",),), "FailedInvocations": (("RuleName",),)},
    contract.METRIC_NAMESPACE: {**contract.METRIC_DIMENSIONS, contract.CLEANUP_FAILURES_METRIC: ((),)},
}


def check_metric(namespace: str, name: str, dimensions: tuple[str, ...]) -> None:
    known = AWS_METRICS.get(namespace, {})
    assert name in known, f"{namespace} has no metric {name}"
    # A dimension set is a set: Terraform sorts a map's keys.
    assert set(dimensions) in [set(d) for d in known[name]], f"{namespace} {name} is not published with dimensions {dimensions}"


_SEARCH = re.compile(r"""SEARCH\('\{([^}]*)\}\s+MetricName="([^"]+)"([^']*)',\s*'([^']+)',\s*(\d+)\)""")


def check_search(expression: str) -> None:
    """``SEARCH('{Namespace,dim1,dim2} MetricName="X" dim1="v"', 'Sum', 300)``: an exact schema of a metric that exists."""
    found = _SEARCH.fullmatch(expression)
    assert found, f"not a SEARCH expression this checker reads: {expression}"
    schema, name, terms, _, _ = found.groups()
    namespace, *dimensions = [part.strip() for part in schema.split(",")]
    check_metric(namespace, name, tuple(dimensions))
    for key in re.findall(r'(\w+)="', terms):
        assert key in dimensions, f"the search filters on {key}, not in its schema {dimensions}"


def check_dashboard_metrics(body: dict[str, Any]) -> int:
    """Check every metric row and SEARCH of a dashboard body; returns how many it checked."""
    checked = 0
    for widget in body["widgets"]:
        assert widget["x"] + widget["width"] <= 24, "the dashboard grid is 24 columns wide"
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):
                check_search(row[0]["expression"])
            else:
                parts = [p for p in row if not isinstance(p, dict)]
                namespace, name, rest = parts[0], parts[1], parts[2:]
                assert len(rest) % 2 == 0, f"dimension names and values in pairs: {row}"
                check_metric(namespace, name, tuple(rest[0::2]))
            checked += 1
    return checked


def check_alarm(alarm: dict[str, Any]) -> None:
    if "metric_query" in alarm:
        for query in alarm["metric_query"]:
            if "metric" in query:
                metric = query["metric"]
                check_metric(metric["namespace"], metric["metric_name"], tuple(metric.get("dimensions", {})))
        returned = [q for q in alarm["metric_query"] if q.get("return_data")]
        assert len(returned) == 1 and "expression" in returned[0]
    else:
        check_metric(alarm["namespace"], alarm["metric_name"], tuple(alarm.get("dimensions", {}) or {}))
