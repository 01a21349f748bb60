"""The scheduled cleanup: an EventBridge rule that invokes the system's function, with retries and its own
invoke permission (``$disconnect`` is best effort, so expired and idle connections are swept on a schedule)."""

from __future__ import annotations

import json
from typing import Any

from careconnect_ws import contract

from .backend_function import BackendFunction
from .cdk import CloudwatchEventRule, CloudwatchEventTarget, Construct, LambdaPermission
from .physical_names import claim
from .provider import use_provider


def add_cleanup_schedule(
    scope: Construct, *, name: str, schedule: str, function: BackendFunction, tags: dict[str, str], provider: Any
) -> str:
    """The rule ``{name}-cleanup`` on ``schedule``, created in ``scope`` (its Terraform addresses are the caller's);
    returns the rule's name (the alarms and the dashboard watch it)."""
    claim(scope, "EventBridge rule", f"{name}-cleanup", prop="name", value=name, provider=provider)
    rule = CloudwatchEventRule(
        scope,
        "cleanup_schedule",
        name=f"{name}-cleanup",
        description="Deactivates expired and idle WebSocket connections ($disconnect is best effort)",
        schedule_expression=schedule,
        tags=tags,
    )
    target = CloudwatchEventTarget(
        scope,
        "cleanup_target",
        rule=rule.name,
        arn=function.arn,
        input=json.dumps(contract.CLEANUP_EVENT),
        retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 600},
    )
    permission = LambdaPermission(
        scope,
        "cleanup_permission",
        action="lambda:InvokeFunction",
        function_name=function.function.function_name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,
        **function.target.permission_qualifier,
    )
    for resource in (rule, target, permission):
        use_provider(resource, provider)
    return rule.name
