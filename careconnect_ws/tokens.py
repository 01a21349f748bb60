"""Connection tokens: JWTs verified once, at ``$connect`` (or by the authorizer)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import TokenError
from .settings import Settings
from .text import MAX_USER_ID_CHARS, is_bounded_text

_MAX_TOKEN_CHARS = 8192
MAX_TOKEN_ID_CHARS = 256
MAX_TTL_SECONDS = 86_400
"""``careconnect-ws token`` signs tokens for at most a day unless told otherwise: a development token
that outlives its purpose is a credential someone can find later."""
LEEWAY_SECONDS = 30
"""Clock skew allowed on ``exp``/``nbf``/``iat``. A revoked token's deny-list entry outlives its ``exp`` by this
much, so the leeway never re-opens it."""

MAX_EPOCH_SECONDS = 2**33
"""``exp``, ``iat`` and ``nbf`` are seconds since the epoch: anything outside ``[0, 2**33)`` (the year 2242) is
not a time a token can mean, and would overflow a PostgreSQL timestamp."""


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
    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The subjects its claims grant, for the claims the registered topics' rules read (``claim:<name>``)."""


def verify_token(token: str | None, settings: Settings) -> str:
    """Return the token's subject (the user id) or raise :class:`TokenError` with a stable code."""
    return verify_identity(token, settings).user_id


def verify_identity(token: Any, settings: Settings, *, reload: Reload | None = None) -> Identity:
    """Verify a connection token; any token that cannot be used is a :class:`TokenError`, never another error
    (except :class:`~careconnect_ws.errors.KeysUnavailable` when an identity provider's keys were never
    fetched: the service cannot verify anything yet, 503).

    The audience rule is strict both ways: with ``WS_JWT_AUDIENCE`` set the token must name it; without
    it, a token that names *any* audience was minted for another service and is refused.

    ``reload`` is called once when an HS256 signature does not verify with the keys in hand, with the ``iat``
    the token claims: it re-reads the key from Secrets Manager when that can help (see :func:`reread_key`), so a
    token signed with a just-rotated key is accepted.
    """
    import jwt  # lazy: only $connect and the authorizer pay for it

    if token is None or token == "":
        raise TokenError("missing_token", "connect with ?token=<JWT>")
    if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        # A JWT is three base64url parts: anything else (a lone surrogate, a huge string) is not one.
        raise TokenError("invalid_token", "the token is not a JWT")
    if settings.jwt_jwks_url:
        key = _provider_key(jwt, token, settings)
        claims = _decode(jwt, token, key.key, [key.algorithm_name], settings)
    elif settings.jwt_public_key:
        claims = _decode(jwt, token, settings.jwt_public_key, ["RS256"], settings)
    else:
        claims = _decode_hs256(jwt, token, settings, reload)
    subject = claims.get("sub")
    if not is_bounded_text(subject, MAX_USER_ID_CHARS):
        raise TokenError("invalid_token", f"the token's sub must be text of 1 to {MAX_USER_ID_CHARS} characters")
    expires = _epoch_claim(claims, "exp")
    if expires is None:
        raise TokenError("invalid_token", "the token's exp must be a number")
    _epoch_claim(claims, "nbf")
    jti = claims.get("jti")
    if jti is not None and not is_bounded_text(jti, MAX_TOKEN_ID_CHARS):
        # A jti that could not be stored could never be revoked: such a token is not accepted at all.
        raise TokenError("invalid_token", f"the token's jti must be text of 1 to {MAX_TOKEN_ID_CHARS} characters")
    from .topics import grants_of

    return Identity(subject, expires, _epoch_claim(claims, "iat"), jti, grants_of(claims))


def epoch_seconds(value: object) -> int | None:
    """``value`` as whole seconds since the epoch when it is a time a token can mean, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < MAX_EPOCH_SECONDS:
        return None
    return int(value)


def _epoch_claim(claims: dict[str, Any], name: str) -> int | None:
    """A time claim as whole seconds, None when absent; refused when it is not a time a token can mean."""
    value = claims.get(name)
    if value is None:
        return None
    seconds = epoch_seconds(value)
    if seconds is None:
        raise TokenError("invalid_token", f"the token's {name} must be seconds since the epoch")
    return seconds


Reload = Callable[[int | None], Settings]
"""Re-reads the token key, given the ``iat`` an unverified token claims (see :func:`reread_key`)."""

_SIGNATURE_REFUSED = "InvalidSignatureError"


def reread_key(claimed_iat: int | None) -> Settings:
    """:func:`verify_identity`'s ``reload`` for the container's settings.

    A token whose HS256 signature does not verify reads the key from Secrets Manager again only when it claims
    to be issued (``iat``) no earlier than the second the keys in hand were read, and later than any token that
    already made a read. A token signed with a key that was rotated in after our read always qualifies, so a
    rotation is found at once; a flood of forged tokens cannot claim each second more than once, so it costs at
    most one read per second per container, whatever it sends; a token without an ``iat`` never forces a read.
    """
    from .settings import refresh_settings_for_token

    return refresh_settings_for_token(claimed_iat)


def _claimed_iat(jwt: Any, token: str) -> int | None:
    """The ``iat`` a token claims, unverified: only to decide whether reading the key again could help."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError, OverflowError):
        return None
    try:
        return _epoch_claim(claims, "iat")
    except TokenError:
        return None


