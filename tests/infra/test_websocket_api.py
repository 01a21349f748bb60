"""Property checks on the synthesized WebSocket API: each requirement of the Terraform module and more.

These run on mode (a), the API bound to an existing function exactly as the module did;
tests/infra/test_complete_stack.py covers the complete system (mode b) and the options."""

from __future__ import annotations

import json

import pytest

from careconnect_ws.limits import LIMITS
from careconnect_ws_cdk.connect_authorization import IamAuthorization, NoAuthorization, TokenAuthorizer
from careconnect_ws_cdk.lambda_target import LambdaTarget

API = "aws_apigatewayv2_api"
ROUTE = "aws_apigatewayv2_route"
INTEGRATION = "aws_apigatewayv2_integration"
PERMISSION = "aws_lambda_permission"
STAGE = "aws_apigatewayv2_stage"
LOG_GROUP = "aws_cloudwatch_log_group"


def routes_by_key(s):
    return {r["route_key"]: r for r in s.resources(ROUTE).values()}


def test_api_is_websocket_with_action_selection(existing_synth):
    _, api = existing_synth.one(API)
    assert api["protocol_type"] == "WEBSOCKET"
    assert api["route_selection_expression"] == "$request.body.action"


def test_three_routes_share_one_proxy_integration(existing_synth):
    integration_name, integration = existing_synth.one(INTEGRATION)
    assert integration["integration_type"] == "AWS_PROXY"
    assert integration["integration_uri"] == "${data.aws_lambda_function.backend_function.invoke_arn}"
    routes = routes_by_key(existing_synth)
    assert sorted(routes) == ["$connect", "$default", "$disconnect"]
    target = f"integrations/${{{INTEGRATION}.{integration_name}.id}}"
    assert {r["target"] for r in routes.values()} == {target}


def test_each_route_has_a_permission_scoped_to_api_stage_and_route(existing_synth):
    api_name, _ = existing_synth.one(API)
    execution_arn = existing_synth.ref(API, api_name, "execution_arn")
    permissions = existing_synth.resources(PERMISSION).values()
    assert sorted(p["source_arn"] for p in permissions) == sorted(
        f"{execution_arn}/prod/{key}" for key in ("$connect", "$disconnect", "$default")
    )
    for p in permissions:
        assert p["principal"] == "apigateway.amazonaws.com"
        assert p["action"] == "lambda:InvokeFunction"
        assert p["function_name"] == "cc-backend-main"


def test_stage_settings_match_the_module(existing_synth):
    _, stage = existing_synth.one(STAGE)
    assert stage["name"] == "prod"
    assert stage["auto_deploy"] is True
    settings = stage["default_route_settings"]
    assert settings == {
        "throttling_rate_limit": LIMITS.throttling_rate_limit,
        "throttling_burst_limit": LIMITS.throttling_burst_limit,
        "detailed_metrics_enabled": True,
        "logging_level": "INFO",
        "data_trace_enabled": False,
    }
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == (100, 500)


def test_access_log_format_is_json_with_the_fields_operators_need(existing_synth):
    _, stage = existing_synth.one(STAGE)
    access = stage["access_log_settings"]
    fields = json.loads(access["format"])
    for key in ("requestId", "connectionId", "routeKey", "eventType", "status", "integrationError"):
        assert key in fields
    assert fields["integrationLatency"] == "$context.integration.latency"
    groups = existing_synth.resources(LOG_GROUP)
    access_group = next(n for n, g in groups.items() if g["name"].endswith("/access"))
    assert access["destination_arn"] == existing_synth.ref(LOG_GROUP, access_group, "arn")


def test_log_groups_have_retention_and_the_execution_group_is_precreated(existing_synth):
    api_name, _ = existing_synth.one(API)
    groups = {g["name"]: g for g in existing_synth.resources(LOG_GROUP).values()}
    execution = f"API-Gateway-Execution-Logs_${{{API}.{api_name}.id}}/prod"
    assert set(groups) == {"/aws/apigateway/careconnect-websocket/prod/access", execution}
    key_name, key = existing_synth.one("aws_kms_key")
    assert key["enable_key_rotation"] is True
    for group in groups.values():
        assert group["retention_in_days"] == 365
        assert group["kms_key_id"] == existing_synth.ref("aws_kms_key", key_name, "arn")
    _, stage = existing_synth.one(STAGE)
    execution_group = next(n for n, g in existing_synth.resources(LOG_GROUP).items() if g["name"] == execution)
    assert f"{LOG_GROUP}.{execution_group}" in stage["depends_on"]


