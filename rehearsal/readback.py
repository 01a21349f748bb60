"""Read back what ``terraform apply`` created and check the wiring against what the stack means.

moto stores what it is given without checking references (a route target without
``integrations/``, a permission on the wrong stage, an integration URI that is the function ARN
instead of its invoke ARN all apply cleanly), so every link is checked here on the live
resources, through boto3. Terraform state is used only to find things moto cannot list
(authorizers, route responses) and to name the resource in a failure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws import contract

IDENTITY_SOURCE = ["route.request.querystring.token"]


class WiringError(AssertionError):
    """One or more links are wrong; the message lists each, naming the Terraform resource."""


@dataclass(frozen=True)
class Expectations:
    """What the stack means, from its configuration (not from what was applied)."""

    stage: str
    throttling_rate_limit: float
    throttling_burst_limit: int
    logging_level: str
    log_retention_days: int
    function_name: str
    authorizer: bool
    manage_connections_role: str | None
    cleanup_rule: bool
    alarm_topic_arn: str | None = None
    account_role: bool = False
    qualifier: str | None = None
    """SnapStart: the alias every way in must invoke (integrations, authorizer, permissions, schedule)."""
    dashboard_name: str | None = None


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    def expect(self, ok: bool, where: str, what: str) -> None:
        self.checked += 1
        if not ok:
            self.problems.append(f"{where}: {what}")


def _resources(state: dict) -> list[dict]:
    return state.get("values", {}).get("root_module", {}).get("resources", [])


def _by_type(state: dict, kind: str) -> list[dict]:
    return [r for r in _resources(state) if r["type"] == kind and r.get("mode") == "managed"]


def _address_of(state: dict, kind: str, test: Callable[[dict], bool]) -> str:
    found = next((r for r in _by_type(state, kind) if test(r["values"])), None)
    return found["address"] if found else f"{kind} (not in state)"


def invoke_arn(region: str, function_arn: str) -> str:
    return f"arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


@dataclass
class Live:
    """What every check of one rehearsal reads: the findings so far, the state, the expectations, the clients,
    and the API and function as they are live."""

    f: Findings
    state: dict
    expect: Expectations
    client: Callable[[str], Any]
    v2: Any
    api_id: str
    execution_arn: str
    invoked_arn: str
    function_invoke_arn: str
    source_arns: set
    region: str = ""
    routes: dict = field(default_factory=dict)


def check_wiring(state: dict, expect: Expectations, client: Callable[[str], Any], region: str) -> Findings:
    """Every check, on the live resources; raises nothing, returns what it found."""
    f = Findings()
    account = client("sts").get_caller_identity()["Account"]
    apis = _by_type(state, "aws_apigatewayv2_api")
    f.expect(len(apis) == 1, "aws_apigatewayv2_api", f"expected one API in state, found {len(apis)}")
    if not apis:
        return f
    api_id = apis[0]["values"]["id"]
    v2 = client("apigatewayv2")
    api = v2.get_api(ApiId=api_id)
    f.expect(api["ProtocolType"] == "WEBSOCKET", apis[0]["address"], f"protocol {api['ProtocolType']}, not WEBSOCKET")
    invoked_arn, qualified = _invoked(f, client, expect)
    policy = json.loads(client("lambda").get_policy(FunctionName=expect.function_name, **qualified)["Policy"])
    ctx = Live(
        f,
        state,
        expect,
        client,
        v2,
        api_id,
        f"arn:aws:execute-api:{region}:{account}:{api_id}",
        invoked_arn,
        invoke_arn(region, invoked_arn),
        {s.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn") for s in policy["Statement"]},
        region,
    )
    for check in (
        _check_integrations_and_routes,
        _check_authorizer,
        _check_stage_and_logs,
        _check_manage_connections,
        _check_cleanup_schedule,
        _check_alarms,
        _check_dashboard,
        _check_account_role,
    ):
        check(ctx)
    return f


def _invoked(f: Findings, client: Callable[[str], Any], expect: Expectations) -> tuple[str, dict]:
    """What every way in must invoke: the function, or with SnapStart its alias (a published version)."""
    function = client("lambda").get_function(FunctionName=expect.function_name)["Configuration"]
    if not expect.qualifier:
        return function["FunctionArn"], {}
    alias = client("lambda").get_alias(FunctionName=expect.function_name, Name=expect.qualifier)
    f.expect(
        alias.get("FunctionVersion") not in (None, "$LATEST"),
        "aws_lambda_alias",
        f"the alias points at {alias.get('FunctionVersion')!r}, not a published version",
    )
    return alias["AliasArn"], {"Qualifier": expect.qualifier}


def _matching(key: str, value: Any) -> Callable[[dict[str, Any]], bool]:
    """A state resource's values whose ``key`` is ``value``."""
    return lambda values: bool(values.get(key) == value)


