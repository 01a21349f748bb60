"""Props of the WebSocket API construct: typed, documented, defaults stated once.

The defaults are the Terraform module's (stage ``prod``, 100 req/s, burst 500,
detailed metrics on) and come from :data:`careconnect_ws.limits.LIMITS`, the
settings object the local gateway reads too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws import contract
from careconnect_ws.contract import DEFAULT_TOKEN_SOURCE
from careconnect_ws.limits import LIMITS

from .connect_authorization import (
    REPLACED_PROPS,
    ConnectAuthorization,
    IamAuthorization,
    NoAuthorization,
    TokenAuthorizer,
    check_connect_authorization,
    given_old_props,
)
from .custom_domain import CustomDomain, check_domain
from .deprecations import renamed, replaced
from .errors import InvalidPropsError
from .lambda_target import LambdaTarget, check_target
from .outputs import check_prefix
from .prop_values import number, text

__all__ = [
    "BUILT_IN_ROUTES",
    "DEFAULT_LOG_RETENTION_DAYS",
    "LOGGING_LEVELS",
    "LOG_RETENTION_DAYS_ALLOWED",
    "CustomDomain",
    "LambdaTarget",
    "WebSocketApiProps",
    "check_custom_route_key",
    "check_log_retention_days",
    "check_target",
    "validate",
]

#: Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS_ALLOWED = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
LOGGING_LEVELS = ("OFF", "ERROR", "INFO")
#: 6 years: HIPAA's retention period for security records; every log group of the stack uses it.
DEFAULT_LOG_RETENTION_DAYS = 2192
BUILT_IN_ROUTES = contract.BUILT_IN_ROUTES

_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ROUTE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True, kw_only=True)
class WebSocketApiProps:
    """Everything the :class:`~careconnect_ws_cdk.websocket_api.WebSocketApi` construct can be told."""

    name: str
    """Name of the API Gateway API. Required."""

    backend: LambdaTarget | None = None
    """The function behind every route that has no target of its own. Default: none
    (then ``connect``, ``disconnect`` and ``default`` must each be given)."""

    connect: LambdaTarget | None = None
    """Target of ``$connect``. Default: ``backend``."""

    disconnect: LambdaTarget | None = None
    """Target of ``$disconnect``. Default: ``backend``."""

    default: LambdaTarget | None = None
    """Target of ``$default``. Default: ``backend``."""

    connect_authorization: ConnectAuthorization = field(default_factory=NoAuthorization)
    """Who may open a connection, decided at ``$connect``: ``TokenAuthorizer(function=..., token_source=...)`` (a
    Lambda REQUEST authorizer checks the token first), ``IamAuthorization()`` (SigV4-signed handshakes) or
    ``NoAuthorization()`` (the ``$connect`` handler checks the token itself). Default: ``NoAuthorization()``."""

    connect_authorizer: LambdaTarget | None = None
    """Deprecated: ``connect_authorization=TokenAuthorizer(function=...)``."""

    iam_connect: bool = False
    """Deprecated: ``connect_authorization=IamAuthorization()``."""

    token_source: str | None = None
    """Deprecated: the ``token_source`` of ``TokenAuthorizer`` or ``NoAuthorization``."""

    authorizer_routes: tuple[str, ...] | None = None
    """Deprecated: an authorizer guards ``$connect`` only (``connect_authorization``)."""

    domain: CustomDomain | None = None
    """Custom domain for clients. Default: none (``wss://{api_id}.execute-api...``)."""

    disable_execute_api_endpoint: bool = False
    """Clients may connect only through ``domain``, not ``wss://{api_id}.execute-api...``. Needs ``domain``.
    Default: off."""

    custom_routes: Mapping[str, LambdaTarget] = field(default_factory=dict)
    """Extra routes by route key (not starting with ``$``). Default: none."""

    two_way_routes: tuple[str, ...] = ()
    """Custom routes (keys of ``custom_routes``) whose function's reply goes back to the client on the same
    connection, as ``$default``'s does (a route response). Default: none (one-way: the function sends through
    ``@connections`` if it answers at all)."""

    description: str = "CareConnect real-time notifications (WebSocket)"
    """Description of the API. Default: as shown."""

    stage: str = LIMITS.stage_name
    """Stage name. Default: ``prod``."""

    stage_name: str | None = None
    """Deprecated: the old name of ``stage``."""

    route_selection_expression: str = LIMITS.route_selection_expression
    """Default: ``$request.body.action``."""

    throttling_rate_limit: float = LIMITS.throttling_rate_limit
    """Stage steady-state requests per second. Default: 100."""

    throttling_burst_limit: int = LIMITS.throttling_burst_limit
    """Stage burst. Default: 500. Must not be below the rate."""

    detailed_metrics_enabled: bool = True
    """Per-route CloudWatch metrics. Default: on."""

    logging_level: str = "INFO"
    """Execution logging level: ``OFF``, ``ERROR`` or ``INFO``. Default: ``INFO``.
    Anything but ``OFF`` needs the account's API Gateway CloudWatch role."""

    data_trace_enabled: bool = False
    """Log full message bodies in execution logs. Default: off, because bodies can carry
    health data."""

    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    """Retention of the access and execution log groups, in days (a CloudWatch value).
    Default: 2192 (6 years, HIPAA's retention period for security records)."""

    log_kms_key_arn: str | None = None
    """KMS key that encrypts both log groups. Default: a key created by the construct, with
    yearly rotation and a key policy that lets CloudWatch Logs use it for these two groups only."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags for every taggable resource (the module's ``default_tags``). Default: none."""

    backend_role_name: str | None = None
    """Deprecated: call :meth:`WebSocketApi.grant_manage_connections` with the role (one way to grant, with a
    policy name unique per API and stage)."""

    output_prefix: str = ""
    """Deprecated: pass the prefix to :meth:`WebSocketApi.add_outputs` (``add_outputs(prefix="chat_")``)."""

    provider: Any = None
    """The ``AwsProvider`` every resource and data source of the construct uses (an aliased provider, a
    second region). Default: the stack's default provider."""

    def __post_init__(self) -> None:
        if self.stage_name is not None:
            renamed("WebSocketApiProps", "stage_name", "stage")
            object.__setattr__(self, "stage", self.stage_name)
        if self.backend_role_name:
            replaced("WebSocketApiProps", "backend_role_name", "WebSocketApi.grant_manage_connections(role)")
        if self.output_prefix:
            replaced("WebSocketApiProps", "output_prefix", "WebSocketApi.add_outputs(prefix=...)")
        for old in given_old_props(self, ("connect_authorizer", "iam_connect", "token_source", "authorizer_routes")):
            replaced("WebSocketApiProps", old, REPLACED_PROPS[old])
        legacy = _legacy_connect_authorization(self)
        if legacy is not None:
            object.__setattr__(self, "connect_authorization", legacy)
        validate(self)

    def route_targets(self) -> dict[str, LambdaTarget]:
        """Every route key with the function it invokes, built-in routes first."""
        targets = {
            "$connect": self.connect or self.backend,
            "$disconnect": self.disconnect or self.backend,
            "$default": self.default or self.backend,
        }
        return {**targets, **self.custom_routes}  # type: ignore[dict-item]


def _legacy_connect_authorization(props: WebSocketApiProps) -> ConnectAuthorization | None:
    """The one prop the four deprecated ones meant, or None when none was given."""
    if (
        props.connect_authorizer is None
        and not props.iam_connect
        and props.token_source is None
        and props.authorizer_routes is None
    ):
        return None
    if props.connect_authorization != NoAuthorization():
        raise InvalidPropsError(
            "connect_authorization",
            props.connect_authorization,
            "give it alone: connect_authorizer, iam_connect, token_source and authorizer_routes are its deprecated parts",
        )
    for route in props.authorizer_routes or ():
        if route != "$connect":
            raise InvalidPropsError(
                "authorizer_routes",
                route,
                "WebSocket APIs accept an authorizer only on $connect: identity is decided once, when the client connects",
            )
    token_source = props.token_source if props.token_source is not None else str(DEFAULT_TOKEN_SOURCE)
    if props.iam_connect:
        if props.connect_authorizer is not None:
            raise InvalidPropsError(
                "iam_connect",
                True,
                "a route has one authorization: AWS_IAM or the Lambda authorizer (connect_authorizer), not both",
            )
        return IamAuthorization()
    if props.connect_authorizer is not None:
        return TokenAuthorizer(function=props.connect_authorizer, token_source=token_source)
    return NoAuthorization(token_source=token_source)


def check_log_retention_days(value: Any) -> None:
    """A retention CloudWatch Logs accepts (or a token), for every log group of every construct."""
    retention = number("log_retention_days", value)
    if retention is not None and retention not in LOG_RETENTION_DAYS_ALLOWED:
        raise InvalidPropsError(
            "log_retention_days",
            value,
            "use a retention CloudWatch Logs accepts: " + ", ".join(str(d) for d in LOG_RETENTION_DAYS_ALLOWED),
        )


def check_custom_route_key(prop: str, key: Any) -> None:
    if not isinstance(key, str):
        raise InvalidPropsError(prop, key, "route keys are strings")
    if key.startswith("$"):
        raise InvalidPropsError(
            prop,
            key,
            "route keys starting with '$' are reserved for $connect, $disconnect and $default;"
            " set those with connect/disconnect/default",
        )
    if not _ROUTE_KEY.match(key):
        raise InvalidPropsError(prop, key, "use 1-128 letters, digits, '.', ':', '-' or '_'")


def validate(props: WebSocketApiProps) -> None:
    """Fail at synth, naming the prop, for anything API Gateway or CloudWatch would reject later.
    Values that are Terraform tokens are known only at plan: their types are checked, not their values."""
    name = text("name", props.name)
    if name is not None and not name.strip():
        raise InvalidPropsError("name", props.name, "the API needs a non-empty name")
    stage = text("stage", props.stage)
    if stage is not None and not _STAGE_NAME.match(stage):
        raise InvalidPropsError("stage", props.stage, "use 1-128 letters, digits, '-' or '_' (e.g. 'prod')")
    if not props.route_selection_expression:
        raise InvalidPropsError(
            "route_selection_expression",
            props.route_selection_expression,
            "give an expression such as '$request.body.action'",
        )
    rate = number("throttling_rate_limit", props.throttling_rate_limit)
    if rate is not None and not rate > 0:
        raise InvalidPropsError("throttling_rate_limit", props.throttling_rate_limit, "the rate must be above 0 requests/s")
    # The burst may be below the rate (AWS's own examples do that): it only has to be a whole number >= 0.
    burst = number("throttling_burst_limit", props.throttling_burst_limit)
    if burst is not None and (burst < 0 or burst != int(burst)):
        raise InvalidPropsError(
            "throttling_burst_limit", props.throttling_burst_limit, "the burst is a whole number of requests, 0 or more"
        )
    level = text("logging_level", props.logging_level)
    if level is not None and level not in LOGGING_LEVELS:
        raise InvalidPropsError("logging_level", props.logging_level, f"use one of {', '.join(LOGGING_LEVELS)}")
    check_log_retention_days(props.log_retention_days)
    check_connect_authorization("connect_authorization", props.connect_authorization, function_required=True)
    if props.disable_execute_api_endpoint and props.domain is None:
        raise InvalidPropsError(
            "disable_execute_api_endpoint", True, "clients would have no endpoint left: set domain (a custom domain) as well"
        )
    if props.domain is not None:
        check_domain(props.domain)
    for key, target in props.custom_routes.items():
        check_custom_route_key("custom_routes", key)
        check_target("custom_routes", target)
    for key in props.two_way_routes:
        if key not in props.custom_routes:
            raise InvalidPropsError("two_way_routes", key, "name a key of custom_routes ($default is always two-way)")
    for route, prop in (("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default")):
        chosen: LambdaTarget | None = getattr(props, prop) or props.backend
        if chosen is None:
            raise InvalidPropsError(prop, None, f"{route} needs a function: set backend (one for all routes) or {prop}")
        check_target(prop if getattr(props, prop) else "backend", chosen)
    check_prefix(props.output_prefix, "output_prefix")
