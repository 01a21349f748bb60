"""A platform team's own app: two WebSocket APIs from the installed library, on their own aliased
provider in another region, bound to a function their stack creates. Run from a clean virtualenv."""

import json
import os

from careconnect_ws_cdk import LambdaTarget, WebSocketApi, WebSocketApiProps
from careconnect_ws_cdk.cdk import LINEAGE, App, AwsProvider, IamRole, LambdaFunction, TerraformStack, Testing
from careconnect_ws_cdk.testing import assert_routes_invoke, reference, snapshot_json, synthesize
from careconnect_ws_cdk.websocket_system import WebSocketSystem, WebSocketSystemProps

app = App(outdir="out")
stack = TerraformStack(app, "consumer")
AwsProvider(stack, "aws", region="us-east-1")
eu = AwsProvider(stack, "eu", region="eu-west-1", alias="eu")
trust = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
role = IamRole(stack, "role", name="consumer-ws", assume_role_policy=json.dumps(trust), provider=eu)
fn = LambdaFunction(stack, "fn", function_name="consumer-ws", role=role.arn, handler="app.handler",
                    runtime="python3.12", filename="function.zip", provider=eu)

chat = WebSocketApi(stack, "chat", WebSocketApiProps(name="chat", backend=LambdaTarget.from_function(fn), provider=eu))
alerts = WebSocketApi(stack, "alerts", WebSocketApiProps(name="alerts", backend=LambdaTarget.from_function(fn), provider=eu))
chat.add_outputs(prefix="chat_")
alerts.add_outputs(prefix="alerts_")
chat.grant_manage_connections(role)
alerts.add_route("chat.send", LambdaTarget.from_function(fn))
# And the complete system (its own function, key, secrets, schedule) in the same stack, on the same provider.
WebSocketSystem(stack, "notifications", WebSocketSystemProps(name="notify", artifact_path="function.zip", provider=eu))

# The team's own tests of this stack, with the helpers the library ships.
synthesized = synthesize(stack)
assert_routes_invoke(synthesized, reference(fn, "invoke_arn"), api="chat")
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
