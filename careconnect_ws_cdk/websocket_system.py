"""The complete system as one construct: the WebSocket API and everything behind it.

    from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps
    WebSocketSystem(stack, "notifications", WebSocketSystemProps(artifact_path="dist/lambda/careconnect-ws-lambda-arm64.zip"))

Its props are in :mod:`~careconnect_ws_cdk.websocket_system_props`, the scheduled cleanup in
:mod:`~careconnect_ws_cdk.cleanup_schedule`. Mode (b), the default: the backend Lambda built from this package, its ``$connect`` authorizer, a
least-privilege role, two Secrets Manager containers, the cleanup schedule and a KMS key for logs,
environment, secrets and dead letters. Mode (a), with ``existing_function``: the API bound to a
function you already run. Optionally alarms, a custom domain and the account's API Gateway role.

It owns no provider and no backend and creates no root outputs unless asked (``add_outputs()``), so
any stack can embed it with its own provider (``provider=``) and state. The default app
(``stacks/websocket_stack.py``) builds the same thing straight into its stack with
:func:`build_system`, which keeps its Terraform addresses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import defaults
from .account_logging_role import AccountLoggingRole, AccountLoggingRoleProps
from .alarms import Alarms, AlarmsProps, AlarmThresholds
from .backend_function import BackendFunction, BackendFunctionProps
from .cdk import Construct, DataAwsLambdaFunction, SecretsmanagerSecret, TerraformOutput
from .cleanup_schedule import add_cleanup_schedule
from .connect_authorization import IamAuthorization, TokenAuthorizer
from .dashboard import Dashboard, DashboardProps
from .errors import InvalidPropsError
from .lambda_target import LambdaTarget
from .log_encryption_key import LogEncryptionKey, LogEncryptionKeyProps
from .outputs import root_outputs
from .physical_names import claim
from .provider import use_provider
from .websocket_api import WebSocketApi
from .websocket_api_props import WebSocketApiProps
from .websocket_stage import access_log_group_name, execution_log_group_name
from .websocket_system_props import DEFAULT_CLEANUP_SCHEDULE, WebSocketSystemProps, resolved_connect_authorization

__all__ = [
    "DEFAULT_CLEANUP_SCHEDULE",
    "SystemParts",
    "WebSocketSystem",
    "WebSocketSystemProps",
    "add_system_outputs",
    "build_system",
    "existing_function_target",
]


def _given(**values: Any) -> dict[str, Any]:
    """Only the values that were set: the props classes own the defaults."""
    return {k: v for k, v in values.items() if v is not None}


@dataclass
class SystemParts:
    websocket: WebSocketApi
    function: BackendFunction | None = None
    key: LogEncryptionKey | None = None
    cleanup_rule_name: str | None = None
    dashboard: Dashboard | None = None
    database_secret_arn: str | None = None
    jwt_secret_arn: str | None = None


def build_system(scope: Construct, props: WebSocketSystemProps) -> SystemParts:
    """Create the system's resources in ``scope`` (a stack or a construct)."""
    tags = dict(props.tags)
    # Its key alias, secrets, schedule, alarms and dashboard derive from name (and stage): one system per name.
    claim(scope, "system's names", f"{props.name}-{props.stage}", prop="name", value=props.name, provider=props.provider)
    parts = SystemParts(websocket=None)  # type: ignore[arg-type]
    if props.existing_function is not None:
        target, role_name, key_arn = props.existing_function, props.backend_role_name, None
    else:
        target, role_name, key_arn = _own_backend(scope, props, tags, parts)
    authorization = resolved_connect_authorization(props)
    if isinstance(authorization, TokenAuthorizer) and authorization.function is None:
        authorization = replace(authorization, function=target)  # the system's function is its own authorizer

    parts.websocket = WebSocketApi(
        scope,
        "websocket",
        WebSocketApiProps(
            name=props.name,
            backend=target,
            connect_authorization=authorization,
            stage=props.stage,
            log_kms_key_arn=key_arn,
            domain=props.domain,
            disable_execute_api_endpoint=props.disable_execute_api_endpoint,
            tags=tags,
            provider=props.provider,
            **_given(logging_level=props.logging_level, log_retention_days=props.log_retention_days),
        ),
    )
    if parts.key is not None:
        # Exactly this API's execution log group, not API-Gateway-Execution-Logs_* of every API in the account.
        parts.key.allow_log_groups(execution_log_group_name(parts.websocket.api.id, props.stage))
    if role_name:
        # The backend may send to, read and close this stage's connections (the one way to grant it).
        parts.websocket.grant_manage_connections(role_name, id_="backend_manage_connections")
    if props.outputs:  # deprecated: add_outputs()
        add_system_outputs(scope, parts)

    if parts.function is not None and props.cleanup_schedule:
        parts.cleanup_rule_name = add_cleanup_schedule(
            scope, name=props.name, schedule=props.cleanup_schedule, function=parts.function, tags=tags, provider=props.provider
        )
    own = parts.function.props if parts.function else None
    # The name as written, not a reference: it is what the runtime's metrics carry as functionName.
    function_name = own.function_name if own else target.function_name
    dead_letters = parts.function.dead_letter_queue.name if parts.function else None
    if props.alarm_topic_arn:
        Alarms(
            scope,
            "alarms",
            AlarmsProps(
                name=props.name,
                topic_arn=props.alarm_topic_arn,
                api_id=parts.websocket.api.id,
                stage=props.stage,
                function_name=function_name,
                function_log_group_name=parts.function.log_group.name if parts.function else None,
                function_timeout_seconds=own.timeout_seconds if own else None,
                reserved_concurrency=own.reserved_limit if own else None,
                dead_letter_queue_name=dead_letters,
                cleanup_rule_name=parts.cleanup_rule_name,
                thresholds=props.alarm_thresholds or AlarmThresholds(),
                tags=tags,
                provider=props.provider,
            ),
        )
    if props.dashboard:
        parts.dashboard = Dashboard(
            scope,
            "dashboard",
            DashboardProps(
                name=f"{props.name}-{props.stage}",
                api_id=parts.websocket.api.id,
                stage=props.stage,
                function_name=function_name,
                function_timeout_seconds=own.timeout_seconds if own else None,
                reserved_concurrency=own.reserved_limit if own else None,
                dead_letter_queue_name=dead_letters,
                cleanup_rule_name=parts.cleanup_rule_name,
                provider=props.provider,
            ),
        )
    if props.manage_account_cloudwatch_role:
        AccountLoggingRole(
            scope,
            "account_logging",
            AccountLoggingRoleProps(name=f"{props.name}-apigateway-cloudwatch", tags=tags, provider=props.provider),
        )
    # Each construct above puts its resources on props.provider itself (as any user's composition would), and
    # so does this function, resource by resource: no sweep of the caller's scope (tests/infra check every address).
    return parts


