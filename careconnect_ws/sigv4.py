"""AWS Signature Version 4 for ``@connections`` requests: small pure functions, checked against botocore.

Why not botocore's signer on every call: a fan-out signs thousands of near-identical requests,
and botocore derives the signing key (four HMACs) and walks its whole request pipeline each
time. The key depends only on the secret, the day, the region and the service, so it is
derived once a day here; a request then costs one SHA-256 of the body and one HMAC.
``tests/runtime/test_sigv4.py`` checks every signature against botocore's ``SigV4Auth``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None


@lru_cache(maxsize=16)
def signing_key(secret_key: str, day: str, region: str, service: str = SERVICE) -> bytes:
    """``kSigning`` for one day (``YYYYMMDD``), region and service."""
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def canonical_path(path: str) -> str:
    """SigV4's canonical URI for services other than S3: the (already percent-encoded) path encoded again."""
    return quote(path or "/", safe="/~")


def _canonical_request(method: str, path: str, query: str, headers: dict[str, str], signed: list[str], body_hash: str) -> str:
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    return "\n".join([method, canonical_path(path), query, canonical_headers, ";".join(signed), body_hash])


def _signature(secret_key: str, amz_date: str, region: str, service: str, canonical_request: str) -> tuple[str, str]:
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = signing_key(secret_key, day, region, service)
    return scope, hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(
    *,
    method: str,
    host: str,
    path: str,
    body: bytes,
    credentials: Credentials,
    region: str,
    amz_date: str,
    service: str = SERVICE,
) -> dict[str, str]:
    """The headers that authenticate one request (``amz_date`` is ``YYYYMMDDTHHMMSSZ``)."""
    headers = {"host": host, "x-amz-date": amz_date}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    signed = sorted(headers)
    canonical = _canonical_request(method, path, "", headers, signed, hashlib.sha256(body).hexdigest())
    scope, signature = _signature(credentials.secret_key, amz_date, region, service, canonical)
    out = {
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}",
    }
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    return out


class SignatureRejected(Exception):
    """The request is not signed by the expected credentials; the message says what is wrong."""


_MAX_SKEW_SECONDS = 300


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
    ``path`` as sent: still percent-encoded). Raises :class:`SignatureRejected`."""
    import calendar
    import time

    auth = headers.get("authorization", "")
    if not auth.startswith(ALGORITHM + " "):
        raise SignatureRejected("Missing Authentication Token: sign the request with SigV4")
    parts = dict(part.strip().split("=", 1) for part in auth[len(ALGORITHM) + 1:].split(",") if "=" in part)
    try:
        access_key, day, scope_region, scope_service, terminator = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        given = parts["Signature"]
    except (KeyError, ValueError):
        raise SignatureRejected("malformed Authorization header") from None
    if not hmac.compare_digest(access_key, credentials.access_key):
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
    if "host" not in signed or any(name not in headers for name in signed):
        raise SignatureRejected("SignedHeaders must include host and only headers the request carries")
    if credentials.token and headers.get("x-amz-security-token") != credentials.token:
        raise SignatureRejected("The security token included in the request is invalid")
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    body_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = _canonical_request(method, path, canonical_query, headers, signed, body_hash)
    _, expected = _signature(credentials.secret_key, amz_date, region, service, canonical)
    if not hmac.compare_digest(expected, given):
        raise SignatureRejected("The request signature we calculated does not match the signature you provided")
