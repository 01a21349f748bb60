"""Configuration of the default stack, read from cdktf context or the environment.

Precedence: environment variable, then cdktf context (``cdktf.json`` ``context`` or
``App(context=...)``), then the default. Every value has a working default, so
``python main.py`` synthesizes with no configuration at all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from careconnect_ws.limits import LIMITS

from .errors import InvalidPropsError


@dataclass(frozen=True, kw_only=True)
class StackConfig:
    """What ``main.py`` needs to build the default stack."""

    stack_name: str = "careconnect-ws"
    """Stack name; the output is ``cdktf.out/stacks/<stack_name>/cdk.tf.json``. Default: ``careconnect-ws``.
    Env ``CARECONNECT_WS_STACK_NAME``, context ``stack_name``."""

    region: str = "us-east-1"
    """AWS region. Default: ``us-east-1``. Env ``CARECONNECT_WS_REGION`` (or ``AWS_REGION``), context ``region``."""

    api_name: str = "careconnect-websocket"
    """API Gateway name. Default: ``careconnect-websocket``. Env ``CARECONNECT_WS_API_NAME``."""

    stage_name: str = LIMITS.stage_name
    """Stage. Default: ``prod``. Env ``CARECONNECT_WS_STAGE``, context ``stage``."""

    backend_function_name: str = "cc-backend-main"
    """The existing backend Lambda. Default: ``cc-backend-main`` (the module's example).
    Env ``CARECONNECT_WS_BACKEND_FUNCTION_NAME``, context ``backend_function_name``."""

    backend_invoke_arn: str | None = None
    """Its invoke ARN. Default: looked up by name with an ``aws_lambda_function`` data source.
    Env ``CARECONNECT_WS_BACKEND_INVOKE_ARN``, context ``backend_invoke_arn``."""

    backend_role_name: str | None = None
    """The backend's IAM role; when set, the @connections policy is attached to it. Default: none.
    Env ``CARECONNECT_WS_BACKEND_ROLE_NAME``, context ``backend_role_name``."""

    logging_level: str = "INFO"
    """Execution logging level. Default: ``INFO``. Env ``CARECONNECT_WS_LOGGING_LEVEL``."""

    log_retention_days: int = 365
    """Log retention in days. Default: 365. Env ``CARECONNECT_WS_LOG_RETENTION_DAYS``."""

    tags: Mapping[str, str] = field(
        default_factory=lambda: {"Project": "careconnect", "Component": "websocket", "ManagedBy": "cdktf"}
    )
    """Tags on every taggable resource. Env ``CARECONNECT_WS_TAGS`` (a JSON object), context ``tags``."""


_KEYS: dict[str, tuple[str, ...]] = {
    "stack_name": ("CARECONNECT_WS_STACK_NAME",),
    "region": ("CARECONNECT_WS_REGION", "AWS_REGION"),
    "api_name": ("CARECONNECT_WS_API_NAME",),
    "stage_name": ("CARECONNECT_WS_STAGE",),
    "backend_function_name": ("CARECONNECT_WS_BACKEND_FUNCTION_NAME",),
    "backend_invoke_arn": ("CARECONNECT_WS_BACKEND_INVOKE_ARN",),
    "backend_role_name": ("CARECONNECT_WS_BACKEND_ROLE_NAME",),
    "logging_level": ("CARECONNECT_WS_LOGGING_LEVEL",),
    "log_retention_days": ("CARECONNECT_WS_LOG_RETENTION_DAYS",),
    "tags": ("CARECONNECT_WS_TAGS",),
}
_CONTEXT_ALIASES = {"stage_name": "stage"}


def load_stack_config(
    context: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> StackConfig:
    """Build a :class:`StackConfig` from the environment and cdktf context."""
    context = context or {}
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, env_names in _KEYS.items():
        raw: Any = None
        for env_name in env_names:
            if environ.get(env_name):
                raw = environ[env_name]
                source = env_name
                break
        else:
            ctx_key = _CONTEXT_ALIASES.get(name, name)
            if context.get(ctx_key) not in (None, ""):
                raw = context[ctx_key]
                source = f"context {ctx_key}"
        if raw is None:
            continue
        values[name] = _convert(name, raw, source)
    return StackConfig(**values)


def _convert(name: str, raw: Any, source: str) -> Any:
    if name == "log_retention_days":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise InvalidPropsError(source, raw, "give a whole number of days, e.g. 365") from None
    if name == "tags":
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise InvalidPropsError(source, raw, 'give a JSON object, e.g. {"Team": "care"}') from None
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            raise InvalidPropsError(source, raw, "tags must map names to string values")
        return raw
    return str(raw)
