"""Props of the complete system (:class:`~careconnect_ws_cdk.websocket_system.WebSocketSystem`): typed, documented,
defaults stated once, checked at construction. ``None`` means the default of the construct the prop feeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws.contract import DEFAULT_TOKEN_SOURCE
from careconnect_ws.limits import LIMITS

from . import defaults
from .alarms import AlarmThresholds
from .backend_function import UNRESERVED, check_extensions
from .connect_authorization import (
    REPLACED_PROPS,
    ConnectAuthorization,
    IamAuthorization,
    NoAuthorization,
    TokenAuthorizer,
    check_connect_authorization,
    given_old_props,
)
from .custom_domain import CustomDomain
from .deprecations import renamed, replaced
from .errors import InvalidPropsError
from .lambda_target import LambdaTarget

DEFAULT_CLEANUP_SCHEDULE = defaults.CLEANUP_SCHEDULE


@dataclass(frozen=True, kw_only=True)
class WebSocketSystemProps:
    """Everything :class:`WebSocketSystem` can be told. ``None`` means the default of the construct it feeds."""

    name: str = defaults.API_NAME
    """API name; also the prefix of the secrets, the schedule and the alarms. Default: as shown."""
    stage: str = LIMITS.stage_name
    """Default: ``prod``."""
    tags: Mapping[str, str] = field(default_factory=dict)
    logging_level: str | None = None
    """Default: ``INFO``."""
    log_retention_days: int | None = None
    """Default: 2192 (6 years)."""

    # -- mode (a): an existing function --------------------------------------------------------
    existing_function: LambdaTarget | None = None
    """Bind this function instead of deploying one. Default: none (mode b)."""
    backend_role_name: str | None = None
    """Mode (a): attach the ``@connections`` policy to this role. Default: none."""
    existing_role_name: str | None = None
    """Deprecated: the old name of ``backend_role_name`` (the stack option's name)."""

    # -- mode (b): the function built from this package ------------------------------------------
    function_name: str | None = None
    """The function's name, prefix of its role, dead-letter queue and log group. Default: ``{name}-backend``
    (``careconnect-ws-backend`` for the default ``name``); set at construction, never None after."""
    artifact_path: str | None = None
    """The Lambda zip (``python -m careconnect_ws_cdk.lambda_artifact``). Required in mode (b)."""
    architecture: str | None = None
    memory_mb: int | None = None
    timeout_seconds: int | None = None
    reserved_concurrency: int | str | None = None
    """A number, ``"none"`` for unreserved (as in ``BackendFunctionProps``), or None for the default (100)."""
    database_secret_arn: str | None = None
    """Default: a secret container created here (its value set outside Terraform)."""
    jwt_secret_arn: str | None = None
    """Default: a secret container created here."""
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    """Your identity provider's key set instead of a token key (no token secret is created then)."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    subnet_ids: Sequence[str] = ()
    security_group_ids: Sequence[str] = ()
    cleanup_schedule: str | None = DEFAULT_CLEANUP_SCHEDULE
    """EventBridge schedule of the cleanup; None disables it. Mode (b) only."""
    extensions: Sequence[str] = ()
    """Your modules the function imports at cold start (``WS_EXTENSIONS``); build the zip with them
    (``lambda_artifact --include``). Mode (b) only. Default: none."""
    topics: Sequence[Mapping[str, str]] = ()
    """Topics declared without code (``WS_TOPICS``): ``{"name": ..., "rule": "own-subject" | "any-user" |
    "claim:<name>"}``. Mode (b) only. Default: none."""
    function_environment: Mapping[str, str] = field(default_factory=dict)
    """Non-secret runtime settings for the function (``WS_MAX_MESSAGES_PER_SECOND``, …). Mode (b) only."""
    environment: Mapping[str, str] | None = None
    """Deprecated: the old name of ``function_environment`` (the stack option's name)."""
    snap_start: bool | None = None
    """Lambda SnapStart for the function (an alias the routes, authorizer and schedule invoke). Default: off."""

    # -- both modes -------------------------------------------------------------------------------
    connect_authorization: ConnectAuthorization | None = None
    """Who may open a connection: ``TokenAuthorizer(token_source=...)`` (the function checks the token as
    ``$connect``'s REQUEST authorizer first; ``function`` defaults to the system's), ``IamAuthorization()``
    (SigV4-signed handshakes, the signer's ARN is the user; in mode (b) no token secret) or
    ``NoAuthorization(token_source=...)`` (the ``$connect`` handler checks the token itself). In mode (b) the
    function is told the same (``WS_TOKEN_SOURCE``, ``WS_CONNECT_AUTH``). Default: ``TokenAuthorizer()`` in
    mode (b), ``NoAuthorization()`` in mode (a); set at construction, never None after."""
    authorizer: bool | None = None
    """Deprecated: ``connect_authorization=TokenAuthorizer()`` (True) or ``NoAuthorization()`` (False)."""
    iam_connect: bool = False
    """Deprecated: ``connect_authorization=IamAuthorization()``."""
    token_source: str | None = None
    """Deprecated: the ``token_source`` of ``TokenAuthorizer`` or ``NoAuthorization``."""
    alarm_topic_arn: str | None = None
    """SNS topic; setting it creates the alarms."""
    alarm_thresholds: AlarmThresholds | None = None
    """Default: :class:`AlarmThresholds`' defaults."""
    dashboard: bool = True
    """A CloudWatch dashboard of the API, the function, the runtime's metrics, the dead letters and the cleanup."""
    domain: CustomDomain | None = None
    disable_execute_api_endpoint: bool = False
    """Clients connect only through ``domain``. Default: off."""
    manage_account_cloudwatch_role: bool = False
    """The account's API Gateway CloudWatch role: a per-account, per-region singleton."""
    provider: Any = None
    """The ``AwsProvider`` every resource and data source uses. Default: the stack's default provider."""
    outputs: bool = False
    """Deprecated: call :meth:`WebSocketSystem.add_outputs` (the one way, as on ``WebSocketApi``)."""

    def __post_init__(self) -> None:
        if self.existing_role_name is not None:
            renamed("WebSocketSystemProps", "existing_role_name", "backend_role_name")
            object.__setattr__(self, "backend_role_name", self.existing_role_name)
        if self.environment is not None:
            renamed("WebSocketSystemProps", "environment", "function_environment")
            object.__setattr__(self, "function_environment", self.environment)
        if self.outputs:
            replaced("WebSocketSystemProps", "outputs", "WebSocketSystem.add_outputs()")
        for old in given_old_props(self, ("authorizer", "iam_connect", "token_source")):
            replaced("WebSocketSystemProps", old, REPLACED_PROPS[old])
        object.__setattr__(self, "connect_authorization", _connect_authorization(self))
        if self.function_name is None and isinstance(self.name, str):
            object.__setattr__(self, "function_name", defaults.function_name(self.name))
        validate_system(self)


def _connect_authorization(props: WebSocketSystemProps) -> ConnectAuthorization:
    """The prop as given, what its deprecated parts meant, or the mode's default."""
    legacy = props.authorizer is not None or props.iam_connect or props.token_source is not None
    if props.connect_authorization is not None:
        if legacy:
            raise InvalidPropsError(
                "connect_authorization",
                props.connect_authorization,
                "give it alone: authorizer, iam_connect and token_source are its deprecated parts",
            )
        return props.connect_authorization
    if props.iam_connect:
        if props.authorizer:
            raise InvalidPropsError("authorizer", True, "iam_connect puts AWS_IAM on $connect: a route has one authorization")
        return IamAuthorization()
    token_source = props.token_source if props.token_source is not None else str(DEFAULT_TOKEN_SOURCE)
    authorizer = props.authorizer if props.authorizer is not None else props.existing_function is None
    return TokenAuthorizer(token_source=token_source) if authorizer else NoAuthorization(token_source=token_source)


def validate_system(props: WebSocketSystemProps) -> None:
    """What can be told from the props alone, naming the prop; the rest is checked by the props of the constructs
    the system feeds (``WebSocketApiProps``, ``BackendFunctionProps``), also at construction."""
    if not isinstance(props.name, str) or not props.name.strip():
        raise InvalidPropsError("name", props.name, "the system needs a non-empty name (it prefixes every physical name)")
    if (
        props.reserved_concurrency is not None
        and props.reserved_concurrency != UNRESERVED
        and (
            not isinstance(props.reserved_concurrency, int)
            or isinstance(props.reserved_concurrency, bool)
            or props.reserved_concurrency < 1
        )
    ):
        raise InvalidPropsError(
            "reserved_concurrency", props.reserved_concurrency, f'a number of at least 1, or "{UNRESERVED}" for unreserved'
        )
    if props.existing_function is not None:
        for prop in ("artifact_path", "database_secret_arn", "jwt_secret_arn", "snap_start", "extensions", "topics"):
            if getattr(props, prop):
                raise InvalidPropsError(
                    prop,
                    getattr(props, prop),
                    "applies to the function this construct builds (mode b); with existing_function, configure your own function",
                )
    elif props.backend_role_name:
        raise InvalidPropsError(
            "backend_role_name",
            props.backend_role_name,
            "names the role of an existing_function (mode a); the function built here has its own",
        )
    check_connect_authorization("connect_authorization", props.connect_authorization, function_required=False)
    check_extensions(props.extensions, props.function_environment, environment_prop="function_environment", topics=props.topics)
    if not isinstance(props.alarm_thresholds, AlarmThresholds | None):
        raise InvalidPropsError("alarm_thresholds", props.alarm_thresholds, "an AlarmThresholds")


def resolved_connect_authorization(props: WebSocketSystemProps) -> ConnectAuthorization:
    """``connect_authorization`` after construction (the mode's default filled in then)."""
    assert props.connect_authorization is not None, "set in WebSocketSystemProps.__post_init__"
    return props.connect_authorization
