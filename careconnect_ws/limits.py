"""The one source of the gateway's limits.

The CDKTF construct synthesizes the stage from these values and the local
gateway enforces the same ones, so what runs on a laptop is what is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class GatewayLimits:
    """Limits and defaults shared by the deployed stage and the local gateway."""

    stage_name: str = "prod"
    """Stage name. Default: ``prod`` (the Terraform module's)."""

    route_selection_expression: str = "$request.body.action"
    """How API Gateway picks a route from a message. Default: ``$request.body.action``."""

    throttling_rate_limit: float = 100.0
    """Steady-state requests per second for the stage. Default: 100."""

    throttling_burst_limit: int = 500
    """Burst size of the stage's token bucket. Default: 500."""

    connection_ttl_seconds: int = 7200
    """How long a connection may live: API Gateway closes it after 2 hours. Default: 7200."""

    idle_timeout_seconds: int = 600
    """API Gateway closes a connection idle this long. Default: 600 (10 minutes)."""

    max_message_bytes: int = 128 * 1024
    """Largest message API Gateway accepts (either direction). Default: 131072 (128 KB)."""

    max_frame_bytes: int = 32 * 1024
    """Largest single WebSocket frame API Gateway accepts. Default: 32768 (32 KB)."""


LIMITS = GatewayLimits()
"""The limits in force unless a caller passes its own."""