def _own_backend(scope: Construct, props: WebSocketSystemProps, tags: dict, parts: SystemParts) -> tuple[LambdaTarget, str, str]:
    if not props.artifact_path:
        raise InvalidPropsError(
            "artifact_path",
            props.artifact_path,
            "mode (b) deploys the Lambda zip: build it with python -m careconnect_ws_cdk.lambda_artifact, "
            "or give existing_function",
        )
    # Absolute: cdktf resolves a relative asset path against the directory of cdktf.json, which an app
    # run as `python main.py` from elsewhere may not have.
    artifact = Path(props.artifact_path).resolve()
    if not artifact.is_file():
        raise InvalidPropsError(
            "artifact_path", props.artifact_path, "no such file: build it with python -m careconnect_ws_cdk.lambda_artifact"
        )
    function_name = props.function_name or defaults.function_name(props.name)
    function_log_group = f"/aws/lambda/{function_name}"
    key = parts.key = LogEncryptionKey(
        scope,
        "key",
        LogEncryptionKeyProps(
            alias=f"{props.name}-{props.stage}",
            # The execution log group's name carries the API's id: added once the API exists.
            log_group_names=(access_log_group_name(props.name, props.stage), function_log_group),
            tags=tags,
            provider=props.provider,
        ),
    )
    database_secret_arn = props.database_secret_arn or _secret(
        scope,
        "database_url",
        f"{props.name}/database-url",
        key.arn,
        "PostgreSQL URL or RDS-style JSON for careconnect-ws (set the value outside Terraform)",
        tags,
        props.provider,
    )
    no_token_key = props.jwt_public_key or props.jwt_jwks_url or isinstance(props.connect_authorization, IamAuthorization)
    jwt_secret_arn = props.jwt_secret_arn or (
        None
        if no_token_key
        else _secret(
            scope,
            "jwt_secret",
            f"{props.name}/jwt-secret",
            key.arn,
            "HS256 key (32+ bytes) for careconnect-ws connection tokens (set the value outside Terraform)",
            tags,
            props.provider,
        )
    )
    function = parts.function = BackendFunction(
        scope,
        "backend_lambda",
        BackendFunctionProps(
            function_name=function_name,
            artifact_path=str(artifact),
            kms_key_arn=key.arn,
            database_secret_arn=database_secret_arn,
            jwt_secret_arn=jwt_secret_arn,
            jwt_public_key=props.jwt_public_key,
            jwt_jwks_url=props.jwt_jwks_url,
            jwt_issuer=props.jwt_issuer,
            jwt_audience=props.jwt_audience,
            subnet_ids=props.subnet_ids,
            security_group_ids=props.security_group_ids,
            environment={**props.function_environment, **resolved_connect_authorization(props).runtime_environment()},
            extensions=tuple(props.extensions),
            topics=tuple(props.topics),
            tags=tags,
            provider=props.provider,
            **_given(
                architecture=props.architecture,
                memory_mb=props.memory_mb,
                timeout_seconds=props.timeout_seconds,
                log_retention_days=props.log_retention_days,
                snap_start=props.snap_start,
            ),
            **_given(reserved_concurrency=props.reserved_concurrency),
        ),
    )
    parts.database_secret_arn, parts.jwt_secret_arn = database_secret_arn, jwt_secret_arn
    return function.target, function.role.name, key.arn


