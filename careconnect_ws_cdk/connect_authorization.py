"""Who may open a connection: the one decision a WebSocket API makes at ``$connect``, as one prop.

    WebSocketApiProps(..., connect_authorization=TokenAuthorizer(function=target, token_source="protocol"))
    WebSocketApiProps(..., connect_authorization=IamAuthorization())
    WebSocketApiProps(..., connect_authorization=NoAuthorization())   # the default: the $connect handler decides

API Gateway takes an authorizer on ``$connect`` only (identity is decided once, when the client connects) and
gives a route one authorization type, so the choice is one value of one of three types: two cannot be given.
Each type knows what it puts on the ``$connect`` route (:meth:`guard`) and what the runtime behind it must be
told (:meth:`runtime_environment`), so neither is decided anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from careconnect_ws import contract
from careconnect_ws.contract import DEFAULT_TOKEN_SOURCE, TokenSource

from .errors import InvalidPropsError
from .lambda_target import LambdaTarget, check_target


@dataclass
class ConnectGuard:
    """What an API's ``$connect`` carries: the route's authorization settings and the resources they need."""

    route_settings: dict[str, str] = field(default_factory=dict)
    authorizer: Any = None
    """The ``aws_apigatewayv2_authorizer``, for a token authorizer."""
    permission: Any = None
    """The authorizer's invoke permission, scoped to this authorizer of this API."""


def _token_source_environment(token_source: str) -> dict[str, str]:
    # Only a token source other than the runtime's default is written (the default is one constant both read).
    return {} if TokenSource.parse(token_source) == DEFAULT_TOKEN_SOURCE else {contract.TOKEN_SOURCE: token_source}


def _check_token_source(prop: str, token_source: Any) -> None:
    try:
        TokenSource.parse(token_source)
    except (ValueError, AttributeError) as err:
        raise InvalidPropsError(prop, token_source, str(err)) from None


@dataclass(frozen=True, kw_only=True)
class TokenAuthorizer:
    """A Lambda REQUEST authorizer checks the client's token before ``$connect`` runs; API Gateway answers 401
    itself, invoking nothing, when the token is missing."""

    function: LambdaTarget | None = None
    """The authorizer function. Required on ``WebSocketApiProps``; on ``WebSocketSystemProps``, default: the
    system's own function (careconnect-ws's handler is also its authorizer)."""

    token_source: str = str(DEFAULT_TOKEN_SOURCE)
    """Where clients put their token: ``query:token`` (``?token=``, what browsers can send), ``header:<name>``
    (``header:Authorization`` for ``Bearer`` tokens from service clients) or ``protocol`` (the subprotocols, the
    other way a browser can). The authorizer's identity source, and the runtime's ``WS_TOKEN_SOURCE`` (which
    ``WebSocketSystem`` sets). Default: ``query:token``."""

    def check(self, prop: str, *, function_required: bool) -> None:
        if self.function is None:
            if function_required:
                raise InvalidPropsError(f"{prop}.function", None, "give the authorizer's LambdaTarget")
        else:
            check_target(f"{prop}.function", self.function)
        _check_token_source(f"{prop}.token_source", self.token_source)

    def guard(self, scope: Any, *, api: Any, name: str) -> ConnectGuard:
        from .cdk import Apigatewayv2Authorizer, LambdaPermission

        function = self.function
        assert function is not None, "checked by the props"
        authorizer = Apigatewayv2Authorizer(
            scope,
            "connect_authorizer",
            api_id=api.id,
            name=f"{name}-connect",
            authorizer_type="REQUEST",
            authorizer_uri=function.invoke_arn,
            identity_sources=[TokenSource.parse(self.token_source).identity_source],
        )
        # Scoped to this authorizer of this API: nothing else may invoke the function through it.
        permission = LambdaPermission(
            scope,
            "permission_authorizer",
            action="lambda:InvokeFunction",
            function_name=function.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=f"{api.execution_arn}/authorizers/{authorizer.id}",
            **function.permission_qualifier,
        )
        return ConnectGuard({"authorization_type": "CUSTOM", "authorizer_id": authorizer.id}, authorizer, permission)

    def runtime_environment(self) -> dict[str, str]:
        return _token_source_environment(self.token_source)


@dataclass(frozen=True, kw_only=True)
class IamAuthorization:
    """``AWS_IAM`` on ``$connect``: clients sign the handshake with SigV4 (service clients with AWS credentials) and
    the runtime takes the signer's IAM ARN as the user (``WS_CONNECT_AUTH=iam``, which ``WebSocketSystem`` sets;
    it creates no token secret then)."""

    def check(self, prop: str, *, function_required: bool) -> None:
        """Nothing to check: IAM needs no settings."""

    def guard(self, scope: Any, *, api: Any, name: str) -> ConnectGuard:
        return ConnectGuard({"authorization_type": "AWS_IAM"})  # SigV4-signed handshakes only

    def runtime_environment(self) -> dict[str, str]:
        return {contract.CONNECT_AUTH: "iam"}


@dataclass(frozen=True, kw_only=True)
class NoAuthorization:
    """API Gateway checks nothing at ``$connect``: the ``$connect`` handler decides (careconnect-ws's checks the
    token it finds at ``token_source``)."""

    token_source: str = str(DEFAULT_TOKEN_SOURCE)
    """Where the ``$connect`` handler finds the token (the runtime's ``WS_TOKEN_SOURCE``, which
    ``WebSocketSystem`` sets). Default: ``query:token``."""

    def check(self, prop: str, *, function_required: bool) -> None:
        _check_token_source(f"{prop}.token_source", self.token_source)

    def guard(self, scope: Any, *, api: Any, name: str) -> ConnectGuard:
        return ConnectGuard()

    def runtime_environment(self) -> dict[str, str]:
        return _token_source_environment(self.token_source)


#: The deprecated props that were parts of ``connect_authorization``, and how each is written now (both props
#: classes warn with these until ``REMOVED_IN``).
REPLACED_PROPS = {
    "connect_authorizer": "connect_authorization=TokenAuthorizer(function=...)",
    "authorizer": "connect_authorization=TokenAuthorizer() (or NoAuthorization() for none)",
    "iam_connect": "connect_authorization=IamAuthorization()",
    "token_source": "connect_authorization=TokenAuthorizer(token_source=...) (or NoAuthorization(token_source=...))",
    "authorizer_routes": "connect_authorization (it guards $connect, the only route an authorizer can)",
}


def given_old_props(props: Any, names: tuple[str, ...]) -> list[str]:
    """Which of the deprecated parts ``names`` were given to ``props`` (a value other than the field's default)."""
    defaults = {f.name: f.default for f in fields(props)}
    return [name for name in names if getattr(props, name) != defaults[name]]


ConnectAuthorization = TokenAuthorizer | IamAuthorization | NoAuthorization
"""The one ``$connect`` authorization of an API: a token authorizer, IAM, or none (the handler decides)."""


def check_connect_authorization(prop: str, value: Any, *, function_required: bool) -> None:
    """``value`` is one of the three types and usable, or an error naming ``prop``."""
    if not isinstance(value, TokenAuthorizer | IamAuthorization | NoAuthorization):
        raise InvalidPropsError(
            prop, value, "give TokenAuthorizer(function=..., token_source=...), IamAuthorization() or NoAuthorization()"
        )
    value.check(prop, function_required=function_required)
