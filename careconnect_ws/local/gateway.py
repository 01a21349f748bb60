"""The local gateway: the WebSocket side of API Gateway on one port, for any Python WebSocket Lambda handler.

    ws://HOST:PORT/STAGE                          clients connect here
    http://HOST:PORT/STAGE/@connections/{id}      POST (send), GET (info), DELETE (close): connections_api.py

Every invocation (authorizer, ``$connect``, messages, ``$disconnect``, the scheduled cleanup) runs
in a bounded pool of worker threads, like Lambda concurrency; the event loop only moves frames.
Route selection and event building happen in the worker too, so a large message is parsed off
the loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ..contract import CloseCode, TokenSource
from . import apigw_events as ev
from .config import GatewayConfig
from .connections_api import ConnectionsApi
from .frames import MESSAGE_TOO_BIG, FrameLimitedResponse
from .sigv4_verify import SignatureRejected, verify
from .throttle import TokenBucket

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]

SCHEDULED_EVENT = {
    "version": "0",
    "id": "local",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


SLOW_CLIENT_BUFFER_BYTES = 1 << 20
"""Bytes waiting in a connection's socket before the gateway stops waiting for its client to read: 8 full messages."""
SLOW_CLIENT_SEND_SECONDS = 2.0


@dataclass(frozen=True)
class _Handshake:
    """What the upgrade request tells: the connection's id and time, the client, its headers and query, and
    the ``requestContext`` every event of this connection is built from."""

    connection_id: str
    connected_at: int
    source_ip: str
    user_agent: str | None
    headers: dict[str, Any]
    query: dict[str, str]
    multi_query: dict[str, list[str]]
    ctx: Callable[[str, str], dict[str, Any]]
    signer: dict[str, str] = field(default_factory=dict)
    """With ``iam_connect``: who signed the handshake, as API Gateway puts it in ``requestContext.identity``."""

    def header(self, name: str) -> str | None:
        """A request header, by name in any case."""
        wanted = name.lower()
        return next((v for k, v in self.headers.get("headers", {}).items() if k.lower() == wanted), None)

    @classmethod
    def of(cls, request: web.Request, config: GatewayConfig) -> _Handshake:
        connection_id, connected_at = ev.aws_id(), ev.now_ms()
        source_ip = request.remote or "127.0.0.1"
        user_agent = request.headers.get("User-Agent")
        multi_headers: dict[str, list[str]] = {}
        for k, v in request.headers.items():
            multi_headers.setdefault(k, []).append(v)
        domain = request.host

        def ctx(route: str, etype: str) -> dict[str, Any]:
            return ev.base_context(
                route_key=route,
                event_type=etype,
                connection_id=connection_id,
                connected_at=connected_at,
                stage=config.stage_name,
                domain_name=domain,
                api_id=config.api_id,
                source_ip=source_ip,
                user_agent=user_agent,
                signer=handshake.signer,
            )

        handshake = cls(
            connection_id,
            connected_at,
            source_ip,
            user_agent,
            ev.headers_of(dict(request.headers.items()), multi_headers),
            {k: request.query.getall(k)[-1] for k in request.query},
            {k: request.query.getall(k) for k in request.query},
            ctx,
        )
        return handshake


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
    transport: Any = None


