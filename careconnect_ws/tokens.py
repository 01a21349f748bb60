"""Connection tokens: JWTs verified once, at ``$connect`` (or by the authorizer)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import TokenError
from .settings import Settings
from .text import MAX_USER_ID_CHARS, is_storable_text

_MAX_TOKEN_CHARS = 8192
MAX_TOKEN_ID_CHARS = 256
MAX_TTL_SECONDS = 86_400
"""``careconnect-ws token`` signs tokens for at most a day unless told otherwise: a development token
that outlives its purpose is a credential someone can find later."""
LEEWAY_SECONDS = 30
"""Clock skew allowed on ``exp``/``nbf``/``iat``."""


@dataclass(frozen=True)
class Identity:
    """Who a verified token speaks for, and until when."""

    user_id: str
    expires_at: int
    """The token's ``exp`` (seconds since the epoch)."""
    issued_at: int | None = None
    """The token's ``iat``, when it has a usable one: revocation compares it with the user's not-before."""
    token_id: str | None = None
    """The token's ``jti``, when it has a usable one: it can be revoked on its own."""


def verify_token(token: str | None, settings: Settings) -> str:
    """Return the token's subject (the user id) or raise :class:`TokenError` with a stable code."""
    return verify_identity(token, settings).user_id


def verify_identity(token: Any, settings: Settings) -> Identity:
    """Verify a connection token; any token that cannot be used is a :class:`TokenError`, never another error.

    The audience rule is strict both ways: with ``WS_JWT_AUDIENCE`` set the token must name it; without
    it, a token that names *any* audience was minted for another service and is refused.
    """
    import jwt  # lazy: only $connect and the authorizer pay for it

    if token is None or token == "":
        raise TokenError("missing_token", "connect with ?token=<JWT>")
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        # A JWT is three base64url parts: anything else (a lone surrogate, a huge string) is not one.
        raise TokenError("invalid_token", "the token is not a JWT")
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
            leeway=LEEWAY_SECONDS,
            # verify_aud stays on: PyJWT then refuses a token with an aud when no audience is expected.
            options={"require": required, "verify_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "the token has expired: get a new one") from None
    except jwt.InvalidAudienceError:
        raise TokenError("invalid_token", "the token was issued for another audience") from None
    except jwt.PyJWTError as err:
        raise TokenError("invalid_token", f"the token was rejected ({type(err).__name__})") from None
    except (ValueError, TypeError, UnicodeError):
        # Malformed JSON inside a validly shaped token (huge numbers, odd types): still just a bad token.
        raise TokenError("invalid_token", "the token could not be decoded") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_USER_ID_CHARS or not is_storable_text(subject):
        raise TokenError("invalid_token", f"the token's sub must be text of 1 to {MAX_USER_ID_CHARS} characters")
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        raise TokenError("invalid_token", "the token's exp must be a number")
    issued = claims.get("iat")
    issued_at = int(issued) if isinstance(issued, int | float) and not isinstance(issued, bool) else None
    jti = claims.get("jti")
    token_id = jti if isinstance(jti, str) and 0 < len(jti) <= MAX_TOKEN_ID_CHARS and is_storable_text(jti) else None
    return Identity(subject, int(expires), issued_at, token_id)


def issue_token(user_id: str, settings: Settings, *, ttl_seconds: int = 3600, now: float | None = None) -> str:
    """A signed HS256 development token (``careconnect-ws token``); production tokens come from your IdP."""
    import jwt

    if ttl_seconds <= 0:
        raise TokenError("invalid_ttl", "the token's lifetime must be at least 1 second")
    if not settings.jwt_secret:
        raise TokenError("no_secret", "issuing tokens needs WS_JWT_SECRET (HS256); RS256 tokens come from your identity provider")
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_seconds, "jti": uuid.uuid4().hex}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
