"""A platform team's own app: two WebSocket APIs from the installed library, on their own aliased
provider in another region, bound to a function their stack creates. Run from a clean virtualenv."""

import json
import os

from careconnect_ws_cdk import (
    AccountLoggingRole,
    AccountLoggingRoleProps,
    Alarms,
    AlarmsProps,
    CustomDomain,
    Dashboard,
    DashboardProps,
    IamAuthorization,
    LambdaTarget,
    LogEncryptionKey,
    LogEncryptionKeyProps,
    TokenAuthorizer,
    WebSocketApi,
    WebSocketApiProps,
)
from careconnect_ws_cdk.cdk import LINEAGE, App, AwsProvider, IamRole, LambdaFunction, TerraformStack, Testing
from careconnect_ws_cdk.testing import assert_routes_invoke, reference, snapshot_json, synthesize, websocket_routes
from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

app = App(outdir="out")
stack = TerraformStack(app, "consumer")
AwsProvider(stack, "aws", region="us-east-1")
eu = AwsProvider(stack, "eu", region="eu-west-1", alias="eu")
trust = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
role = IamRole(stack, "role", name="consumer-ws", assume_role_policy=json.dumps(trust), provider=eu)
fn = LambdaFunction(
    stack,
    "fn",
    function_name="consumer-ws",
    role=role.arn,
    handler="app.handler",
    runtime="python3.12",
    filename="function.zip",
    provider=eu,
)

chat = WebSocketApi(stack, "chat", WebSocketApiProps(name="chat", backend=LambdaTarget.from_function(fn), provider=eu))
alerts = WebSocketApi(stack, "alerts", WebSocketApiProps(name="alerts", backend=LambdaTarget.from_function(fn), provider=eu))
chat.add_outputs(prefix="chat_")
alerts.add_outputs(prefix="alerts_")
chat.grant_manage_connections(role)
alerts.add_route("chat.send", LambdaTarget.from_function(fn))
chat.add_route("chat.send", LambdaTarget.from_function(fn), return_response=True)  # answers on the socket
# And the complete system (its own function, key, secrets, schedule) in the same stack, on the same provider.
# Twice, told apart by name alone (every physical name derives from it), with the team's own topics and modules.
notify = WebSocketSystem(stack, "notifications", WebSocketSystemProps(name="notify", artifact_path="function.zip", provider=eu))
care = WebSocketSystem(
    stack,
    "notifications_care",
    WebSocketSystemProps(
        name="care",
        artifact_path="function.zip",
        provider=eu,
        extensions=("acme_ws",),
        topics=({"name": "care-plan", "rule": "claim:care_plans"},),
    ),
)
notify.add_outputs(prefix="notify_")
care.add_outputs(prefix="care_")

# Every other construct, on the same aliased provider, through its props: the routes and authorizers a team asks
# for (a bearer header, the subprotocols, AWS_IAM for service clients with only the custom domain), a dashboard,
# alarms, a log key, the account's logging role.
devices = WebSocketApi(
    stack,
    "more_devices",
    WebSocketApiProps(
        name="devices",
        backend=LambdaTarget.from_function(fn),
        provider=eu,
        connect_authorization=TokenAuthorizer(function=LambdaTarget.from_function(fn), token_source="header:Authorization"),
    ),
)
WebSocketApi(
    stack,
    "more_browsers",
    WebSocketApiProps(
        name="browsers",
        backend=LambdaTarget.from_function(fn),
        provider=eu,
        connect_authorization=TokenAuthorizer(function=LambdaTarget.from_function(fn), token_source="protocol"),
    ),
)
WebSocketApi(
    stack,
    "more_services",
    WebSocketApiProps(
        name="services",
        backend=LambdaTarget.from_function(fn),
        connect_authorization=IamAuthorization(),
        provider=eu,
        domain=CustomDomain(domain_name="ws.example.org", certificate_arn="arn:aws:acm:eu-west-1:111122223333:certificate/x"),
        disable_execute_api_endpoint=True,
    ),
)
Dashboard(stack, "more_dashboard", DashboardProps(name="devices", api_id=devices.api_id, stage="prod", provider=eu))
Alarms(
    stack,
    "more_alarms",
    AlarmsProps(
        name="devices", topic_arn="arn:aws:sns:eu-west-1:111122223333:oncall", api_id=devices.api_id, stage="prod", provider=eu
    ),
)
LogEncryptionKey(stack, "more_key", LogEncryptionKeyProps(alias="consumer", log_group_names=("/consumer/logs",), provider=eu))
AccountLoggingRole(stack, "more_account", AccountLoggingRoleProps(name="consumer-apigw-logs", provider=eu))

# The team's own tests of this stack, with the helpers the library ships.
synthesized = synthesize(stack)
assert_routes_invoke(synthesized, reference(fn, "invoke_arn"), api="chat")
assert websocket_routes(synthesized, api="chat")["chat.send"].two_way
assert_routes_invoke(synthesized, reference(fn, "invoke_arn"), api="alerts", routes=("$default", "chat.send"))


def notifications(zip_path: str) -> TerraformStack:
    test_stack = TerraformStack(Testing.app(), "snapshot")
    AwsProvider(test_stack, "aws", region="eu-west-1")
    WebSocketSystem(test_stack, "n", WebSocketSystemProps(name="notify", artifact_path=zip_path))
    return test_stack


# Their snapshot does not churn when our Lambda zip (a new release: same name, other bytes) or our provider pin changes.
for release, filler in (("v1", b"\0"), ("v2", b"\1")):
    os.makedirs(release, exist_ok=True)
    with open(os.path.join(release, "careconnect-ws-lambda-arm64.zip"), "wb") as zip_file:
        zip_file.write(b"PK\x05\x06" + filler * 18)
first = synthesize(notifications("v1/careconnect-ws-lambda-arm64.zip"))
second = synthesize(notifications("v2/careconnect-ws-lambda-arm64.zip"))
assert snapshot_json(first) == snapshot_json(second)
repinned = json.loads(first.raw)
repinned["terraform"]["required_providers"]["aws"]["version"] = "9.9.9"
assert snapshot_json(repinned) == snapshot_json(first)
print("snapshot-stable")

app.synth()
print(LINEAGE)
