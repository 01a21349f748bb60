"""Sending through the API Gateway Management API (``@connections``).

Each endpoint's client is built on first use and reused for the life of the container.
The default client, :class:`ConnectionsClient`, speaks the three ``@connections`` calls
over a keep-alive urllib3 pool with SigV4 signatures from :mod:`careconnect_ws.sigv4`
(credentials from botocore's usual chain): a fan-out pays a hash and an HMAC per message
instead of boto3's whole request pipeline. It raises botocore's ``ClientError`` exactly as a
boto3 client does, so a boto3 client can stand in (``client_factory``), and errors are
translated here, at the boundary, into this package's exceptions, each carrying the connection id.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

from .backoff import Backoff, Jitter
from .contract import LOOPBACK_HOSTS
from .errors import (
    ConfigError,
    ConnectionGone,
    ManagementApiError,
    ManagementForbidden,
    ManagementThrottled,
    PayloadTooLarge,
)
from .limits import LIMITS

if TYPE_CHECKING:
    from .sigv4 import Credentials

logger = logging.getLogger(__name__)

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def management_endpoint(*, api_id: str, region: str, stage: str) -> str:
    """``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}``.

    Built from ``apiId`` rather than ``domainName``: behind a custom domain
    ``domainName`` is the custom name, which does not serve ``@connections``.
    """
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def region_of(endpoint: str, configured: str | None) -> str:
    """The region to sign for and to build endpoints in: the one an ``execute-api`` host names, else the configured
    one (``AWS_REGION``, which Lambda always sets); the local gateway on this machine takes any. Anything else
    cannot be told, and guessing would sign for the wrong region: a :class:`ConfigError` naming ``AWS_REGION``."""
    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    match = _EXECUTE_API_HOST.match(host)
    if match:
        return match[1]
    if configured:
        return configured
    if host in LOOPBACK_HOSTS:
        return "us-east-1"  # the local gateway verifies signatures for any region
    raise ConfigError("AWS_REGION", f"not set, and {host or 'the endpoint'!r} does not name a region: set AWS_REGION")


def encode_payload(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


THROTTLE_CEILING_SECONDS = 2.0
"""A 429 from ``@connections`` is retried after ``base_delay_s``, doubling up to this (the account-wide limit
refills every second)."""


class ManagementApi:
    """``send`` / ``close`` / ``info`` for one connection, with retries on 429."""

    def __init__(
        self,
        *,
        region: str | None = None,
        max_attempts: int = 4,
        base_delay_s: float = 0.05,
        client_factory: Callable[[str], Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.region = region
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self._client_factory = client_factory or self._default_client
        self._sleep = sleep
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, endpoint: str) -> Any:
        client = self._clients.get(endpoint)
        if client is None:
            with self._lock:
                client = self._clients.get(endpoint)
                if client is None:
                    client = self._clients[endpoint] = self._client_factory(endpoint)
        return client

    def _default_client(self, endpoint: str) -> ConnectionsClient:
        return ConnectionsClient(endpoint, region=region_of(endpoint, self.region))

    def send(self, endpoint: str, connection_id: str, payload: Any) -> None:
        data = encode_payload(payload)
        if len(data) > LIMITS.max_message_bytes:
            raise PayloadTooLarge(
                connection_id,
                f"message of {len(data)} bytes exceeds API Gateway's {LIMITS.max_message_bytes}-byte limit",
                status=413,
            )
        self._call(endpoint, connection_id, "post_to_connection", Data=data)

    def close(self, endpoint: str, connection_id: str) -> None:
        """Close the client's connection (API Gateway then sends ``$disconnect``). Gone is fine."""
        try:
            self._call(endpoint, connection_id, "delete_connection")
        except ConnectionGone:
            pass

    def info(self, endpoint: str, connection_id: str) -> Mapping[str, Any]:
        response = self._call(endpoint, connection_id, "get_connection")
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    def _call(self, endpoint: str, connection_id: str, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client(endpoint)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return getattr(client, operation)(ConnectionId=connection_id, **kwargs)
            except ClientError as err:
                code = err.response.get("Error", {}).get("Code", "")
                status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code == "GoneException" or status == 410:
                    raise ConnectionGone(connection_id, f"connection {connection_id} is gone", status=410) from None
                if code == "PayloadTooLargeException" or status == 413:
                    raise PayloadTooLarge(
                        connection_id, f"API Gateway refused the message to {connection_id} as too large", status=413
                    ) from None
                if code in ("ForbiddenException", "AccessDeniedException") or status == 403:
                    raise ManagementForbidden(
                        connection_id,
                        "API Gateway refused the call (403): the backend's role needs execute-api:ManageConnections "
                        "on this stage (the stack output websocket_manage_connections_policy), and "
                        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT must be this API's management endpoint",
                        status=403,
                    ) from None
                if code in ("LimitExceededException", "TooManyRequestsException", "ThrottlingException") or status == 429:
                    if attempt == self.max_attempts:
                        raise ManagementThrottled(
                            connection_id, f"still throttled (429) after {attempt} attempts", status=429
                        ) from None
                    delay = Backoff(self.base_delay_s, THROTTLE_CEILING_SECONDS, jitter=Jitter.EQUAL).delay(attempt)
                    logger.info("management api throttled, retrying", extra={"connectionId": connection_id, "attempt": attempt})
                    self._sleep(delay)
                    continue
                raise ManagementApiError(
                    connection_id, f"{operation} for {connection_id} failed: {code or status}", status=status
                ) from None
            except BotoCoreError as err:
                raise ManagementApiError(connection_id, f"{operation} for {connection_id} failed: {err}") from None
        raise AssertionError("unreachable")


def _local_gateway_credentials() -> Any:
    """``serve --allow-remote``'s credentials, when its env file was sourced (never set on AWS)."""
    import os

    from . import contract

    key, secret = os.environ.get(contract.LOCAL_ACCESS_KEY_ID), os.environ.get(contract.LOCAL_SECRET_ACCESS_KEY)
    if key and secret:
        from .sigv4 import Credentials

        return Credentials(key, secret)
    return None


class ConnectionsClient:
    """``post_to_connection`` / ``delete_connection`` / ``get_connection`` for one endpoint, as boto3 names them."""

    _USER_AGENT = "careconnect-ws"

    def __init__(self, endpoint: str, *, region: str, credentials: Any = None, timeout_s: float = 5.0) -> None:
        from botocore.session import get_session

        parsed = urlparse(endpoint)
        self.scheme, self.host = parsed.scheme, parsed.netloc
        self.base_path = parsed.path.rstrip("/")
        self.region = region
        self.timeout_s = timeout_s
        self._credentials = credentials or _local_gateway_credentials() or get_session().get_credentials()
        if self._credentials is None and parsed.hostname in LOOPBACK_HOSTS:
            from .sigv4 import Credentials

            # The local gateway has no account: something to sign with, as boto3 would need too.
            self._credentials = Credentials("local", "local")
        if self._credentials is None:
            raise ManagementApiError("", "no AWS credentials found for the Management API (the Lambda role provides them)")
        # One keep-alive connection per sending thread (a broadcast's pool threads): http.client,
        # not urllib3's pool, because per message it costs a third of the CPU.
        self._port = parsed.port
        self._hostname = parsed.hostname or ""
        self._local = threading.local()

    def _frozen(self) -> Credentials:
        from .sigv4 import Credentials

        creds = self._credentials
        if isinstance(creds, Credentials):
            return creds
        frozen = creds.get_frozen_credentials()  # refreshes a role's credentials when they are about to expire
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _request(self, method: str, operation: str, connection_id: str, body: bytes = b"") -> Any:
        from botocore.exceptions import ClientError

        from .sigv4 import sign

        path = f"{self.base_path}/@connections/{quote(connection_id, safe='')}"
        headers = sign(
            method=method,
            host=self.host,
            path=path,
            body=body,
            credentials=self._frozen(),
            region=self.region,
            amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        )
        headers["Host"] = self.host
        headers["User-Agent"] = self._USER_AGENT
        if body:
            headers["Content-Type"] = "application/octet-stream"
        try:
            status, error_type, data = self._exchange(method, path, body, headers)
        except (OSError, http.client.HTTPException) as err:  # connect, TLS, timeout, protocol
            from botocore.exceptions import HTTPClientError

            raise HTTPClientError(error=err) from None
        if status < 300:
            return data
        try:
            message = json.loads(data or b"{}").get("message", "")
        except (ValueError, AttributeError):
            message = ""
        raise ClientError(
            {
                "Error": {"Code": error_type.split(":", 1)[0] or str(status), "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": status},
            },
            operation,
        )

    def _exchange(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """One request on this thread's keep-alive connection. A connection the server closed while it sat
        idle fails before any response: that one request is sent again on a new connection."""
        conn = getattr(self._local, "conn", None)
        reused = conn is not None
        if conn is None:
            conn = self._local.conn = self._new_connection()
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest):
            conn.close()
            self._local.conn = None
            if not reused:
                raise
            return self._exchange(method, path, body, headers)
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if response.will_close:
            conn.close()
            self._local.conn = None
        return response.status, response.headers.get("x-amzn-ErrorType") or "", data

    def _new_connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self._hostname, self._port, timeout=self.timeout_s)
        return http.client.HTTPConnection(self._hostname, self._port, timeout=self.timeout_s)

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        self._request("POST", "PostToConnection", ConnectionId, Data)
        return {}

    def delete_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803
        self._request("DELETE", "DeleteConnection", ConnectionId)
        return {}

    def get_connection(self, *, ConnectionId: str) -> dict[str, Any]:  # noqa: N803
        raw = json.loads(self._request("GET", "GetConnection", ConnectionId) or b"{}")
        identity = raw.get("identity") or {}
        return {
            "ConnectedAt": raw.get("connectedAt"),
            "LastActiveAt": raw.get("lastActiveAt"),
            "Identity": {"SourceIp": identity.get("sourceIp"), "UserAgent": identity.get("userAgent")},
        }


_default: ManagementApi | None = None
_default_lock = threading.Lock()


def get_management_api() -> ManagementApi:
    """The container's shared client (created lazily)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from .settings import get_settings

                _default = ManagementApi(region=get_settings().region)
    return _default


def set_management_api(api: ManagementApi | None) -> None:
    global _default
    with _default_lock:
        _default = api
