"""The WebSocket API construct: what the Terraform websocket module built, and a bit more.

    from careconnect_ws_cdk.websocket_api import WebSocketApi, WebSocketApiProps, LambdaTarget

One API (``protocol_type = WEBSOCKET``), its routes, one ``AWS_PROXY`` integration per
distinct function (routes sharing a function share it), the invoke permission of every
route scoped to this API, stage and route, an auto-deployed stage with throttling,
metrics and logging, two log groups with retention, a two-way ``$default`` route and
the outputs the module had.
"""

from __future__ import annotations

import json
import re
from typing import Any

from careconnect_ws.contract import TokenSource

from .cdk import (
    Apigatewayv2Api,
    Apigatewayv2ApiMapping,
    Apigatewayv2Authorizer,
    Apigatewayv2DomainName,
    Apigatewayv2Integration,
    Apigatewayv2Route,
    Apigatewayv2RouteResponse,
    Apigatewayv2Stage,
    Apigatewayv2StageAccessLogSettings,
    Apigatewayv2StageDefaultRouteSettings,
    CloudwatchLogGroup,
    Construct,
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    Fn,
    IamRolePolicy,
    LambdaPermission,
    Route53Record,
    TerraformOutput,
)
from .errors import InvalidPropsError
from .log_encryption_key import LogEncryptionKey, LogEncryptionKeyProps
from .websocket_api_props import LambdaTarget, WebSocketApiProps, check_custom_route_key, check_target

__all__ = ["LambdaTarget", "WebSocketApi", "WebSocketApiProps", "ACCESS_LOG_FORMAT"]

#: One JSON object per request; ``$context`` variables of WebSocket APIs. No message bodies.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "requestTime": "$context.requestTimeEpoch",
        "connectionId": "$context.connectionId",
        "routeKey": "$context.routeKey",
        "eventType": "$context.eventType",
        "messageId": "$context.messageId",
        "status": "$context.status",
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integration.error",
        "integrationLatency": "$context.integration.latency",
        "authorizerError": "$context.authorizer.error",
        "error": "$context.error.message",
        "sourceIp": "$context.identity.sourceIp",
    },
    separators=(",", ":"),
)


def access_log_group_name(api_name: str, stage: str) -> str:
    """The access log group: one place for the name, which the key policy and the stack also use."""
    return f"/aws/apigateway/{api_name}/{stage}/access"


def execution_log_group_name(api_id: str, stage: str) -> str:
    """The group API Gateway writes execution logs to (its own naming): pre-created so it has retention and a key."""
    return f"API-Gateway-Execution-Logs_{api_id}/{stage}"


