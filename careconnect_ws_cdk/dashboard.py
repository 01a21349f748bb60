"""One CloudWatch dashboard for the system: what API Gateway, the function, the runtime, the dead-letter queue
and the cleanup schedule report, side by side.

Every widget names a metric AWS publishes or one the runtime writes (namespace, names and dimension sets from
:mod:`careconnect_ws.contract`); a synth test checks each against that list. The body is built by a pure
function (:func:`dashboard_body`) so it can be read without synthesizing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from careconnect_ws import contract
from careconnect_ws.contract import Metric

from .cdk import CloudwatchDashboard, Construct, DataAwsRegion
from .errors import InvalidPropsError
from .physical_names import claim
from .provider import use_provider

PERIOD_SECONDS = 300
WIDTH, HEIGHT = 8, 6
"""Three widgets per row of the dashboard's 24 columns."""


@dataclass(frozen=True, kw_only=True)
class DashboardProps:
    """What the dashboard shows. Only the API is required: without a function, its rows are left out."""

    name: str
    """The dashboard's name (unique per account and region)."""
    api_id: str
    stage: str
    region: str | None = None
    """The region of the metrics. Default: the provider's (an ``aws_region`` data source)."""
    function_name: str | None = None
    function_timeout_seconds: int | None = None
    """Drawn as a line on the duration graph."""
    reserved_concurrency: int | None = None
    """Drawn as a line on the concurrency graph."""
    dead_letter_queue_name: str | None = None
    cleanup_rule_name: str | None = None
    provider: Any = None

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 255:
            raise InvalidPropsError("name", self.name, "a dashboard name is 1 to 255 characters")


def _metric(namespace: str, name: str, dimensions: dict[str, str], **options: Any) -> list[Any]:
    row: list[Any] = [namespace, name]
    for key, value in dimensions.items():
        row += [key, value]
    return row + ([options] if options else [])


def _graph(
    title: str,
    region: str,
    metrics: list[list[Any]],
    *,
    stat: str = "Sum",
    lines: list[dict] | None = None,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "period": PERIOD_SECONDS,
        "stat": stat,
        "metrics": metrics,
    }
    if lines:
        properties["annotations"] = {"horizontal": lines}
    return {"type": "metric", "width": WIDTH, "height": HEIGHT, "properties": properties}


def _search(expression_id: str, label: str, schema: tuple[str, ...], metric: str, stat: str, where: dict[str, str]) -> list[Any]:
    """A SEARCH over one of the runtime's dimension sets: one line per route or outcome that occurred."""
    terms = " ".join(f'{key}="{value}"' for key, value in where.items())
    query = "{" + ",".join((contract.METRIC_NAMESPACE, *schema)) + "}" + f' MetricName="{metric}" {terms}'
    return [
        {
            "expression": f"SEARCH('{query}', '{stat}', {PERIOD_SECONDS})",
            "id": expression_id,
            **({"label": label} if label else {}),
        }
    ]


