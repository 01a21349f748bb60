"""The WebSocket API's stage with its logs: auto-deployed, throttled, detailed metrics, access and execution logs
in two log groups with retention, encrypted with the given key or a key of their own."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .cdk import (
    Apigatewayv2Stage,
    Apigatewayv2StageAccessLogSettings,
    Apigatewayv2StageDefaultRouteSettings,
    CloudwatchLogGroup,
)
from .log_encryption_key import LogEncryptionKey, LogEncryptionKeyProps
from .websocket_api_props import WebSocketApiProps

#: One JSON object per request; ``$context`` variables of WebSocket APIs. No message bodies.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTimeEpoch",
        "connectionId": "$context.connectionId",
        "routeKey": "$context.routeKey",
        "eventType": "$context.eventType",
        "messageId": "$context.messageId",
        "status": "$context.status",
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integration.error",
        "integrationLatency": "$context.integration.latency",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
        "sourceIp": "$context.identity.sourceIp",
    },
    separators=(",", ":"),
)


def access_log_group_name(api_name: str, stage: str) -> str:
    """The access log group: one place for the name, which the key policy and the stack also use."""
    return f"/aws/apigateway/{api_name}/{stage}/access"


def execution_log_group_name(api_id: str, stage: str) -> str:
    """The group API Gateway writes execution logs to (its own naming): pre-created so it has retention and a key."""
    return f"API-Gateway-Execution-Logs_{api_id}/{stage}"


class WebSocketStage:
    """The stage and its two log groups (and their key, unless one is given), created in the API's construct so
    their Terraform addresses are the API's. ``depends_on``: the routes, which must exist before a deployment."""

    def __init__(self, scope: Any, api: Any, props: WebSocketApiProps, *, depends_on: Sequence[Any]) -> None:
        tags = dict(props.tags)
        # Both groups exist before the stage, so API Gateway never creates the execution group itself (it would,
        # with no expiry and no key).
        access_log_name = access_log_group_name(props.name, props.stage)
        execution_log_name = execution_log_group_name(api.id, props.stage)
        self.log_key: LogEncryptionKey | None = None
        kms_key_arn = props.log_kms_key_arn
        if kms_key_arn is None:
            self.log_key = LogEncryptionKey(
                scope,
                "log_key",
                LogEncryptionKeyProps(
                    alias=f"{props.name}-{props.stage}",
                    log_group_names=(access_log_name, execution_log_name),
                    tags=tags,
                    provider=props.provider,
                ),
            )
            kms_key_arn = self.log_key.arn
        self.access_log_group, self.execution_log_group = (
            CloudwatchLogGroup(
                scope, id_, name=name, retention_in_days=props.log_retention_days, kms_key_id=kms_key_arn, tags=tags
            )
            for id_, name in (("access_logs", access_log_name), ("execution_logs", execution_log_name))
        )
        self.stage = Apigatewayv2Stage(
            scope,
            "stage",
            api_id=api.id,
            name=props.stage,
            auto_deploy=True,
            default_route_settings=Apigatewayv2StageDefaultRouteSettings(
                throttling_rate_limit=props.throttling_rate_limit,
                throttling_burst_limit=props.throttling_burst_limit,
                detailed_metrics_enabled=props.detailed_metrics_enabled,
                logging_level=props.logging_level,
                data_trace_enabled=props.data_trace_enabled,
            ),
            access_log_settings=Apigatewayv2StageAccessLogSettings(
                destination_arn=self.access_log_group.arn,
                format=ACCESS_LOG_FORMAT,
            ),
            tags=tags,
            depends_on=[self.execution_log_group, *depends_on],
        )
