"""Sending through the API Gateway Management API (``@connections``).

boto3 is imported and each client built on first use, then reused for the life of
the container (one client per endpoint). botocore errors are translated here, at
the boundary, into this package's exceptions, each carrying the connection id.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from .errors import (
    ConnectionGone,
    ManagementApiError,
    ManagementForbidden,
    ManagementThrottled,
    PayloadTooLarge,
)
from .limits import LIMITS

logger = logging.getLogger(__name__)

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")


def management_endpoint(*, api_id: str, region: str, stage: str) -> str:
    """``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}``.

    Built from ``apiId`` rather than ``domainName``: behind a custom domain
    ``domainName`` is the custom name, which does not serve ``@connections``.
    """
    return f"https://{api_id}.execute-api.{region}.amazonaws.com/{stage}"


def region_of(endpoint: str, default: str | None) -> str:
    match = _EXECUTE_API_HOST.match(urlparse(endpoint).hostname or "")
    return match[1] if match else (default or "us-east-1")


def encode_payload(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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
        self._client_factory = client_factory or self._boto3_client
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

    def _boto3_client(self, endpoint: str) -> Any:
        import boto3
        from botocore.config import Config

        # Our own retry loop handles 429 with backoff; botocore's would multiply it.
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=2,
            read_timeout=5,
            max_pool_connections=32,
        )
        session = boto3.session.Session()
        kwargs: dict[str, Any] = {}
        host = urlparse(endpoint).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1") and session.get_credentials() is None:
            # The local gateway does not check signatures; boto3 still wants something to sign with.
            kwargs = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
        return session.client(
            "apigatewaymanagementapi",
            endpoint_url=endpoint,
            region_name=region_of(endpoint, self.region),
            config=config,
            **kwargs,
        )

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
                    delay = self.base_delay_s * (2 ** (attempt - 1)) * (0.5 + random.random())
                    logger.info("management api throttled, retrying", extra={"connectionId": connection_id, "attempt": attempt})
                    self._sleep(delay)
                    continue
                raise ManagementApiError(
                    connection_id, f"{operation} for {connection_id} failed: {code or status}", status=status
                ) from None
            except BotoCoreError as err:
                raise ManagementApiError(connection_id, f"{operation} for {connection_id} failed: {err}") from None
        raise AssertionError("unreachable")


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