class _Context:
    """The parts of a Lambda context object a handler may read."""

    function_name = "careconnect-ws-local"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:careconnect-ws-local"

    def __init__(self) -> None:
        self.aws_request_id = ev.aws_id()

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class LocalGateway:
    def __init__(self, config: GatewayConfig, handler: Handler | None = None, *, authorizer: Handler | None = None) -> None:
        if handler is None:
            from ..handler import lambda_handler

            handler = lambda_handler
        self.config = config
        self.handler: Handler = handler
        # The built-in handler answers authorizer events itself; another handler brings its own or none.
        self.authorizer = authorizer or (handler if config.authorizer else None)
        self.token_source = TokenSource.parse(config.token_source)
        self.connections: dict[str, LocalConnection] = {}
        self.bucket = TokenBucket(config.rate, config.burst) if config.throttling else None
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="lambda")
        self.connections_api = ConnectionsApi(self)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._connection_tasks: set[asyncio.Task[Any]] = set()
        self._cleanup_task: asyncio.Task[Any] | None = None
        self._frame_limit_warned = False

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def websocket_url(self) -> str:
        return f"ws://{self._url_host}:{self.port}/{self.config.stage_name}"

    @property
    def management_url(self) -> str:
        return f"http://{self._url_host}:{self.port}/{self.config.stage_name}"

    @property
    def _url_host(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            return "127.0.0.1"  # this machine's own clients; serve prints every address it listens on
        return f"[{host}]" if ":" in host else host

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.limits.max_message_bytes + 1024)
        stage = self.config.stage_name
        app.router.add_get(f"/{stage}", self._websocket)
        app.router.add_get(f"/{stage}/", self._websocket)
        self.connections_api.add_routes(app, f"/{stage}/@connections/{{connection_id}}")
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]  # the real port when 0 was asked
        if self.config.cleanup_interval_seconds:
            self._cleanup_task = asyncio.create_task(self._cleanup_schedule(self.config.cleanup_interval_seconds))

    async def stop(self) -> None:
        """Close every connection with 1001 (each gets its ``$disconnect``), then stop serving."""
        if self._cleanup_task:
            self._cleanup_task.cancel()
        for conn in list(self.connections.values()):
            await self.close(conn, CloseCode.GOING_AWAY, "Going away")
        if self._connection_tasks:
            await asyncio.wait(self._connection_tasks, timeout=10)
        if self._runner:
            await self._runner.cleanup()
        self.pool.shutdown(wait=True)

    async def invoke(self, make_event: Callable[[], dict[str, Any]], handler: Handler | None = None) -> Any:
        """Build the event and run the handler in a worker thread; a handler that raises answers 502, as on AWS."""
        target = handler or self.handler

        def call() -> Any:
            return target(make_event(), _Context())

        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, call)
        except Exception:
            logger.exception("handler raised")
            return {"statusCode": 502, "body": json.dumps({"message": "Internal server error"})}

    async def _cleanup_schedule(self, interval: float) -> None:
        """The stack's EventBridge rule, locally: the same scheduled event, through the same handler."""
        while True:
            await asyncio.sleep(interval)
            await self.invoke(lambda: dict(SCHEDULED_EVENT, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))

    # -- the WebSocket side ----------------------------------------------------------------------

    def _take_token(self) -> bool:
        return self.bucket is None or self.bucket.take()

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        """A WebSocket handshake as API Gateway runs it: throttle, authorizer, ``$connect``, then the connection."""
        probe = web.WebSocketResponse()
        if not probe.can_prepare(request).ok:
            return _json(426, {"message": "Upgrade Required: connect with a WebSocket client"})
        if not self._take_token():
            return _json(429, {"message": "Too Many Requests"})
        handshake = _Handshake.of(request, self.config)
        authorizer_context: dict[str, Any] | None = None
        if self.config.iam_connect:
            refused = self._verify_signature(request, handshake)
            if refused is not None:
                return refused
        elif self.authorizer is not None:
            refused, authorizer_context = await self._authorize(handshake)
            if refused is not None:
                return refused
        response = await self.invoke(
            lambda: ev.connect_event(
                handshake.ctx("$connect", "CONNECT"),
                headers=handshake.headers,
                query=handshake.query,
                multi_query=handshake.multi_query,
                authorizer=authorizer_context,
            )
        )
        status = _status_of(response)
        if not 200 <= status < 300:
            body = response.get("body") if isinstance(response, Mapping) else None
            return web.Response(status=status, body=body or "", content_type="application/json")
        return await self._serve(request, handshake, authorizer_context, _response_header(response, "Sec-WebSocket-Protocol"))

    def _verify_signature(self, request: web.Request, handshake: _Handshake) -> web.Response | None:
        """``AWS_IAM`` on ``$connect``: the handshake's SigV4 signature, checked as API Gateway checks it (403
        without invoking anything when it does not verify); the signer goes into ``requestContext.identity``."""
        credentials = self.config.credentials
        if credentials is None:
            return _json(403, {"message": "Forbidden: iam_connect needs credentials to verify signatures against"})
        try:
            verify(
                method="GET",
                path=request.raw_path.split("?", 1)[0],
                query=list(request.query.items()),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=b"",
                credentials=credentials,
                region=self.config.region,
                now=time.time(),
            )
        except SignatureRejected as err:
            return _json(403, {"message": f"Forbidden: {err}"})
        account = self.config.account_id
        handshake.signer.update(
            userArn=f"arn:aws:iam::{account}:user/{credentials.access_key}",
            accessKey=credentials.access_key,
            accountId=account,
            caller=credentials.access_key,
            user=credentials.access_key,
        )
        return None

    async def _authorize(self, handshake: _Handshake) -> tuple[web.Response | None, dict[str, Any] | None]:
        """The REQUEST authorizer's verdict: a refusal to answer the handshake with, or the context it grants."""
        if self.token_source.read(handshake.query, handshake.header) is None:
            # API Gateway answers 401 itself when the identity source is missing.
            return _json(401, {"message": "Unauthorized"}), None
        method_arn = (
            f"arn:aws:execute-api:{self.config.region}:{self.config.account_id}:"
            f"{self.config.api_id}/{self.config.stage_name}/$connect"
        )
        answer = await self.invoke(
            lambda: ev.authorizer_event(
                method_arn=method_arn,
                headers=handshake.headers,
                query=handshake.query,
                multi_query=handshake.multi_query,
                ctx=handshake.ctx("$connect", "CONNECT"),
            ),
            self.authorizer,
        )
        status, context = _authorizer_verdict(answer, method_arn)
        if status != 200:
            return _json(status, {"message": "Unauthorized" if status == 401 else "Forbidden"}), None
        return None, context

    async def _serve(
        self, request: web.Request, handshake: _Handshake, authorizer_context: dict[str, Any] | None, chosen: str | None
    ) -> web.StreamResponse:
        """The connection after a successful ``$connect``, until it ends; then its ``$disconnect``."""
        # Subprotocols as API Gateway negotiates them: the $connect integration picks one by returning
        # the Sec-WebSocket-Protocol header; without it the handshake carries none.
        # compress=False: API Gateway negotiates no permessage-deflate, so frames are measured as sent.
        ws = FrameLimitedResponse(
            max_frame_bytes=self.config.limits.max_frame_bytes,
            max_msg_size=self.config.limits.max_message_bytes,
            autoping=True,
            compress=False,
            protocols=(chosen,) if chosen else (),
        )
        conn = LocalConnection(
            handshake.connection_id,
            ws,
            handshake.connected_at,
            handshake.source_ip,
            handshake.user_agent,
            handshake.headers,
            authorizer_context,
            last_active_ms=handshake.connected_at,
            transport=request.transport,
        )
        task = asyncio.current_task()
        if task is not None:
            self._connection_tasks.add(task)
        try:
            try:
                await ws.prepare(request)
            except (ConnectionError, RuntimeError, asyncio.CancelledError):
                # The client went away during the handshake, after $connect succeeded: API Gateway
                # still sends $disconnect for it (1006), so the registry does not keep a ghost.
                conn.close_code, conn.close_reason = CloseCode.ABNORMAL, "handshake aborted"
                return ws
            if not ws.frames_limited and not self._frame_limit_warned:
                self._frame_limit_warned = True
                logger.warning("this aiohttp version hides its frame parser: the 32 KB frame limit is not enforced")
            self.connections[handshake.connection_id] = conn
            await self._receive_loop(conn, handshake.ctx)
        finally:
            self.connections.pop(handshake.connection_id, None)
            code = conn.close_code if conn.close_code is not None else CloseCode.ABNORMAL
            await self.invoke(
                lambda: ev.disconnect_event(
                    handshake.ctx("$disconnect", "DISCONNECT"),
                    headers=handshake.headers,
                    status_code=code,
                    reason=conn.close_reason,
                    authorizer=authorizer_context,
                )
            )
            if task is not None:
                self._connection_tasks.discard(task)
        return ws

    async def _receive_loop(self, conn: LocalConnection, ctx: Callable[[str, str], dict[str, Any]]) -> None:
        ws = conn.ws
        deadline = conn.connected_at_ms / 1000 + self.config.max_connection
        while not ws.closed:
            now = time.time()
            wait = min(conn.last_active_ms / 1000 + self.config.idle_timeout - now, deadline - now)
            if wait <= 0:
                await self.close(conn, CloseCode.GOING_AWAY, "Going away")
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
                # aiohttp has already closed with the protocol error's code (1009: message or frame too big).
                code = getattr(msg.data, "code", None)
                if conn.close_code is None and isinstance(code, int) and code != CloseCode.ABNORMAL:
                    conn.close_code = code
                    conn.close_reason = "Message too big" if code == MESSAGE_TOO_BIG else str(msg.data)
                break
            elif msg.type in (WSMsgType.CLOSED, WSMsgType.CLOSING):
                break

    async def _on_message(
        self, conn: LocalConnection, ctx: Callable[[str, str], dict[str, Any]], body: str, *, is_base64: bool
    ) -> None:
        conn.last_active_ms = ev.now_ms()
        if not self._take_token():
            await _send(
                conn, json.dumps({"message": "Too Many Requests", "connectionId": conn.connection_id, "requestId": ev.aws_id()})
            )
            return
        routes, expression = self.config.routes, self.config.selection_expression
        selected: list[str] = []

        def make_event() -> dict[str, Any]:
            route = ev.select_route(expression, "" if is_base64 else body, routes)
            selected.append(route)
            return ev.message_event(ctx(route, "MESSAGE"), body=body, is_base64=is_base64, authorizer=conn.authorizer)

        response = await self.invoke(make_event)
        if selected and selected[0] in self.config.two_way_routes and isinstance(response, Mapping) and response.get("body"):
            await _send(conn, response["body"])

    async def push(self, conn: LocalConnection, data: str | bytes) -> bool:
        """Send out of band (``@connections`` POST); False when the client is gone or does not read.

        A client that stops reading must not hold up the caller: past ``SLOW_CLIENT_BUFFER_BYTES`` waiting
        in its socket, or a send that cannot finish within ``SLOW_CLIENT_SEND_SECONDS``, the connection is
        dropped (``$disconnect`` 1006) and the POST answers 410, so the sender moves on.
        """
        buffered = conn.transport.get_write_buffer_size() if conn.transport is not None else 0
        if buffered > SLOW_CLIENT_BUFFER_BYTES:
            self.drop(conn, "client does not read its messages")
            return False
        try:
            send = conn.ws.send_str(data) if isinstance(data, str) else conn.ws.send_bytes(data)
            await asyncio.wait_for(send, SLOW_CLIENT_SEND_SECONDS)
        except TimeoutError:
            self.drop(conn, "client does not read its messages")
            return False
        except (ConnectionError, RuntimeError):
            return False
        return True

    def drop(self, conn: LocalConnection, reason: str) -> None:
        """End a connection at once, without the close handshake a stalled client would never finish."""
        if conn.close_code is None:
            conn.close_code, conn.close_reason = CloseCode.ABNORMAL, reason
        if conn.transport is not None:
            conn.transport.abort()

    async def close(self, conn: LocalConnection, code: int, reason: str) -> None:
        if conn.close_code is None:
            conn.close_code, conn.close_reason = code, reason
        if not conn.ws.closed:
            try:
                await asyncio.wait_for(conn.ws.close(code=code, message=reason.encode()), timeout=5)
            except (TimeoutError, ConnectionError):
                pass

    def live(self, connection_id: str) -> LocalConnection | None:
        conn = self.connections.get(connection_id)
        if conn is None or conn.ws.closed or conn.close_code is not None:
            return None
        return conn


# -- helpers --------------------------------------------------------------------------------------------


def _authorizer_verdict(answer: Any, method_arn: str) -> tuple[int, dict[str, Any] | None]:
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


def _response_header(response: Any, name: str) -> str | None:
    if not isinstance(response, Mapping) or not isinstance(response.get("headers"), Mapping):
        return None
    wanted = name.lower()
    value = next((v for k, v in response["headers"].items() if str(k).lower() == wanted), None)
    return value.strip() if isinstance(value, str) and value.strip() else None


async def _send(conn: LocalConnection, text: str) -> None:
    try:
        await conn.ws.send_str(text)
    except (ConnectionError, RuntimeError):
        pass


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    return web.json_response(dict(body), status=status)
