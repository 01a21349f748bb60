"""Invalid props fail at synth with a message naming the prop, its value and the rule."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import pytest

from careconnect_ws_cdk.connect_authorization import IamAuthorization, NoAuthorization, TokenAuthorizer
from careconnect_ws_cdk.errors import InvalidPropsError
from careconnect_ws_cdk.websocket_api_props import CustomDomain, LambdaTarget, WebSocketApiProps
from stacks.stack_config import load_stack_config

BACKEND = LambdaTarget(function_name="fn", invoke_arn="arn:fn/invocations")


@pytest.mark.parametrize(
    ("overrides", "prop", "message"),
    [
        ({"stage": ""}, "stage", "1-128 letters"),
        ({"stage": "has space"}, "stage", "1-128 letters"),
        ({"throttling_burst_limit": -1}, "throttling_burst_limit", "whole number"),
        ({"throttling_burst_limit": 2.5}, "throttling_burst_limit", "whole number"),
        ({"throttling_rate_limit": 0}, "throttling_rate_limit", "above 0"),
        ({"throttling_rate_limit": "100"}, "throttling_rate_limit", "give a number"),
        ({"throttling_rate_limit": None}, "throttling_rate_limit", "give a number"),
        ({"stage": 7}, "stage", "give a string"),
        ({"log_retention_days": "30"}, "log_retention_days", "give a number"),
        ({"custom_routes": {"chat": "arn:fn"}}, "custom_routes", "give a LambdaTarget"),
        ({"log_retention_days": -1}, "log_retention_days", "retention CloudWatch Logs accepts"),
        ({"log_retention_days": 42}, "log_retention_days", "retention CloudWatch Logs accepts"),
        ({"logging_level": "DEBUG"}, "logging_level", "OFF, ERROR, INFO"),
        ({"custom_routes": {"$custom": BACKEND}}, "custom_routes", "reserved for $connect"),
        ({"custom_routes": {"bad key!": BACKEND}}, "custom_routes", "letters, digits"),
        ({"name": " "}, "name", "non-empty name"),
        ({"backend": None}, "connect", "$connect needs a function"),
        ({"backend": None, "connect": BACKEND, "disconnect": BACKEND}, "default", "$default needs a function"),
        ({"backend": LambdaTarget(function_name="fn", invoke_arn="")}, "backend", "both function_name and invoke_arn"),
        (
            {"connect_authorization": TokenAuthorizer(function=LambdaTarget(function_name="", invoke_arn="x"))},
            "connect_authorization.function",
            "function_name and invoke_arn",
        ),
        (
            {"connect_authorization": TokenAuthorizer(function=BACKEND, token_source="cookie:x")},
            "connect_authorization.token_source",
            "not a token source",
        ),
        ({"domain": CustomDomain(domain_name="Not A Domain", certificate_arn="arn:x")}, "domain.domain_name", "DNS name"),
        ({"domain": CustomDomain(domain_name="ws.example.org", certificate_arn="")}, "domain.certificate_arn", "ACM"),
    ],
)
def test_invalid_props_name_the_prop_and_the_rule(overrides, prop, message):
    kwargs = {"name": "api", "backend": BACKEND, **overrides}
    with pytest.raises(InvalidPropsError) as err:
        WebSocketApiProps(**kwargs)
    assert err.value.prop == prop
    assert str(err.value).startswith(f"{prop}=")
    assert message in str(err.value)


def test_valid_props_resolve_each_route_to_its_target():
    other = LambdaTarget(function_name="other", invoke_arn="arn:other/invocations")
    props = WebSocketApiProps(name="api", backend=BACKEND, default=other, custom_routes={"chat": other})
    assert props.route_targets() == {"$connect": BACKEND, "$disconnect": BACKEND, "$default": other, "chat": other}


def test_stack_config_defaults_need_no_configuration():
    config = load_stack_config({}, environ={})
    assert (config.stack_name, config.stage, config.region) == ("careconnect-ws", "prod", "us-east-1")
    assert (config.existing_backend, config.authorizer_enabled, config.cleanup_schedule) == (False, True, "rate(15 minutes)")


def test_stack_config_environment_beats_context():
    config = load_stack_config(
        {"stage": "ctx", "region": "eu-west-1", "tags": {"A": "b"}},
        environ={"CARECONNECT_WS_STAGE": "env", "CARECONNECT_WS_LOG_RETENTION_DAYS": "731"},
    )
    assert (config.stage, config.region, config.log_retention_days, dict(config.tags)) == (
        "env",
        "eu-west-1",
        731,
        {"A": "b"},
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CARECONNECT_WS_TAGS": "not json"}, "JSON object"),
        ({"CARECONNECT_WS_TAGS": '{"A": 1}'}, "string values"),
        ({"CARECONNECT_WS_LOG_RETENTION_DAYS": "year"}, "whole number"),
        ({"CARECONNECT_WS_AUTHORIZER": "maybe"}, "on or off"),
    ],
)
def test_stack_config_bad_values_name_the_variable(environ, message):
    with pytest.raises(InvalidPropsError) as err:
        load_stack_config({}, environ=environ)
    assert next(iter(environ)) in str(err.value)
    assert message in str(err.value)


def test_stack_config_modes_and_lists():
    existing = load_stack_config({}, environ={"CARECONNECT_WS_BACKEND_FUNCTION_NAME": "cc-backend-main"})
    assert (existing.existing_backend, existing.authorizer_enabled) == (True, False)
    config = load_stack_config(
        {"subnet_ids": ["subnet-a", "subnet-b"]},
        environ={
            "CARECONNECT_WS_SECURITY_GROUP_IDS": "sg-1, sg-2",
            "CARECONNECT_WS_CLEANUP_SCHEDULE": "off",
            "CARECONNECT_WS_RESERVED_CONCURRENCY": "none",
            "CARECONNECT_WS_AUTHORIZER": "off",
        },
    )
    assert config.subnet_ids == ("subnet-a", "subnet-b") and config.security_group_ids == ("sg-1", "sg-2")
    assert (config.cleanup_schedule, config.reserved_concurrency, config.authorizer_enabled) == (None, "none", False)


@pytest.mark.parametrize(
    ("overrides", "prop", "message"),
    [
        ({"architecture": "sparc"}, "architecture", "arm64, x86_64"),
        ({"runtime": "python3.9"}, "runtime", "3.12+"),
        ({"memory_mb": 64}, "memory_mb", "128 to 10240"),
        ({"timeout_seconds": 0}, "timeout_seconds", "1 to 900"),
        ({"reserved_concurrency": 0}, "reserved_concurrency", "at least 1"),
        ({"subnet_ids": ("subnet-a",)}, "security_group_ids", "both subnet_ids and security_group_ids"),
        ({"jwt_secret_arn": None}, "jwt_secret_arn", "jwt_public_key"),
        (
            {"jwt_secret_arn": None, "jwt_public_key": "-----BEGIN PUBLIC KEY-----", "jwt_issuer": "https://idp"},
            "jwt_audience",
            "needs both jwt_issuer and jwt_audience",
        ),
        ({"environment": {"DATABASE_URL": "postgresql://u:p@h/db"}}, "environment", "Terraform state"),
        ({"function_name": "has space"}, "function_name", "1-64"),
    ],
)
def test_backend_function_props_validation(overrides, prop, message):
    from careconnect_ws_cdk.backend_function import BackendFunctionProps

    kwargs = dict(
        function_name="fn", artifact_path="x.zip", kms_key_arn="arn:kms", database_secret_arn="arn:db", jwt_secret_arn="arn:jwt"
    )
    kwargs.update(overrides)
    with pytest.raises(InvalidPropsError) as err:
        BackendFunctionProps(**kwargs)
    assert err.value.prop == prop and message in str(err.value)


def test_a_burst_below_the_rate_is_allowed_as_aws_allows_it():
    props = WebSocketApiProps(name="api", backend=BACKEND, throttling_rate_limit=1000, throttling_burst_limit=500)
    assert (props.throttling_rate_limit, props.throttling_burst_limit) == (1000, 500)


def test_props_take_terraform_tokens_and_check_them_at_plan_not_at_synth(default_synth):
    from careconnect_ws_cdk.cdk import TerraformStack, Testing
    from careconnect_ws_cdk.websocket_api import WebSocketApi

    cdk = __import__("careconnect_ws_cdk.cdk", fromlist=["_core"])
    app = Testing.app()
    stack = TerraformStack(app, "tokens")
    stage = cdk._core.TerraformVariable(stack, "stage", type="string")
    rate = cdk._core.TerraformVariable(stack, "rate", type="number")
    burst = cdk._core.TerraformVariable(stack, "burst", type="number")
    retention = cdk._core.TerraformVariable(stack, "retention", type="number")
    props = WebSocketApiProps(
        name="api",
        backend=BACKEND,
        stage=stage.string_value,
        throttling_rate_limit=rate.number_value,
        throttling_burst_limit=burst.number_value,
        log_retention_days=retention.number_value,
        log_kms_key_arn="arn:aws:kms:eu-west-1:1:key/k",
    )
    WebSocketApi(stack, "ws", props)
    import json

    doc = json.loads(Testing.synth(stack))
    stage_resource = next(iter(doc["resource"]["aws_apigatewayv2_stage"].values()))
    assert stage_resource["name"] == "${var.stage}"
    assert stage_resource["default_route_settings"]["throttling_rate_limit"] == "${var.rate}"


def test_old_names_still_work_for_one_release_and_say_what_to_write():
    """stage_name -> stage, output_prefix -> add_outputs(prefix=...), backend_role_name -> grant_manage_connections,
    existing_role_name -> backend_role_name, outputs=True -> add_outputs(): each warns, naming the new way."""
    from careconnect_ws_cdk.websocket_system import WebSocketSystemProps

    with pytest.warns(DeprecationWarning, match=r"write stage=\.\.\."):
        assert WebSocketApiProps(name="api", backend=BACKEND, stage_name="dev").stage == "dev"
    with pytest.warns(DeprecationWarning, match=r"add_outputs\(prefix=\.\.\.\)"):
        with pytest.raises(InvalidPropsError) as err:
            WebSocketApiProps(name="api", backend=BACKEND, output_prefix="a-b")
    assert err.value.prop == "output_prefix"
    with pytest.warns(DeprecationWarning, match="grant_manage_connections"):
        WebSocketApiProps(name="api", backend=BACKEND, backend_role_name="role")
    with pytest.warns(DeprecationWarning, match="write backend_role_name"):
        props = WebSocketSystemProps(existing_function=BACKEND, existing_role_name="role")
    assert props.backend_role_name == "role"
    with pytest.warns(DeprecationWarning, match=r"add_outputs\(\)"):
        WebSocketSystemProps(artifact_path="x.zip", outputs=True)


AUTHORIZER = LambdaTarget(function_name="auth", invoke_arn="arn:auth/invocations")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"connect_authorizer": AUTHORIZER}, TokenAuthorizer(function=AUTHORIZER)),
        (
            {"connect_authorizer": AUTHORIZER, "token_source": "protocol"},
            TokenAuthorizer(function=AUTHORIZER, token_source="protocol"),
        ),
        ({"connect_authorizer": AUTHORIZER, "authorizer_routes": ("$connect",)}, TokenAuthorizer(function=AUTHORIZER)),
        ({"iam_connect": True}, IamAuthorization()),
        ({"token_source": "header:Authorization"}, NoAuthorization(token_source="header:Authorization")),
    ],
)
def test_the_four_old_connect_props_still_work_for_one_release_as_the_one_prop(old, new):
    """connect_authorizer, iam_connect, token_source and authorizer_routes each warn, naming connect_authorization,
    and mean exactly the value of the one prop that replaces them (so the synthesized JSON is the same)."""
    with pytest.warns(DeprecationWarning, match="connect_authorization") as caught:
        props = WebSocketApiProps(name="api", backend=BACKEND, **old)
    assert len(caught) == len(old)
    assert props.connect_authorization == new
    assert all(w.filename == __file__ for w in caught)  # the warning points at the caller's line


def test_the_old_connect_props_keep_their_rules():
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidPropsError, match="only on \\$connect") as err:
        WebSocketApiProps(name="api", backend=BACKEND, connect_authorizer=AUTHORIZER, authorizer_routes=("$connect", "$default"))
    assert err.value.prop == "authorizer_routes"
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidPropsError, match="one authorization") as err:
        WebSocketApiProps(name="api", backend=BACKEND, connect_authorizer=AUTHORIZER, iam_connect=True)
    assert err.value.prop == "iam_connect"
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidPropsError, match="give it alone") as err:
        WebSocketApiProps(
            name="api", backend=BACKEND, connect_authorization=TokenAuthorizer(function=AUTHORIZER), iam_connect=True
        )
    assert err.value.prop == "connect_authorization"
    from careconnect_ws_cdk.websocket_system import WebSocketSystemProps

    with pytest.warns(DeprecationWarning), pytest.raises(InvalidPropsError, match="give it alone") as err:
        WebSocketSystemProps(artifact_path="x.zip", connect_authorization=IamAuthorization(), token_source="protocol")
    assert err.value.prop == "connect_authorization"
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidPropsError, match="one authorization") as err:
        WebSocketSystemProps(artifact_path="x.zip", iam_connect=True, authorizer=True)
    assert err.value.prop == "authorizer"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({}, TokenAuthorizer()),
        ({"existing_function": BACKEND}, NoAuthorization()),
        ({"authorizer": False}, NoAuthorization()),
        ({"existing_function": BACKEND, "authorizer": True}, TokenAuthorizer()),
        ({"iam_connect": True}, IamAuthorization()),
        ({"token_source": "protocol"}, TokenAuthorizer(token_source="protocol")),
        ({"authorizer": False, "token_source": "protocol"}, NoAuthorization(token_source="protocol")),
    ],
)
def test_the_systems_connect_authorization_defaults_by_mode_and_reads_its_old_props(old, new):
    from careconnect_ws_cdk.websocket_system import WebSocketSystemProps

    base = {} if "existing_function" in old else {"artifact_path": "x.zip"}
    with pytest.warns(DeprecationWarning) if set(old) - {"existing_function"} else _no_warning():
        props = WebSocketSystemProps(**base, **old)
    assert props.connect_authorization == new


@contextlib.contextmanager
def _no_warning() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        yield


@pytest.mark.parametrize(
    ("changes", "prop"),
    [
        ({"reserved_concurrency": 0}, "reserved_concurrency"),
        ({"reserved_concurrency": "unlimited"}, "reserved_concurrency"),
        ({"name": ""}, "name"),
        ({"existing_function": BACKEND, "artifact_path": "x.zip"}, "artifact_path"),
        ({"existing_function": BACKEND, "snap_start": True}, "snap_start"),
        ({"artifact_path": "x.zip", "backend_role_name": "role"}, "backend_role_name"),
        (
            {"artifact_path": "x.zip", "connect_authorization": NoAuthorization(token_source="cookie:x")},
            "connect_authorization.token_source",
        ),
        ({"artifact_path": "x.zip", "extensions": ("acme-ws",)}, "extensions"),
        ({"artifact_path": "x.zip", "topics": ({"name": "care-plan", "rule": "nurses"},)}, "topics"),
        ({"existing_function": BACKEND, "topics": ({"name": "care-plan"},)}, "topics"),
        ({"existing_function": BACKEND, "extensions": ("acme_ws",)}, "extensions"),
        (
            {"artifact_path": "x.zip", "extensions": ("acme_ws",), "function_environment": {"WS_EXTENSIONS": "x"}},
            "function_environment",
        ),
    ],
)
def test_system_props_are_checked_at_construction_naming_the_prop(changes, prop):
    from careconnect_ws_cdk.websocket_system import WebSocketSystemProps

    with pytest.raises(InvalidPropsError) as err:
        WebSocketSystemProps(**changes)
    assert err.value.prop == prop


def test_unreserved_is_spelled_the_same_in_every_construct():
    from careconnect_ws_cdk.backend_function import UNRESERVED, BackendFunctionProps

    props = BackendFunctionProps(
        function_name="f",
        artifact_path="a.zip",
        kms_key_arn="k",
        database_secret_arn="d",
        jwt_secret_arn="j",
        reserved_concurrency=UNRESERVED,
    )
    assert props.reserved_concurrency is None


def test_every_construct_takes_props_and_its_old_keyword_arguments_warn(fake_artifact):
    """One props style: Alarms, LogEncryptionKey and AccountLoggingRole take a props dataclass (validated, naming
    the prop) like the others; the 0.1 keyword arguments still build the same thing, with a warning."""
    import json

    from careconnect_ws_cdk import (
        AccountLoggingRole,
        AccountLoggingRoleProps,
        Alarms,
        AlarmsProps,
        LogEncryptionKey,
        LogEncryptionKeyProps,
    )
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing

    stack = TerraformStack(Testing.app(), "props")
    AwsProvider(stack, "aws", region="eu-west-1")
    eu = AwsProvider(stack, "eu", region="eu-central-1", alias="eu")
    Alarms(stack, "alarms", AlarmsProps(name="a", topic_arn="arn:aws:sns:x", api_id="api", stage="prod", provider=eu))
    LogEncryptionKey(stack, "key", LogEncryptionKeyProps(alias="a", log_group_names=("/g",), provider=eu))
    AccountLoggingRole(stack, "role", AccountLoggingRoleProps(name="r", provider=eu))
    with pytest.warns(DeprecationWarning, match="AlarmsProps"):
        Alarms(stack, "old_alarms", name="b", topic_arn="arn:aws:sns:x", api_id="api", stage="prod")
    with pytest.warns(DeprecationWarning, match="LogEncryptionKeyProps"):
        LogEncryptionKey(stack, "old_key", alias="b", log_group_names=["/g"], tags={})
    with pytest.warns(DeprecationWarning, match="AccountLoggingRoleProps"):
        AccountLoggingRole(stack, "old_role", name="s", tags={})
    doc = json.loads(Testing.synth(stack))
    new = [
        body
        for section in ("resource", "data")
        for items in doc[section].values()
        for name, body in items.items()
        if not name.startswith("old_")
    ]
    assert new and {body.get("provider") for body in new} == {"aws.eu"}
    with pytest.raises(InvalidPropsError) as err:
        AlarmsProps(name="a", topic_arn="oncall", api_id="api", stage="prod")
    assert err.value.prop == "topic_arn"
    with pytest.raises(InvalidPropsError) as err:
        LogEncryptionKeyProps(alias="a", log_group_names="/one-string")
    assert err.value.prop == "log_group_names"


def test_every_construct_refuses_a_retention_cloudwatch_would_refuse_listing_the_accepted_ones():
    from careconnect_ws_cdk.backend_function import BackendFunctionProps

    with pytest.raises(InvalidPropsError, match="accepts: 1, 3, 5, 7, 14, 30") as err:
        BackendFunctionProps(
            function_name="f",
            artifact_path="a.zip",
            kms_key_arn="k",
            database_secret_arn="d",
            jwt_secret_arn="j",
            log_retention_days=10,
        )
    assert err.value.prop == "log_retention_days"


def test_the_route_helpers_name_the_apis_a_stack_has():
    from careconnect_ws_cdk.testing import websocket_routes

    doc = {
        "resource": {
            "aws_apigatewayv2_api": {
                "a": {"protocol_type": "WEBSOCKET", "name": "chat"},
                "b": {"protocol_type": "WEBSOCKET", "name": "alerts"},
            }
        }
    }
    with pytest.raises(AssertionError, match=r"named 'nope'; the stack has \['alerts', 'chat'\]"):
        websocket_routes(doc, api="nope")
    with pytest.raises(AssertionError, match=r"the stack has \['alerts', 'chat'\]: pass api=<its name>"):
        websocket_routes(doc)


def test_one_function_added_as_routes_twice_shares_one_integration_and_alarms_skip_metrics_it_never_writes():
    """LambdaTarget.from_function gives the same target for the same function (attribute reads are new tokens each
    time), so add_route reuses the integration; a function of your own gets no alarm on careconnect-ws's metrics."""
    import json

    from careconnect_ws_cdk import Alarms, AlarmsProps, WebSocketApi
    from careconnect_ws_cdk.cdk import AwsProvider, LambdaFunction, TerraformStack, Testing

    stack = TerraformStack(Testing.app(), "shared")
    AwsProvider(stack, "aws", region="eu-west-1")
    fn = LambdaFunction(stack, "fn", function_name="f", role="r", runtime="python3.12", handler="h", filename="x.zip")
    api = WebSocketApi(stack, "ws", WebSocketApiProps(name="shared", backend=LambdaTarget.from_function(fn)))
    api.add_route("chat.send", LambdaTarget.from_function(fn))
    topic = "arn:aws:sns:eu-west-1:111122223333:oncall"
    Alarms(
        stack,
        "mine",
        AlarmsProps(name="mine", topic_arn=topic, api_id=api.api_id, stage="prod", function_name="f", runs_careconnect_ws=False),
    )
    Alarms(stack, "ours", AlarmsProps(name="ours", topic_arn=topic, api_id=api.api_id, stage="prod", function_name="f"))
    doc = json.loads(Testing.synth(stack))
    assert len(doc["resource"]["aws_apigatewayv2_integration"]) == 1
    names = {body["alarm_name"] for body in doc["resource"]["aws_cloudwatch_metric_alarm"].values()}
    assert "ours-server-error-rate" in names and "mine-server-error-rate" not in names
    assert {"mine-lambda-errors", "ours-lambda-errors"} <= names
