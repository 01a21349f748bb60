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
from careconnect_ws.contract import DEFAULT_TOKEN_SOURCE, TokenSource
from careconnect_ws.limits import LIMITS

from .deprecations import renamed, replaced
from .errors import InvalidPropsError

#: Retention periods CloudWatch Logs accepts, in days.
LOG_RETENTION_DAYS_ALLOWED = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
LOGGING_LEVELS = ("OFF", "ERROR", "INFO")
#: 6 years: HIPAA's retention period for security records; every log group of the stack uses it.
DEFAULT_LOG_RETENTION_DAYS = 2192
BUILT_IN_ROUTES = contract.BUILT_IN_ROUTES

_STAGE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_ROUTE_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


@dataclass(frozen=True, kw_only=True)
class LambdaTarget:
    """A Lambda function a route invokes (the Terraform module's name + invoke ARN pair)."""

    function_name: str
    """Function name (or ARN), used for the invoke permission."""

    invoke_arn: str
    """The function's invoke ARN (``aws_lambda_function.x.invoke_arn``), used for the integration."""

    qualifier: str | None = None
    """An alias (or version) of the function that the routes invoke: the invoke permissions are granted on it,
    and ``invoke_arn`` must be its invoke ARN (``aws_lambda_alias.x.invoke_arn``). Default: none (the function
    itself, ``$LATEST``)."""

    @classmethod
    def from_function(cls, function: Any) -> LambdaTarget:
        """From an ``aws_lambda_function`` resource or data source of your own stack, in one call."""
        return cls(function_name=function.function_name, invoke_arn=function.invoke_arn)


@dataclass(frozen=True, kw_only=True)
class CustomDomain:
    """A custom domain for clients (``wss://{domain_name}``); ``@connections`` stays on execute-api."""

    domain_name: str
    """e.g. ``ws.careconnect.example``. Required."""

    certificate_arn: str
    """ACM certificate for the name, in the API's region. Required."""

    hosted_zone_id: str | None = None
    """Route 53 zone to create an alias record in. Default: none (create the DNS record yourself)."""


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

    connect_authorizer: LambdaTarget | None = None
    """Lambda REQUEST authorizer for ``$connect``; its identity source is ``token_source``.
    Default: none (the ``$connect`` handler checks the token itself)."""

    iam_connect: bool = False
    """``AWS_IAM`` on ``$connect``: clients sign the handshake with SigV4 (service clients with AWS credentials),
    and the runtime takes the signer's IAM ARN as the user (give it ``WS_CONNECT_AUTH=iam``, which
    ``WebSocketSystem`` sets). Instead of ``connect_authorizer``. Default: off."""

    token_source: str = str(DEFAULT_TOKEN_SOURCE)
    """Where clients put their token: ``query:token`` (``?token=``, what browsers can send), ``header:<name>``
    (``header:Authorization`` for ``Bearer`` tokens from service clients) or ``protocol`` (the subprotocols, the
    other way a browser can). The authorizer's identity source; give the runtime the same (``WS_TOKEN_SOURCE``,
    which ``WebSocketSystem`` sets). Default: ``query:token``."""

    authorizer_routes: tuple[str, ...] = ("$connect",)
    """Routes the authorizer guards. Default and only allowed value: ``("$connect",)``."""

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
        validate(self)

    def route_targets(self) -> dict[str, LambdaTarget]:
        """Every route key with the function it invokes, built-in routes first."""
        targets = {
            "$connect": self.connect or self.backend,
            "$disconnect": self.disconnect or self.backend,
            "$default": self.default or self.backend,
        }
        return {**targets, **self.custom_routes}  # type: ignore[dict-item]


def _unresolved(value: Any) -> bool:
    """A Terraform token (a variable, a reference): its value is known only at plan, so it is not checked here.

    Only what can be a token is asked (strings with ``${``, the huge negative numbers tokens encode to),
    so plain props never load the CDK."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if isinstance(value, str) and "${" not in value:
        return False
    if isinstance(value, int | float) and not isinstance(value, str) and value > -1e200:
        return False
    from .cdk import Token

    return Token.is_unresolved(value)


def _number(prop: str, value: Any) -> float | None:
    """The number to check, None for a token; a non-number is the same clear error as a bad number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPropsError(prop, value, "give a number (or a Terraform token such as a variable's .number_value)")
    return None if _unresolved(value) else value


