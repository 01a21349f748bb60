"""The local gateway server: WebSocket endpoint and ``@connections`` on one port, as on AWS.

    ws://HOST:PORT/STAGE                          clients connect here (?token=...)
    http://HOST:PORT/STAGE/@connections/{id}      POST (send), GET (info), DELETE (close)

Every route invokes ``careconnect_ws.handler.lambda_handler`` in a bounded pool of
worker threads (like Lambda concurrency), so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from ..limits import LIMITS, GatewayLimits
from . import apigw_events as ev
from .throttle import TokenBucket

logger = logging.getLogger(__name__)

Handler = Callable[[dict, Any], dict]

GOING_AWAY = 1001
ABNORMAL = 1006


@dataclass(frozen=True, kw_only=True)
class GatewayConfig:
    """How the local gateway behaves. Limits default from :data:`careconnect_ws.limits.LIMITS`,
    the settings object the deployed stage is synthesized from."""

    host: str = "127.0.0.1"
    port: int = 8080
    """0 picks a free port."""
    limits: GatewayLimits = LIMITS
    stage: str | None = None
    """Default: ``limits.stage_name``."""
    idle_timeout_seconds: float | None = None
    """Default: ``limits.idle_timeout_seconds`` (10 minutes). Close code 1001."""
    max_connection_seconds: float | None = None
    """Default: ``limits.connection_ttl_seconds`` (2 hours). Close code 1001."""
    authorizer: bool = True
    """Run the handler as the ``$connect`` REQUEST authorizer first (identity source: ``token`` query parameter)."""
    concurrency: int = 32
    """Worker threads for handler invocations (Lambda concurrency)."""
    routes: frozenset[str] = frozenset({"$connect", "$disconnect", "$default"})
    two_way_routes: frozenset[str] = frozenset({"$default"})
    api_id: str = "local"
    region: str = "us-east-1"
    account_id: str = "000000000000"

    @property
    def stage_name(self) -> str:
        return self.stage or self.limits.stage_name

    @property
    def idle_timeout(self) -> float:
        return self.idle_timeout_seconds if self.idle_timeout_seconds is not None else self.limits.idle_timeout_seconds

    @property
    def max_connection(self) -> float:
        return self.max_connection_seconds if self.max_connection_seconds is not None else self.limits.connection_ttl_seconds


@dataclass
class LocalConnection:
    connection_id: str
    ws: web.WebSocketResponse
    connected_at_ms: int
    source_ip: str
    user_agent: str | None
    headers: dict[str, Any]
    authorizer: dict[str, Any] | None
    last_active_ms: int = 0
    close_code: int | None = None
    close_reason: str = ""


class _Context:
    """The parts of a Lambda context object the handler may read."""

    function_name = "careconnect-ws-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:careconnect-ws-local"

    def __init__(self) -> None:
        self.aws_request_id = ev.aws_id()

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LocalGateway:
    def __init__(self, config: GatewayConfig, handler: Handler | None = None) -> None:
        if handler is None:
            from ..handler import lambda_handler as handler
        self.config = config
        self.handler = handler
        self.connections: dict[str, LocalConnection] = {}
        self.bucket = TokenBucket(config.limits.throttling_rate_limit, config.limits.throttling_burst_limit)
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="lambda")
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._connection_tasks: set[asyncio.Task] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def websocket_url(self) -> str:
        return f"ws://{self._host_for_urls}:{self.port}/{self.config.stage_name}"

    @property
    def management_url(self) -> str:
        return f"http://{self._host_for_urls}:{self.port}/{self.config.stage_name}"

    @property
    def _host_for_urls(self) -> str:
        return "127.0.0.1" if self.config.host in ("0.0.0.0", "") else self.config.host

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.limits.max_message_bytes + 1024)
        stage = self.config.stage_name
        app.router.add_get(f"/{stage}", self._websocket)
        app.router.add_get(f"/{stage}/", self._websocket)
        app.router.add_route("POST", f"/{stage}/@connections/{{connection_id}}", self._post)
        app.router.add_route("GET", f"/{stage}/@connections/{{connection_id}}", self._get)
        app.router.add_route("DELETE", f"/{stage}/@connections/{{connection_id}}", self._delete)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the real port when 0 was asked

    async def stop(self) -> None:
        """Close every connection with 1001 (each gets its ``$disconnect``), then stop serving."""
        for conn in list(self.connections.values()):
            await self._close(conn, GOING_AWAY, "Going away")
        if self._connection_tasks:
            await asyncio.wait(self._connection_tasks, timeout=10)
        if self._runner:
            await self._runner.cleanup()
        self.pool.shutdown(wait=True)

    async def invoke(self, event: dict) -> dict:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, self.handler, event, _Context())
        except Exception:  # a Lambda that raises answers 502 on API Gateway
            logger.exception("handler raised")
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}

    # -- WebSocket ----------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self.config.limits.max_message_bytes, autoping=True)
        if not ws.can_prepare(request).ok:
            return _json(426, {"message": "Upgrade Required: connect with a WebSocket client"})
        if not self.bucket.take():
            return _json(429, {"message": "Too Many Requests"})

        connection_id = ev.aws_id()
        connected_at = ev.now_ms()
        source_ip = request.remote or "127.0.0.1"
        user_agent = request.headers.get("User-Agent")
        multi_headers: dict[str, list[str]] = {}
        for k, v in request.headers.items():
            multi_headers.setdefault(k, []).append(v)
        headers = ev.headers_of({k: v for k, v in request.headers.items()}, multi_headers)
        query = {k: request.query.getall(k)[-1] for k in request.query}
        multi_query = {k: request.query.getall(k) for k in request.query}
        ctx = lambda route, etype: ev.base_context(  # noqa: E731
            route_key=route, event_type=etype, connection_id=connection_id, connected_at=connected_at,
            stage=self.config.stage_name, domain_name=f"{self._host_for_urls}:{self.port}", api_id=self.config.api_id,
            source_ip=source_ip, user_agent=user_agent,
        )

        authorizer_context: dict[str, Any] | None = None
        if self.config.authorizer:
            if not query.get("token"):
                # API Gateway answers 401 itself when the identity source is missing.
                return _json(401, {"message": "Unauthorized"})
            method_arn = (f"arn:aws:execute-api:{self.config.region}:{self.config.account_id}:"
                          f"{self.config.api_id}/{self.config.stage_name}/$connect")
            answer = await self.invoke(ev.authorizer_event(method_arn=method_arn, headers=headers, query=query,
                                                           multi_query=multi_query, ctx=ctx("$connect", "CONNECT")))
            status, authorizer_context = _authorizer_verdict(answer, method_arn)
            if status != 200:
                return _json(status, {"message": "Unauthorized" if status == 401 else "Forbidden"})

        response = await self.invoke(ev.connect_event(ctx("$connect", "CONNECT"), headers=headers, query=query,
                                                      multi_query=multi_query, authorizer=authorizer_context))
        status = _status_of(response)
        if not 200 <= status < 300:
            return web.Response(status=status, body=response.get("body") or "", content_type="application/json")

        await ws.prepare(request)
        conn = LocalConnection(connection_id, ws, connected_at, source_ip, user_agent, headers, authorizer_context,
                               last_active_ms=connected_at)
        self.connections[connection_id] = conn
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
        try:
            await self._receive_loop(conn, ctx)
        finally:
            self.connections.pop(connection_id, None)
            code = conn.close_code if conn.close_code is not None else ABNORMAL
            await self.invoke(ev.disconnect_event(ctx("$disconnect", "DISCONNECT"), headers=headers, status_code=code,
                                                  reason=conn.close_reason, authorizer=authorizer_context))
            if task is not None:
                self._connection_tasks.discard(task)
        return ws

    async def _receive_loop(self, conn: LocalConnection, ctx: Callable[[str, str], dict]) -> None:
        ws = conn.ws
        deadline = conn.connected_at_ms / 1000 + self.config.max_connection
        while not ws.closed:
            now = time.time()
            idle_left = conn.last_active_ms / 1000 + self.config.idle_timeout - now
            max_left = deadline - now
            wait = min(idle_left, max_left)
            if wait <= 0:
                await self._close(conn, GOING_AWAY, "Going away")
                break
            try:
                msg = await ws.receive(timeout=wait)
            except TimeoutError:
                continue  # the loop decides which limit ran out
            if msg.type == WSMsgType.TEXT:
                await self._on_message(conn, ctx, msg.data, is_base64=False)
            elif msg.type == WSMsgType.BINARY:
                await self._on_message(conn, ctx, base64.b64encode(msg.data).decode(), is_base64=True)
            elif msg.type == WSMsgType.CLOSE:
                if conn.close_code is None:
                    conn.close_code, conn.close_reason = int(msg.data), msg.extra or ""
            elif msg.type == WSMsgType.ERROR:
                # aiohttp has already closed with the protocol error's code (1009 for a message over the limit).
                code = getattr(msg.data, "code", None)
                if conn.close_code is None and isinstance(code, int) and code != ABNORMAL:
                    conn.close_code = code
                    conn.close_reason = "Message too big" if code == 1009 else str(msg.data)
                break
            elif msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
                break

    async def _on_message(self, conn: LocalConnection, ctx: Callable[[str, str], dict], body: str, *, is_base64: bool) -> None:
        conn.last_active_ms = ev.now_ms()
        if not self.bucket.take():
            await _send(conn, json.dumps({"message": "Too Many Requests", "connectionId": conn.connection_id,
                                          "requestId": ev.aws_id()}))
            return
        text_for_selection = body if not is_base64 else ""
        route = ev.select_route(self.config.limits.route_selection_expression, text_for_selection, set(self.config.routes))
        if route not in self.config.routes:
            route = "$default"
        response = await self.invoke(ev.message_event(ctx(route, "MESSAGE"), body=body, is_base64=is_base64,
                                                      authorizer=conn.authorizer))
        if route in self.config.two_way_routes and response.get("body"):
            await _send(conn, response["body"])

    async def _close(self, conn: LocalConnection, code: int, reason: str) -> None:
        if conn.close_code is None:
            conn.close_code, conn.close_reason = code, reason
        if not conn.ws.closed:
            try:
                await asyncio.wait_for(conn.ws.close(code=code, message=reason.encode()), timeout=5)
            except (TimeoutError, ConnectionError):
                pass

    # -- @connections -------------------------------------------------------------------------------

    def _live(self, request: web.Request) -> LocalConnection | None:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or conn.ws.closed or conn.close_code is not None:
            return None
        return conn

    async def _post(self, request: web.Request) -> web.Response:
        if (denied := _unsigned(request)) is not None:
            return denied
        data = await request.read()
        if len(data) > self.config.limits.max_message_bytes:
            return _error(413, "PayloadTooLargeException", "Message too long")
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            if text is not None:
                await conn.ws.send_str(text)
            else:
                await conn.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return _error(410, "GoneException", "Gone")
        return web.Response(status=200, headers={"x-amzn-RequestId": ev.aws_id()})

    async def _get(self, request: web.Request) -> web.Response:
        if (denied := _unsigned(request)) is not None:
            return denied
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        identity = {"sourceIp": conn.source_ip}
        if conn.user_agent:
            identity["userAgent"] = conn.user_agent
        return _json(200, {"connectedAt": _iso(conn.connected_at_ms), "lastActiveAt": _iso(conn.last_active_ms),
                           "identity": identity})

    async def _delete(self, request: web.Request) -> web.Response:
        if (denied := _unsigned(request)) is not None:
            return denied
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        await self._close(conn, 1000, "")
        return web.Response(status=204, headers={"x-amzn-RequestId": ev.aws_id()})


# -- helpers --------------------------------------------------------------------------------------------

def _authorizer_verdict(answer: Mapping[str, Any], method_arn: str) -> tuple[int, dict[str, Any] | None]:
    """API Gateway's reading of an authorizer answer: 200 with context, 403 on Deny, 500 on garbage."""
    try:
        statements = answer["policyDocument"]["Statement"]
        principal = answer["principalId"]
    except (KeyError, TypeError):
        return 500, None
    allowed = False
    for statement in statements:
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else (resources or [])
        matches = any(r == method_arn or r == "*" or (r.endswith("*") and method_arn.startswith(r[:-1])) for r in resources)
        if matches and statement.get("Effect") == "Deny":
            return 403, None
        if matches and statement.get("Effect") == "Allow":
            allowed = True
    if not allowed:
        return 403, None
    context = {k: v for k, v in (answer.get("context") or {}).items() if isinstance(v, (str, int, float, bool))}
    return 200, {**context, "principalId": principal}