def _check_integrations_and_routes(ctx: Live) -> None:
    """Every integration is AWS_PROXY to the function; every route targets one and may invoke it."""
    f, state, expect, v2, api_id, execution_arn, function_invoke_arn, source_arns = (
        ctx.f,
        ctx.state,
        ctx.expect,
        ctx.v2,
        ctx.api_id,
        ctx.execution_arn,
        ctx.function_invoke_arn,
        ctx.source_arns,
    )
    integrations = {i["IntegrationId"]: i for i in v2.get_integrations(ApiId=api_id)["Items"]}
    for integration_id, integration in integrations.items():
        where = _address_of(state, "aws_apigatewayv2_integration", _matching("id", integration_id))
        f.expect(integration["IntegrationType"] == "AWS_PROXY", where, f"type {integration['IntegrationType']}, not AWS_PROXY")
        f.expect(
            integration.get("IntegrationUri") == function_invoke_arn,
            where,
            f"integration URI {integration.get('IntegrationUri')!r} is not the function's invoke ARN {function_invoke_arn!r}",
        )

    routes = {r["RouteKey"]: r for r in v2.get_routes(ApiId=api_id)["Items"]}
    f.expect(
        set(routes) >= {"$connect", "$disconnect", "$default"},
        "aws_apigatewayv2_route",
        f"routes {sorted(routes)} lack one of $connect, $disconnect, $default",
    )
    for key, route in routes.items():
        where = _address_of(state, "aws_apigatewayv2_route", _matching("id", route["RouteId"])) + f" ({key})"
        target = route.get("Target", "")
        f.expect(
            target.startswith("integrations/") and target.removeprefix("integrations/") in integrations,
            where,
            f"target {target!r} is not integrations/<id of an integration of API {api_id}>",
        )
        wanted = f"{execution_arn}/{expect.stage}/{key}"
        f.expect(wanted in source_arns, where, f"no permission lets API Gateway invoke the function with source ARN {wanted}")
    ctx.routes = routes


def _check_authorizer(ctx: Live) -> None:
    """The ``$connect`` authorizer: its identity source, its function and its permission."""
    f, state, expect, v2, api_id, execution_arn, function_invoke_arn, source_arns = (
        ctx.f,
        ctx.state,
        ctx.expect,
        ctx.v2,
        ctx.api_id,
        ctx.execution_arn,
        ctx.function_invoke_arn,
        ctx.source_arns,
    )
    if expect.authorizer:
        authorizers = _by_type(state, "aws_apigatewayv2_authorizer")
        f.expect(len(authorizers) == 1, "aws_apigatewayv2_authorizer", f"expected one authorizer, found {len(authorizers)}")
        for entry in authorizers:
            live = v2.get_authorizer(ApiId=api_id, AuthorizerId=entry["values"]["id"])
            where = entry["address"]
            f.expect(live.get("IdentitySource") == IDENTITY_SOURCE, where, f"identity source {live.get('IdentitySource')}")
            f.expect(live.get("AuthorizerUri") == function_invoke_arn, where, "authorizer URI is not the function's invoke ARN")
            wanted = f"{execution_arn}/authorizers/{live['AuthorizerId']}"
            f.expect(wanted in source_arns, where, f"no permission with source ARN {wanted}")
            connect = ctx.routes.get("$connect", {})
            f.expect(
                connect.get("AuthorizerId") == live["AuthorizerId"] and connect.get("AuthorizationType") == "CUSTOM",
                where,
                "$connect does not use this authorizer",
            )