def _text(prop: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidPropsError(prop, value, "give a string (or a Terraform token such as a variable's .string_value)")
    return None if _unresolved(value) else value


def check_custom_route_key(prop: str, key: Any) -> None:
    if not isinstance(key, str):
        raise InvalidPropsError(prop, key, "route keys are strings")
    if key.startswith("$"):
        raise InvalidPropsError(
            prop, key,
            "route keys starting with '$' are reserved for $connect, $disconnect and $default;"
            " set those with connect/disconnect/default",
        )
    if not _ROUTE_KEY.match(key):
        raise InvalidPropsError(prop, key, "use 1-128 letters, digits, '.', ':', '-' or '_'")


def check_target(prop: str, target: Any) -> None:
    if not isinstance(target, LambdaTarget):
        raise InvalidPropsError(prop, target, "give a LambdaTarget (LambdaTarget.from_function(fn) for a function resource)")
    if not target.function_name or not target.invoke_arn:
        raise InvalidPropsError(prop, target, "a LambdaTarget needs both function_name and invoke_arn")
    if target.qualifier is not None and (not isinstance(target.qualifier, str) or not target.qualifier):
        raise InvalidPropsError(prop, target, "qualifier is an alias name or version number (text), or None")


def validate(props: WebSocketApiProps) -> None:
    """Fail at synth, naming the prop, for anything API Gateway or CloudWatch would reject later.
    Values that are Terraform tokens are known only at plan: their types are checked, not their values."""
    name = _text("name", props.name)
    if name is not None and not name.strip():
        raise InvalidPropsError("name", props.name, "the API needs a non-empty name")
    stage = _text("stage", props.stage)
    if stage is not None and not _STAGE_NAME.match(stage):
        raise InvalidPropsError("stage", props.stage, "use 1-128 letters, digits, '-' or '_' (e.g. 'prod')")
    if not props.route_selection_expression:
        raise InvalidPropsError(
            "route_selection_expression", props.route_selection_expression,
            "give an expression such as '$request.body.action'",
        )
    rate = _number("throttling_rate_limit", props.throttling_rate_limit)
    if rate is not None and not rate > 0:
        raise InvalidPropsError(
            "throttling_rate_limit", props.throttling_rate_limit, "the rate must be above 0 requests/s"
        )
    # The burst may be below the rate (AWS's own examples do that): it only has to be a whole number >= 0.
    burst = _number("throttling_burst_limit", props.throttling_burst_limit)
    if burst is not None and (burst < 0 or burst != int(burst)):
        raise InvalidPropsError(
            "throttling_burst_limit", props.throttling_burst_limit, "the burst is a whole number of requests, 0 or more"
        )
    level = _text("logging_level", props.logging_level)
    if level is not None and level not in LOGGING_LEVELS:
        raise InvalidPropsError(
            "logging_level", props.logging_level, f"use one of {', '.join(LOGGING_LEVELS)}"
        )
    retention = _number("log_retention_days", props.log_retention_days)
    if retention is not None and retention not in LOG_RETENTION_DAYS_ALLOWED:
        raise InvalidPropsError(
            "log_retention_days", props.log_retention_days,
            "use a retention CloudWatch Logs accepts: "
            + ", ".join(str(d) for d in LOG_RETENTION_DAYS_ALLOWED),
        )
    for route in props.authorizer_routes:
        if route != "$connect":
            raise InvalidPropsError(
                "authorizer_routes", route,
                "WebSocket APIs accept an authorizer only on $connect: identity is decided once, when the client connects",
            )
    if props.connect_authorizer is not None and not (
        isinstance(props.connect_authorizer, LambdaTarget)
        and props.connect_authorizer.function_name and props.connect_authorizer.invoke_arn
    ):
        raise InvalidPropsError("connect_authorizer", props.connect_authorizer, "needs both function_name and invoke_arn")
    try:
        TokenSource.parse(props.token_source)
    except ValueError as err:
        raise InvalidPropsError("token_source", props.token_source, str(err)) from None
    if props.iam_connect and props.connect_authorizer is not None:
        raise InvalidPropsError("iam_connect", True, "a route has one authorization: AWS_IAM or the Lambda authorizer "
                                                     "(connect_authorizer), not both")
    if props.disable_execute_api_endpoint and props.domain is None:
        raise InvalidPropsError("disable_execute_api_endpoint", True,
                                "clients would have no endpoint left: set domain (a custom domain) as well")
    if props.domain is not None:
        domain_name = _text("domain.domain_name", props.domain.domain_name)
        if domain_name is not None and not re.match(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$", domain_name):
            raise InvalidPropsError("domain.domain_name", props.domain.domain_name, "use a lower-case DNS name such as ws.example.org")
        if not (props.domain.certificate_arn or "").startswith(("arn:", "${")):
            raise InvalidPropsError("domain.certificate_arn", props.domain.certificate_arn, "give the ACM certificate's ARN")
    for key, target in props.custom_routes.items():
        check_custom_route_key("custom_routes", key)
        check_target("custom_routes", target)
    for key in props.two_way_routes:
        if key not in props.custom_routes:
            raise InvalidPropsError("two_way_routes", key, "name a key of custom_routes ($default is always two-way)")
    for route, prop in (("$connect", "connect"), ("$disconnect", "disconnect"), ("$default", "default")):
        chosen: LambdaTarget | None = getattr(props, prop) or props.backend
        if chosen is None:
            raise InvalidPropsError(
                prop, None, f"{route} needs a function: set backend (one for all routes) or {prop}"
            )
        check_target(prop if getattr(props, prop) else "backend", chosen)
    if props.output_prefix and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", props.output_prefix):
        raise InvalidPropsError("output_prefix", props.output_prefix, "use a Terraform name: letters, digits and '_'")
