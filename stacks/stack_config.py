"""Configuration of the default stack, read from cdktf context or the environment.

Precedence: environment variable ``CARECONNECT_WS_<NAME>``, then cdktf context ``<name>``
(``cdktf.json`` ``context`` or ``App(context=...)``), then the default. Every value has a
working default, so ``python main.py`` synthesizes the complete system with no configuration.
Setting ``backend_function_name`` switches to binding an existing function (mode a).

An option is the :class:`~careconnect_ws_cdk.websocket_system.WebSocketSystemProps` field of the same name
(``memory_mb`` is ``CARECONNECT_WS_MEMORY_MB`` and ``WebSocketSystemProps(memory_mb=...)``), so the app builds
its props from the options without restating them. The few that are not are marked on the field: the
stack's own settings (state, region, provider pin) and the parts of a composite prop (``domain``,
``existing_function``). The 0.1 names (``api_name``, ``lambda_*``) still work for one release, with a warning.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from careconnect_ws.contract import DEFAULT_TOKEN_SOURCE
from careconnect_ws.limits import LIMITS
from careconnect_ws_cdk import defaults
from careconnect_ws_cdk.connect_authorization import (
    ConnectAuthorization,
    IamAuthorization,
    NoAuthorization,
    TokenAuthorizer,
)
from careconnect_ws_cdk.deprecations import REMOVED_IN
from careconnect_ws_cdk.errors import InvalidPropsError

PROP = "prop"
"""Field metadata: the ``WebSocketSystemProps`` path an option sets (``domain.domain_name``), None for the
stack's own settings. Absent: the prop of the option's own name."""


def _stack_setting(default: Any = None) -> Any:
    """An option of the app's stack (its state, region, provider pin): no construct prop."""
    return field(default=default, metadata={PROP: None})