def _decode_hs256(jwt: Any, token: str, settings: Settings, reload: Reload | None) -> dict[str, Any]:
    """Current key, then the previous one while a rotation's overlap lasts, then (when it may help) a re-read key."""
    keys = [settings.jwt_secret]
    if settings.jwt_previous_secret and time.time() < (settings.jwt_previous_secret_until or 0):
        keys.append(settings.jwt_previous_secret)
    for key in keys:
        try:
            return _decode(jwt, token, key, ["HS256"], settings, signature_errors=True)
        except jwt.InvalidSignatureError:
            continue
    if reload is not None:
        fresh = reload(_claimed_iat(jwt, token))
        if fresh.jwt_secret and fresh.jwt_secret not in keys:
            try:
                return _decode(jwt, token, fresh.jwt_secret, ["HS256"], fresh, signature_errors=True)
            except jwt.InvalidSignatureError:
                pass
    raise TokenError("invalid_token", f"the token was rejected ({_SIGNATURE_REFUSED})")


def _provider_key(jwt: Any, token: str, settings: Settings) -> Any:
    """The identity provider's key this token names (``kid``)."""
    from .jwks import key_set

    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise TokenError("invalid_token", "the token could not be decoded") from None
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
        raise TokenError("invalid_token", "the token's kid must be a short string")
    keys = key_set(
        settings.jwt_jwks_url or "", max_age=settings.jwks_max_age_seconds, min_refresh=settings.jwks_min_refresh_seconds
    )
    return keys.key_for(kid)


def _decode(
    jwt: Any, token: str, key: Any, algorithms: list[str], settings: Settings, *, signature_errors: bool = False
) -> dict[str, Any]:
    """The verified claims; every failure a :class:`TokenError` (a bad signature re-raised as PyJWT's when
    ``signature_errors``, for the caller to try another key)."""
    required = ["exp", "sub"] + (["iss"] if settings.jwt_issuer else []) + (["aud"] if settings.jwt_audience else [])
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway=LEEWAY_SECONDS,
            # verify_aud stays on: PyJWT then refuses a token with an aud when no audience is expected.
            options={"require": required, "verify_aud": True},
        )
        return claims
    except jwt.InvalidSignatureError:
        if signature_errors:
            raise
        raise TokenError("invalid_token", f"the token was rejected ({_SIGNATURE_REFUSED})") from None
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "the token has expired: get a new one") from None
    except jwt.InvalidAudienceError:
        raise TokenError("invalid_token", "the token was issued for another audience") from None
    except jwt.PyJWTError as err:
        raise TokenError("invalid_token", f"the token was rejected ({type(err).__name__})") from None
    except (ValueError, TypeError, UnicodeError, OverflowError):
        # Malformed JSON inside a validly shaped token (huge numbers, Infinity, odd types): still just a bad token.
        raise TokenError("invalid_token", "the token could not be decoded") from None


def issue_token(
    user_id: str,
    settings: Settings,
    *,
    ttl_seconds: int = 3600,
    now: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> str:
    """A signed HS256 development token (``careconnect-ws token``); production tokens come from your IdP.
    ``claims``: extra claims (a topic ruled by ``claim:<name>`` reads its subjects from one)."""
    import jwt

    if ttl_seconds <= 0:
        raise TokenError("invalid_ttl", "the token's lifetime must be at least 1 second")
    if not settings.jwt_secret:
        raise TokenError("no_secret", "issuing tokens needs WS_JWT_SECRET (HS256); RS256 tokens come from your identity provider")
    issued = int(now if now is not None else time.time())
    claims = {**(claims or {}), "sub": user_id, "iat": issued, "exp": issued + ttl_seconds, "jti": uuid.uuid4().hex}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
