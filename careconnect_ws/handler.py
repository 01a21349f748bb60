"""The Lambda entry point: ``careconnect_ws.handler.lambda_handler``.

One function serves every event this system sees:

* API Gateway WebSocket events: ``$connect``, ``$disconnect`` and messages (``$default``);
* the Lambda REQUEST authorizer on ``$connect`` (``type == "REQUEST"``);
* the scheduled cleanup (an EventBridge ``Scheduled Event`` or ``{"careconnect_ws": {"command": "cleanup"}}``);
* a direct invocation running one of the backend commands of :mod:`careconnect_ws.commands` (the CLI runs the
  same table), e.g. a publish, a push or a revocation:
  ``{"careconnect_ws": {"command": "publish", "topic": "...", "subject": "...", "payload": {...}}}``,
  ``{"careconnect_ws": {"command": "notify", "notification": "email-verified", "userId": "..."}}``,
  ``{"careconnect_ws": {"command": "disconnect-user", "userId": "..."}}`` (revokes the user's tokens too,
  unless ``"revoke": false``), ``{"careconnect_ws": {"command": "revoke-token", "jti": "...", "exp": 1767225600}}``,
  ``{"careconnect_ws": {"command": "restore-user", "userId": "..."}}``,
  ``{"careconnect_ws": {"command": "withdraw-access", "userId": "...", "topic": "...", "subject": "..."}}``.

A client's mistake never raises out of here: it becomes a 4xx ``statusCode`` and a JSON
error body with a stable ``code``. Log lines carry ids, routes, outcomes and timings, each
client-controlled value bounded, never a token, a message body or a row value. Heavy
modules (boto3, PyJWT) load on first use.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from . import contract, metrics, snapstart
from .errors import (
    SERVICE_UNAVAILABLE,
    ConfigError,
    DatabaseUnavailable,
    InvalidEvent,
    ManagementApiError,
    MessageError,
    RequestError,
    TokenError,
    Unavailable,
)
from .events import (
    AuthorizerEvent,
    WebSocketEvent,
    is_authorizer_event,
    is_websocket_event,
)
from .extensions import ensure_extensions
from .logs import configure_logging, current_fields, exception_summary, invocation_fields, lambda_context, note
from .management import management_endpoint, region_of
from .registry import Ended, NewConnection, Registered
from .routing import MessageContext, correlation_id, encode_reply, parse_message, router
from .services import Services, get_services
from .settings import get_settings, peek_settings
from .text import clip, log_value
from .tokens import MAX_TOKEN_ID_CHARS, epoch_seconds, reread_key, verify_identity
from .topics import claim_asked, grants_of

logger = logging.getLogger(__name__)

# SnapStart's hooks (a no-op outside Lambda): imports done before the snapshot, nothing stale after a restore.
snapstart.register()

COMMAND_KEY = contract.COMMAND_KEY


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    configure_logging()
    started = time.perf_counter()
    with lambda_context(context) as lambda_fields, invocation_fields() as log:
        response = _respond(event)
        if _unrecorded and response.get("statusCode") != 503:
            try:
                record_late_disconnects()
            except Exception as err:  # never fail the event that happened to find the database back
                note(lateDisconnectError=exception_summary(err)["errorType"])
        # The authorizer's answer is a policy, not a status: it notes the status it stands for.
        status = log.setdefault(contract.LOG_STATUS, response.get("statusCode"))
        log["latencyMs"] = round((time.perf_counter() - started) * 1000, 2)
        line = {**lambda_fields, **log}
        if _metrics_enabled():
            metrics.embed(line, metrics.invocation_values(line, status), int(time.time() * 1000))
        logger.info("handled", extra=line)
    return response


def _metrics_enabled() -> bool:
    """``WS_METRICS`` (on by default); before the settings could be read (a misconfiguration), on."""
    settings = peek_settings()
    return settings.metrics if settings is not None else True


def _respond(event: Any) -> dict[str, Any]:
    """The answer to one event; whatever goes wrong inside becomes an answer, never an exception."""
    try:
        ensure_extensions()  # the team's topics and actions, before anything is answered (once per container)
        return _dispatch(event)
    except ConfigError as err:
        # The operator's mistake, not the client's: say which variable to fix.
        note(outcome="misconfigured")
        logger.error("misconfigured", extra={"error": str(err)})
        return _error(500, "misconfigured", "the service is misconfigured; the operator has been told")
    except Exception as err:
        return _internal_error(err)


def _internal_error(err: Exception, *, correlation: str | None = None) -> dict[str, Any]:
    """Our bug, answered as one: 500 ``internal_error`` (with the request's ``id`` when it is known), logged
    with where it failed, never what the values were (exception texts can carry row values)."""
    note(outcome="internal_error")
    logger.error("unhandled error", extra={**current_fields(), **exception_summary(err)})
    return _error(500, "internal_error", "something went wrong on our side", correlation=correlation)


def _dispatch(event: Any) -> dict[str, Any]:
    if not isinstance(event, Mapping):
        return _refused(InvalidEvent("the event must be a JSON object"))
    try:
        if is_authorizer_event(event):
            note(route="authorizer")
            return authorize(AuthorizerEvent(event))
        if is_websocket_event(event):
            ws = WebSocketEvent(event)
            note(route=log_value(ws.route_key), connectionId=ws.connection_id, requestId=log_value(ws.request_id))
            if ws.event_type == "CONNECT" or ws.route_key == "$connect":
                return on_connect(ws)
            if ws.event_type == "DISCONNECT" or ws.route_key == "$disconnect":
                return on_disconnect(ws)
            return on_message(ws)
    except RequestError as err:  # an event API Gateway would never send (InvalidEvent), or any other refusal
        return _refused(err)
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return run_command(contract.CLEANUP_EVENT[COMMAND_KEY])
    if isinstance(event.get(COMMAND_KEY), Mapping):
        return run_command(event[COMMAND_KEY])
    return _refused(
        RequestError("unknown_event", f"not an API Gateway WebSocket event, an authorizer event or a {COMMAND_KEY!r} command")
    )


# -- $connect and its authorizer -----------------------------------------------------------


def authorize(event: AuthorizerEvent) -> dict[str, Any]:
    """A REQUEST authorizer's answer: an IAM policy for exactly this ``methodArn``."""
    settings = get_settings()
    try:
        identity = verify_identity(_token_of(settings, event.query, event.header), settings, reload=reread_key)
    except TokenError as err:
        note(outcome=f"deny:{err.code}", status=403)
        return _policy("anonymous", "Deny", event.method_arn, context={"reason": err.code})
    except Unavailable as err:
        # An authorizer cannot answer 503: API Gateway turns an error into 500 and a Deny into 403. Deny, and
        # log it as the 503 it is, so the ServerErrors metric and its alarm see it; clients retry a refused connect.
        note(outcome=SERVICE_UNAVAILABLE, status=503, error=str(err))
        return _policy("anonymous", "Deny", event.method_arn, context={"reason": SERVICE_UNAVAILABLE})
    note(outcome="allow", status=200)
    context: dict[str, Any] = {"userId": identity.user_id, TOKEN_EXPIRES_AT: identity.expires_at}
    if identity.issued_at is not None:
        context[TOKEN_ISSUED_AT] = identity.issued_at
    if identity.token_id is not None:
        context[TOKEN_ID] = identity.token_id
    if identity.grants:
        # A context holds strings and numbers only: the grants ride as JSON to $connect, which stores them.
        context[TOKEN_GRANTS] = json.dumps({k: list(v) for k, v in identity.grants.items()}, separators=(",", ":"))
    return _policy(identity.user_id, "Allow", event.method_arn, context=context)


def _policy(principal: str, effect: str, resource: str, *, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


# The authorizer hands the token's exp, iat and jti to $connect under these context keys: $connect
# checks revocation in the statement that registers the connection (the authorizer makes no round trip).
TOKEN_EXPIRES_AT = "tokenExpiresAt"
TOKEN_ISSUED_AT = "tokenIssuedAt"
TOKEN_ID = "tokenId"
TOKEN_GRANTS = "tokenGrants"


def on_connect(ws: WebSocketEvent) -> dict[str, Any]:
    services = get_services()
    settings = services.settings
    # Identity is decided once, here: from the authorizer when one ran, else from the token.
    user_id = ws.authorizer.get("userId")
    # An IAM-signed handshake carries no iat: after a revocation it is refused for a while, not for good.
    signed = not user_id and settings.connect_auth == "iam"
    token_expires_at = _epoch_seconds(ws.authorizer.get(TOKEN_EXPIRES_AT))
    issued_at = _epoch_seconds(ws.authorizer.get(TOKEN_ISSUED_AT))
    token_id = ws.authorizer.get(TOKEN_ID)
    grants: Mapping[str, tuple[str, ...]] = grants_in_context(ws.authorizer.get(TOKEN_GRANTS))
    if not user_id and settings.connect_auth == "iam":
        # AWS_IAM on $connect: API Gateway verified the SigV4 signature; the signer is the user.
        user_id = ws.caller_arn
        if user_id is None:
            return _refused(
                TokenError(
                    "missing_identity",
                    "this API takes SigV4-signed connects (AWS_IAM on $connect): "
                    "sign the WebSocket handshake with AWS credentials",
                )
            )
    if not user_id:
        try:
            identity = verify_identity(_token_of(settings, ws.query, ws.header), settings, reload=reread_key)
        except TokenError as err:
            return _refused(err)
        except Unavailable as err:
            return _unavailable(err, "cannot verify tokens right now: retry shortly")
        user_id, token_expires_at = identity.user_id, identity.expires_at
        issued_at, token_id, grants = identity.issued_at, identity.token_id, identity.grants
    ttl = settings.connection_ttl_seconds
    if settings.bind_connection_to_token_expiry and token_expires_at is not None:
        ttl = min(ttl, int(token_expires_at - time.time()))
        if ttl <= 0:
            return _refused(TokenError("token_expired", "the token has expired: get a new one"))
    callback_url = settings.management_endpoint or management_endpoint(
        api_id=ws.api_id, region=region_of(ws.domain_name, settings.region), stage=ws.stage
    )
    try:
        registered = services.registry.register(
            NewConnection(
                connection_id=ws.connection_id,
                user_id=user_id,
                callback_url=callback_url,
                ttl_seconds=ttl,
                max_per_user=settings.max_connections_per_user,
                source_ip=clip(ws.source_ip, 64),
                user_agent=clip(ws.user_agent, 512),
                token_issued_at=issued_at,
                token_id=clip(token_id, MAX_TOKEN_ID_CHARS) if isinstance(token_id, str) and token_id else None,
                revoked_for_seconds=settings.iam_revocation_seconds if signed else None,
                grants=grants or None,
            )
        )
    except DatabaseUnavailable as err:
        return _unavailable(err, "cannot register the connection right now: retry shortly")
    if registered is Registered.REVOKED:
        return _refused(TokenError("token_revoked", "this token was revoked: sign in again for a new one"))
    if registered is Registered.TOO_MANY:
        return _refused(
            RequestError(
                "too_many_connections",
                f"this user already has {settings.max_connections_per_user} open connections: close one first",
                status=429,
            )
        )
    note(outcome="connected")
    if settings.token_source.kind == "protocol":
        # The client offered "careconnect-ws" and its token: a browser fails the handshake unless one is selected.
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": contract.TOKEN_PROTOCOL}}
    return {"statusCode": 200}


def grants_in_context(raw: Any) -> dict[str, tuple[str, ...]]:
    """The grants the authorizer handed over (JSON text), checked again as a token's claims would be: the context
    is ours, but whatever reaches the registry is bounded the same way."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {}
    return grants_of(decoded) if isinstance(decoded, dict) else {}


def _token_of(settings: Any, query: Mapping[str, str], header: Any) -> str:
    """The token where ``WS_TOKEN_SOURCE`` says it is; missing: a 401 that says where to put it."""
    token = settings.token_source.read(query, header)
    if token is None:
        raise TokenError("missing_token", settings.token_source.hint)
    return str(token)


def _epoch_seconds(value: Any) -> int | None:
    """An authorizer context time (API Gateway may hand it over as a string of ASCII digits); None when it is
    not a time a token could mean (``tokens.epoch_seconds``)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    return epoch_seconds(value)


def on_disconnect(ws: WebSocketEvent) -> dict[str, Any]:
    services = get_services()
    ended = Ended(ws.connection_id, ws.disconnect_status_code, clip(ws.disconnect_reason, 256) or "client-disconnect")
    try:
        changed = services.registry.deregister(ended.connection_id, status_code=ended.status_code, reason=ended.reason)
    except DatabaseUnavailable as err:
        # API Gateway sends $disconnect once and never again: kept here, it is recorded by this container's
        # first invocation that reaches the database (instead of the connection looking active for up to
        # CONNECTION_IDLE_SECONDS and receiving pushes meanwhile).
        _unrecorded.append(ended)
        note(pending=len(_unrecorded))
        return _unavailable(err, "could not record the disconnect")
    note(outcome="disconnected" if changed else "already_inactive")
    return {"statusCode": 200}


# $disconnects that could not be recorded (the database was down), oldest dropped past the bound.
_unrecorded: deque[Ended] = deque(maxlen=1000)


def record_late_disconnects() -> None:
    """Record the ``$disconnect`` events this container could not, in one statement, once it can."""
    if not _unrecorded:
        return
    pending: list[Ended] = []
    while _unrecorded:  # popleft is atomic: threads of the local gateway share this list
        pending.append(_unrecorded.popleft())
    try:
        get_services().registry.deregister_many(pending)
    except DatabaseUnavailable:
        _unrecorded.extendleft(reversed(pending))  # still down: the next invocation tries again
        return
    note(lateDisconnects=len(pending))


# -- messages ($default and custom routes) -------------------------------------------------


def on_message(ws: WebSocketEvent) -> dict[str, Any]:
    services = get_services()
    settings = services.settings
    correlation: str | None = None
    try:
        # Parsed first, refused after the connection check (a closed connection answers 410 whatever it sent):
        # a subscribe to a claim-ruled topic asks that check for its one grant.
        try:
            message: dict[str, Any] | None = parse_message(ws.body_bytes)
            unreadable: MessageError | None = None
        except MessageError as err:
            message, unreadable = None, err
        check = services.registry.check_message(
            ws.connection_id,
            touch_interval_seconds=settings.touch_interval_seconds,
            count=settings.max_messages_per_second > 0 or settings.max_messages_per_user_per_second > 0,
            connection_limit=settings.max_messages_per_second,
            claim=claim_asked(message),
        )
        connection = check.connection
        if connection is None:
            raise MessageError("not_connected", "this connection is not registered (expired or closed): reconnect", status=410)
        if unreadable is not None or message is None:
            raise unreadable or MessageError("invalid_json", "the message is not a JSON object")
        correlation = correlation_id(message)
        note(action=router.log_name(message.get("action")))
        limit = settings.max_messages_per_second
        sent = check.messages_this_second or 0
        if limit and sent > limit:
            if sent > 2 * limit:
                _close_abusive(services, connection.connection_id, connection.callback_url)
            raise MessageError("rate_limited", f"at most {limit} messages per second per connection: slow down", status=429)
        user_limit = settings.max_messages_per_user_per_second
        user_sent = check.user_messages_this_second or 0
        if user_limit and user_sent > user_limit:
            # One user's connections together: past twice the budget this one is closed, as a single
            # flooding connection would be, so spreading a flood over connections gains nothing.
            if user_sent > 2 * user_limit:
                _close_abusive(services, connection.connection_id, connection.callback_url)
            raise MessageError(
                "rate_limited",
                f"at most {user_limit} messages per second over all of a user's connections: slow down",
                status=429,
            )
        reply = router.dispatch(MessageContext(connection, message, services.registry, services.streams, settings))
    except RequestError as err:
        return _refused(err, correlation=correlation)
    except DatabaseUnavailable as err:
        return _unavailable(err, "the service is busy: retry shortly", correlation=correlation)
    except ConfigError:
        raise  # the operator's mistake: answered (and logged) as misconfigured, naming the variable
    except Exception as err:
        return _internal_error(err, correlation=correlation)
    note(outcome="ok")
    if correlation is not None:
        reply = {**reply, "id": correlation}
    return {"statusCode": 200, "body": encode_reply(reply)}


def _close_abusive(services: Services, connection_id: str, callback_url: str) -> None:
    """Past twice the rate limit the client is not slowing down: close it (API Gateway then sends $disconnect)."""
    note(closed="rate_limit")
    try:
        services.management.close(services.settings.management_endpoint or callback_url, connection_id)
    except ManagementApiError as err:
        note(closeError=err.status)


# -- direct invocations -----------------------------------------------------------------------


def run_command(command: Mapping[str, Any]) -> dict[str, Any]:
    """A backend's direct invocation: the entry of :data:`careconnect_ws.commands.COMMANDS` it names."""
    from .commands import COMMANDS, get_command

    entry = get_command(command.get("command"))
    # The route is a metric dimension: a command nobody defined must not create a metric of its own.
    note(**{contract.LOG_ROUTE: contract.command_route(entry.name if entry else "unknown")})
    if entry is None:
        note(command=log_value(command.get("command")))
        names = ", ".join(repr(name) for name in COMMANDS)
        return _refused(RequestError("unknown_command", f"command must be one of {names}"))
    try:
        outcome = entry.run(command)
    except RequestError as err:
        return _refused(err)
    except DatabaseUnavailable as err:
        return _unavailable(err, str(err))
    note(outcome="ok", **outcome.log)
    return {"statusCode": 200, "body": json.dumps(outcome.body)}


# -- helpers ----------------------------------------------------------------------------------


def _refused(err: RequestError, *, correlation: str | None = None) -> dict[str, Any]:
    """Any refusal, the same way: the error's code is the reply's and the log line's outcome."""
    note(outcome=err.code)
    return _error(err.status, err.code, str(err), correlation=correlation)


def _unavailable(err: Unavailable, message: str, *, correlation: str | None = None) -> dict[str, Any]:
    """The database (or the identity provider's keys) could not serve: 503, one name in the reply and the log line, the detail in the log only."""
    note(outcome=SERVICE_UNAVAILABLE, error=str(err))
    return _error(503, SERVICE_UNAVAILABLE, message, correlation=correlation)


def _error(status: int, code: str, message: str, *, correlation: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if correlation is not None:
        body["id"] = correlation
    return {"statusCode": status, "body": json.dumps(body, ensure_ascii=False)}
