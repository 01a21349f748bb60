"""The WebSocket API construct: what the Terraform websocket module built, and a bit more.

    from careconnect_ws_cdk.websocket_api import WebSocketApi, WebSocketApiProps, LambdaTarget

One API (``protocol_type = WEBSOCKET``) and its parts, each in its own file: the ``$connect`` authorization
(``connect_authorization``), the routes with their integrations and permissions (``websocket_routes``), the
auto-deployed stage with its logs (``websocket_stage``) and a custom domain (``custom_domain``). This file
composes them and holds what other stacks use: the ``@connections`` grant, the outputs and the attributes.

The parts are created in this construct's scope, not as constructs of their own: their Terraform addresses
stay the ones every deployment already has.
"""

from __future__ import annotations

from typing import Any

from .cdk import (
    Apigatewayv2Api,
    Apigatewayv2DomainName,
    Apigatewayv2Route,
    Construct,
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    Fn,
    IamRolePolicy,
    TerraformOutput,
)
from .custom_domain import add_custom_domain
from .errors import InvalidPropsError
from .lambda_target import LambdaTarget, check_target
from .outputs import root_outputs
from .physical_names import claim
from .provider import use_provider
from .websocket_api_props import WebSocketApiProps, check_custom_route_key
from .websocket_routes import WebSocketRoutes, route_id
from .websocket_stage import ACCESS_LOG_FORMAT, WebSocketStage, access_log_group_name, execution_log_group_name

__all__ = [
    "ACCESS_LOG_FORMAT",
    "LambdaTarget",
    "WebSocketApi",
    "WebSocketApiProps",
    "access_log_group_name",
    "execution_log_group_name",
    "route_id",
]


class WebSocketApi(Construct):
    """An API Gateway WebSocket API bound to Lambda, with its stage, logs and outputs."""

    def __init__(self, scope: Construct, id_: str, props: WebSocketApiProps) -> None:
        super().__init__(scope, id_)
        self.props = props
        # Its log groups, KMS alias and policy names derive from the name and stage: one API per pair.
        claim(
            self,
            "log group",
            access_log_group_name(props.name, props.stage),
            prop="name",
            value=props.name,
            provider=props.provider,
        )
        self.api = Apigatewayv2Api(
            self,
            "api",
            name=props.name,
            description=props.description,
            protocol_type="WEBSOCKET",
            route_selection_expression=props.route_selection_expression,
            tags=dict(props.tags),
            **({"disable_execute_api_endpoint": True} if props.disable_execute_api_endpoint else {}),
        )
        guard = props.connect_authorization.guard(self, api=self.api, name=props.name)
        self.authorizer, self.authorizer_permission = guard.authorizer, guard.permission
        self._routes = WebSocketRoutes(self, self.api, stage=props.stage, route_settings={"$connect": guard.route_settings})
        self.integrations, self.routes = self._routes.integrations, self._routes.routes
        self.permissions, self.route_responses = self._routes.permissions, self._routes.route_responses
        for route_key, target in props.route_targets().items():
            self._routes.add(route_key, target, return_response=route_key == "$default" or route_key in props.two_way_routes)
        self.default_route_response = self.route_responses["$default"]
        stage = WebSocketStage(self, self.api, props, depends_on=[*self.routes.values(), self.default_route_response])
        self.stage, self.log_key = stage.stage, stage.log_key
        self.access_log_group, self.execution_log_group = stage.access_log_group, stage.execution_log_group
        self.domain_name: Apigatewayv2DomainName | None = None
        if props.domain is not None:
            self.domain_name = add_custom_domain(
                self, props.domain, api_id=self.api.id, stage_id=self.stage.id, tags=dict(props.tags)
            )
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
        )
        self._grants = 0
        if props.backend_role_name:  # deprecated: grant_manage_connections is the one way
            self.grant_manage_connections(props.backend_role_name, id_="backend_manage_connections")
        use_provider(self, props.provider)

    # -- what other stacks use ---------------------------------------------------------

    def add_route(self, route_key: str, target: LambdaTarget, *, return_response: bool = False) -> Apigatewayv2Route:
        """A route after construction (``chat.send`` -> a function), with its integration and permission.
        ``return_response``: the function's reply goes back to the client on the same connection (two-way, as
        ``$default``); ``serve --two-way-routes`` does the same locally."""
        if route_key in self.routes:
            raise InvalidPropsError("route_key", route_key, "this API already has that route")
        check_custom_route_key("route_key", route_key)
        check_target("target", target)
        route = self._routes.add(route_key, target, return_response=return_response)
        use_provider(self, self.props.provider)
        return route

    def grant_manage_connections(self, role: Any, *, id_: str | None = None) -> IamRolePolicy:
        """Let ``role`` (an ``aws_iam_role`` resource or a role name) send to, read and close this stage's
        connections: ``execute-api:ManageConnections`` on exactly its ``@connections``. The policy is named
        ``{api name}-{stage}-manage-connections``: unique per API and stage, so one role can be granted several."""
        role_name = role if isinstance(role, str) else role.name
        self._grants += 1
        policy = IamRolePolicy(
            self,
            id_ or f"grant_manage_connections_{self._grants}",
            name=f"{self.props.name}-{self.props.stage}-manage-connections",
            role=role_name,
            policy=self.manage_connections_policy.json,
        )
        use_provider(policy, self.props.provider)
        return policy

    def add_outputs(self, prefix: str | None = None) -> dict[str, TerraformOutput]:
        """The Terraform module's outputs (``websocket_api_endpoint``, …) as root outputs, with ``prefix``
        (default: the ``output_prefix`` prop). A reusable construct creates none unless asked."""
        p = self.props.output_prefix if prefix is None else prefix
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
        return root_outputs(self, p, outputs)

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
