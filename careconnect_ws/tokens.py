"""Connection tokens: JWTs verified once, at ``$connect`` (or by the authorizer)."""

from __future__ import annotations

import time
import uuid

from .errors import TokenError
from .settings import Settings

_MAX_TOKEN_CHARS = 8192
_LEEWAY_SECONDS = 30


def verify_token(token: str | None, settings: Settings) -> str:
    """Return the token's subject (the user id) or raise :class:`TokenError` with a stable code."""
    import jwt  # lazy: only $connect and the authorizer pay for it

    if not token:
        raise TokenError("missing_token", "connect with ?token=<JWT>")
    if len(token) > _MAX_TOKEN_CHARS:
        raise TokenError("invalid_token", "token too long")
    if settings.jwt_public_key:
        key, algorithms = settings.jwt_public_key, ["RS256"]
    else:
        key, algorithms = settings.jwt_secret, ["HS256"]
    required = ["exp", "sub"] + (["iss"] if settings.jwt_issuer else []) + (["aud"] if settings.jwt_audience else [])
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=_LEEWAY_SECONDS,
            options={"require": required, "verify_aud": bool(settings.jwt_audience)},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "the token has expired: get a new one") from None
    except jwt.PyJWTError as err:
        raise TokenError("invalid_token", f"the token was rejected ({type(err).__name__})") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 256 or "\x00" in subject:
        raise TokenError("invalid_token", "the token's sub must be a non-empty string")
    return subject


def issue_token(user_id: str, settings: Settings, *, ttl_seconds: int = 3600, now: float | None = None) -> str:
    """A signed HS256 development token (``careconnect-ws token``); production tokens come from your IdP."""
    import jwt

    if not settings.jwt_secret:
        raise TokenError("no_secret", "issuing tokens needs WS_JWT_SECRET (HS256); RS256 tokens come from your identity provider")
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_seconds, "jti": uuid.uuid4().hex}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
