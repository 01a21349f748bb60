"""Opt-in CloudWatch alarms, all notifying one SNS topic.

Each alarm watches a metric AWS really publishes (API Gateway, Lambda, SQS, EventBridge) or one the runtime
writes (namespace and names from :mod:`careconnect_ws.contract`, in each invocation's log line), with a
threshold that is a prop with its default stated once, in :class:`AlarmThresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws import contract
from careconnect_ws.contract import Metric

from .cdk import (
    CloudwatchLogMetricFilter,
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
    Construct,
)
from .deprecations import replaced
from .errors import InvalidPropsError
from .physical_names import claim
from .provider import use_provider

METRIC_NAMESPACE = contract.METRIC_NAMESPACE
PERIOD_SECONDS = 300


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """Per 5-minute period unless stated. Defaults as shown."""

    integration_errors: int = 1
    """API Gateway could not get an answer from the backend (the Lambda failed or timed out)."""
    execution_errors: int = 1
    connect_client_errors: int = 50
    """Refused or throttled connects (4xx on ``$connect``)."""
    lambda_errors: int = 1
    lambda_throttles: int = 1
    cleanup_failures: int = 1
    server_error_percent: float = 5.0
    """Handled 5xx (``service_unavailable``, ``internal_error``, ``misconfigured``) as a share of the handler's
    requests, once there are at least ``server_error_min_requests`` of them in the period. Lambda's ``Errors``
    never sees these: to Lambda they are successful invocations."""
    server_error_min_requests: int = 20
    dead_letter_messages: int = 1
    """Events the function failed to handle asynchronously (a cleanup run, a direct invocation) wait in the queue."""
    duration_share_of_timeout: float = 0.8
    """The slowest invocation took this share of the function's timeout: timeouts are next."""
    concurrency_share_of_reserved: float = 0.8
    """Concurrent executions reached this share of the reserved concurrency: throttling is next."""