def _part_of(prop_path: str, default: Any = None) -> Any:
    """An option that is one field of a composite prop (``domain.domain_name``)."""
    return field(default=default, metadata={PROP: prop_path})


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """What ``main.py`` needs to build the default stack. Field docs name the context key;
    the environment variable is ``CARECONNECT_WS_`` + the key in upper case."""

    # -- the stack ----------------------------------------------------------------------
    stack_name: str = _stack_setting("careconnect-ws")
    """Output in ``cdktf.out/stacks/<stack_name>/``. Default: ``careconnect-ws``."""
    region: str = _stack_setting("us-east-1")
    """Default: ``us-east-1`` (``AWS_REGION`` is read too)."""
    name: str = defaults.API_NAME
    """The API's name, prefix of the secrets, schedule, alarms and dashboard. Default: ``careconnect-websocket``."""
    stage: str = LIMITS.stage_name
    # None below means "the construct's default" (stated once, in the props classes).
    logging_level: str | None = None
    """Default: ``INFO``."""
    log_retention_days: int | None = None
    """Default: 2192 days (6 years, HIPAA's retention period for security records)."""
    tags: Mapping[str, str] = field(
        default_factory=lambda: {"Project": "careconnect", "Component": "websocket", "ManagedBy": "cdktf"}
    )
    """A JSON object in the environment."""

    # -- mode (a): an existing backend function ------------------------------------------
    backend_function_name: str | None = _part_of("existing_function.function_name")
    """Bind this existing function instead of deploying one (mode a). Default: none (mode b)."""
    backend_invoke_arn: str | None = _part_of("existing_function.invoke_arn")
    """Mode a: its invoke ARN. Default: looked up with an ``aws_lambda_function`` data source."""
    backend_role_name: str | None = None
    """Mode a: attach the ``@connections`` policy to this role. Default: none."""

    # -- mode (b): the function built from this package ----------------------------------
    function_name: str | None = None
    """Default: ``{name}-backend`` (``careconnect-ws-backend`` for the default name)."""
    artifact_path: str | None = None
    """Default: ``dist/lambda/careconnect-ws-lambda-<arch>.zip`` (``make lambda``)."""
    architecture: str | None = None
    """Default: ``arm64``."""
    memory_mb: int | None = None
    """Default: 512."""
    timeout_seconds: int | None = None
    """Default: 29."""
    reserved_concurrency: int | Literal["none"] | None = None
    """Default: 100; ``none`` for unreserved."""
    database_secret_arn: str | None = None
    """Default: a secret created by the stack, value set by you (never in state)."""
    jwt_secret_arn: str | None = None
    """Default: a secret created by the stack, value set by you."""
    jwt_jwks_url: str | None = None
    """(b) Your identity provider's JWKS URL instead of the HS256 secret (needs ``jwt_issuer`` and ``jwt_audience``)."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    subnet_ids: Sequence[str] = ()
    """Comma-separated in the environment. Default: no VPC."""
    security_group_ids: Sequence[str] = ()
    topics: Sequence[Mapping[str, str]] = ()
    """(b) Topics declared without code (``WS_TOPICS``), a JSON list: ``[{"name": "care-plan", "rule":
    "claim:care_plans"}]``. Default: none."""
    extensions: Sequence[str] = ()
    """(b) Your modules the function imports (``WS_EXTENSIONS``), comma-separated: build the zip with them
    (``python -m stacks.lambda_artifact --include PATH``). Default: none."""
    cleanup_schedule: str | None = defaults.CLEANUP_SCHEDULE
    """EventBridge schedule of the cleanup; ``off`` disables it."""
    function_environment: Mapping[str, str] = field(default_factory=dict)
    """(b) Non-secret runtime settings for the function, a JSON object such as
    ``{"WS_MAX_MESSAGES_PER_SECOND": "20"}`` (the names the runtime reads). Default: none."""
    snap_start: bool | None = None
    """(b) Lambda SnapStart, through an alias the routes, authorizer and schedule invoke. Default: off."""

    # -- options for both modes ----------------------------------------------------------
    # The three below are parts of one prop, ``connect_authorization`` (see :meth:`connect_authorization`): the
    # first two choose its type, the third is a field of two of them.
    authorizer: bool | None = _part_of("connect_authorization.TokenAuthorizer")
    """``$connect`` REQUEST authorizer. Default: on in mode b, off in mode a."""
    iam_connect: bool = _part_of("connect_authorization.IamAuthorization", False)
    """``AWS_IAM`` on ``$connect``: service clients sign the handshake (SigV4) instead of sending a token."""
    token_source: str | None = _part_of("connect_authorization.token_source")
    """Where clients put their token: ``query:token`` (default), ``header:Authorization``, ``header:<name>`` or
    ``protocol``."""
    alarm_topic_arn: str | None = None
    """SNS topic; setting it creates the alarms. Default: none."""
    dashboard: bool = True
    """A CloudWatch dashboard of the whole system; ``off`` leaves it out. Default: on."""
    domain_name: str | None = _part_of("domain.domain_name")
    certificate_arn: str | None = _part_of("domain.certificate_arn")
    hosted_zone_id: str | None = _part_of("domain.hosted_zone_id")
    disable_execute_api_endpoint: bool = False
    """With ``domain_name``: clients may connect only through it, not the ``execute-api`` URL. Default: off."""
    manage_account_cloudwatch_role: bool = False
    """Create the account's API Gateway CloudWatch role (a per-account-and-region singleton)."""

    aws_provider_version: str | None = _stack_setting()
    """Version constraint for the hashicorp/aws provider, e.g. ``>= 5.100, < 7`` where only a 5.x provider
    is at hand (an offline mirror). Default: the version the provider bindings were generated for."""

    # -- remote state --------------------------------------------------------------------
    state_bucket: str | None = _stack_setting()
    """S3 bucket for Terraform state. Default: none (local state beside cdk.tf.json)."""
    state_key: str | None = _stack_setting()
    """Default: ``careconnect-ws/<stack_name>.tfstate``."""
    state_region: str | None = _stack_setting()
    """Default: ``region``."""
    state_lock_table: str | None = _stack_setting()
    """DynamoDB lock table. Default: none (S3 native locking, ``use_lockfile``)."""

    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False, metadata={PROP: None})
    """Where each option the user set came from (``CARECONNECT_WS_STAGE`` or ``cdktf.json context stage``):
    errors name that, not the construct prop."""

    def source_of(self, option: str) -> str:
        return self.sources.get(option) or f"CARECONNECT_WS_{option.upper()} (or context {option})"

    @property
    def existing_backend(self) -> bool:
        return bool(self.backend_function_name)

    @property
    def authorizer_enabled(self) -> bool:
        if self.iam_connect:
            return False
        return self.authorizer if self.authorizer is not None else not self.existing_backend

    def connect_authorization(self) -> ConnectAuthorization | None:
        """The ``connect_authorization`` prop the three options set; None (the mode's default) when none is set."""
        if self.iam_connect:
            if self.authorizer:
                raise InvalidPropsError(
                    self.source_of("iam_connect"),
                    True,
                    "iam_connect puts AWS_IAM on $connect: a route has one authorization (unset authorizer)",
                )
            return IamAuthorization()
        if self.authorizer is None and self.token_source is None:
            return None
        token_source = self.token_source or str(DEFAULT_TOKEN_SOURCE)
        if self.authorizer_enabled:
            return TokenAuthorizer(token_source=token_source)
        return NoAuthorization(token_source=token_source)

    def system_prop_values(self) -> dict[str, Any]:
        """The options that are ``WebSocketSystemProps`` fields, by prop name, as set (None: the prop's default)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if PROP not in f.metadata}

    def composite_prop_values(self, prop: str) -> dict[str, Any]:
        """The set fields of one composite prop (``domain``: ``{"domain_name": ..., "certificate_arn": ...}``)."""
        values = {}
        for f in fields(self):
            path = f.metadata.get(PROP)
            if path and path.startswith(f"{prop}.") and getattr(self, f.name) is not None:
                values[path.removeprefix(f"{prop}.")] = getattr(self, f.name)
        return values

    def option_for_prop(self, prop_path: str) -> str | None:
        """The option that sets this prop (``memory_mb``, ``domain.domain_name``), or None."""
        for f in fields(self):
            if f.metadata.get(PROP, f.name) == prop_path:
                return f.name
        return None


CONTEXT_KEYS = tuple(f.name for f in fields(StackConfig) if f.name != "sources")
RENAMED = {
    "api_name": "name",
    "lambda_function_name": "function_name",
    "lambda_artifact": "artifact_path",
    "lambda_architecture": "architecture",
    "lambda_memory_mb": "memory_mb",
    "lambda_timeout_seconds": "timeout_seconds",
    "lambda_reserved_concurrency": "reserved_concurrency",
    "lambda_environment": "function_environment",
    "lambda_snap_start": "snap_start",
}
"""0.1 option names and the option each is now (the construct prop's name): still read, with a warning, until
``REMOVED_IN``."""
_OLD_NAMES: dict[str, tuple[str, ...]] = {new: tuple(old for old, n in RENAMED.items() if n == new) for new in RENAMED.values()}
_ALIASES = {"region": ("AWS_REGION",)}
_BOOLS = {
    "authorizer",
    "manage_account_cloudwatch_role",
    "snap_start",
    "dashboard",
    "disable_execute_api_endpoint",
    "iam_connect",
}
_INTS = {"log_retention_days", "memory_mb", "timeout_seconds", "reserved_concurrency"}
_LISTS = {"subnet_ids", "security_group_ids", "extensions"}


def _env_name(option: str) -> str:
    return f"CARECONNECT_WS_{option.upper()}"


def _lookup(name: str, context: Mapping[str, Any], environ: Mapping[str, str]) -> tuple[Any, str, str | None]:
    """``(raw value, where it came from, the old name it was set under or None)``; ``(None, "", None)`` if unset.
    The environment beats context; under each, the current name beats the old one."""
    for env_name in (_env_name(name), *_ALIASES.get(name, ())):
        if environ.get(env_name):
            return environ[env_name], env_name, None
    for old in _OLD_NAMES.get(name, ()):
        if environ.get(_env_name(old)):
            return environ[_env_name(old)], _env_name(old), old
    if context.get(name) not in (None, ""):
        return context[name], f"cdktf.json context {name}", None
    for old in _OLD_NAMES.get(name, ()):
        if context.get(old) not in (None, ""):
            return context[old], f"cdktf.json context {old}", old
    return None, "", None


def load_stack_config(context: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> StackConfig:
    """Build a :class:`StackConfig` from the environment and cdktf context, checked (see :func:`validate`)."""
    context = context or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in CONTEXT_KEYS:
        raw, source, _old = _lookup(name, context, environ)
        if raw is not None:
            values[name] = _convert(name, raw, source)
            sources[name] = source
    config = StackConfig(**values, sources=sources)
    validate(config)
    return config


def deprecated_options(context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """Warnings for options set under their 0.1 names: what to write instead, and which one wins if both are set."""
    environ = os.environ if environ is None else environ
    warnings = []
    for old, new in RENAMED.items():
        for where, present, old_name, new_name in (
            ("", bool(environ.get(_env_name(old))), _env_name(old), _env_name(new)),
            ("cdktf.json context ", context.get(old) not in (None, ""), old, new),
        ):
            if not present:
                continue
            _raw, source, used_old = _lookup(new, context, environ)
            message = (
                f"{where}{old_name} is deprecated: set {where}{new_name} (the construct prop {new}); "
                f"the old name goes in {REMOVED_IN}"
            )
            if used_old != old or source != f"{where}{old_name}":
                message += f"; ignored here, because {source} is set"
            warnings.append(message)
    return warnings


def unknown_options(context: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> list[str]:
    """Warnings for ``CARECONNECT_WS_*`` variables and context keys that are no option (a typo is otherwise silent)."""
    environ = os.environ if environ is None else environ
    known_keys = set(CONTEXT_KEYS) | set(RENAMED)
    known_env = {_env_name(k) for k in known_keys} | NOT_OPTIONS
    warnings = []
    for name in sorted(environ):
        if name.startswith("CARECONNECT_WS_") and name not in known_env:
            close = difflib.get_close_matches(name, sorted({_env_name(k) for k in CONTEXT_KEYS}), n=1)
            warnings.append(f"{name} is not an option and is ignored" + (f" (did you mean {close[0]}?)" if close else ""))
    for key in sorted(context):
        if key not in known_keys:
            close = difflib.get_close_matches(key, CONTEXT_KEYS, n=1)
            warnings.append(
                f"cdktf.json context {key} is not an option and is ignored" + (f" (did you mean {close[0]}?)" if close else "")
            )
    return warnings


NOT_OPTIONS = frozenset(
    {
        "CARECONNECT_WS_CDK",  # which CDK lineage the construct library loads
        "CARECONNECT_WS_TF_PROVIDER_MIRROR",  # the rehearsal's provider mirror
        "CARECONNECT_WS_CLI_CACHE",  # where the rehearsal installs the cdktf / CDK Terrain CLIs
        "CARECONNECT_WS_LAMBDA_PYTHON",  # the CPython that compiles the Lambda zip's bytecode
        "CARECONNECT_WS_URL",
        "CARECONNECT_WS_TOKEN",  # `careconnect-ws listen` / `publish`
        "CARECONNECT_WS_LOCAL_ACCESS_KEY_ID",
        "CARECONNECT_WS_LOCAL_SECRET_ACCESS_KEY",  # `serve --iam-connect`
    }
)
"""``CARECONNECT_WS_*`` variables that other tools of this project read: not stack options, not typos."""

_REGION = re.compile(r"^(us|eu|ap|sa|ca|me|af|il|mx|cn|us-gov|eusc)-[a-z]+-\d$")
_ARN = r"arn:aws[a-z-]*:{service}:{region}:\d{{12}}:{resource}"
_ARN_RULES = {
    "alarm_topic_arn": ("sns", r"[a-z0-9-]+", r"[A-Za-z0-9_-]{1,256}(\.fifo)?", "arn:aws:sns:REGION:ACCOUNT:TOPIC"),
    "certificate_arn": ("acm", r"[a-z0-9-]+", r"certificate/[A-Za-z0-9-]+", "arn:aws:acm:REGION:ACCOUNT:certificate/ID"),
    "database_secret_arn": (
        "secretsmanager",
        r"[a-z0-9-]+",
        r"secret:[A-Za-z0-9/_+=.@-]+",
        "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME",
    ),
    "jwt_secret_arn": (
        "secretsmanager",
        r"[a-z0-9-]+",
        r"secret:[A-Za-z0-9/_+=.@-]+",
        "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME",
    ),
}
_SCHEDULE = re.compile(r"^(rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)|cron\(\S+( \S+){5}\))$")
_BUCKET = re.compile(r"^(?!xn--)(?!sthree-)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_INVOKE_ARN = re.compile(
    r"^arn:aws[a-z-]*:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/arn:aws[a-z-]*:lambda:"
    r"[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?/invocations$"
)


def validate(config: StackConfig) -> None:
    """What AWS would refuse at plan or apply, refused now, naming the variable or context key that was set."""

    def fail(option: str, value: Any, rule: str) -> None:
        raise InvalidPropsError(config.source_of(option), value, rule)

    if not _STACK_NAME.match(config.stack_name):
        fail(
            "stack_name",
            config.stack_name,
            "use 1-63 letters, digits, - and _, starting with a letter or digit (it names a directory and Terraform's state)",
        )
    for option in ("region", "state_region"):
        value = getattr(config, option)
        if value is not None and not _REGION.match(value):
            fail(option, value, "give an AWS region code such as us-east-1 or eu-west-1")
    for option, (service, region, resource, shape) in _ARN_RULES.items():
        value = getattr(config, option)
        if value is not None and not re.fullmatch(_ARN.format(service=service, region=region, resource=resource), value):
            fail(option, value, f"give an ARN of the form {shape}")
    if config.backend_invoke_arn is not None and not _INVOKE_ARN.match(config.backend_invoke_arn):
        fail(
            "backend_invoke_arn",
            config.backend_invoke_arn,
            "give the function's invoke ARN: arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/FUNCTION_ARN/invocations",
        )
    if config.cleanup_schedule is not None and not _SCHEDULE.match(config.cleanup_schedule):
        fail(
            "cleanup_schedule",
            config.cleanup_schedule,
            "give an EventBridge schedule: rate(15 minutes), rate(1 hour), cron(0/15 * * * ? *), or off",
        )
    if config.state_bucket is not None and not _BUCKET.match(config.state_bucket):
        fail("state_bucket", config.state_bucket, "give an S3 bucket name: 3-63 lower-case letters, digits, dots and hyphens")
    if config.architecture is not None and config.architecture not in ("arm64", "x86_64"):
        fail("architecture", config.architecture, "use arm64 or x86_64")
    if config.hosted_zone_id is not None and not re.fullmatch(r"Z[A-Z0-9]{1,31}", config.hosted_zone_id):
        fail("hosted_zone_id", config.hosted_zone_id, "give a Route 53 hosted zone id such as Z0123456789ABCDEFGHIJ")


def _json_object(raw: Any, source: str, example: str) -> dict:
    """A JSON object from the environment (a string) or from context (already parsed)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidPropsError(source, raw, f"give a JSON object, e.g. {example}") from None
    if not isinstance(raw, dict):
        raise InvalidPropsError(source, raw, f"give a JSON object, e.g. {example}")
    return raw


def _convert(name: str, raw: Any, source: str) -> Any:
    if name in _INTS:
        if name == "reserved_concurrency" and str(raw).lower() == "none":
            return "none"
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise InvalidPropsError(source, raw, "give a whole number") from None
    if name in _BOOLS:
        if isinstance(raw, bool):
            return raw
        lowered = str(raw).strip().lower()
        if lowered in ("1", "true", "on", "yes"):
            return True
        if lowered in ("0", "false", "off", "no"):
            return False
        raise InvalidPropsError(source, raw, "use on or off")
    if name in _LISTS:
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(i).strip() for i in items if str(i).strip())
    if name == "cleanup_schedule" and str(raw).strip().lower() == "off":
        return None
    if name == "topics":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise InvalidPropsError(
                    source, raw, 'give a JSON list, e.g. [{"name": "care-plan", "rule": "any-user"}]'
                ) from None
        return tuple(raw) if isinstance(raw, list) else raw
    if name == "function_environment":
        raw = _json_object(raw, source, '{"WS_MAX_MESSAGES_PER_SECOND": "20"}')
        from careconnect_ws import contract
        from careconnect_ws.settings import ENVIRONMENT

        for key, value in raw.items():
            if key in contract.PLAIN_SECRETS or key.endswith("_SECRET_ARN") or key == "DATABASE_URL":
                raise InvalidPropsError(
                    source,
                    key,
                    "secrets do not go in the environment (they would land in Terraform "
                    "state): use database_secret_arn / jwt_secret_arn",
                )
            if key not in ENVIRONMENT:
                close = difflib.get_close_matches(key, sorted(ENVIRONMENT), n=1)
                raise InvalidPropsError(
                    source,
                    key,
                    "not a runtime setting"
                    + (f" (did you mean {close[0]}?)" if close else "")
                    + "; the runtime reads: "
                    + ", ".join(sorted(ENVIRONMENT)),
                )
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise InvalidPropsError(source, value, f"{key}: give the value as a string or a number")
        return {k: str(v) for k, v in raw.items()}
    if name == "tags":
        raw = _json_object(raw, source, '{"Team": "care"}')
        if not all(isinstance(v, str) for v in raw.values()):
            raise InvalidPropsError(source, raw, "tags must map names to string values")
        return raw
    return str(raw)