def _status_of(response: Any) -> int:
    if isinstance(response, Mapping):
        status = response.get("statusCode", 200)
        return status if isinstance(status, int) else 502
    return 200


def _unsigned(request: web.Request) -> web.Response | None:
    # The local gateway does not verify SigV4, but like AWS it refuses calls that are not signed at all.
    if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256"):
        return _error(403, "ForbiddenException", "Missing Authentication Token: sign the request (boto3 does)")
    return None


async def _send(conn: LocalConnection, text: str) -> None:
    try:
        await conn.ws.send_str(text)
    except (ConnectionError, RuntimeError):
        pass


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    return web.json_response(dict(body), status=status)


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status,
                             headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": ev.aws_id()})


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- `careconnect-ws serve` ----------------------------------------------------------------------------

def serve_from_cli(args: Any) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: Any) -> int:
    from .. import db as db_module
    from ..logs import configure_logging
    from ..migrations import migrate
    from ..settings import Settings, set_settings

    configure_logging()
    env = dict(os.environ)
    embedded = None
    if not env.get("DATABASE_URL") and not env.get("PGHOST"):
        from ..pgtemp import TemporaryPostgres

        embedded = TemporaryPostgres().start()
        env["DATABASE_URL"] = embedded.url
    if not env.get("WS_JWT_SECRET") and not env.get("WS_JWT_PUBLIC_KEY"):
        env["WS_JWT_SECRET"] = secrets.token_urlsafe(32)
    config = GatewayConfig(host=args.host, port=args.port, stage=args.stage,
                           idle_timeout_seconds=args.idle_timeout, max_connection_seconds=args.max_connection_duration,
                           authorizer=not args.no_authorizer,
                           **({"concurrency": args.concurrency} if args.concurrency else {}))
    gateway = LocalGateway(config)
    try:
        await gateway.start()
        env["AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"] = gateway.management_url
        settings = Settings.from_env(env)
        set_settings(settings)
        db_module.get_database().run(migrate)
        db_module.reset_database()
        lines = {
            "DATABASE_URL": env["DATABASE_URL"],
            "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": gateway.management_url,
        }
        if env.get("WS_JWT_SECRET"):
            lines["WS_JWT_SECRET"] = env["WS_JWT_SECRET"]
        else:
            lines["WS_JWT_PUBLIC_KEY"] = env["WS_JWT_PUBLIC_KEY"].replace("\n", "\\n")
        out = [
            "careconnect-ws local gateway",
            f"# WebSocket:    {gateway.websocket_url}?token=<careconnect-ws token --user ID>",
            f"# @connections: {gateway.management_url}/@connections/{{connectionId}}",
            f"# PostgreSQL:   {'embedded, removed on exit' if embedded else 'from DATABASE_URL'}",
            "# In another terminal: export these, then e.g. careconnect-ws notify email-verified --user ID",
            *[f"{k}={v}" for k, v in lines.items()],
            "# Ctrl-C stops (every open connection gets its $disconnect).",
        ]
        print("\n".join(out), flush=True)
        if args.env_file:
            with open(args.env_file, "w", encoding="utf-8") as f:
                os.chmod(args.env_file, 0o600)  # it holds the token secret
                f.write("".join(f"{k}={v}\n" for k, v in lines.items()))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("careconnect-ws: shutting down", file=sys.stderr, flush=True)
    finally:
        await gateway.stop()
        set_settings(None)
        if embedded:
            embedded.stop()
    return 0