@dataclass(frozen=True, kw_only=True)
class AlarmsProps:
    """What the alarms watch. The API is required; each other part adds its alarms when given."""

    name: str
    """Prefix of the alarms' names. Required."""
    topic_arn: str
    """The SNS topic every alarm (and its return to OK) notifies. Required."""
    api_id: str
    stage: str
    function_name: str | None = None
    runs_careconnect_ws: bool = True
    """The function runs careconnect-ws's handler, which writes the ``CareConnectWs`` metrics: the handled-5xx-rate
    alarm watches them. False for a function of your own (that alarm could never fire). Default: true."""
    function_log_group_name: str | None = None
    """The function's log group: a metric filter counts failed cleanups in it."""
    function_timeout_seconds: int | None = None
    reserved_concurrency: int | None = None
    dead_letter_queue_name: str | None = None
    cleanup_rule_name: str | None = None
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    tags: Mapping[str, str] = field(default_factory=dict)
    provider: Any = None
    """The ``AwsProvider`` of the alarms (the metrics' region). Default: the stack's."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidPropsError("name", self.name, "the alarms need a name prefix")
        if not isinstance(self.topic_arn, str) or not self.topic_arn.startswith(("arn:", "${")):
            raise InvalidPropsError("topic_arn", self.topic_arn, "the SNS topic's ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)")
        if not isinstance(self.thresholds, AlarmThresholds):
            raise InvalidPropsError("thresholds", self.thresholds, "an AlarmThresholds")


class Alarms(Construct):
    def __init__(self, scope: Construct, id_: str, props: AlarmsProps | None = None, **legacy: Any) -> None:
        super().__init__(scope, id_)
        if props is None:  # the keyword arguments of 0.1
            replaced("Alarms", "name", "Alarms(scope, id, AlarmsProps(name=..., topic_arn=..., ...))")
            props = AlarmsProps(**legacy)
        self.props = props
        self.name = props.name
        self.topic_arn = props.topic_arn
        self.tags = dict(props.tags)
        self._add_alarms(props)
        use_provider(self, props.provider)

    def _add_alarms(self, props: AlarmsProps) -> None:
        name, api_id, stage, thresholds = props.name, props.api_id, props.stage, props.thresholds
        function_name, function_timeout_seconds = props.function_name, props.function_timeout_seconds
        stage_dims = {"ApiId": api_id, "Stage": stage}
        self.alarm(
            "integration_errors",
            "AWS/ApiGateway",
            "IntegrationError",
            stage_dims,
            thresholds.integration_errors,
            "The backend Lambda failed or answered 5xx to API Gateway",
        )
        self.alarm(
            "execution_errors",
            "AWS/ApiGateway",
            "ExecutionError",
            stage_dims,
            thresholds.execution_errors,
            "API Gateway failed to run a route (5xx on the stage)",
        )
        self.alarm(
            "connect_client_errors",
            "AWS/ApiGateway",
            "ClientError",
            {**stage_dims, "Route": "$connect"},
            thresholds.connect_client_errors,
            "Many refused or throttled connects (4xx on $connect: 401/403 tokens, 429 throttling)",
        )
        if function_name:
            fn = {"FunctionName": function_name}
            self.alarm("lambda_errors", "AWS/Lambda", "Errors", fn, thresholds.lambda_errors, "The backend Lambda raised")
            self.alarm(
                "lambda_throttles",
                "AWS/Lambda",
                "Throttles",
                fn,
                thresholds.lambda_throttles,
                "The backend Lambda was throttled (reserved concurrency or account limit)",
            )
            if props.runs_careconnect_ws:
                self._server_error_rate(function_name, thresholds)
            if function_timeout_seconds:
                self.alarm(
                    "duration_near_timeout",
                    "AWS/Lambda",
                    "Duration",
                    fn,
                    round(function_timeout_seconds * 1000 * thresholds.duration_share_of_timeout),
                    f"An invocation took {thresholds.duration_share_of_timeout:.0%} of the function's "
                    f"{function_timeout_seconds} s timeout (a slow database or @connections endpoint)",
                    statistic="Maximum",
                )
            if props.reserved_concurrency:
                self.alarm(
                    "concurrency_near_reserved",
                    "AWS/Lambda",
                    "ConcurrentExecutions",
                    fn,
                    max(1, int(props.reserved_concurrency * thresholds.concurrency_share_of_reserved)),
                    f"Concurrent executions reached {thresholds.concurrency_share_of_reserved:.0%} of the "
                    f"reserved {props.reserved_concurrency}: raise it before API Gateway's calls are throttled",
                    statistic="Maximum",
                )
        if props.dead_letter_queue_name:
            self.alarm(
                "dead_letters",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": props.dead_letter_queue_name},
                thresholds.dead_letter_messages,
                "Events the function could not handle wait in its dead-letter queue: inspect and redrive them",
                statistic="Maximum",
            )
        if props.function_log_group_name:
            # The handler logs one JSON line per invocation; a cleanup that did not answer 200 failed.
            CloudwatchLogMetricFilter(
                self,
                "cleanup_failure_filter",
                name=f"{name}-cleanup-failures",
                log_group_name=props.function_log_group_name,
                pattern=contract.failed_command_filter(contract.CLEANUP_COMMAND),
                metric_transformation={
                    "name": contract.CLEANUP_FAILURES_METRIC,
                    "namespace": METRIC_NAMESPACE,
                    "value": "1",
                    "default_value": "0",
                },
            )
            self.alarm(
                "cleanup_failures",
                METRIC_NAMESPACE,
                contract.CLEANUP_FAILURES_METRIC,
                {},
                thresholds.cleanup_failures,
                "The scheduled connection cleanup failed",
            )
        if props.cleanup_rule_name:
            self.alarm(
                "cleanup_invocation_failures",
                "AWS/Events",
                "FailedInvocations",
                {"RuleName": props.cleanup_rule_name},
                1,
                "EventBridge could not invoke the cleanup",
            )

    def _server_error_rate(self, function_name: str, thresholds: AlarmThresholds) -> CloudwatchMetricAlarm:
        """Handled 5xx as a percentage of requests, from the runtime's own metrics (metric math)."""

        def query(id_: str, metric: str) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(
                id=id_,
                return_data=False,
                metric=CloudwatchMetricAlarmMetricQueryMetric(
                    namespace=METRIC_NAMESPACE,
                    metric_name=metric,
                    period=PERIOD_SECONDS,
                    stat="Sum",
                    dimensions={contract.DIMENSION_FUNCTION: function_name},
                ),
            )

        return CloudwatchMetricAlarm(
            self,
            "server_error_rate",
            alarm_name=f"{self.name}-server-error-rate",
            alarm_description=f"More than {thresholds.server_error_percent}% of requests answered 5xx (the database or "
            "the identity provider unavailable, or an internal error): see the function's log lines "
            "with status >= 500",
            metric_query=[
                query("errors", Metric.SERVER_ERRORS),
                query("requests", Metric.REQUESTS),
                CloudwatchMetricAlarmMetricQuery(
                    id="rate",
                    label="Handled 5xx (%)",
                    return_data=True,
                    expression=f"IF(requests >= {thresholds.server_error_min_requests}, 100 * errors / requests, 0)",
                ),
            ],
            evaluation_periods=1,
            threshold=thresholds.server_error_percent,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            tags=self.tags,
        )

    def alarm(
        self,
        id_: str,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, str],
        threshold: float,
        description: str,
        *,
        statistic: str = "Sum",
    ) -> CloudwatchMetricAlarm:
        """One alarm on one metric, to the topic, named ``{name}-{id}`` (an alarm of your own beside these too)."""
        alarm_name = f"{self.name}-{id_.replace('_', '-')}"
        claim(self, "CloudWatch alarm", alarm_name, prop="name", value=self.name, provider=self.props.provider)
        alarm = CloudwatchMetricAlarm(
            self,
            id_,
            alarm_name=alarm_name,
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions) or None,
            statistic=statistic,
            period=PERIOD_SECONDS,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            tags=self.tags,
        )
        use_provider(alarm, self.props.provider)
        return alarm