def test_log_key_policy_lets_cloudwatch_use_it_for_these_groups_only(existing_synth):
    _, key = existing_synth.one("aws_kms_key")
    policy = json.loads(key["policy"])
    logs = next(s for s in policy["Statement"] if s["Sid"] == "CloudWatchLogsForTheseGroups")
    assert logs["Principal"]["Service"].startswith("logs.")
    arns = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert len(arns) == 2 and all(":log-group:" in a and "*" not in a for a in arns)


def test_default_route_is_two_way(existing_synth):
    routes = routes_by_key(existing_synth)
    route_name = next(n for n, r in existing_synth.resources(ROUTE).items() if r["route_key"] == "$default")
    assert routes["$default"]["route_response_selection_expression"] == "$default"
    _, response = existing_synth.one("aws_apigatewayv2_route_response")
    assert response["route_response_key"] == "$default"
    assert response["route_id"] == existing_synth.ref(ROUTE, route_name, "id")
    assert "route_response_selection_expression" not in routes["$connect"]


def test_tags_on_every_taggable_resource(existing_synth):
    expected = {"Project": "careconnect", "Component": "websocket", "ManagedBy": "cdktf"}
    for rtype in (API, STAGE, LOG_GROUP, "aws_kms_key"):
        for name, resource in existing_synth.resources(rtype).items():
            assert resource["tags"] == expected, f"{rtype}.{name}"


def test_outputs_keep_the_module_names_and_values(existing_synth):
    api_name, _ = existing_synth.one(API)
    stage_name, _ = existing_synth.one(STAGE)
    out = existing_synth.outputs
    assert out["websocket_api_endpoint"]["value"] == existing_synth.ref(STAGE, stage_name, "invoke_url")
    assert out["websocket_api_id"]["value"] == existing_synth.ref(API, api_name, "id")
    assert out["websocket_api_execution_arn"]["value"] == existing_synth.ref(API, api_name, "execution_arn")
    assert out["websocket_management_endpoint"]["value"] == (
        f'${{replace({API}.{api_name}.api_endpoint, "wss://", "https://")}}/prod'
    )


def test_manage_connections_policy_grants_exactly_this_stage(existing_synth):
    api_name, _ = existing_synth.one(API)
    doc_name, doc = next(iter(existing_synth.data("aws_iam_policy_document").items()))
    (statement,) = doc["statement"]
    assert statement["effect"] == "Allow"
    assert statement["actions"] == ["execute-api:ManageConnections"]
    assert statement["resources"] == [f"${{{API}.{api_name}.execution_arn}}/prod/*/@connections/*"]
    assert existing_synth.outputs["websocket_manage_connections_policy"]["value"] == (
        f"${{data.aws_iam_policy_document.{doc_name}.json}}"
    )
    # Without a role name nothing is attached.
    assert existing_synth.resources("aws_iam_role_policy") == {}


def test_no_absolute_paths_and_a_relative_local_backend(existing_synth):
    assert existing_synth.doc["terraform"]["backend"] == {"local": {"path": "terraform.careconnect-ws.tfstate"}}
    for marker in ("/work/", "/home/", "/tmp/", "/root/"):
        assert marker not in existing_synth.raw


