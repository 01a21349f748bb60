"""The default stack: AWS provider, a relative local backend and the WebSocket API."""

from __future__ import annotations

from .cdk import AwsProvider, Construct, DataAwsLambdaFunction, LocalBackend, TerraformStack
from .stack_config import StackConfig
from .websocket_api import LambdaTarget, WebSocketApi, WebSocketApiProps


class WebSocketStack(TerraformStack):
    """One region's WebSocket API, bound to an existing backend Lambda."""

    def __init__(self, scope: Construct, config: StackConfig) -> None:
        super().__init__(scope, config.stack_name)
        self.config = config
        # A relative path: cdktf's default backend would write this machine's absolute path.
        LocalBackend(self, path=f"terraform.{config.stack_name}.tfstate")
        AwsProvider(self, "aws", region=config.region)

        invoke_arn = config.backend_invoke_arn
        if not invoke_arn:
            invoke_arn = DataAwsLambdaFunction(
                self, "backend_function", function_name=config.backend_function_name
            ).invoke_arn

        self.websocket = WebSocketApi(
            self,
            "websocket",
            WebSocketApiProps(
                name=config.api_name,
                backend=LambdaTarget(function_name=config.backend_function_name, invoke_arn=invoke_arn),
                stage_name=config.stage_name,
                logging_level=config.logging_level,
                log_retention_days=config.log_retention_days,
                tags=config.tags,
                backend_role_name=config.backend_role_name,
            ),
        )
