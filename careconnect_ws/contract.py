"""The strings the infrastructure and the runtime must agree on, defined once.

The construct library (``careconnect_ws_cdk``) builds the function, its environment, the cleanup
schedule and the alarms from these; the runtime reads the same names and writes the same log
fields. Standard library only: importing it costs nothing and loads no CDK.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

HANDLER = "careconnect_ws.handler.lambda_handler"
"""The Lambda entry point (``handler`` of the function)."""

BUILT_IN_ROUTES = ("$connect", "$disconnect", "$default")
"""The routes every WebSocket API has: the construct synthesizes them, the local gateway serves them."""


class CloseCode(enum.IntEnum):
    """The WebSocket close codes this system records and sends (RFC 6455 section 7.4.1), by name: the
    registry's ``disconnect_status_code`` and the local gateway's closes use these, never bare numbers."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """The server ends the connection: its lifetime or idle limit passed, or the gateway is stopping."""
    ABNORMAL = 1006
    """The connection dropped without a close frame (never sent; reported for a lost connection)."""
    POLICY_VIOLATION = 1008
    """Ended by policy: the user or the token was revoked."""
    MESSAGE_TOO_BIG = 1009


COMMAND_KEY = "careconnect_ws"
"""Direct invocations carry their command under this key: ``{"careconnect_ws": {"command": ...}}``."""

CLEANUP_COMMAND = "cleanup"
CLEANUP_EVENT = {COMMAND_KEY: {"command": CLEANUP_COMMAND}}
"""What the scheduled rule sends (an EventBridge ``Scheduled Event`` is handled the same way)."""

# Environment variables the stack sets on the function.
DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
JWT_SECRET_ARN = "WS_JWT_SECRET_ARN"
JWT_PUBLIC_KEY = "WS_JWT_PUBLIC_KEY"
JWT_ISSUER = "WS_JWT_ISSUER"
JWT_AUDIENCE = "WS_JWT_AUDIENCE"
JWT_JWKS_URL = "WS_JWT_JWKS_URL"
TOKEN_SOURCE = "WS_TOKEN_SOURCE"
"""Where a client's token is on ``$connect``: the construct's authorizer identity source and the runtime's reading."""
CONNECT_AUTH = "WS_CONNECT_AUTH"
"""``token`` (a JWT, the default) or ``iam``: ``$connect`` takes AWS SigV4-signed handshakes (``AWS_IAM`` on the
route) and the caller's IAM ARN is the user id. The construct's ``connect_authorization=IamAuthorization()`` sets it with the route's auth."""
MODULE_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
"""A module name ``WS_EXTENSIONS`` (and the construct's ``extensions`` prop) may hold: dotted identifiers."""
TOPICS_VARIABLE = "WS_TOPICS"
"""Topics declared without code: a JSON list of ``{"name", "rule"}`` with the rules ``own-subject``, ``any-user``
and ``claim:<name>`` (:func:`careconnect_ws.topics.declared_topics`). The construct's ``topics`` prop sets it."""
TOPIC_RULES = ("own-subject", "any-user")
CLAIM_RULE = "claim:"
"""``claim:<name>``: the token's claim ``<name>`` lists the subjects the user may read."""
_DECLARED_TOPIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_CLAIM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_:.-]{0,63}")


@dataclass(frozen=True)
class DeclaredTopic:
    """One topic of ``WS_TOPICS``: its name, its rule as written, and the claim a ``claim:`` rule reads."""

    name: str
    rule: str = "own-subject"
    description: str = ""

    @property
    def claim(self) -> str | None:
        return _claim_of(self.rule)


def _claim_of(rule: object) -> str | None:
    """The claim a ``claim:<name>`` rule reads; None for any other rule."""
    return rule.removeprefix(CLAIM_RULE) if isinstance(rule, str) and rule.startswith(CLAIM_RULE) else None


def parse_declared_topics(entries: object) -> list[DeclaredTopic]:
    """``WS_TOPICS``'s list (decoded JSON) checked; ``ValueError`` says which entry and what to write. The runtime
    and the construct library both check with it, so a prop the construct accepts is one the function reads."""
    if not isinstance(entries, list):
        raise ValueError('give a JSON list of {"name": ..., "rule": ...}')
    topics: list[DeclaredTopic] = []
    for index, entry in enumerate(entries):
        where = f"entry {index}"
        if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "rule", "description"}:
            raise ValueError(f'{where}: give {{"name": ..., "rule": ...}} (and optionally "description")')
        name, rule, description = entry["name"], entry.get("rule", "own-subject"), entry.get("description", "")
        if not isinstance(name, str) or not _DECLARED_TOPIC_NAME.fullmatch(name):
            raise ValueError(f"{where}: the name must be 1-128 letters, digits, '-', '_', '.', ':'")
        claim = _claim_of(rule)
        if rule not in TOPIC_RULES and not (claim is not None and _CLAIM_NAME.fullmatch(claim)):
            raise ValueError(f"{where}: rule {str(rule)[:80]!r}: use own-subject, any-user or claim:<claim name>")
        if not isinstance(description, str):
            raise ValueError(f"{where}: the description must be text")
        if any(t.name == name for t in topics):
            raise ValueError(f"{name} is declared twice")
        topics.append(DeclaredTopic(name, rule, description))
    return topics


