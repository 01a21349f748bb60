"""Opt-in CloudWatch alarms, all notifying one SNS topic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from careconnect_ws import contract

from .cdk import CloudwatchLogMetricFilter, CloudwatchMetricAlarm, Construct

METRIC_NAMESPACE = "CareConnectWs"


@dataclass(frozen=True, kw_only=True)
class AlarmThresholds:
    """Per 5-minute period. Defaults: any integration or Lambda error, 50 refused connects."""

    integration_errors: int = 1
    execution_errors: int = 1
    connect_client_errors: int = 50
    lambda_errors: int = 1
    lambda_throttles: int = 1
    cleanup_failures: int = 1


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        topic_arn: str,
        api_id: str,
        stage: str,
        function_name: str | None = None,
        function_log_group_name: str | None = None,
        cleanup_rule_name: str | None = None,
        thresholds: AlarmThresholds = AlarmThresholds(),
        tags: Mapping[str, str] = {},
    ) -> None:
        super().__init__(scope, id_)
        self.name = name
        self.topic_arn = topic_arn
        self.tags = dict(tags)
        stage_dims = {"ApiId": api_id, "Stage": stage}
        self.alarm("integration_errors", "AWS/ApiGateway", "IntegrationError", stage_dims, thresholds.integration_errors,
                   "The backend Lambda failed or answered 5xx to API Gateway")
        self.alarm("execution_errors", "AWS/ApiGateway", "ExecutionError", stage_dims, thresholds.execution_errors,
                   "API Gateway failed to run a route (5xx on the stage)")
        self.alarm("connect_client_errors", "AWS/ApiGateway", "ClientError", {**stage_dims, "Route": "$connect"},
                   thresholds.connect_client_errors,
                   "Many refused or throttled connects (4xx on $connect: 401/403 tokens, 429 throttling)")
        if function_name:
            fn = {"FunctionName": function_name}
            self.alarm("lambda_errors", "AWS/Lambda", "Errors", fn, thresholds.lambda_errors, "The backend Lambda raised")
            self.alarm("lambda_throttles", "AWS/Lambda", "Throttles", fn, thresholds.lambda_throttles,
                       "The backend Lambda was throttled (reserved concurrency or account limit)")
        if function_log_group_name:
            # The handler logs one JSON line per invocation; a cleanup that did not answer 200 failed.
            CloudwatchLogMetricFilter(
                self,
                "cleanup_failure_filter",
                name=f"{name}-cleanup-failures",
                log_group_name=function_log_group_name,
                pattern=contract.failed_command_filter(contract.CLEANUP_COMMAND),
                metric_transformation={"name": "CleanupFailures", "namespace": METRIC_NAMESPACE, "value": "1",
                                       "default_value": "0"},
            )
            self.alarm("cleanup_failures", METRIC_NAMESPACE, "CleanupFailures", {}, thresholds.cleanup_failures,
                       "The scheduled connection cleanup failed")
        if cleanup_rule_name:
            self.alarm("cleanup_invocation_failures", "AWS/Events", "FailedInvocations", {"RuleName": cleanup_rule_name},
                       1, "EventBridge could not invoke the cleanup")

    def alarm(self, id_: str, namespace: str, metric: str, dimensions: Mapping[str, str], threshold: int, description: str) -> CloudwatchMetricAlarm:
        return CloudwatchMetricAlarm(
            self,
            id_,
            alarm_name=f"{self.name}-{id_.replace('_', '-')}",
            alarm_description=description,
            namespace=namespace,
            metric_name=metric,
            dimensions=dict(dimensions) or None,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=threshold,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[self.topic_arn],
            ok_actions=[self.topic_arn],
            tags=self.tags,
        )
