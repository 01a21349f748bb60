"""``@connections``: POST (send), GET (info), DELETE (close), answering like the API Gateway Management API.

410 ``GoneException`` for unknown or closed ids, 413 over 128 KB, 403 for a request that is not
signed. On loopback any SigV4 signature is accepted (your own tools sign with whatever credentials
they have); once the gateway listens beyond loopback every request must be signed with the
credentials ``serve`` printed, verified as AWS would (:func:`careconnect_ws.local.sigv4_verify.verify`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from . import apigw_events as ev
from .sigv4_verify import SignatureRejected, verify

if TYPE_CHECKING:
    from .gateway import LocalConnection, LocalGateway


class ConnectionsApi:
    def __init__(self, gateway: LocalGateway) -> None:
        self.gateway = gateway

    def add_routes(self, app: web.Application, path: str) -> None:
        app.router.add_route("POST", path, self._post)
        app.router.add_route("GET", path, self._get)
        app.router.add_route("DELETE", path, self._delete)

    async def _authenticate(self, request: web.Request, body: bytes = b"") -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        credentials = self.gateway.config.credentials
        if credentials is None:
            if not auth.startswith("AWS4-HMAC-SHA256"):
                return _error(403, "ForbiddenException", "Missing Authentication Token: sign the request (boto3 does)")
            return None
        try:
            verify(
                method=request.method,
                path=request.raw_path.split("?", 1)[0],
                query=list(request.query.items()),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                credentials=credentials,
                region=self.gateway.config.region,
                now=time.time(),
            )
        except SignatureRejected as err:
            return _error(403, "ForbiddenException", str(err))
        return None

    def _live(self, request: web.Request) -> LocalConnection | None:
        return self.gateway.live(request.match_info["connection_id"])

    async def _post(self, request: web.Request) -> web.Response:
        data = await request.read()
        if (denied := await self._authenticate(request, data)) is not None:
            return denied
        if len(data) > self.gateway.config.limits.max_message_bytes:
            return _error(413, "PayloadTooLargeException", "Message too long")
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        try:
            message: str | bytes = data.decode("utf-8")
        except UnicodeDecodeError:
            message = data
        if not await self.gateway.push(conn, message):
            return _error(410, "GoneException", "Gone")
        return web.Response(status=200, headers={"x-amzn-RequestId": ev.aws_id()})

    async def _get(self, request: web.Request) -> web.Response:
        if (denied := await self._authenticate(request)) is not None:
            return denied
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        identity = {"sourceIp": conn.source_ip}
        if conn.user_agent:
            identity["userAgent"] = conn.user_agent
        return web.json_response(
            {"connectedAt": _iso(conn.connected_at_ms), "lastActiveAt": _iso(conn.last_active_ms), "identity": identity}
        )

    async def _delete(self, request: web.Request) -> web.Response:
        if (denied := await self._authenticate(request)) is not None:
            return denied
        conn = self._live(request)
        if conn is None:
            return _error(410, "GoneException", "Gone")
        await self.gateway.close(conn, 1000, "")
        return web.Response(status=204, headers={"x-amzn-RequestId": ev.aws_id()})


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": ev.aws_id()}
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