EXTENSIONS = "WS_EXTENSIONS"
"""A team's modules (comma-separated, e.g. ``acme_ws,acme_ws.chat``) imported at cold start: their topics, actions
and notification types. The construct's ``extensions`` prop sets it; ``serve --extension``, the CLI and the pytest
plugin read it too (:mod:`careconnect_ws.extensions`)."""
TOKEN_PROTOCOL = "careconnect-ws"
"""With ``WS_TOKEN_SOURCE=protocol`` a client offers the subprotocols ``careconnect-ws`` and its token
(``new WebSocket(url, ["careconnect-ws", token])``); ``$connect`` selects ``careconnect-ws``."""
LOCAL_ACCESS_KEY_ID = "CARECONNECT_WS_LOCAL_ACCESS_KEY_ID"
LOCAL_SECRET_ACCESS_KEY = "CARECONNECT_WS_LOCAL_SECRET_ACCESS_KEY"
"""What ``serve --allow-remote`` prints for signing ``@connections`` calls, and what sending prefers when both
are set: named so that sourcing serve's env file never replaces the shell's real AWS credentials."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""This machine's own names: where ``serve`` listens unless told otherwise, where ``@connections`` may be called
unsigned and an identity provider reached over plain http (development only)."""
PLAIN_SECRETS = ("DATABASE_URL", "WS_JWT_SECRET")
"""Never set as plain environment variables by the stack: they would land in Terraform state."""

# The handler's log line (one JSON object per invocation) and the fields alarms match.
LOG_ROUTE = "route"
LOG_STATUS = "status"
LOG_OUTCOME = "outcome"
# On every log line of an invocation, named as Lambda's own log tools key on them.
LOG_REQUEST_ID = "awsRequestId"
LOG_FUNCTION = "functionName"
LOG_FUNCTION_VERSION = "functionVersion"
LOG_COLD_START = "coldStart"
LOG_TRACE_ID = "xrayTraceId"

# CloudWatch metrics, written in Embedded Metric Format into the per-invocation log line (no API call).
# The dimensions are log fields of that line; none is ever a user or connection id.
METRIC_NAMESPACE = "CareConnectWs"
DIMENSION_FUNCTION = LOG_FUNCTION
DIMENSION_ROUTE = LOG_ROUTE
DIMENSION_OUTCOME = LOG_OUTCOME


class Metric:
    """The runtime's metric names (namespace :data:`METRIC_NAMESPACE`). Each is emitted with the
    dimension sets named in :data:`METRIC_DIMENSIONS`; the construct's alarms and dashboard use these."""

    REQUESTS = "Requests"
    """Every invocation: 1. By function, by function and route, and by function, route and outcome."""
    LATENCY = "Latency"
    """The handler's own time in milliseconds. By function and by function and route."""
    SERVER_ERRORS = "ServerErrors"
    """1 when the handler answered 5xx (``internal_error``, ``service_unavailable``, ``misconfigured``), else 0.
    Lambda's ``Errors`` never counts these: to Lambda they are successful invocations."""
    CLIENT_ERRORS = "ClientErrors"
    """1 when the handler answered 4xx (a refused token, a rate limit, a bad message), else 0."""
    COLD_STARTS = "ColdStarts"
    """1 on a container's first invocation (and the first after a SnapStart restore)."""
    RATE_LIMITED = "RateLimited"
    """A message refused with ``rate_limited``."""
    CLOSED_FOR_FLOODING = "ClosedForFlooding"
    """A connection closed for sending past twice its rate limit."""
    RECIPIENTS = "Recipients"
    """Per publish or notification: the subscribed connections it was pushed to."""
    DELIVERED = "Delivered"
    GONE = "Gone"
    """Recipients API Gateway no longer knew (410): deactivated."""
    FAILED = "Failed"
    """Recipients the push failed for (throttled, or ``@connections`` unreachable)."""


