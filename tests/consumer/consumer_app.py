"""A platform team's own app: two WebSocket APIs from the installed library, on their own aliased
provider in another region, bound to a function their stack creates. Run from a clean virtualenv."""

import json

from careconnect_ws_cdk import LambdaTarget, WebSocketApi, WebSocketApiProps
from careconnect_ws_cdk.cdk import LINEAGE, App, AwsProvider, IamRole, LambdaFunction, TerraformStack
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
app.synth()
print(LINEAGE)
