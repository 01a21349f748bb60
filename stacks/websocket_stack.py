"""The default stack: the complete WebSocket system, or the API bound to an existing backend.

Mode (b), the default: the backend Lambda built from this package (``make lambda``), its
``$connect`` authorizer, least-privilege role, secrets, scheduled cleanup and KMS-encrypted logs.
Mode (a), when ``backend_function_name`` is set: the API bound to that existing function,
as the Terraform module did.
"""

from __future__ import annotations

import json
from pathlib import Path

from careconnect_ws import contract
from careconnect_ws_cdk.account_logging_role import AccountLoggingRole
from careconnect_ws_cdk.alarms import Alarms
from careconnect_ws_cdk.backend_function import BackendFunction, BackendFunctionProps
from careconnect_ws_cdk.cdk import (
    AwsProvider,
    CloudwatchEventRule,
    CloudwatchEventTarget,
    Construct,
    DataAwsLambdaFunction,
    LambdaPermission,
    LocalBackend,
    S3Backend,
    SecretsmanagerSecret,
    TerraformOutput,
    TerraformStack,
)
from careconnect_ws_cdk.errors import InvalidPropsError
from careconnect_ws_cdk.lambda_artifact import DEFAULT_ARCHITECTURE, artifact_path
from careconnect_ws_cdk.log_encryption_key import LogEncryptionKey
from careconnect_ws_cdk.websocket_api import (
    LambdaTarget,
    WebSocketApi,
    WebSocketApiProps,
    access_log_group_name,
    execution_log_group_name,
)
from careconnect_ws_cdk.websocket_api_props import CustomDomain

from .stack_config import StackConfig

CLEANUP_EVENT = contract.CLEANUP_EVENT


def _given(**values):
    """Only the values the configuration set: the props classes own the defaults."""
    return {k: v for k, v in values.items() if v is not None}


class ArtifactMissing(InvalidPropsError):
    def __init__(self, path: Path, config: StackConfig) -> None:
        shown = path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path
        if config.lambda_artifact:
            # A path the user chose: nothing to build, just not there.
            super().__init__(config.source_of("lambda_artifact"), str(shown), "no such file: give the path of a Lambda zip")
            return
        arch = config.lambda_architecture or DEFAULT_ARCHITECTURE
        super().__init__(
            "lambda_artifact", str(shown),
            f"the Lambda zip is not built: run `make lambda LAMBDA_ARCH={arch}` (python -m stacks.lambda_artifact "
            f"--arch {arch}), or set CARECONNECT_WS_BACKEND_FUNCTION_NAME to bind an existing function",
        )


# Construct props and the stack option that sets each: an invalid prop is reported as the option the user set.
PROP_OPTIONS = {
    "name": "api_name", "stage_name": "stage", "logging_level": "logging_level", "log_retention_days": "log_retention_days",
    "tags": "tags", "function_name": "lambda_function_name", "memory_mb": "lambda_memory_mb",
    "timeout_seconds": "lambda_timeout_seconds", "reserved_concurrency": "lambda_reserved_concurrency",
    "architecture": "lambda_architecture", "subnet_ids": "subnet_ids", "security_group_ids": "security_group_ids",
    "jwt_issuer": "jwt_issuer", "jwt_audience": "jwt_audience", "backend_role_name": "backend_role_name",
}


def _as_option_error(err: InvalidPropsError, config: StackConfig) -> InvalidPropsError:
    option = PROP_OPTIONS.get(err.prop)
    if option is None or option not in config.sources:
        return err
    return InvalidPropsError(config.sources[option], err.value, f"{err.rule} (the construct prop {err.prop})")


