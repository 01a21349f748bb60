"""What an operator gets: the dashboard and the alarms, each naming a metric AWS publishes or the runtime writes."""

from __future__ import annotations

import json

import pytest

from careconnect_ws import contract
from tests.support.aws_metrics import check_alarm, check_dashboard_metrics


def dashboard_of(synth) -> dict:
    ((_, dashboard),) = synth.resources("aws_cloudwatch_dashboard").items()
    return dashboard


@pytest.mark.parametrize("which", ["default_synth", "full_synth", "existing_full_synth", "snap_start_synth"])
def test_the_dashboard_parses_and_names_only_metrics_that_exist(which, request):
    synth = request.getfixturevalue(which)
    dashboard = dashboard_of(synth)
    body = json.loads(dashboard["dashboard_body"])
    assert check_dashboard_metrics(body) >= 10
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert {
        "Connections and messages",
        "API Gateway errors",
        "Lambda invocations, errors, throttles",
        "Handler: requests and errors",
        "$connect outcomes (accepted, refused by reason)",
    } <= set(titles)
    # The provider's region (the one the API is created in), not this machine's default.
    assert {w["properties"]["region"] for w in body["widgets"]} == {"${data.aws_region.dashboard_region_EDE6AE0C.id}"} or all(
        w["properties"]["region"].startswith("${data.aws_region.") for w in body["widgets"]
    )


def test_the_complete_dashboard_shows_the_timeout_the_reserved_limit_the_dead_letters_and_the_cleanup(full_synth):
    body = json.loads(dashboard_of(full_synth)["dashboard_body"])
    widgets = {w["properties"]["title"]: w["properties"] for w in body["widgets"]}
    assert widgets["Lambda duration (ms) against the timeout"]["annotations"]["horizontal"][0]["value"] == 29_000
    assert widgets["Concurrency against the reserved limit"]["annotations"]["horizontal"][0]["value"] == 100
    assert "Dead-letter queue (should stay at 0)" in widgets and "Cleanup runs" in widgets
    fn = full_synth.one("aws_lambda_function")[1]["function_name"]
    searches = [row[0]["expression"] for p in widgets.values() for row in p["metrics"] if isinstance(row[0], dict)]
    assert all(f'{contract.DIMENSION_FUNCTION}="{fn}"' in s for s in searches)


def test_every_alarm_watches_a_real_metric_and_notifies_the_topic(full_synth, existing_full_synth):
    for synth in (full_synth, existing_full_synth):
        for alarm in synth.resources("aws_cloudwatch_metric_alarm").values():
            check_alarm(alarm)
            assert alarm["alarm_actions"] == ["arn:aws:sns:us-east-1:111122223333:oncall"]


def test_the_alarms_that_matter_with_their_default_thresholds(full_synth):
    alarms = {
        a["alarm_name"].removeprefix("careconnect-websocket-"): a
        for a in full_synth.resources("aws_cloudwatch_metric_alarm").values()
    }
    assert set(alarms) >= {
        "server-error-rate",
        "dead-letters",
        "duration-near-timeout",
        "concurrency-near-reserved",
        "integration-errors",
        "execution-errors",
        "connect-client-errors",
        "lambda-errors",
        "lambda-throttles",
        "cleanup-failures",
        "cleanup-invocation-failures",
    }, set(alarms)
    rate = alarms["server-error-rate"]
    assert rate["threshold"] == 5.0
    assert [q["id"] for q in rate["metric_query"]] == ["errors", "requests", "rate"]
    assert rate["metric_query"][2]["expression"] == "IF(requests >= 20, 100 * errors / requests, 0)"
    assert alarms["duration-near-timeout"]["threshold"] == 23_200  # 80 % of 29 s
    assert alarms["concurrency-near-reserved"]["threshold"] == 80
    assert (alarms["dead-letters"]["threshold"], alarms["dead-letters"]["statistic"]) == (1, "Maximum")


