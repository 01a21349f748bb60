"""Verifying SigV4 as API Gateway does, for ``@connections`` on a gateway reachable beyond loopback.

The signer the Lambda uses is :mod:`careconnect_ws.sigv4`; this half only runs in ``serve --allow-remote``.
What a captured request must not be able to do: carry another body (the body's hash is always computed
from the bytes received, and an ``x-amz-content-sha256`` header must match it and be signed), drop or
swap a header the check relies on (``host``, ``x-amz-date`` and, with a session token,
``x-amz-security-token`` must be signed), or crash the check (any malformed value is a refusal:
403, never 500; secrets and signatures are compared as bytes).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from urllib.parse import quote

from ..sigv4 import ALGORITHM, SERVICE, Credentials, canonical_request, signature

_MAX_SKEW_SECONDS = 300


class SignatureRejected(Exception):
    """The request is not signed by the expected credentials; the message says what is wrong."""


def verify(
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    now: float,
    service: str = SERVICE,
) -> None:
    """Check a request's SigV4 signature as the service would (headers with lower-case names,
    ``path`` as sent: still percent-encoded). Raises :class:`SignatureRejected`, and only that."""
    try:
        _verify(method, path, query, headers, body, credentials, region, now, service)
    except SignatureRejected:
        raise
    except Exception as err:  # a value no client should send (odd encodings, huge numbers): refused, never a 500
        raise SignatureRejected(f"malformed request ({type(err).__name__})") from None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogateescape"), b.encode("utf-8", "surrogateescape"))


def _verify(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    now: float,
    service: str,
) -> None:
    auth = headers.get("authorization", "")
    if not auth.startswith(ALGORITHM + " "):
        raise SignatureRejected("Missing Authentication Token: sign the request with SigV4")
    parts = dict(part.strip().split("=", 1) for part in auth[len(ALGORITHM) + 1 :].split(",") if "=" in part)
    try:
        access_key, day, scope_region, scope_service, terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        given = parts["Signature"]
    except (KeyError, ValueError):
        raise SignatureRejected("malformed Authorization header") from None
    if not _same(access_key, credentials.access_key):
        raise SignatureRejected("The security token included in the request is invalid (unknown access key)")
    if (scope_region, scope_service, terminator) != (region, service, "aws4_request"):
        raise SignatureRejected(f"credential scope must be {region}/{service}/aws4_request")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise SignatureRejected("missing or malformed X-Amz-Date") from None
    if abs(now - signed_at) > _MAX_SKEW_SECONDS or amz_date[:8] != day:
        raise SignatureRejected("Signature expired: the request's date is more than 5 minutes off")
    relied_on = {"host", "x-amz-date"} | ({"x-amz-security-token"} if credentials.token else set())
    if "x-amz-content-sha256" in headers:
        relied_on.add("x-amz-content-sha256")
    if not relied_on <= set(signed) or any(name not in headers for name in signed):
        raise SignatureRejected(f"SignedHeaders must include {', '.join(sorted(relied_on))} and only headers the request carries")
    if credentials.token and not _same(headers.get("x-amz-security-token", ""), credentials.token):
        raise SignatureRejected("The security token included in the request is invalid")
    body_hash = hashlib.sha256(body).hexdigest()
    if "x-amz-content-sha256" in headers and not _same(headers["x-amz-content-sha256"], body_hash):
        raise SignatureRejected("x-amz-content-sha256 does not match the body that was sent")
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query))
    canonical = canonical_request(method, path, canonical_query, headers, signed, body_hash)
    _, expected = signature(credentials.secret_key, amz_date, region, service, canonical)
    if not _same(expected, given):
        raise SignatureRejected("The request signature we calculated does not match the signature you provided")
