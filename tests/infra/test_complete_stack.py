"""The complete system (mode b, the default app) and every opt-in, checked on the synthesized JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from careconnect_ws.contract import CLEANUP_EVENT
from careconnect_ws_cdk.backend_function import WILDCARD_RESOURCE_STATEMENTS

ROOT = Path(__file__).resolve().parents[2]


def by_type(s, rtype):
    return list(s.resources(rtype).values())


def function_of(s):
    name, fn = s.one("aws_lambda_function")
    return name, fn


class TestDefaultIsTheCompleteSystem:
    def test_the_function_is_built_from_this_package(self, default_synth):
        _, fn = function_of(default_synth)
        assert fn["handler"] == "careconnect_ws.handler.lambda_handler"
        assert (fn["runtime"], fn["architectures"], fn["memory_size"], fn["timeout"]) == ("python3.12", ["arm64"], 512, 29)
        assert fn["reserved_concurrent_executions"] == 100
        assert re.fullmatch(r"assets/backend_lambda_code_\w+/\w+/careconnect-ws-lambda-arm64\.zip", fn["filename"])
        assert fn["source_code_hash"] == f'${{filebase64sha256("{fn["filename"]}")}}'
        assert fn["tracing_config"] == {"mode": "Active"} and "target_arn" in fn["dead_letter_config"]
        assert "vpc_config" not in fn

    def test_no_secret_in_the_environment_only_secret_arns(self, default_synth):
        _, fn = function_of(default_synth)
        variables = fn["environment"]["variables"]
        assert set(variables) == {"DATABASE_SECRET_ARN", "WS_JWT_SECRET_ARN"}
        secrets = default_synth.resources("aws_secretsmanager_secret")
        assert variables["DATABASE_SECRET_ARN"] == "${aws_secretsmanager_secret.database_url.arn}"
        assert set(secrets) == {"database_url", "jwt_secret"}
        assert default_synth.resources("aws_secretsmanager_secret_version") == {}  # values never enter state
        key_name, _ = default_synth.one("aws_kms_key")
        for secret in secrets.values():
            assert secret["kms_key_id"] == f"${{aws_kms_key.{key_name}.arn}}"

    def test_connect_authorizer_is_the_same_function_with_its_own_scoped_permission(self, default_synth):
        fn_name, _ = function_of(default_synth)
        auth_name, auth = default_synth.one("aws_apigatewayv2_authorizer")
        assert auth["authorizer_type"] == "REQUEST"
        assert auth["identity_sources"] == ["route.request.querystring.token"]
        assert auth["authorizer_uri"] == f"${{aws_lambda_function.{fn_name}.invoke_arn}}"
        routes = {r["route_key"]: r for r in by_type(default_synth, "aws_apigatewayv2_route")}
        assert routes["$connect"]["authorization_type"] == "CUSTOM"
        assert routes["$connect"]["authorizer_id"] == f"${{aws_apigatewayv2_authorizer.{auth_name}.id}}"
        assert "authorization_type" not in routes["$default"] and "authorization_type" not in routes["$disconnect"]
        api_name, _ = default_synth.one("aws_apigatewayv2_api")
        sources = sorted(p["source_arn"] for p in by_type(default_synth, "aws_lambda_permission"))
        assert (
            f"${{aws_apigatewayv2_api.{api_name}.execution_arn}}/authorizers/${{aws_apigatewayv2_authorizer.{auth_name}.id}}"
            in sources
        )

    def test_cleanup_runs_every_15_minutes_with_its_own_permission(self, default_synth):
        rule_name, rule = default_synth.one("aws_cloudwatch_event_rule")
        _, target = default_synth.one("aws_cloudwatch_event_target")
        fn_name, _ = function_of(default_synth)
        assert rule["schedule_expression"] == "rate(15 minutes)"
        assert json.loads(target["input"]) == CLEANUP_EVENT
        assert target["arn"] == f"${{aws_lambda_function.{fn_name}.arn}}"
        events = [p for p in by_type(default_synth, "aws_lambda_permission") if p["principal"] == "events.amazonaws.com"]
        assert [p["source_arn"] for p in events] == [f"${{aws_cloudwatch_event_rule.{rule_name}.arn}}"]

    def test_every_log_group_is_encrypted_and_kept_six_years(self, default_synth):
        key_name, key = default_synth.one("aws_kms_key")
        groups = by_type(default_synth, "aws_cloudwatch_log_group")
        assert len(groups) == 3
        for group in groups:
            assert group["retention_in_days"] == 2192
            assert group["kms_key_id"] == f"${{aws_kms_key.{key_name}.arn}}"
        assert key["enable_key_rotation"] is True
        logs = next(s for s in json.loads(key["policy"])["Statement"] if s["Sid"] == "CloudWatchLogsForTheseGroups")
        arns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert any(a.endswith(":log-group:/aws/lambda/careconnect-ws-backend") for a in arns)

    def test_the_role_gets_manage_connections_from_the_api(self, default_synth):
        role_name, _ = default_synth.one("aws_iam_role")
        attached = [p for p in by_type(default_synth, "aws_iam_role_policy") if p["name"].endswith("manage-connections")]
        assert [p["role"] for p in attached] == [f"${{aws_iam_role.{role_name}.name}}"]

    def test_outputs_tell_the_operator_where_the_secrets_go(self, default_synth):
        assert {"backend_function_name", "database_secret_arn", "jwt_secret_arn"} <= set(default_synth.outputs)


def policy_statements(s):
    for name, policy in s.resources("aws_iam_role_policy").items():
        if policy["policy"].startswith("${data.aws_iam_policy_document."):
            continue  # a policy document data source: its statements are checked below
        yield from ((name, st) for st in json.loads(policy["policy"])["Statement"])
    for name, doc in s.data("aws_iam_policy_document").items():
        for st in doc["statement"]:
            yield name, {"Sid": st.get("sid"), "Action": st["actions"], "Resource": st["resources"]}


@pytest.mark.parametrize("stack", ["default_synth", "full_synth", "existing_full_synth"])
def test_least_privilege_no_wildcards_except_where_aws_requires_them(stack, request):
    s = request.getfixturevalue(stack)
    for name, st in policy_statements(s):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert not any("*" in a for a in actions), f"{name}: wildcard action in {st}"
        if "*" in resources:
            assert st.get("Sid") in WILDCARD_RESOURCE_STATEMENTS, f"{name}: '*' resource in {st}"


def test_each_wildcard_statement_says_why_in_the_code():
    source = (ROOT / "careconnect_ws_cdk" / "backend_function.py").read_text()
    for sid in WILDCARD_RESOURCE_STATEMENTS:
        before = source[: source.index(f'"Sid": "{sid}"')].rsplit("{", 1)[1]
        assert '# AWS requires "*"' in before, sid


def test_vpc_permissions_only_in_a_vpc(default_synth, full_synth):
    def sids(s):
        return {st.get("Sid") for _, st in policy_statements(s)}

    assert "VpcNetworkInterfaces" not in sids(default_synth)
    assert "VpcNetworkInterfaces" in sids(full_synth)
    _, fn = function_of(full_synth)
    assert fn["vpc_config"] == {"subnet_ids": ["subnet-aaa", "subnet-bbb"], "security_group_ids": ["sg-123"]}
    assert fn["memory_size"] == 1024
    assert fn["environment"]["variables"]["WS_JWT_ISSUER"] == "https://idp.careconnect.example"


def test_key_policy_has_no_wildcard_principal(full_synth):
    _, key = full_synth.one("aws_kms_key")
    for st in json.loads(key["policy"])["Statement"]:
        assert st["Principal"] not in ("*", {"AWS": "*"})


class TestOptions:
    def test_alarms_notify_the_topic(self, full_synth):
        alarms = {
            a["alarm_name"].removeprefix("careconnect-websocket-"): a for a in by_type(full_synth, "aws_cloudwatch_metric_alarm")
        }
        assert set(alarms) == {
            "integration-errors",
            "execution-errors",
            "connect-client-errors",
            "lambda-errors",
            "lambda-throttles",
            "server-error-rate",
            "duration-near-timeout",
            "concurrency-near-reserved",
            "dead-letters",
            "cleanup-failures",
            "cleanup-invocation-failures",
        }
        for alarm in alarms.values():
            assert alarm["alarm_actions"] == ["arn:aws:sns:us-east-1:111122223333:oncall"]
        assert alarms["connect-client-errors"]["dimensions"]["Route"] == "$connect"
        _, metric_filter = full_synth.one("aws_cloudwatch_log_metric_filter")
        assert metric_filter["pattern"] == '{ $.route = "command:cleanup" && $.status != 200 }'

    def test_the_cleanup_alarms_filter_counts_the_line_the_runtime_writes_for_a_failed_cleanup(self, full_synth):
        """The synthesized pattern, parsed and evaluated against the handler's own log line (not found as text)."""
        from careconnect_ws import contract
        from careconnect_ws import db as db_module
        from careconnect_ws.handler import lambda_handler
        from careconnect_ws.settings import Settings, set_settings
        from tests.support.log_filters import matches
        from tests.support.log_lines import captured_lines

        _, metric_filter = full_synth.one("aws_cloudwatch_log_metric_filter")
        set_settings(Settings(database_url="postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
        db_module.reset_database()
        try:
            with captured_lines() as lines:
                assert lambda_handler(contract.CLEANUP_EVENT)["statusCode"] == 503
        finally:
            set_settings(None)
            db_module.reset_database()
        handled = lines.last_handled()
        assert matches(metric_filter["pattern"], handled)
        assert not matches(metric_filter["pattern"], {**handled, "status": 200})

    def test_custom_domain_with_alias_record_and_endpoint_output(self, full_synth):
        domain_name, domain = full_synth.one("aws_apigatewayv2_domain_name")
        assert domain["domain_name"] == "ws.careconnect.example"
        assert domain["domain_name_configuration"]["security_policy"] == "TLS_1_2"
        _, mapping = full_synth.one("aws_apigatewayv2_api_mapping")
        assert mapping["domain_name"] == f"${{aws_apigatewayv2_domain_name.{domain_name}.id}}"
        _, record = full_synth.one("aws_route53_record")
        assert (record["zone_id"], record["type"]) == ("Z123EXAMPLE", "A")
        assert full_synth.outputs["websocket_api_endpoint"]["value"] == "wss://ws.careconnect.example"
        # @connections stays on execute-api: custom domains do not serve it.
        assert "replace(" in full_synth.outputs["websocket_management_endpoint"]["value"]

    def test_account_cloudwatch_role(self, full_synth, default_synth):
        _, account = full_synth.one("aws_api_gateway_account")
        _, attachment = full_synth.one("aws_iam_role_policy_attachment")
        assert attachment["policy_arn"].endswith("service-role/AmazonAPIGatewayPushToCloudWatchLogs")
        assert account["cloudwatch_role_arn"].startswith("${aws_iam_role.")
        assert default_synth.resources("aws_api_gateway_account") == {}

    def test_s3_remote_state(self, full_synth, existing_full_synth, default_synth):
        assert full_synth.doc["terraform"]["backend"] == {
            "s3": {
                "bucket": "careconnect-tfstate",
                "key": "careconnect-ws/careconnect-ws-full.tfstate",
                "region": "us-east-1",
                "encrypt": True,
                "use_lockfile": True,
            }
        }
        assert existing_full_synth.doc["terraform"]["backend"]["s3"]["dynamodb_table"] == "tf-locks"
        assert default_synth.doc["terraform"]["backend"] == {"local": {"path": "terraform.careconnect-ws.tfstate"}}

    def test_existing_backend_with_opt_in_authorizer_and_alarms(self, existing_full_synth):
        assert existing_full_synth.resources("aws_lambda_function") == {}
        _, auth = existing_full_synth.one("aws_apigatewayv2_authorizer")
        assert auth["authorizer_uri"] == "${data.aws_lambda_function.backend_function.invoke_arn}"
        alarms = {a.get("metric_name") for a in by_type(existing_full_synth, "aws_cloudwatch_metric_alarm")}
        assert {"Errors", "Throttles", "IntegrationError"} <= alarms and "CleanupFailures" not in alarms
        assert existing_full_synth.resources("aws_cloudwatch_event_rule") == {}

    def test_no_absolute_paths_anywhere(self, default_synth, full_synth, existing_full_synth):
        for s in (default_synth, full_synth, existing_full_synth):
            for marker in (str(ROOT), "/tmp/", "/home/", "/root/"):
                assert marker not in s.raw


def test_opting_out_of_the_defaults_of_mode_b(fake_artifact):
    from careconnect_ws_cdk.cdk import Testing
    from careconnect_ws_cdk.testing import synthesize
    from stacks.stack_config import StackConfig
    from stacks.websocket_stack import WebSocketStack

    s = synthesize(
        WebSocketStack(
            Testing.app(),
            StackConfig(
                stack_name="opt-out",
                artifact_path=fake_artifact,
                reserved_concurrency="none",
                cleanup_schedule=None,
                authorizer=False,
                architecture="x86_64",
                logging_level="OFF",
            ),
        )
    )
    _, fn = s.one("aws_lambda_function")
    assert "reserved_concurrent_executions" not in fn and fn["architectures"] == ["x86_64"]
    assert s.resources("aws_cloudwatch_event_rule") == {} and s.resources("aws_apigatewayv2_authorizer") == {}
    _, stage = s.one("aws_apigatewayv2_stage")
    assert stage["default_route_settings"]["logging_level"] == "OFF"


def test_the_provider_constraint_can_be_widened_for_another_major_version(full_synth, default_synth):
    """Where only a 5.x provider is at hand (an offline mirror), the same configuration runs with a range."""
    assert full_synth.doc["terraform"]["required_providers"]["aws"]["version"] == ">= 5.100, < 7"
    assert default_synth.doc["terraform"]["required_providers"]["aws"]["version"] != ">= 5.100, < 7"
    # Only attributes both major versions have: the region's name is read as ``id`` (``region`` is 6.x only).
    assert ".region}" not in json.dumps(default_synth.doc)


def test_the_complete_system_embeds_in_another_stack_with_its_own_provider(default_synth, fake_artifact):
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.websocket_api_props import CustomDomain
    from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

    stack = TerraformStack(Testing.app(), "platform")
    AwsProvider(stack, "aws", region="us-east-1")
    eu = AwsProvider(stack, "eu", region="eu-west-1", alias="eu")
    system = WebSocketSystem(
        stack,
        "notifications",
        WebSocketSystemProps(
            name="notify",
            artifact_path=fake_artifact,
            alarm_topic_arn="arn:aws:sns:eu-west-1:111122223333:oncall",
            manage_account_cloudwatch_role=True,
            snap_start=True,
            provider=eu,
            domain=CustomDomain(
                domain_name="ws.example.org",
                hosted_zone_id="Z0123456789ABCDEFGHIJ",
                certificate_arn="arn:aws:acm:eu-west-1:111122223333:certificate/abc",
            ),
        ),
    )
    doc = json.loads(Testing.synth(stack))
    # Every optional part is here, each construct having put its own resources on the provider it was given.
    assert {
        "aws_cloudwatch_metric_alarm",
        "aws_cloudwatch_dashboard",
        "aws_api_gateway_account",
        "aws_lambda_alias",
        "aws_apigatewayv2_domain_name",
        "aws_route53_record",
        "aws_kms_key",
    } <= set(doc["resource"])
    everything = [
        (kind, body) for section in ("resource", "data") for kind, items in doc[section].items() for body in items.values()
    ]
    assert len(everything) > 30
    assert {body.get("provider") for _, body in everything} == {"aws.eu"}
    assert "output" not in doc  # no root outputs unless asked (add_outputs())
    assert doc["resource"]["aws_lambda_function"] and system.function is not None
    # The same wiring as the app's stack: its cleanup rule targets its function with the cleanup event.
    target = next(iter(doc["resource"]["aws_cloudwatch_event_target"].values()))
    assert json.loads(target["input"]) == CLEANUP_EVENT


# Every named resource of the complete system: what two systems in one stack must not share.
NAMED = {
    "aws_lambda_function": "function_name",
    "aws_iam_role": "name",
    "aws_sqs_queue": "name",
    "aws_cloudwatch_log_group": "name",
    "aws_secretsmanager_secret": "name",
    "aws_cloudwatch_metric_alarm": "alarm_name",
    "aws_cloudwatch_dashboard": "dashboard_name",
    "aws_cloudwatch_event_rule": "name",
    "aws_kms_alias": "name",
    "aws_iam_role_policy": "name",
}


def test_two_systems_in_one_stack_differ_by_name_alone_and_their_outputs_are_addressable(fake_artifact):
    """Two WebSocketSystems given only different names: every physical name differs (function, role, queue, log
    groups, secrets, alarms, dashboard, rule, alias), and add_outputs(prefix=...) gives plain names, no hash; the same
    name twice is refused at synth, naming both construct paths and the prop to change."""
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.errors import InvalidPropsError
    from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

    stack = TerraformStack(Testing.app(), "two")
    AwsProvider(stack, "aws", region="eu-west-1")
    topic = "arn:aws:sns:eu-west-1:111122223333:oncall"
    for name in ("care-alerts", "care-chat"):
        system = WebSocketSystem(
            stack, name.replace("-", "_"), WebSocketSystemProps(name=name, artifact_path=fake_artifact, alarm_topic_arn=topic)
        )
        system.add_outputs(prefix=name.replace("care-", "") + "_")
    doc = json.loads(Testing.synth(stack))
    for rtype, attribute in NAMED.items():
        names = [body[attribute] for body in doc["resource"][rtype].values()]
        assert len(names) == len(set(names)) and len(names) >= 2, (rtype, names)
    functions = sorted(body["function_name"] for body in doc["resource"]["aws_lambda_function"].values())
    assert functions == ["care-alerts-backend", "care-chat-backend"]
    assert {"alerts_websocket_api_endpoint", "chat_database_secret_arn", "chat_backend_function_name"} <= set(doc["output"])
    assert all(re.fullmatch(r"(alerts|chat)_[a-z_]+", name) for name in doc["output"])

    again = TerraformStack(Testing.app(), "twice")
    AwsProvider(again, "aws", region="eu-west-1")
    WebSocketSystem(again, "first", WebSocketSystemProps(name="same", artifact_path=fake_artifact))
    with pytest.raises(InvalidPropsError) as err:
        WebSocketSystem(again, "second", WebSocketSystemProps(name="same", artifact_path=fake_artifact))
    assert "twice/second and twice/first would both create" in str(err.value) and err.value.prop == "name"
    assert "give one of them another name" in str(err.value)
    alias = TerraformStack(Testing.app(), "outputs")
    AwsProvider(alias, "aws", region="eu-west-1")
    one = WebSocketSystem(alias, "one", WebSocketSystemProps(name="one", artifact_path=fake_artifact))
    two = WebSocketSystem(alias, "two", WebSocketSystemProps(name="two", artifact_path=fake_artifact))
    one.add_outputs(prefix="x_")
    with pytest.raises(InvalidPropsError, match="would both create the output 'x_websocket_api_endpoint'"):
        two.add_outputs(prefix="x_")
