"""AWS Signature Version 4 for ``@connections`` requests: small pure functions, checked against botocore.

Why not botocore's signer on every call: a fan-out signs thousands of near-identical requests,
and botocore derives the signing key (four HMACs) and walks its whole request pipeline each
time. The key depends only on the secret, the day, the region and the service, so it is
derived once a day here; a request then costs one SHA-256 of the body and one HMAC.
``tests/runtime/test_sigv4.py`` checks every signature against botocore's ``SigV4Auth``. Verifying
signatures is the local gateway's business only (``careconnect_ws.local.sigv4_verify``).
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


def canonical_request(method: str, path: str, query: str, headers: dict[str, str], signed: list[str], body_hash: str) -> str:
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed)
    return "\n".join([method, canonical_path(path), query, canonical_headers, ";".join(signed), body_hash])


def signature(secret_key: str, amz_date: str, region: str, service: str, canonical_request: str) -> tuple[str, str]:
    day = amz_date[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
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
    canonical = canonical_request(method, path, "", headers, signed, hashlib.sha256(body).hexdigest())
    scope, sig = signature(credentials.secret_key, amz_date, region, service, canonical)
    out = {
        "X-Amz-Date": amz_date,
        "Authorization": f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={sig}",
    }
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    return out
