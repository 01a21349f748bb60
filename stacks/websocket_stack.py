"""The default stack: the complete WebSocket system, or the API bound to an existing backend.

Mode (b), the default: the backend Lambda built from this package (``make lambda``), its
``$connect`` authorizer, least-privilege role, secrets, scheduled cleanup and KMS-encrypted logs.
Mode (a), when ``backend_function_name`` is set: the API bound to that existing function,
as the Terraform module did.
"""

from __future__ import annotations

from pathlib import Path

from careconnect_ws_cdk.cdk import AwsProvider, Construct, LocalBackend, S3Backend, TerraformStack
from careconnect_ws_cdk.errors import InvalidPropsError
from careconnect_ws_cdk.lambda_artifact import DEFAULT_ARCHITECTURE, artifact_path
from careconnect_ws_cdk.websocket_api_props import CustomDomain
from careconnect_ws_cdk.websocket_system import (
    WebSocketSystemProps,
    add_system_outputs,
    build_system,
    existing_function_target,
)

from .stack_config import StackConfig


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
    "name": "api_name", "stage": "stage", "logging_level": "logging_level", "log_retention_days": "log_retention_days",
    "tags": "tags", "function_name": "lambda_function_name", "memory_mb": "lambda_memory_mb",
    "timeout_seconds": "lambda_timeout_seconds", "reserved_concurrency": "lambda_reserved_concurrency",
    "architecture": "lambda_architecture", "subnet_ids": "subnet_ids", "security_group_ids": "security_group_ids",
    "jwt_issuer": "jwt_issuer", "jwt_audience": "jwt_audience", "jwt_jwks_url": "jwt_jwks_url", "backend_role_name": "backend_role_name",
    "disable_execute_api_endpoint": "disable_execute_api_endpoint", "token_source": "token_source",
    "iam_connect": "iam_connect",
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
        self._backend(config)
        AwsProvider(self, "aws", region=config.region)
        if config.aws_provider_version:
            self.add_override("terraform.required_providers.aws.version", config.aws_provider_version)
        # The complete system, built straight into this stack (the same code as the WebSocketSystem
        # construct, which keeps this stack's Terraform addresses), with the module's outputs.
        parts = build_system(self, self._system_props(config))
        add_system_outputs(self, parts)
        self.websocket, self.function, self.key = parts.websocket, parts.function, parts.key

    def _system_props(self, config: StackConfig) -> WebSocketSystemProps:
        domain = None
        if config.domain_name or config.certificate_arn:
            if not (config.domain_name and config.certificate_arn):
                raise InvalidPropsError("domain_name" if not config.domain_name else "certificate_arn", None,
                                        "a custom domain needs both domain_name and certificate_arn")
            domain = CustomDomain(domain_name=config.domain_name, certificate_arn=config.certificate_arn,
                                  hosted_zone_id=config.hosted_zone_id)
        existing = None
        artifact = None
        if config.existing_backend:
            existing = existing_function_target(self, "backend_function", config.backend_function_name,
                                                config.backend_invoke_arn)
        else:
            path = Path(config.lambda_artifact) if config.lambda_artifact else artifact_path(
                config.lambda_architecture or DEFAULT_ARCHITECTURE)
            if not path.is_file():
                raise ArtifactMissing(path, config)
            artifact = str(path.resolve())
        return WebSocketSystemProps(
            name=config.api_name, stage=config.stage, tags=dict(config.tags),
            logging_level=config.logging_level, log_retention_days=config.log_retention_days,
            existing_function=existing, backend_role_name=config.backend_role_name,
            function_name=config.lambda_function_name, artifact_path=artifact,
            architecture=config.lambda_architecture, memory_mb=config.lambda_memory_mb,
            timeout_seconds=config.lambda_timeout_seconds, reserved_concurrency=config.lambda_reserved_concurrency,
            database_secret_arn=config.database_secret_arn, jwt_secret_arn=config.jwt_secret_arn,
            jwt_jwks_url=config.jwt_jwks_url, jwt_issuer=config.jwt_issuer, jwt_audience=config.jwt_audience,
            subnet_ids=config.subnet_ids, security_group_ids=config.security_group_ids,
            cleanup_schedule=config.cleanup_schedule, environment=dict(config.lambda_environment),
            snap_start=config.lambda_snap_start,
            authorizer=config.authorizer, token_source=config.token_source, iam_connect=config.iam_connect,
            alarm_topic_arn=config.alarm_topic_arn, dashboard=config.dashboard, domain=domain,
            disable_execute_api_endpoint=config.disable_execute_api_endpoint,
            manage_account_cloudwatch_role=config.manage_account_cloudwatch_role,
        )

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