def add_system_outputs(scope: Construct, parts: SystemParts, prefix: str = "") -> dict[str, TerraformOutput]:
    """The Terraform module's outputs (the API's) and, in mode (b), where to put the secrets' values: each named
    ``{prefix}{name}`` exactly, returned by ``name``."""
    outputs = parts.websocket.add_outputs(prefix)
    if parts.function is not None:
        own = {
            "backend_function_name": (parts.function.function.function_name, "The backend Lambda built from this package"),
            "database_secret_arn": (
                parts.database_secret_arn,
                "Put the database URL here: aws secretsmanager put-secret-value --secret-id <arn> --secret-string ...",
            ),
        }
        if parts.jwt_secret_arn:
            own["jwt_secret_arn"] = (parts.jwt_secret_arn, "Put the HS256 token key (32+ bytes) here")
        outputs.update(root_outputs(scope, prefix, own))
    return outputs


def _secret(scope: Construct, id_: str, name: str, key_arn: str, description: str, tags: dict, provider: Any) -> str:
    # Only the container: its value is set out of band, so it never enters Terraform state.
    claim(scope, "Secrets Manager secret", name, prop="name", provider=provider)
    secret = SecretsmanagerSecret(
        scope, id_, name=name, description=description, kms_key_id=key_arn, recovery_window_in_days=7, tags=tags
    )
    use_provider(secret, provider)
    return secret.arn


class WebSocketSystem(Construct):
    """The complete system in its own construct: embed it in any stack, with any provider."""

    def __init__(self, scope: Construct, id_: str, props: WebSocketSystemProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        parts = build_system(self, props)
        self.websocket = parts.websocket
        self.function = parts.function
        self.key = parts.key
        self.dashboard = parts.dashboard
        self._parts = parts

    def add_outputs(self, prefix: str = "") -> dict[str, TerraformOutput]:
        """Root outputs: the Terraform module's four (the API's) and, when this construct built the function, its
        name and the secrets to fill. ``prefix`` keeps two systems in one stack apart."""
        return add_system_outputs(self, self._parts, prefix)


def existing_function_target(
    scope: Construct, id_: str, function_name: str, invoke_arn: str | None = None, provider: Any = None
) -> LambdaTarget:
    """Mode (a)'s target: the function's invoke ARN given, or read with an ``aws_lambda_function`` data source."""
    if invoke_arn is None:
        function = DataAwsLambdaFunction(scope, id_, function_name=function_name)
        use_provider(function, provider)
        invoke_arn = function.invoke_arn
    return LambdaTarget(function_name=function_name, invoke_arn=invoke_arn)