def route_id(route_key: str) -> str:
    """A stable construct id for a route key: ``$connect`` -> ``connect``, ``chat.send`` -> ``chat_send``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", route_key.lstrip("$"))


class WebSocketApi(Construct):
    """An API Gateway WebSocket API bound to Lambda, with its stage, logs and outputs."""

    def __init__(self, scope: Construct, id_: str, props: WebSocketApiProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        self._tags = dict(props.tags)
        # Every resource and data source goes to the provider the props name (an alias, another region).
        self._on: dict = {"provider": props.provider} if props.provider is not None else {}
        _claim_physical_names(self)
        self.api = Apigatewayv2Api(
            self,
            "api",
            name=props.name,
            description=props.description,
            protocol_type="WEBSOCKET",
            route_selection_expression=props.route_selection_expression,
            tags=self._tags,
            **({"disable_execute_api_endpoint": True} if props.disable_execute_api_endpoint else {}),
            **self._on,
        )
        self._add_log_groups()
        self._add_authorizer()
        self._add_routes()
        self._add_stage()
        self.domain_name: Apigatewayv2DomainName | None = None
        if props.domain is not None:
            self._add_domain()
        self._add_manage_connections_policy()

    # -- the steps, in the order the resources depend on each other -------------------------

    def _add_log_groups(self) -> None:
        """Both groups exist before the stage, so API Gateway never creates the execution group itself (it
        would, with no expiry and no key); encrypted with the given key, or a key of their own."""
        props = self.props
        access_log_name = access_log_group_name(props.name, props.stage)
        execution_log_name = execution_log_group_name(self.api.id, props.stage)
        self.log_key: LogEncryptionKey | None = None
        kms_key_arn = props.log_kms_key_arn
        if kms_key_arn is None:
            self.log_key = LogEncryptionKey(self, "log_key", LogEncryptionKeyProps(
                alias=f"{props.name}-{props.stage}",
                log_group_names=(access_log_name, execution_log_name),
                tags=self._tags,
                provider=props.provider,
            ))
            kms_key_arn = self.log_key.arn
        self.access_log_group = CloudwatchLogGroup(
            self,
            "access_logs",
            name=access_log_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=kms_key_arn,
            tags=self._tags,
            **self._on,
        )
        self.execution_log_group = CloudwatchLogGroup(
            self,
            "execution_logs",
            name=execution_log_name,
            retention_in_days=props.log_retention_days,
            kms_key_id=kms_key_arn,
            tags=self._tags,
            **self._on,
        )

    def _add_authorizer(self) -> None:
        """The ``$connect`` REQUEST authorizer and its invoke permission, when one is given."""
        props = self.props
        self.authorizer: Apigatewayv2Authorizer | None = None
        if props.connect_authorizer is None:
            return
        self.authorizer = Apigatewayv2Authorizer(
            self,
            "connect_authorizer",
            api_id=self.api.id,
            name=f"{props.name}-connect",
            authorizer_type="REQUEST",
            authorizer_uri=props.connect_authorizer.invoke_arn,
            # API Gateway answers 401 itself, without invoking anything, when the token is missing.
            identity_sources=[TokenSource.parse(props.token_source).identity_source],
            **self._on,
        )
        # Scoped to this authorizer of this API: nothing else may invoke the function through it.
        self.authorizer_permission = LambdaPermission(
            self,
            "permission_authorizer",
            action="lambda:InvokeFunction",
            function_name=props.connect_authorizer.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{self.api.execution_arn}/authorizers/{self.authorizer.id}",
            **_qualified(props.connect_authorizer),
            **self._on,
        )

    def _add_routes(self) -> None:
        """Every route with its integration and permission; ``$default`` two-way, so the Lambda's response
        body goes back to the client on the same connection (no ``@connections`` call for replies)."""
        self.integrations: dict[str, Apigatewayv2Integration] = {}
        self.routes: dict[str, Apigatewayv2Route] = {}
        self.permissions: dict[str, LambdaPermission] = {}
        self._grants = 0
        self.route_responses: dict[str, Apigatewayv2RouteResponse] = {}
        for route_key, target in self.props.route_targets().items():
            self._add_route(route_key, target, return_response=route_key == "$default"
                            or route_key in self.props.two_way_routes)
        self.default_route_response = self.route_responses["$default"]

    def _add_stage(self) -> None:
        """The auto-deployed stage: throttling, detailed metrics, execution and access logs."""
        props = self.props
        self.stage = Apigatewayv2Stage(
            self,
            "stage",
            api_id=self.api.id,
            name=props.stage,
            auto_deploy=True,
            default_route_settings=Apigatewayv2StageDefaultRouteSettings(
                throttling_rate_limit=props.throttling_rate_limit,
                throttling_burst_limit=props.throttling_burst_limit,
                detailed_metrics_enabled=props.detailed_metrics_enabled,
                logging_level=props.logging_level,
                data_trace_enabled=props.data_trace_enabled,
            ),
            access_log_settings=Apigatewayv2StageAccessLogSettings(
                destination_arn=self.access_log_group.arn,
                format=ACCESS_LOG_FORMAT,
            ),
            tags=self._tags,
            depends_on=[self.execution_log_group, *self.routes.values(), self.default_route_response],
            **self._on,
        )

    def _add_manage_connections_policy(self) -> None:
        """``execute-api:ManageConnections`` on exactly this stage's ``@connections``, attached to the backend's
        role when one is named (``grant_manage_connections`` attaches it to others)."""
        props = self.props
        self.manage_connections_policy = DataAwsIamPolicyDocument(
            self,
            "manage_connections_policy",
            statement=[
                DataAwsIamPolicyDocumentStatement(
                    sid="ManageWebSocketConnections",
                    effect="Allow",
                    actions=["execute-api:ManageConnections"],
                    resources=[self.connections_arn],
                )
            ],
            **self._on,
        )
        if props.backend_role_name:  # deprecated: grant_manage_connections is the one way
            self.grant_manage_connections(props.backend_role_name, id_="backend_manage_connections")

    # -- what other stacks use ---------------------------------------------------------

    def add_route(self, route_key: str, target: LambdaTarget, *, return_response: bool = False) -> Apigatewayv2Route:
        """A route after construction (``chat.send`` -> a function), with its integration and permission.
        ``return_response``: the function's reply goes back to the client on the same connection (two-way, as
        ``$default``); ``serve --two-way-routes`` does the same locally."""
        if route_key in self.routes:
            raise InvalidPropsError("route_key", route_key, "this API already has that route")
        check_custom_route_key("route_key", route_key)
        check_target("target", target)
        return self._add_route(route_key, target, return_response=return_response)

    def grant_manage_connections(self, role: Any, *, id_: str | None = None) -> IamRolePolicy:
        """Let ``role`` (an ``aws_iam_role`` resource or a role name) send to, read and close this stage's
        connections: ``execute-api:ManageConnections`` on exactly its ``@connections``. The policy is named
        ``{api name}-{stage}-manage-connections``: unique per API and stage, so one role can be granted several."""
        role_name = role if isinstance(role, str) else role.name
        self._grants += 1
        return IamRolePolicy(
            self,
            id_ or f"grant_manage_connections_{self._grants}",
            name=f"{self.props.name}-{self.props.stage}-manage-connections",
            role=role_name,
            policy=self.manage_connections_policy.json,
            **self._on,
        )

    def add_outputs(self, prefix: str | None = None) -> dict[str, TerraformOutput]:
        """The Terraform module's outputs (``websocket_api_endpoint``, …) as root outputs, with ``prefix``
        (default: the ``output_prefix`` prop). A reusable construct creates none unless asked."""
        p = self.props.output_prefix if prefix is None else prefix
        if p and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", p):
            raise InvalidPropsError("prefix", p, "use a Terraform name: letters, digits and '_'")
        outputs = {
            "websocket_api_endpoint": (self.endpoint, "WebSocket URL clients connect to (wss://)"),
            "websocket_management_endpoint": (
                self.management_endpoint,
                "Management API endpoint for @connections (set AWS_WEBSOCKET_API_GATEWAY_ENDPOINT to it)",
            ),
            "websocket_api_id": (self.api.id, "API ID"),
            "websocket_api_execution_arn": (self.api.execution_arn, "Execution ARN for Lambda permissions"),
            "websocket_manage_connections_policy": (
                self.manage_connections_policy.json,
                "IAM policy (JSON) granting execute-api:ManageConnections on this stage's @connections",
            ),
        }
        created = {}
        for name, (value, description) in outputs.items():
            out = TerraformOutput(self, f"{p}{name}" if p else name, value=value, description=description)
            out.override_logical_id(f"{p}{name}")
            created[name] = out
        return created

    # -- attributes (as AWS CDK's WebSocketApi/WebSocketStage and terraform-aws-modules/apigateway-v2) --

    @property
    def api_id(self) -> str:
        return self.api.id

    @property
    def api_endpoint(self) -> str:
        """``wss://{api_id}.execute-api.{region}.amazonaws.com`` (no stage)."""
        return self.api.api_endpoint

    @property
    def stage_name(self) -> str:
        return self.props.stage

    @property
    def stage_arn(self) -> str:
        return self.stage.arn

    @property
    def invoke_url(self) -> str:
        """``wss://…/{stage}``: the stage's URL (without a custom domain)."""
        return self.stage.invoke_url

    @property
    def callback_url(self) -> str:
        """The ``@connections`` (management) endpoint: the same as :attr:`management_endpoint`."""
        return self.management_endpoint

    @property
    def endpoint(self) -> str:
        """What clients connect to: ``wss://{custom domain}`` or ``wss://{api_id}.execute-api.{region}.amazonaws.com/{stage}``."""
        if self.props.domain is not None:
            return f"wss://{self.props.domain.domain_name}"
        return self.stage.invoke_url

    @property
    def management_endpoint(self) -> str:
        """``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}``: the @connections API."""
        return "{}/{}".format(Fn.replace(self.api.api_endpoint, "wss://", "https://"), self.props.stage)

    @property
    def execution_arn(self) -> str:
        return self.api.execution_arn

    @property
    def connections_arn(self) -> str:
        """ARN pattern of this stage's ``@connections`` (any verb, any connection)."""
        return f"{self.api.execution_arn}/{self.props.stage}/*/@connections/*"

    # -- internals ------------------------------------------------------------------

    def _add_route(self, route_key: str, target: LambdaTarget, *, return_response: bool) -> Apigatewayv2Route:
        rid = route_id(route_key)
        integration = self.integrations.get(target.invoke_arn)
        if integration is None:
            # Named after the first route that uses it, so ids stay stable across refactors.
            integration = Apigatewayv2Integration(
                self,
                f"integration_{rid}",
                api_id=self.api.id,
                integration_type="AWS_PROXY",
                integration_uri=target.invoke_arn,
                integration_method="POST",
                content_handling_strategy="CONVERT_TO_TEXT",
                passthrough_behavior="WHEN_NO_MATCH",
                **self._on,
            )
            self.integrations[target.invoke_arn] = integration
        route_args: dict = {}
        if return_response:
            route_args["route_response_selection_expression"] = "$default"
        if self.authorizer is not None and route_key in self.props.authorizer_routes:
            route_args.update(authorization_type="CUSTOM", authorizer_id=self.authorizer.id)
        elif self.props.iam_connect and route_key == "$connect":
            route_args.update(authorization_type="AWS_IAM")  # SigV4-signed handshakes only
        self.routes[route_key] = Apigatewayv2Route(
            self,
            f"route_{rid}",
            api_id=self.api.id,
            route_key=route_key,
            target=f"integrations/{integration.id}",
            **route_args,
            **self._on,
        )
        if return_response:
            # Two-way: API Gateway sends the integration's response body back to the client.
            self.route_responses[route_key] = Apigatewayv2RouteResponse(
                self,
                f"route_response_{rid}",
                api_id=self.api.id,
                route_id=self.routes[route_key].id,
                route_response_key="$default",
                **self._on,
            )
        # The permission goes with the route: a route can never exist without the
        # right to invoke its function, and the right covers only this API, stage and route.
        self.permissions[route_key] = LambdaPermission(
            self,
            f"permission_{rid}",
            action="lambda:InvokeFunction",
            function_name=target.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{self.api.execution_arn}/{self.props.stage}/{route_key}",
            **_qualified(target),
            **self._on,
        )
        return self.routes[route_key]

    def _add_domain(self) -> None:
        domain = self.props.domain
        assert domain is not None
        self.domain_name = Apigatewayv2DomainName(
            self,
            "domain",
            domain_name=domain.domain_name,
            domain_name_configuration={
                "certificate_arn": domain.certificate_arn,
                "endpoint_type": "REGIONAL",
                "security_policy": "TLS_1_2",
            },
            tags=dict(self.props.tags),
            **self._on,
        )
        Apigatewayv2ApiMapping(
            self, "domain_mapping", api_id=self.api.id, domain_name=self.domain_name.id, stage=self.stage.id, **self._on
        )
        if domain.hosted_zone_id:
            config = self.domain_name.domain_name_configuration
            Route53Record(
                self,
                "domain_record",
                zone_id=domain.hosted_zone_id,
                name=domain.domain_name,
                type="A",
                alias={
                    "name": config.target_domain_name,
                    "zone_id": config.hosted_zone_id,
                    "evaluate_target_health": False,
                },
                **self._on,
            )


# Physical names derive from the API's name and stage (log groups, the KMS alias, IAM policy names).
# Two APIs with the same name and stage on the same provider would collide only at apply: refuse at synth.
def _claim_physical_names(api: WebSocketApi) -> None:
    from .cdk import TerraformStack, Token

    if Token.is_unresolved(api.props.name) or Token.is_unresolved(api.props.stage):
        return  # known only at apply: nothing to compare now
    stack = TerraformStack.of(api)
    claimed = getattr(stack, "_careconnect_ws_names", None)
    if claimed is None:
        claimed = {}
        stack._careconnect_ws_names = claimed
    key = (id(api.props.provider), api.props.name, api.props.stage)
    path = api.node.path
    other = claimed.get(key)
    if other is not None and other != path:
        raise InvalidPropsError(
            "name", api.props.name,
            f"{path} and {other} both use name {api.props.name!r} and stage {api.props.stage!r} on the same "
            "provider: their log groups, KMS alias and policy names would collide; give each a different name",
        )
    claimed[key] = path


def _qualified(target: LambdaTarget) -> dict[str, str]:
    """A permission on the alias the route invokes (SnapStart), or on the function itself."""
    return {"qualifier": target.qualifier} if target.qualifier else {}
