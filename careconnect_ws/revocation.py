"""Ending access now: a user's connections and tokens (:func:`disconnect_user`), one token
(:func:`revoke_token`), and lifting a user's revocation (:func:`restore_user`).

Each goes through the delivery path: the connections are deactivated in one statement first, so no event
reaches them even if closing fails, then each is closed through ``@connections`` (gone ones are fine). The
invoke events and ``careconnect-ws disconnect-user | revoke-token | restore-user`` run these
(:mod:`careconnect_ws.commands`). Access to one stream ends with :func:`careconnect_ws.access.withdraw_access`.
"""

from __future__ import annotations

import logging
from typing import Any

from .delivery import DeliveryResult
from .errors import InvalidRequest
from .services import Services, get_services
from .text import check_user_id, is_bounded_text
from .tokens import LEEWAY_SECONDS, MAX_EPOCH_SECONDS, MAX_TOKEN_ID_CHARS

logger = logging.getLogger(__name__)


def disconnect_user(
    user_id: str, *, reason: str = "revoked", revoke: bool = True, services: Services | None = None
) -> DeliveryResult:
    """End every connection of ``user_id`` now (a revoked session, a locked account).

    With ``revoke`` (the default) every token the user holds now is refused from now on: a ``$connect``
    with a token issued (``iat``) before this moment answers 401 ``token_revoked``, so the same token
    cannot simply connect again. ``revoke=False`` only ends the connections (their clients may reconnect).
    Raises :class:`~careconnect_ws.errors.InvalidRequest` (``invalid_field``) for a user id that is not one.
    """
    check_user_id(user_id)
    services = services or get_services()
    ended = services.registry.deactivate_user(user_id, reason=reason, revoke=revoke)
    result = services.delivery.close_all(ended)
    logger.info("user disconnected", extra={"connections": len(ended), "revoked": revoke, "closeFailed": len(result.failed)})
    return result


def revoke_token(token_id: Any, expires_at: Any, *, services: Services | None = None) -> DeliveryResult:
    """Refuse one token (its ``jti``) until its ``exp`` (epoch seconds), and end the connections opened with it."""
    if not is_bounded_text(token_id, MAX_TOKEN_ID_CHARS):
        raise InvalidRequest("invalid_field", f"'jti' must be text of 1 to {MAX_TOKEN_ID_CHARS} characters")
    if isinstance(expires_at, bool) or not isinstance(expires_at, int) or not 0 < expires_at < MAX_EPOCH_SECONDS:
        raise InvalidRequest("invalid_field", "'exp' must be the token's expiry in whole seconds since the epoch")
    services = services or get_services()
    # Verification accepts a token until exp + its leeway: the deny-list entry must outlive that, or a revoked
    # token connects again in the last seconds of its leeway.
    ended = services.registry.revoke_token(token_id, expires_at=expires_at + LEEWAY_SECONDS)
    result = services.delivery.close_all(ended)
    logger.info("token revoked", extra={"connections": len(ended), "closeFailed": len(result.failed)})
    return result


def restore_user(user_id: str, *, services: Services | None = None) -> bool:
    """Lift :func:`disconnect_user`'s revocation of ``user_id``: the tokens they hold (and, with
    ``WS_CONNECT_AUTH=iam``, their signed handshakes) connect again. False when the user was not revoked.
    Tokens revoked one by one (:func:`revoke_token`) stay revoked until they expire."""
    check_user_id(user_id)
    services = services or get_services()
    lifted = services.registry.restore_user(user_id)
    logger.info("user restored", extra={"lifted": lifted})
    return lifted
