"""Infra fixtures: every stack is synthesized once per test session (each jsii import costs ~10 s)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.stack_config import StackConfig


class Synth:
    """A synthesized stack with small lookup helpers for property checks."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.doc: dict[str, Any] = json.loads(raw)

    def resources(self, rtype: str) -> dict[str, dict[str, Any]]:
        return self.doc.get("resource", {}).get(rtype, {})

    def data(self, dtype: str) -> dict[str, dict[str, Any]]:
        return self.doc.get("data", {}).get(dtype, {})

    def one(self, rtype: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(rtype)
        assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
        return next(iter(found.items()))

    def ref(self, rtype: str, name: str, attr: str) -> str:
        return f"${{{rtype}.{name}.{attr}}}"

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("output", {})


def synth_stack(build) -> Synth:
    from stacks.cdk import Testing

    app = Testing.app()
    stack = build(app)
    return Synth(Testing.synth(stack))


@pytest.fixture(scope="session")
def default_synth() -> Synth:
    """The default stack exactly as main.py builds it with no configuration."""
    from stacks.websocket_stack import WebSocketStack

    return synth_stack(lambda app: WebSocketStack(app, StackConfig()))


@pytest.fixture(scope="session")
def three_function_synth() -> Synth:
    """A second stack that imports the construct and gives each route its own function."""
    from stacks.cdk import AwsProvider, TerraformStack
    from stacks.websocket_api import LambdaTarget, WebSocketApi, WebSocketApiProps

    def build(app):
        stack = TerraformStack(app, "consumer")
        AwsProvider(stack, "aws", region="eu-west-1")
        WebSocketApi(
            stack,
            "ws",
            WebSocketApiProps(
                name="three-functions",
                connect=LambdaTarget(function_name="on-connect", invoke_arn="arn:connect/invocations"),
                disconnect=LambdaTarget(function_name="on-disconnect", invoke_arn="arn:disconnect/invocations"),
                default=LambdaTarget(function_name="on-default", invoke_arn="arn:default/invocations"),
                stage_name="staging",
                log_kms_key_arn="arn:aws:kms:eu-west-1:111122223333:key/abc",
                backend_role_name="backend-role",
                tags={"Team": "care"},
            ),
        )
        return stack

    return synth_stack(build)