class WebSocketStack(TerraformStack):
    def __init__(self, scope: Construct, config: StackConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        try:
            self._build(config)
        except InvalidPropsError as err:
            raise _as_option_error(err, config) from None

    def _build(self, config: StackConfig) -> None:
        tags = dict(config.tags)
        self._backend(config)
        AwsProvider(self, "aws", region=config.region)
        if config.aws_provider_version:
            self.add_override("terraform.required_providers.aws.version", config.aws_provider_version)

        domain = None
        if config.domain_name or config.certificate_arn:
            if not (config.domain_name and config.certificate_arn):
                raise InvalidPropsError("domain_name" if not config.domain_name else "certificate_arn", None,
                                        "a custom domain needs both domain_name and certificate_arn")
            domain = CustomDomain(domain_name=config.domain_name, certificate_arn=config.certificate_arn,
                                  hosted_zone_id=config.hosted_zone_id)

        self.function: BackendFunction | None = None
        self.key: LogEncryptionKey | None = None
        if config.existing_backend:
            target, role_name, key_arn = self._existing_backend(config), config.backend_role_name, None
        else:
            target, role_name, key_arn = self._own_backend(config, tags)

        self.websocket = WebSocketApi(
            self,
            "websocket",
            WebSocketApiProps(
                name=config.api_name,
                backend=target,
                connect_authorizer=target if config.authorizer_enabled else None,
                stage_name=config.stage,
                log_kms_key_arn=key_arn,
                domain=domain,
                tags=tags,
                backend_role_name=role_name,
                **_given(logging_level=config.logging_level, log_retention_days=config.log_retention_days),
            ),
        )
        if self.key is not None:
            # Exactly this API's execution log group, not API-Gateway-Execution-Logs_* of every API in the account.
            self.key.allow_log_groups(execution_log_group_name(self.websocket.api.id, config.stage))
        # The Terraform module's four outputs (and the policy), under its names: the app's, not the construct's.
        self.websocket.add_outputs()

        rule_name = None
        if self.function is not None and config.cleanup_schedule:
            rule_name = self._cleanup_schedule(config, tags)
        if config.alarm_topic_arn:
            Alarms(
                self,
                "alarms",
                name=config.api_name,
                topic_arn=config.alarm_topic_arn,
                api_id=self.websocket.api.id,
                stage=config.stage,
                function_name=self.function.function.function_name if self.function else config.backend_function_name,
                function_log_group_name=self.function.log_group.name if self.function else None,
                cleanup_rule_name=rule_name,
                tags=tags,
            )
        if config.manage_account_cloudwatch_role:
            AccountLoggingRole(self, "account_logging", name=f"{config.api_name}-apigateway-cloudwatch", tags=tags)

    # -- pieces -------------------------------------------------------------------------------

    def _backend(self, config: StackConfig) -> None:
        if config.state_bucket:
            backend = S3Backend(
                self,
                bucket=config.state_bucket,
                key=config.state_key or f"careconnect-ws/{config.stack_name}.tfstate",
                region=config.state_region or config.region,
                encrypt=True,
                dynamodb_table=config.state_lock_table,
            )
            if not config.state_lock_table:
                # S3 native locking (Terraform 1.10+); DynamoDB locking is deprecated upstream.
                backend.add_override("use_lockfile", True)
        else:
            # A relative path: cdktf's default backend would write this machine's absolute path.
            LocalBackend(self, path=f"terraform.{config.stack_name}.tfstate")

    def _existing_backend(self, config: StackConfig) -> LambdaTarget:
        invoke_arn = config.backend_invoke_arn or DataAwsLambdaFunction(
            self, "backend_function", function_name=config.backend_function_name
        ).invoke_arn
        return LambdaTarget(function_name=config.backend_function_name, invoke_arn=invoke_arn)

    def _own_backend(self, config: StackConfig, tags: dict) -> tuple[LambdaTarget, str, str]:
        path = Path(config.lambda_artifact) if config.lambda_artifact else artifact_path(
            config.lambda_architecture or DEFAULT_ARCHITECTURE)
        if not path.is_file():
            raise ArtifactMissing(path, config)
        function_log_group = f"/aws/lambda/{config.lambda_function_name}"
        key = self.key = LogEncryptionKey(
            self,
            "key",
            alias=f"{config.api_name}-{config.stage}",
            # The execution log group's name carries the API's id: added once the API exists (below).
            log_group_names=[access_log_group_name(config.api_name, config.stage), function_log_group],
            tags=tags,
        )
        database_secret_arn = config.database_secret_arn or self._secret(
            "database_url", f"{config.api_name}/database-url", key.arn,
            "PostgreSQL URL or RDS-style JSON for careconnect-ws (set the value outside Terraform)", tags)
        jwt_secret_arn = config.jwt_secret_arn or self._secret(
            "jwt_secret", f"{config.api_name}/jwt-secret", key.arn,
            "HS256 key (32+ bytes) for careconnect-ws connection tokens (set the value outside Terraform)", tags)
        self.function = BackendFunction(
            self,
            "backend_lambda",
            BackendFunctionProps(
                function_name=config.lambda_function_name,
                artifact_path=str(path.resolve()),
                kms_key_arn=key.arn,
                database_secret_arn=database_secret_arn,
                jwt_secret_arn=jwt_secret_arn,
                jwt_issuer=config.jwt_issuer,
                jwt_audience=config.jwt_audience,
                subnet_ids=config.subnet_ids,
                security_group_ids=config.security_group_ids,
                tags=tags,
                **_given(
                    architecture=config.lambda_architecture,
                    memory_mb=config.lambda_memory_mb,
                    timeout_seconds=config.lambda_timeout_seconds,
                    log_retention_days=config.log_retention_days,
                ),
                **({} if config.lambda_reserved_concurrency is None else {
                    "reserved_concurrency": None if config.lambda_reserved_concurrency == "none"
                    else config.lambda_reserved_concurrency}),
            ),
        )
        TerraformOutput(self, "backend_function_name", value=self.function.function.function_name,
                        description="The backend Lambda built from this package")
        TerraformOutput(self, "database_secret_arn", value=database_secret_arn,
                        description="Put the database URL here: aws secretsmanager put-secret-value --secret-id <arn> --secret-string ...")
        TerraformOutput(self, "jwt_secret_arn", value=jwt_secret_arn,
                        description="Put the HS256 token key (32+ bytes) here")
        return self.function.target, self.function.role.name, key.arn

    def _secret(self, id_: str, name: str, key_arn: str, description: str, tags: dict) -> str:
        # Only the container: its value is set out of band, so it never enters Terraform state.
        return SecretsmanagerSecret(self, id_, name=name, description=description, kms_key_id=key_arn,
                                    recovery_window_in_days=7, tags=tags).arn

    def _cleanup_schedule(self, config: StackConfig, tags: dict) -> str:
        assert self.function is not None
        rule = CloudwatchEventRule(
            self,
            "cleanup_schedule",
            name=f"{config.api_name}-cleanup",
            description="Deactivates expired and idle WebSocket connections ($disconnect is best effort)",
            schedule_expression=config.cleanup_schedule,
            tags=tags,
        )
        CloudwatchEventTarget(
            self,
            "cleanup_target",
            rule=rule.name,
            arn=self.function.arn,
            input=json.dumps(CLEANUP_EVENT),
            retry_policy={"maximum_retry_attempts": 2, "maximum_event_age_in_seconds": 600},
        )
        LambdaPermission(
            self,
            "cleanup_permission",
            action="lambda:InvokeFunction",
            function_name=self.function.function.function_name,
            principal="events.amazonaws.com",
            source_arn=rule.arn,
        )
        return rule.name