def test_the_server_error_alarm_counts_the_metric_the_runtime_writes_for_a_503(full_synth, careconnect_runtime):
    """Not a name found as text: the runtime's own EMF line for a handled 503 carries the metric and dimension
    value the alarm's query names."""
    from careconnect_ws import db as db_module
    from careconnect_ws.handler import lambda_handler
    from careconnect_ws.settings import set_settings
    from tests.support.emf import validate
    from tests.support.log_lines import captured_lines
    from tests.support.runtime import make_settings

    fn = full_synth.one("aws_lambda_function")[1]["function_name"]
    alarm = next(a for a in full_synth.resources("aws_cloudwatch_metric_alarm").values() if "metric_query" in a)
    wanted = {
        (q["metric"]["namespace"], q["metric"]["metric_name"], tuple(q["metric"]["dimensions"].items()))
        for q in alarm["metric_query"]
        if "metric" in q
    }
    set_settings(make_settings("postgresql://postgres@127.0.0.1:1/postgres", db_connect_timeout_seconds=1))
    db_module.reset_database()

    class Context:
        function_name, aws_request_id, function_version = fn, "r-1", "1"

    with captured_lines() as lines:
        assert lambda_handler({contract.COMMAND_KEY: {"command": "cleanup"}}, Context())["statusCode"] == 503
    written = validate(lines.last_handled())
    assert wanted <= set(written)
    assert lines.last_handled()["ServerErrors"] == 1


def test_an_identity_providers_key_set_instead_of_a_token_secret_and_no_dashboard(fake_artifact):
    from careconnect_ws_cdk.cdk import AwsProvider, TerraformStack, Testing
    from careconnect_ws_cdk.connect_authorization import TokenAuthorizer
    from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

    app = Testing.app()
    stack = TerraformStack(app, "jwks")
    AwsProvider(stack, "aws", region="eu-west-1")
    jwks = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
    WebSocketSystem(
        stack,
        "ws",
        WebSocketSystemProps(
            artifact_path=fake_artifact,
            dashboard=False,
            jwt_jwks_url=jwks,
            connect_authorization=TokenAuthorizer(token_source="header:Authorization"),
            extensions=("acme_ws", "acme_ws.chat"),
            topics=({"name": "care-plan", "rule": "claim:care_plans"},),
            jwt_issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
            jwt_audience="client-id",
        ),
    )
    resources = json.loads(Testing.synth(stack))["resource"]
    assert "aws_cloudwatch_dashboard" not in resources
    (function,) = resources["aws_lambda_function"].values()
    variables = function["environment"]["variables"]
    assert variables[contract.JWT_JWKS_URL] == jwks and contract.JWT_SECRET_ARN not in variables
    # The function reads the token where the authorizer looks for it.
    assert variables[contract.TOKEN_SOURCE] == "header:Authorization"
    (authorizer,) = resources["aws_apigatewayv2_authorizer"].values()
    assert authorizer["identity_sources"] == ["route.request.header.Authorization"]
    assert [s["name"] for s in resources["aws_secretsmanager_secret"].values()] == ["careconnect-websocket/database-url"]
    assert variables[contract.EXTENSIONS] == "acme_ws,acme_ws.chat"  # the team's modules, imported at cold start
    assert json.loads(variables[contract.TOPICS_VARIABLE]) == [{"name": "care-plan", "rule": "claim:care_plans"}]


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"jwt_jwks_url": "https://idp/jwks.json"}, "jwt_issuer"),
        ({"jwt_jwks_url": "http://idp/jwks.json", "jwt_issuer": "i", "jwt_audience": "a"}, "jwt_jwks_url"),
        (
            {"jwt_jwks_url": "https://idp/jwks.json", "jwt_public_key": "pem", "jwt_issuer": "i", "jwt_audience": "a"},
            "jwt_jwks_url",
        ),
    ],
)
def test_token_verification_props_are_checked_at_synth(props, prop):
    from careconnect_ws_cdk.backend_function import BackendFunctionProps
    from careconnect_ws_cdk.errors import InvalidPropsError

    with pytest.raises(InvalidPropsError) as err:
        BackendFunctionProps(function_name="f", artifact_path="a.zip", kms_key_arn="k", database_secret_arn="d", **props)
    assert err.value.prop == prop


def test_the_on_call_table_covers_every_alarm_the_system_creates(full_synth):
    """Each alarm someone can be paged for has a row saying what it usually means and what to do; no row for an
    alarm that does not exist."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### On call: `careconnect-ws status`") :]
    section = section[: section.index("\n### ", 1)]
    in_table = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            in_table |= set(re.findall(r"`([a-z-]+)`", row.split("|")[1]))
    created = {
        a["alarm_name"].removeprefix("careconnect-websocket-")
        for a in full_synth.resources("aws_cloudwatch_metric_alarm").values()
    }
    assert in_table == created
