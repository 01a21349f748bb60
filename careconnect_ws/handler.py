"""The Lambda entry point: ``careconnect_ws.handler.lambda_handler``.

One function serves every event this system sees:

* API Gateway WebSocket events: ``$connect``, ``$disconnect`` and messages (``$default``);
* the Lambda REQUEST authorizer on ``$connect`` (``type == "REQUEST"``);
* the scheduled cleanup (an EventBridge ``Scheduled Event`` or ``{"careconnect_ws": {"command": "cleanup"}}``);
* a direct invocation asking for a push:
  ``{"careconnect_ws": {"command": "notify", "notification": "email-verified", "userId": "..."}}``.

A client's mistake never raises out of here: it becomes a ``statusCode`` and a JSON
error body with a stable ``code``. Heavy modules (boto3, PyJWT) load on first use.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, DatabaseUnavailable, TokenError
from .events import (
    AuthorizerEvent,
    WebSocketEvent,
    is_authorizer_event,
    is_websocket_event,
)
from .logs import configure_logging
from .management import management_endpoint
from .registry import NewConnection
from .routing import ClientError, MessageContext, is_storable_text, parse_message, router
from .services import get_services
from .settings import get_settings
from .tokens import verify_token

logger = logging.getLogger(__name__)

COMMAND_KEY = "careconnect_ws"
_MAX_ID_CHARS = 128


def lambda_handler(event: Any, context: Any = None) -> dict:
    configure_logging()
    started = time.perf_counter()
    log: dict[str, Any] = {}
    try:
        response = _dispatch(event, log)
    except ConfigError as err:
        # The operator's mistake, not the client's: say which variable to fix.
        logger.error("misconfigured", extra={"error": str(err)})
        response = _error(500, "misconfigured", "the service is misconfigured; the operator has been told")
    except Exception:
        logger.exception("unhandled error", extra=log)
        response = _error(500, "internal_error", "something went wrong on our side")
    log.setdefault("status", response.get("statusCode"))
    log["latencyMs"] = round((time.perf_counter() - started) * 1000, 2)
    logger.info("handled", extra=log)
    return response


def _dispatch(event: Any, log: dict[str, Any]) -> dict:
    if not isinstance(event, Mapping):
        log["outcome"] = "invalid_event"
        return _error(400, "invalid_event", "the event must be a JSON object")
    if is_authorizer_event(event):
        log["route"] = "authorizer"
        return authorize(AuthorizerEvent(event), log)
    if is_websocket_event(event):
        ws = WebSocketEvent(event)
        log.update(route=ws.route_key, connectionId=ws.connection_id, requestId=ws.request_id)
        if ws.event_type == "CONNECT" or ws.route_key == "$connect":
            return on_connect(ws, log)
        if ws.event_type == "DISCONNECT" or ws.route_key == "$disconnect":
            return on_disconnect(ws, log)
        return on_message(ws, log)
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        log["route"] = "cleanup"
        return run_command({"command": "cleanup"}, log)
    if isinstance(event.get(COMMAND_KEY), Mapping):
        return run_command(event[COMMAND_KEY], log)
    log["outcome"] = "unknown_event"
    return _error(400, "unknown_event", f"not an API Gateway WebSocket event, an authorizer event or a {COMMAND_KEY!r} command")


# -- $connect and its authorizer -----------------------------------------------------------

def authorize(event: AuthorizerEvent, log: dict[str, Any]) -> dict:
    """A REQUEST authorizer's answer: an IAM policy for exactly this ``methodArn``."""
    try:
        user_id = verify_token(event.token, get_settings())
    except TokenError as err:
        log.update(outcome=f"deny:{err.code}", status=403)
        return _policy("anonymous", "Deny", event.method_arn, context={"reason": err.code})
    log.update(outcome="allow", status=200)
    return _policy(user_id, "Allow", event.method_arn, context={"userId": user_id})


def _policy(principal: str, effect: str, resource: str, *, context: dict[str, str]) -> dict:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def on_connect(ws: WebSocketEvent, log: dict[str, Any]) -> dict:
    services = get_services()
    settings = services.settings
    # Identity is decided once, here: from the authorizer when one ran, else from the token.
    user_id = ws.authorizer.get("userId")
    if not user_id:
        try:
            user_id = verify_token(ws.query.get("token"), settings)
        except TokenError as err:
            log["outcome"] = err.code
            return _error(401, err.code, str(err))
    callback_url = settings.management_endpoint or management_endpoint(
        api_id=ws.api_id, region=settings.region or _region_from_domain(ws.domain_name), stage=ws.stage
    )
    try:
        services.registry.register(
            NewConnection(
                connection_id=ws.connection_id,
                user_id=user_id,
                callback_url=callback_url,
                ttl_seconds=settings.connection_ttl_seconds,
                source_ip=_clip(ws.source_ip, 64),
                user_agent=_clip(ws.user_agent, 512),
            )
        )
    except DatabaseUnavailable as err:
        log.update(outcome="database_unavailable", error=str(err))
        return _error(503, "service_unavailable", "cannot register the connection right now: retry shortly")
    log["outcome"] = "connected"
    return {"statusCode": 200}