def _check_stage_and_logs(ctx: Live) -> None:
    """The stage's settings, and its log groups: present, kept as configured, encrypted."""
    f, state, expect, client, v2, api_id = ctx.f, ctx.state, ctx.expect, ctx.client, ctx.v2, ctx.api_id
    stage = v2.get_stage(ApiId=api_id, StageName=expect.stage)
    stage_where = _address_of(state, "aws_apigatewayv2_stage", lambda v: v["name"] == expect.stage)
    settings = stage.get("DefaultRouteSettings", {})
    f.expect(stage.get("AutoDeploy") is True, stage_where, "auto_deploy is off")
    f.expect(
        settings.get("ThrottlingRateLimit") == expect.throttling_rate_limit,
        stage_where,
        f"throttling rate {settings.get('ThrottlingRateLimit')}, expected {expect.throttling_rate_limit}",
    )
    f.expect(
        settings.get("ThrottlingBurstLimit") == expect.throttling_burst_limit,
        stage_where,
        f"throttling burst {settings.get('ThrottlingBurstLimit')}, expected {expect.throttling_burst_limit}",
    )
    f.expect(settings.get("DetailedMetricsEnabled") is True, stage_where, "detailed metrics are off")
    f.expect(
        settings.get("LoggingLevel") == expect.logging_level,
        stage_where,
        f"logging level {settings.get('LoggingLevel')}, expected {expect.logging_level}",
    )
    f.expect(settings.get("DataTraceEnabled") is not True, stage_where, "data trace is on (it logs message bodies)")

    logs = client("logs")
    groups = {g["logGroupName"]: g for g in logs.describe_log_groups()["logGroups"]}
    by_arn = {g["arn"].removesuffix(":*"): g for g in groups.values()}
    destination = stage.get("AccessLogSettings", {}).get("DestinationArn", "")
    f.expect(destination.removesuffix(":*") in by_arn, stage_where, f"access logs go to {destination!r}, which is no log group")
    execution_group = f"API-Gateway-Execution-Logs_{api_id}/{expect.stage}"
    f.expect(execution_group in groups, "aws_cloudwatch_log_group", f"execution log group {execution_group} does not exist")
    for entry in _by_type(state, "aws_cloudwatch_log_group"):
        live = groups.get(entry["values"]["name"])
        f.expect(live is not None, entry["address"], "log group does not exist")
        if live:
            f.expect(
                live.get("retentionInDays") == expect.log_retention_days,
                entry["address"],
                f"retention {live.get('retentionInDays')} days, expected {expect.log_retention_days}",
            )
            f.expect(bool(live.get("kmsKeyId")), entry["address"], "not encrypted with the stack's KMS key")


def _check_manage_connections(ctx: Live) -> None:
    """``execute-api:ManageConnections`` on exactly this stage's ``@connections``."""
    f, expect, client, execution_arn = ctx.f, ctx.expect, ctx.client, ctx.execution_arn
    if expect.manage_connections_role:
        iam = client("iam")
        wanted = f"{execution_arn}/{expect.stage}/*/@connections/*"
        names = iam.list_role_policies(RoleName=expect.manage_connections_role)["PolicyNames"]
        resources = []
        for name in names:
            document = iam.get_role_policy(RoleName=expect.manage_connections_role, PolicyName=name)["PolicyDocument"]
            document = json.loads(document) if isinstance(document, str) else document
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "execute-api:ManageConnections" in actions:
                    resources += statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        f.expect(
            resources == [wanted],
            f"aws_iam_role_policy on {expect.manage_connections_role}",
            f"execute-api:ManageConnections on {resources}, expected exactly [{wanted}]",
        )


def _check_cleanup_schedule(ctx: Live) -> None:
    """The cleanup rule invokes the function (or its alias) with the cleanup command."""
    f, state, expect, client, invoked_arn, source_arns = (
        ctx.f,
        ctx.state,
        ctx.expect,
        ctx.client,
        ctx.invoked_arn,
        ctx.source_arns,
    )
    if expect.cleanup_rule:
        events = client("events")
        rules = _by_type(state, "aws_cloudwatch_event_rule")
        f.expect(len(rules) == 1, "aws_cloudwatch_event_rule", f"expected one cleanup rule, found {len(rules)}")
        for entry in rules:
            name = entry["values"]["name"]
            targets = events.list_targets_by_rule(Rule=name)["Targets"]
            f.expect(
                [t["Arn"] for t in targets] == [invoked_arn],
                entry["address"],
                f"targets {[t['Arn'] for t in targets]}, expected {invoked_arn}",
            )
            f.expect(
                all(json.loads(t.get("Input", "{}")).get("careconnect_ws", {}).get("command") == "cleanup" for t in targets),
                entry["address"],
                "the target's input is not the cleanup command",
            )
            rule_arn = events.describe_rule(Name=name)["Arn"]
            f.expect(rule_arn in source_arns, entry["address"], f"no permission with source ARN {rule_arn}")