METRIC_DIMENSIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    Metric.REQUESTS: (
        (DIMENSION_FUNCTION,),
        (DIMENSION_FUNCTION, DIMENSION_ROUTE),
        (DIMENSION_FUNCTION, DIMENSION_ROUTE, DIMENSION_OUTCOME),
    ),
    Metric.LATENCY: ((DIMENSION_FUNCTION,), (DIMENSION_FUNCTION, DIMENSION_ROUTE)),
    Metric.SERVER_ERRORS: ((DIMENSION_FUNCTION,), (DIMENSION_FUNCTION, DIMENSION_ROUTE)),
    Metric.CLIENT_ERRORS: ((DIMENSION_FUNCTION,), (DIMENSION_FUNCTION, DIMENSION_ROUTE)),
    Metric.COLD_STARTS: ((DIMENSION_FUNCTION,),),
    Metric.RATE_LIMITED: ((DIMENSION_FUNCTION,),),
    Metric.CLOSED_FOR_FLOODING: ((DIMENSION_FUNCTION,),),
    Metric.RECIPIENTS: ((DIMENSION_FUNCTION,),),
    Metric.DELIVERED: ((DIMENSION_FUNCTION,),),
    Metric.GONE: ((DIMENSION_FUNCTION,),),
    Metric.FAILED: ((DIMENSION_FUNCTION,),),
}
"""Each metric's dimension sets: an alarm or a dashboard widget names one of these exactly, or CloudWatch
has no such metric."""

METRIC_UNITS = {Metric.LATENCY: "Milliseconds"}
"""Every other metric is a ``Count``."""

CLEANUP_FAILURES_METRIC = "CleanupFailures"
"""The log metric filter's metric (namespace :data:`METRIC_NAMESPACE`, no dimensions): a cleanup that failed."""


def command_route(command: str) -> str:
    """The ``route`` field of a direct invocation's log line."""
    return f"command:{command}"


def failed_command_filter(command: str) -> str:
    """CloudWatch Logs metric filter pattern: a log line of ``command`` that did not answer 200."""
    return f"{{ $.{LOG_ROUTE} = {json.dumps(command_route(command))} && $.{LOG_STATUS} != 200 }}"


_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class TokenSource:
    """Where ``$connect`` finds the client's token: ``query:token`` (the default, ``?token=``; what browsers
    can send), ``header:<name>`` (``header:Authorization`` takes ``Bearer <token>``; for service clients), or
    ``protocol`` (the ``Sec-WebSocket-Protocol`` header, the other way a browser can carry it). The same value
    configures the authorizer's identity source (construct), the runtime (``WS_TOKEN_SOURCE``) and ``serve``."""

    kind: str = "query"
    name: str = "token"

    @classmethod
    def parse(cls, text: str) -> TokenSource:
        kind, _, name = text.strip().partition(":")
        if kind == "protocol" and not name:
            return cls("protocol", "Sec-WebSocket-Protocol")
        if kind in ("query", "header") and _NAME.fullmatch(name):
            return cls(kind, name)
        raise ValueError(f"{text!r} is not a token source: use query:<parameter>, header:<name> or protocol")

    def __str__(self) -> str:
        return "protocol" if self.kind == "protocol" else f"{self.kind}:{self.name}"

    @property
    def identity_source(self) -> str:
        """The authorizer's identity source: API Gateway answers 401 itself when it is missing."""
        if self.kind == "query":
            return f"route.request.querystring.{self.name}"
        return f"route.request.header.{self.name}"

    @property
    def hint(self) -> str:
        """How a client gives its token, for an error message."""
        if self.kind == "query":
            return f"connect with ?{self.name}=<JWT>"
        if self.kind == "protocol":
            return f'offer the subprotocols "{TOKEN_PROTOCOL}" and the JWT (Sec-WebSocket-Protocol)'
        return f"send the JWT in the {self.name} header" + (" (Bearer <JWT>)" if self.name.lower() == "authorization" else "")

    def read(self, query: Mapping[str, str], header: Callable[[str], str | None]) -> str | None:
        """The token from a handshake's query string and headers (``header`` looks a name up case-insensitively)."""
        if self.kind == "query":
            return query.get(self.name) or None
        value = header(self.name)
        if not value:
            return None
        if self.kind == "header":
            if self.name.lower() == "authorization" and value[:7].lower() == "bearer ":
                value = value[7:]
            return value.strip() or None
        offered = [part.strip() for part in value.split(",")]
        others = [part for part in offered if part and part != TOKEN_PROTOCOL]
        return others[0] if TOKEN_PROTOCOL in offered and len(others) == 1 else None


DEFAULT_TOKEN_SOURCE = TokenSource()