class TestThreeFunctions:
    def test_three_integrations_and_three_permissions(self, three_function_synth):
        integrations = three_function_synth.resources(INTEGRATION)
        assert sorted(i["integration_uri"] for i in integrations.values()) == [
            "arn:connect/invocations",
            "arn:default/invocations",
            "arn:disconnect/invocations",
        ]
        by_key = routes_by_key(three_function_synth)
        for key, fn in (("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default")):
            integration = next(n for n, i in integrations.items() if i["integration_uri"] == f"arn:{fn}/invocations")
            assert by_key[key]["target"] == f"integrations/${{{INTEGRATION}.{integration}.id}}"
        permissions = three_function_synth.resources(PERMISSION).values()
        assert sorted((p["function_name"], p["source_arn"].rsplit("/", 1)[1]) for p in permissions) == [
            ("on-connect", "$connect"),
            ("on-default", "$default"),
            ("on-disconnect", "$disconnect"),
        ]
        assert all("/staging/" in p["source_arn"] for p in permissions)

    def test_given_key_is_used_and_none_created(self, three_function_synth):
        assert three_function_synth.resources("aws_kms_key") == {}
        for group in three_function_synth.resources(LOG_GROUP).values():
            assert group["kms_key_id"] == "arn:aws:kms:eu-west-1:111122223333:key/abc"

    def test_role_gets_the_manage_connections_policy(self, three_function_synth):
        _, attachment = three_function_synth.one("aws_iam_role_policy")
        assert attachment["role"] == "backend-role"
        doc_name = next(iter(three_function_synth.data("aws_iam_policy_document")))
        assert attachment["policy"] == f"${{data.aws_iam_policy_document.{doc_name}.json}}"


def test_two_apis_with_the_same_name_in_one_stack_are_refused_naming_both(default_synth):
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.errors import InvalidPropsError
    from careconnect_ws_cdk.websocket_api import LambdaTarget, WebSocketApi, WebSocketApiProps

    stack = TerraformStack(Testing.app(), "twins")
    AwsProvider(stack, "aws", region="us-east-1")
    target = LambdaTarget(function_name="fn", invoke_arn="arn:fn/invocations")
    WebSocketApi(stack, "first", WebSocketApiProps(name="same", backend=target, log_kms_key_arn="arn:aws:kms:us-east-1:1:key/k"))
    with pytest.raises(InvalidPropsError) as err:
        WebSocketApi(
            stack, "second", WebSocketApiProps(name="same", backend=target, log_kms_key_arn="arn:aws:kms:us-east-1:1:key/k")
        )
    assert "twins/second and twins/first would both create the log group" in str(err.value)
    assert err.value.prop == "name" and "give one of them another name" in str(err.value)
    # Another name, or the same name on another stage, is fine.
    WebSocketApi(
        stack,
        "third",
        WebSocketApiProps(name="same", stage="dev", backend=target, log_kms_key_arn="arn:aws:kms:us-east-1:1:key/k"),
    )


def test_a_reusable_construct_emits_no_root_outputs_unless_asked(three_function_synth, existing_synth):
    assert three_function_synth.outputs == {}
    assert {"websocket_api_endpoint", "websocket_management_endpoint", "websocket_api_id", "websocket_api_execution_arn"} <= set(
        existing_synth.outputs
    )  # the app's stack asks for them


@pytest.fixture(scope="module")
def two_way_synth():
    """Custom routes answering on the socket (in props and through add_route), and clients held to the custom domain."""
    from careconnect_ws_cdk import CustomDomain, LambdaTarget, WebSocketApi, WebSocketApiProps
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.testing import synthesize

    chat = LambdaTarget(function_name="chat", invoke_arn="arn:chat/invocations")

    def build(app):
        stack = TerraformStack(app, "two-way")
        AwsProvider(stack, "aws", region="eu-west-1")
        ws = WebSocketApi(
            stack,
            "ws",
            WebSocketApiProps(
                name="two-way",
                backend=chat,
                custom_routes={"chat.send": chat, "chat.typing": chat},
                two_way_routes=("chat.send",),
                domain=CustomDomain(domain_name="ws.example.org", certificate_arn="arn:aws:acm:x"),
                disable_execute_api_endpoint=True,
                connect_authorization=TokenAuthorizer(function=chat, token_source="protocol"),
            ),
        )
        ws.add_route("chat.history", chat, return_response=True)
        ws.add_route("chat.read", chat)
        return stack

    return synthesize(build(Testing.app()))


