"""The WebSocket API's routes: each with its integration, its invoke permission and, when two-way, its response.

One ``AWS_PROXY`` integration per distinct function (routes sharing a function share it); every route's invoke
permission is scoped to this API, stage and route, so a route never exists without the right to invoke its
function and the right covers nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .cdk import Apigatewayv2Integration, Apigatewayv2Route, Apigatewayv2RouteResponse, LambdaPermission
from .lambda_target import LambdaTarget


def route_id(route_key: str) -> str:
    """A stable construct id for a route key: ``$connect`` -> ``connect``, ``chat.send`` -> ``chat_send``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", route_key.lstrip("$"))


class WebSocketRoutes:
    """An API's routes, created in the API's construct so their Terraform addresses are the API's.
    ``route_settings``: what a route key carries besides its target (``$connect``'s authorization)."""

    def __init__(self, scope: Any, api: Any, *, stage: str, route_settings: Mapping[str, Mapping[str, str]]) -> None:
        self._scope, self._api, self._stage, self._route_settings = scope, api, stage, route_settings
        self.integrations: dict[str, Apigatewayv2Integration] = {}
        self.routes: dict[str, Apigatewayv2Route] = {}
        self.permissions: dict[str, LambdaPermission] = {}
        self.route_responses: dict[str, Apigatewayv2RouteResponse] = {}

    def add(self, route_key: str, target: LambdaTarget, *, return_response: bool) -> Apigatewayv2Route:
        """``route_key`` invoking ``target``; ``return_response``: two-way, the function's reply goes back to the
        client on the same connection (no ``@connections`` call for replies)."""
        scope, api, rid = self._scope, self._api, route_id(route_key)
        integration = self.integrations.get(target.invoke_arn)
        if integration is None:
            # Named after the first route that uses it, so ids stay stable across refactors.
            integration = Apigatewayv2Integration(
                scope,
                f"integration_{rid}",
                api_id=api.id,
                integration_type="AWS_PROXY",
                integration_uri=target.invoke_arn,
                integration_method="POST",
                content_handling_strategy="CONVERT_TO_TEXT",
                passthrough_behavior="WHEN_NO_MATCH",
            )
            self.integrations[target.invoke_arn] = integration
        route_args: dict[str, str] = dict(self._route_settings.get(route_key, {}))
        if return_response:
            route_args["route_response_selection_expression"] = "$default"
        route = self.routes[route_key] = Apigatewayv2Route(
            scope,
            f"route_{rid}",
            api_id=api.id,
            route_key=route_key,
            target=f"integrations/{integration.id}",
            **route_args,
        )
        if return_response:
            # Two-way: API Gateway sends the integration's response body back to the client.
            self.route_responses[route_key] = Apigatewayv2RouteResponse(
                scope,
                f"route_response_{rid}",
                api_id=api.id,
                route_id=route.id,
                route_response_key="$default",
            )
        self.permissions[route_key] = LambdaPermission(
            scope,
            f"permission_{rid}",
            action="lambda:InvokeFunction",
            function_name=target.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{api.execution_arn}/{self._stage}/{route_key}",
            **target.permission_qualifier,
        )
        return route
