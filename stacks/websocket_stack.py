"""The default stack: the complete WebSocket system, or the API bound to an existing backend.

Mode (b), the default: the backend Lambda built from this package (``make lambda``), its
``$connect`` authorizer, least-privilege role, secrets, scheduled cleanup and KMS-encrypted logs.
Mode (a), when ``backend_function_name`` is set: the API bound to that existing function,
as the Terraform module did.
"""

from __future__ import annotations

from pathlib import Path

from careconnect_ws_cdk.cdk import AwsProvider, Construct, LocalBackend, S3Backend, TerraformStack
from careconnect_ws_cdk.custom_domain import CustomDomain
from careconnect_ws_cdk.errors import InvalidPropsError
from careconnect_ws_cdk.lambda_artifact import DEFAULT_ARCHITECTURE, artifact_path
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
        if config.artifact_path:
            # A path the user chose: nothing to build, just not there.
            super().__init__(config.source_of("artifact_path"), str(shown), "no such file: give the path of a Lambda zip")
            return
        arch = config.architecture or DEFAULT_ARCHITECTURE
        super().__init__(
            "artifact_path",
            str(shown),
            f"the Lambda zip is not built: run `make lambda LAMBDA_ARCH={arch}` (python -m stacks.lambda_artifact "
            f"--arch {arch}), or set CARECONNECT_WS_BACKEND_FUNCTION_NAME to bind an existing function",
        )


def _as_option_error(err: InvalidPropsError, config: StackConfig) -> InvalidPropsError:
    """A construct's error about a prop, reported as the option the user set (options are named as the props)."""
    option = config.option_for_prop(err.prop)
    if option is None or option not in config.sources:
        return err
    suffix = "" if option == err.prop else f" (the construct prop {err.prop})"
    return InvalidPropsError(config.sources[option], err.value, err.rule + suffix)


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
        """The options are the props (same names); only the composite props and the zip's default path are built."""
        values = config.system_prop_values()
        values["connect_authorization"] = config.connect_authorization()
        domain = config.composite_prop_values("domain")
        if domain:
            if not (config.domain_name and config.certificate_arn):
                missing = "domain_name" if not config.domain_name else "certificate_arn"
                raise InvalidPropsError(
                    config.source_of(missing), None, "a custom domain needs both domain_name and certificate_arn"
                )
            values["domain"] = CustomDomain(**domain)
        if config.existing_backend:
            values["existing_function"] = existing_function_target(
                self, "backend_function", **config.composite_prop_values("existing_function")
            )
        else:
            path = (
                Path(config.artifact_path) if config.artifact_path else artifact_path(config.architecture or DEFAULT_ARCHITECTURE)
            )
            if not path.is_file():
                raise ArtifactMissing(path, config)
            values["artifact_path"] = str(path.resolve())
        return WebSocketSystemProps(**values)

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