def _check_alarms(ctx: Live) -> None:
    """Every alarm notifies the topic and watches this API and this function (the metric-math ones too)."""
    f, state, expect, client, api_id = ctx.f, ctx.state, ctx.expect, ctx.client, ctx.api_id
    if expect.alarm_topic_arn:
        alarms = client("cloudwatch").describe_alarms()["MetricAlarms"]
        f.expect(
            len(alarms) == len(_by_type(state, "aws_cloudwatch_metric_alarm")),
            "aws_cloudwatch_metric_alarm",
            f"{len(alarms)} alarms live, {len(_by_type(state, 'aws_cloudwatch_metric_alarm'))} in state",
        )
        for alarm in alarms:
            where = _address_of(state, "aws_cloudwatch_metric_alarm", _matching("alarm_name", alarm["AlarmName"]))
            f.expect(expect.alarm_topic_arn in alarm.get("AlarmActions", []), where, "does not notify the alarm topic")
            dimension_lists = [alarm.get("Dimensions", [])] + [
                q["MetricStat"]["Metric"].get("Dimensions", []) for q in alarm.get("Metrics", []) if "MetricStat" in q
            ]
            f.expect(
                bool(alarm.get("MetricName")) or any("Expression" in q for q in alarm.get("Metrics", [])),
                where,
                "watches neither a metric nor an expression",
            )
            for dimensions in dimension_lists:
                dims = {d["Name"]: d["Value"] for d in dimensions}
                if "ApiId" in dims:
                    f.expect(dims["ApiId"] == api_id, where, f"watches API {dims['ApiId']}, not {api_id}")
                for name in ("FunctionName", contract.DIMENSION_FUNCTION):
                    if name in dims:
                        f.expect(
                            dims[name] == expect.function_name,
                            where,
                            f"watches function {dims[name]}, not {expect.function_name}",
                        )


def _check_dashboard(ctx: Live) -> None:
    """The dashboard exists, its body is JSON, and its graphs show this API and this function."""
    f, expect, client, api_id = ctx.f, ctx.expect, ctx.client, ctx.api_id
    if not expect.dashboard_name:
        return
    where = "aws_cloudwatch_dashboard"
    try:
        body = json.loads(client("cloudwatch").get_dashboard(DashboardName=expect.dashboard_name)["DashboardBody"])
    except Exception as err:  # missing, or a body that is not JSON
        f.expect(False, where, f"cannot read dashboard {expect.dashboard_name}: {err}")
        return
    rows = [row for w in body.get("widgets", []) for row in w.get("properties", {}).get("metrics", [])]
    f.expect(len(rows) >= 10, where, f"{len(rows)} metrics on the dashboard")
    f.expect(
        all(w["properties"].get("region") == ctx.region for w in body["widgets"]), where, "a graph shows another region's metrics"
    )
    for row in rows:
        if isinstance(row[0], dict):
            f.expect(
                f'{contract.DIMENSION_FUNCTION}="{expect.function_name}"' in row[0]["expression"],
                where,
                f"a search not on this function: {row[0]['expression']}",
            )
            continue
        dims = (
            dict(zip(row[2::2], row[3::2], strict=False))
            if not isinstance(row[-1], dict)
            else dict(zip(row[2:-1:2], row[3:-1:2], strict=False))
        )
        if "ApiId" in dims:
            f.expect(dims["ApiId"] == api_id, where, f"a graph of API {dims['ApiId']}, not {api_id}")
        if "FunctionName" in dims:
            f.expect(dims["FunctionName"] == expect.function_name, where, f"a graph of function {dims['FunctionName']}")


def _check_account_role(ctx: Live) -> None:
    """The account's API Gateway CloudWatch role is the stack's."""
    f, state, expect, client = ctx.f, ctx.state, ctx.expect, ctx.client
    if expect.account_role:
        account_settings = client("apigateway").get_account()
        roles = _by_type(state, "aws_iam_role")
        role_arns = {r["values"]["arn"] for r in roles}
        f.expect(
            account_settings.get("cloudwatchRoleArn") in role_arns,
            "aws_api_gateway_account",
            f"the account's CloudWatch role is {account_settings.get('cloudwatchRoleArn')!r}, not the stack's role",
        )


# Attributes moto never returns as written: a second plan shows them as a change every time.
MOTO_PLAN_GAPS = {
    ("aws_lambda_function", "dead_letter_config"),
    ("aws_lambda_function", "logging_config"),
    ("aws_lambda_function", "kms_key_arn"),
    # SnapStart: moto does not return snap_start, so the provider updates the function again; with publish on,
    # an update publishes a version, which moves the computed version ARNs and the alias with it.
    ("aws_lambda_function", "snap_start"),
    ("aws_lambda_function", "version"),
    ("aws_lambda_function", "qualified_arn"),
    ("aws_lambda_function", "qualified_invoke_arn"),
    ("aws_lambda_alias", "function_version"),
}


def unexpected_changes(plan: dict) -> list[str]:
    """Changes a second plan shows beyond the known moto gaps."""
    found = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        before, after = change["change"].get("before") or {}, change["change"].get("after") or {}
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        if actions == ["update"] and changed and all((change["type"], k) in MOTO_PLAN_GAPS for k in changed):
            continue
        found.append(f"{change['address']}: {'/'.join(actions)} {sorted(changed)}")
    return found