def test_custom_routes_answer_on_the_socket_when_two_way(two_way_synth):
    from careconnect_ws_cdk.testing import assert_routes_invoke, websocket_routes

    routes = routes_by_key(two_way_synth)
    two_way = {key for key, r in routes.items() if r.get("route_response_selection_expression") == "$default"}
    assert two_way == {"$default", "chat.send", "chat.history"}
    # The same, read through the helpers the library ships for its users' tests.
    assert {key for key, route in websocket_routes(two_way_synth).items() if route.two_way} == two_way
    assert_routes_invoke(two_way_synth, "arn:chat/invocations", routes=("$connect", "chat.send", "chat.read"))
    with pytest.raises(AssertionError, match="no route chat.nope"):
        assert_routes_invoke(two_way_synth, "arn:chat/invocations", routes=("chat.nope",))
    responses = two_way_synth.resources("aws_apigatewayv2_route_response").values()
    assert all(resp["route_response_key"] == "$default" for resp in responses)


def test_the_authorizer_reads_the_token_where_the_clients_put_it(two_way_synth, existing_full_synth):
    assert two_way_synth.one("aws_apigatewayv2_authorizer")[1]["identity_sources"] == [
        "route.request.header.Sec-WebSocket-Protocol"
    ]
    assert existing_full_synth.one("aws_apigatewayv2_authorizer")[1]["identity_sources"] == ["route.request.querystring.token"]


def test_the_default_endpoint_can_be_disabled_with_a_custom_domain(two_way_synth, existing_synth):
    assert two_way_synth.one(API)[1]["disable_execute_api_endpoint"] is True
    assert "disable_execute_api_endpoint" not in existing_synth.one(API)[1]


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"disable_execute_api_endpoint": True}, "disable_execute_api_endpoint"),
        ({"two_way_routes": ("chat.send",)}, "two_way_routes"),
        ({"connect_authorization": NoAuthorization(token_source="cookie:session")}, "connect_authorization.token_source"),
        ({"connect_authorization": TokenAuthorizer(token_source="protocol")}, "connect_authorization.function"),
        (
            {"connect_authorization": TokenAuthorizer(function=LambdaTarget(function_name="", invoke_arn="x"))},
            "connect_authorization.function",
        ),
        ({"connect_authorization": "iam"}, "connect_authorization"),
    ],
)
def test_two_way_and_endpoint_props_are_checked(props, prop):
    from careconnect_ws_cdk.errors import InvalidPropsError
    from careconnect_ws_cdk.websocket_api import LambdaTarget, WebSocketApiProps

    with pytest.raises(InvalidPropsError) as err:  # checked at construction (__post_init__)
        WebSocketApiProps(name="x", backend=LambdaTarget(function_name="f", invoke_arn="arn:f"), **props)
    assert err.value.prop == prop


def test_aws_iam_on_connect_in_the_complete_system(fake_artifact):
    """Service clients sign the handshake: $connect is AWS_IAM, no authorizer, no token secret, and the function is
    told (WS_CONNECT_AUTH=iam) to take the signer as the user."""
    from careconnect_ws import contract
    from careconnect_ws_cdk import WebSocketSystem, WebSocketSystemProps
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.errors import InvalidPropsError
    from careconnect_ws_cdk.testing import synthesize, websocket_routes

    stack = TerraformStack(Testing.app(), "iam")
    AwsProvider(stack, "aws", region="eu-west-1")
    WebSocketSystem(
        stack, "ws", WebSocketSystemProps(artifact_path=fake_artifact, connect_authorization=IamAuthorization(), dashboard=False)
    )
    s = synthesize(stack)
    routes = websocket_routes(s)
    assert routes["$connect"].authorization == "AWS_IAM"
    assert {routes[k].authorization for k in ("$disconnect", "$default")} == {"NONE"}
    assert s.resources("aws_apigatewayv2_authorizer") == {}
    assert [x["name"] for x in s.resources("aws_secretsmanager_secret").values()] == ["careconnect-websocket/database-url"]
    (function,) = s.resources("aws_lambda_function").values()
    assert function["environment"]["variables"][contract.CONNECT_AUTH] == "iam"
    with pytest.raises(InvalidPropsError) as err:
        WebSocketSystem(
            TerraformStack(Testing.app(), "both"),
            "ws",
            WebSocketSystemProps(
                artifact_path=fake_artifact,
                connect_authorization=TokenAuthorizer(
                    function=LambdaTarget(function_name="f", invoke_arn="arn:f"), token_source="cookie:session"
                ),
            ),
        )
    assert err.value.prop == "connect_authorization.token_source"