def dashboard_body(props: DashboardProps, region: str) -> dict[str, Any]:
    stage = {"ApiId": props.api_id, "Stage": props.stage}
    gw = "AWS/ApiGateway"
    widgets = [
        _graph("Connections and messages", region, [_metric(gw, "ConnectCount", stage), _metric(gw, "MessageCount", stage)]),
        _graph(
            "API Gateway errors",
            region,
            [
                _metric(gw, "IntegrationError", stage),
                _metric(gw, "ExecutionError", stage),
                _metric(gw, "ClientError", stage, label="ClientError (all routes)"),
                _metric(gw, "ClientError", {**stage, "Route": "$connect"}, label="ClientError on $connect"),
            ],
        ),
        _graph(
            "Integration latency (ms)",
            region,
            [_metric(gw, "IntegrationLatency", stage, stat="p50"), _metric(gw, "IntegrationLatency", stage, stat="p99")],
            stat="p99",
        ),
    ]
    if props.function_name:
        widgets += _function_widgets(props, region)
    if props.dead_letter_queue_name:
        widgets.append(
            _graph(
                "Dead-letter queue (should stay at 0)",
                region,
                [_metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": props.dead_letter_queue_name})],
                stat="Maximum",
                lines=[{"label": "any message needs attention", "value": 1}],
            )
        )
    if props.cleanup_rule_name:
        cleanup = [
            _metric("AWS/Events", "Invocations", {"RuleName": props.cleanup_rule_name}),
            _metric("AWS/Events", "FailedInvocations", {"RuleName": props.cleanup_rule_name}),
        ]
        if props.function_name:
            cleanup.append(_metric(contract.METRIC_NAMESPACE, contract.CLEANUP_FAILURES_METRIC, {}))
        widgets.append(_graph("Cleanup runs", region, cleanup))
    for index, widget in enumerate(widgets):
        widget["x"], widget["y"] = (index % 3) * WIDTH, (index // 3) * HEIGHT
    return {"widgets": widgets}


def _function_widgets(props: DashboardProps, region: str) -> list[dict[str, Any]]:
    fn = {"FunctionName": props.function_name or ""}
    own = {contract.DIMENSION_FUNCTION: props.function_name or ""}
    ns = contract.METRIC_NAMESPACE
    duration_lines = (
        [{"label": "timeout", "value": props.function_timeout_seconds * 1000}] if props.function_timeout_seconds else None
    )
    concurrency_lines = [{"label": "reserved", "value": props.reserved_concurrency}] if props.reserved_concurrency else None
    where = {contract.DIMENSION_FUNCTION: props.function_name or ""}
    route_outcome = (contract.DIMENSION_FUNCTION, contract.DIMENSION_ROUTE, contract.DIMENSION_OUTCOME)
    by_route = (contract.DIMENSION_FUNCTION, contract.DIMENSION_ROUTE)
    return [
        _graph(
            "Lambda invocations, errors, throttles",
            region,
            [
                _metric("AWS/Lambda", "Invocations", fn),
                _metric("AWS/Lambda", "Errors", fn),
                _metric("AWS/Lambda", "Throttles", fn),
            ],
        ),
        _graph(
            "Lambda duration (ms) against the timeout",
            region,
            [_metric("AWS/Lambda", "Duration", fn, stat="p99"), _metric("AWS/Lambda", "Duration", fn, stat="Maximum")],
            stat="Maximum",
            lines=duration_lines,
        ),
        _graph(
            "Concurrency against the reserved limit",
            region,
            [_metric("AWS/Lambda", "ConcurrentExecutions", fn)],
            stat="Maximum",
            lines=concurrency_lines,
        ),
        _graph(
            "Handler: requests and errors",
            region,
            [
                _metric(ns, Metric.REQUESTS, own),
                _metric(ns, Metric.SERVER_ERRORS, own, label="5xx answered"),
                _metric(ns, Metric.CLIENT_ERRORS, own, label="4xx answered"),
                _metric(ns, Metric.COLD_STARTS, own),
            ],
        ),
        _graph(
            "$connect outcomes (accepted, refused by reason)",
            region,
            [_search("connects", "", route_outcome, Metric.REQUESTS, "Sum", {**where, contract.DIMENSION_ROUTE: "$connect"})],
        ),
        _graph(
            "Message outcomes",
            region,
            [_search("messages", "", route_outcome, Metric.REQUESTS, "Sum", {**where, contract.DIMENSION_ROUTE: "$default"})],
        ),
        _graph(
            "Abuse: rate limited, closed for flooding",
            region,
            [_metric(ns, Metric.RATE_LIMITED, own), _metric(ns, Metric.CLOSED_FOR_FLOODING, own)],
        ),
        _graph(
            "Pushes: recipients, delivered, gone, failed",
            region,
            [
                _metric(ns, Metric.RECIPIENTS, own),
                _metric(ns, Metric.DELIVERED, own),
                _metric(ns, Metric.GONE, own),
                _metric(ns, Metric.FAILED, own),
            ],
        ),
        _graph(
            "Handler latency by route (ms, p99)",
            region,
            [_search("latency", "", by_route, Metric.LATENCY, "p99", where)],
            stat="p99",
        ),
    ]


class Dashboard(Construct):
    """``Dashboard(scope, "dashboard", DashboardProps(name="notifications", api_id=api.api.id, stage="prod"))``."""

    def __init__(self, scope: Construct, id_: str, props: DashboardProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        claim(self, "CloudWatch dashboard", props.name, prop="name", provider=props.provider)
        region = props.region or DataAwsRegion(self, "region").id  # the id of aws_region is its name
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=props.name, dashboard_body=json.dumps(dashboard_body(props, region))
        )
        use_provider(self, props.provider)
