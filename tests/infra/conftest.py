"""Infra fixtures: every stack is synthesized once per test session (each jsii import costs ~10 s)."""

from __future__ import annotations

import pytest

from careconnect_ws_cdk.testing import SynthesizedStack, synthesize
from stacks.stack_config import StackConfig


def synth_stack(build) -> SynthesizedStack:
    """Build a stack in a test app and synthesize it, with the library's own testing helpers
    (careconnect_ws_cdk.testing), as a team using it would."""
    from careconnect_ws_cdk.cdk import Testing

    app = Testing.app()
    return synthesize(build(app))


@pytest.fixture(scope="session")
def fake_artifact(tmp_path_factory) -> str:
    """A small deterministic zip standing in for the Lambda artifact (the real build is tested on its own):
    same bytes every run, so the asset hash in the snapshot is stable."""
    import zipfile

    path = tmp_path_factory.mktemp("artifact") / "careconnect-ws-lambda-arm64.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("careconnect_ws/handler.py", (1980, 1, 1, 0, 0, 0)), "def lambda_handler(e, c): ...\n")
    return str(path)


@pytest.fixture(scope="session")
def default_synth(fake_artifact) -> SynthesizedStack:
    """The default stack as main.py builds it with no configuration: the complete system (mode b)."""
    from stacks.websocket_stack import WebSocketStack

    return synth_stack(lambda app: WebSocketStack(app, StackConfig(artifact_path=fake_artifact)))


@pytest.fixture(scope="session")
def existing_synth() -> SynthesizedStack:
    """Mode (a): the API bound to an existing backend function, as the Terraform module did."""
    from stacks.websocket_stack import WebSocketStack

    return synth_stack(
        lambda app: WebSocketStack(app, StackConfig(backend_function_name="cc-backend-main", log_retention_days=365))
    )


FULL_CONFIG = dict(
    stack_name="careconnect-ws-full",
    subnet_ids=("subnet-aaa", "subnet-bbb"),
    security_group_ids=("sg-123",),
    alarm_topic_arn="arn:aws:sns:us-east-1:111122223333:oncall",
    domain_name="ws.careconnect.example",
    certificate_arn="arn:aws:acm:us-east-1:111122223333:certificate/abc",
    hosted_zone_id="Z123EXAMPLE",
    manage_account_cloudwatch_role=True,
    state_bucket="careconnect-tfstate",
    jwt_issuer="https://idp.careconnect.example",
    jwt_audience="careconnect-ws",
    architecture="arm64",
    memory_mb=1024,
    aws_provider_version=">= 5.100, < 7",
)


@pytest.fixture(scope="session")
def full_synth(fake_artifact) -> SynthesizedStack:
    """Mode (b) with every option on."""
    from stacks.websocket_stack import WebSocketStack

    return synth_stack(lambda app: WebSocketStack(app, StackConfig(artifact_path=fake_artifact, **FULL_CONFIG)))


@pytest.fixture(scope="session")
def existing_full_synth() -> SynthesizedStack:
    """Mode (a) with its opt-ins: authorizer, alarms, custom domain without a zone, S3 state with a lock table."""
    from stacks.websocket_stack import WebSocketStack

    config = StackConfig(
        stack_name="careconnect-ws-existing",
        backend_function_name="cc-backend-main",
        backend_role_name="cc-backend-role",
        authorizer=True,
        alarm_topic_arn="arn:aws:sns:us-east-1:111122223333:oncall",
        domain_name="ws.careconnect.example",
        certificate_arn="arn:aws:acm:us-east-1:111122223333:certificate/abc",
        state_bucket="careconnect-tfstate",
        state_lock_table="tf-locks",
    )
    return synth_stack(lambda app: WebSocketStack(app, config))


@pytest.fixture(scope="session")
def three_function_synth() -> SynthesizedStack:
    """A second stack that imports the construct and gives each route its own function."""
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack
    from careconnect_ws_cdk.websocket_api import LambdaTarget, WebSocketApi, WebSocketApiProps

    def build(app):
        stack = TerraformStack(app, "consumer")
        AwsProvider(stack, "aws", region="eu-west-1")
        ws = WebSocketApi(
            stack,
            "ws",
            WebSocketApiProps(
                name="three-functions",
                connect=LambdaTarget(function_name="on-connect", invoke_arn="arn:connect/invocations"),
                disconnect=LambdaTarget(function_name="on-disconnect", invoke_arn="arn:disconnect/invocations"),
                default=LambdaTarget(function_name="on-default", invoke_arn="arn:default/invocations"),
                stage="staging",
                log_kms_key_arn="arn:aws:kms:eu-west-1:111122223333:key/abc",
                tags={"Team": "care"},
            ),
        )
        ws.grant_manage_connections("backend-role")
        return stack

    return synth_stack(build)


@pytest.fixture(scope="session")
def snap_start_synth(fake_artifact) -> SynthesizedStack:
    """The complete system with SnapStart on (and the cleanup schedule, which must invoke the alias too)."""
    from stacks.stack_config import StackConfig
    from stacks.websocket_stack import WebSocketStack

    return synth_stack(lambda app: WebSocketStack(app, StackConfig(artifact_path=fake_artifact, snap_start=True)))
