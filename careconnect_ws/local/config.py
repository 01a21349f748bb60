"""How the local gateway behaves: one frozen dataclass, every default stated once.

Limits default from :data:`careconnect_ws.limits.LIMITS`, the settings object the deployed
stage is synthesized from, so what runs on a laptop is what is deployed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import contract
from ..limits import LIMITS, GatewayLimits
from ..sigv4 import Credentials

BUILT_IN_ROUTES = frozenset(contract.BUILT_IN_ROUTES)
LOOPBACK_HOSTS = contract.LOOPBACK_HOSTS


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    """Interface to listen on. Anything but loopback needs ``allow_remote``."""
    port: int = 8080
    """0 picks a free port."""
    allow_remote: bool = False
    """Listen beyond loopback. Then ``@connections`` verifies SigV4 signatures against ``credentials``."""
    credentials: Credentials | None = None
    """What ``@connections`` callers must sign with. Default: none (loopback: any signature is accepted)."""
    limits: GatewayLimits = LIMITS
    stage: str | None = None
    """Default: ``limits.stage_name``."""
    route_selection_expression: str | None = None
    """Default: ``limits.route_selection_expression`` (``$request.body.action``)."""
    routes: frozenset[str] = BUILT_IN_ROUTES
    """Route keys the API has; a message selecting another one goes to ``$default``."""
    two_way_routes: frozenset[str] = frozenset({"$default"})
    """Routes whose handler reply goes back to the client (route responses)."""
    throttling: bool = True
    """Stage throttling as a token bucket. Default: on, at the stage's synthesized rate and burst."""
    throttling_rate_limit: float | None = None
    """Default: ``limits.throttling_rate_limit`` (100/s)."""
    throttling_burst_limit: int | None = None
    """Default: ``limits.throttling_burst_limit`` (500)."""
    idle_timeout_seconds: float | None = None
    """Default: ``limits.idle_timeout_seconds`` (10 minutes). Close code 1001."""
    max_connection_seconds: float | None = None
    """Default: ``limits.connection_ttl_seconds`` (2 hours). Close code 1001."""
    authorizer: bool = True
    """Run the authorizer before ``$connect``."""
    iam_connect: bool = False
    """``AWS_IAM`` on ``$connect``, as the construct's ``iam_connect``: a handshake must be SigV4-signed with
    ``credentials`` (service ``execute-api``), and ``$connect``'s ``requestContext.identity`` carries the signer
    (``userArn``, ``accessKey``, ``accountId``), as API Gateway's does. No authorizer runs."""
    token_source: str = "query:token"
    """The authorizer's identity source, as the construct's ``token_source`` and the runtime's ``WS_TOKEN_SOURCE``:
    ``query:<parameter>``, ``header:<name>`` or ``protocol``; missing, the handshake gets 401 without the authorizer."""
    concurrency: int = 32
    """Worker threads for handler invocations (Lambda concurrency)."""
    cleanup_interval_seconds: float | None = None
    """Send the scheduled cleanup event this often (as the stack's EventBridge rule does). Default: never."""
    api_id: str = "local"
    region: str = "us-east-1"
    account_id: str = "000000000000"

    def __post_init__(self) -> None:
        if self.host not in LOOPBACK_HOSTS and not self.allow_remote:
            raise ValueError(
                f"host {self.host!r} is reachable from other machines: pass allow_remote (--allow-remote) to mean it"
            )
        if self.allow_remote and self.credentials is None:
            raise ValueError("a gateway reachable from other machines needs credentials for @connections")

    @property
    def stage_name(self) -> str:
        return self.stage or self.limits.stage_name

    @property
    def selection_expression(self) -> str:
        return self.route_selection_expression or self.limits.route_selection_expression

    @property
    def rate(self) -> float:
        return self.throttling_rate_limit if self.throttling_rate_limit is not None else self.limits.throttling_rate_limit

    @property
    def burst(self) -> int:
        return self.throttling_burst_limit if self.throttling_burst_limit is not None else self.limits.throttling_burst_limit

    @property
    def idle_timeout(self) -> float:
        return self.idle_timeout_seconds if self.idle_timeout_seconds is not None else self.limits.idle_timeout_seconds

    @property
    def max_connection(self) -> float:
        return self.max_connection_seconds if self.max_connection_seconds is not None else self.limits.connection_ttl_seconds