def on_disconnect(ws: WebSocketEvent, log: dict[str, Any]) -> dict:
    services = get_services()
    try:
        changed = services.registry.deregister(
            ws.connection_id,
            status_code=ws.disconnect_status_code,
            reason=_clip(ws.disconnect_reason, 256) or "client-disconnect",
        )
    except DatabaseUnavailable as err:
        # $disconnect is best effort anyway: the cleanup sweep will catch this one.
        log.update(outcome="database_unavailable", error=str(err))
        return _error(503, "service_unavailable", "could not record the disconnect")
    log["outcome"] = "disconnected" if changed else "already_inactive"
    return {"statusCode": 200}


# -- messages ($default and custom routes) -------------------------------------------------

def on_message(ws: WebSocketEvent, log: dict[str, Any]) -> dict:
    services = get_services()
    correlation: str | None = None
    try:
        connection = services.registry.touch(ws.connection_id)
        if connection is None:
            raise ClientError("not_connected", "this connection is not registered (expired or closed): reconnect", status=410)
        message = parse_message(ws.body_bytes)
        correlation = _correlation_id(message)
        log["action"] = message.get("action") if isinstance(message.get("action"), str) else None
        reply = router.dispatch(MessageContext(connection, message, services.registry))
    except ClientError as err:
        log["outcome"] = err.code
        return _error(err.status, err.code, str(err), correlation=correlation)
    except DatabaseUnavailable as err:
        log.update(outcome="service_unavailable", error=str(err))
        return _error(503, "service_unavailable", "the service is busy: retry shortly", correlation=correlation)
    log["outcome"] = "ok"
    if correlation is not None:
        reply = {**reply, "id": correlation}
    return {"statusCode": 200, "body": json.dumps(reply, ensure_ascii=False)}


# -- direct invocations -----------------------------------------------------------------------

def run_command(command: Mapping[str, Any], log: dict[str, Any]) -> dict:
    name = command.get("command")
    log["route"] = f"command:{name}"
    try:
        if name == "cleanup":
            from .cleanup import run_cleanup

            result = run_cleanup(close_connections=command.get("close", True) is not False)
            log["outcome"] = "ok"
            return {"statusCode": 200, "body": json.dumps(result.as_dict())}
        if name == "notify":
            return _notify(command, log)
    except DatabaseUnavailable as err:
        log.update(outcome="database_unavailable", error=str(err))
        return _error(503, "service_unavailable", str(err))
    log["outcome"] = "unknown_command"
    return _error(400, "unknown_command", "command must be 'notify' or 'cleanup'")


def _notify(command: Mapping[str, Any], log: dict[str, Any]) -> dict:
    from .notifications import notify_email_verified

    kind = command.get("notification")
    if kind != "email-verified":
        log["outcome"] = "unknown_notification"
        return _error(400, "unknown_notification", "notification must be 'email-verified'")
    user_id = command.get("userId")
    if not isinstance(user_id, str) or not user_id or len(user_id) > 256:
        log["outcome"] = "invalid_field"
        return _error(400, "invalid_field", "'userId' must be a non-empty string")
    email = command.get("email")
    if email is not None and not isinstance(email, str):
        return _error(400, "invalid_field", "'email' must be a string")
    result = notify_email_verified(user_id, email=email)
    log.update(outcome="ok", reached=result.reached)
    return {"statusCode": 200, "body": json.dumps(result.as_dict())}


# -- helpers ----------------------------------------------------------------------------------

def _error(status: int, code: str, message: str, *, correlation: str | None = None) -> dict:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if correlation is not None:
        body["id"] = correlation
    return {"statusCode": status, "body": json.dumps(body, ensure_ascii=False)}


def _correlation_id(message: Mapping[str, Any]) -> str | None:
    value = message.get("id")
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and is_storable_text(value):
        return value
    return None


def _region_from_domain(domain: str) -> str:
    parts = domain.split(".")
    if len(parts) >= 4 and parts[1] == "execute-api":
        return parts[2]
    return "us-east-1"


def _clip(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "")[:limit]
    return value.encode("utf-8", "replace").decode("utf-8")
