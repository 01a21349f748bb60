"""Text a client controls: what can be stored, and how much of it may reach a log line."""

from __future__ import annotations

from typing import TypeGuard

from .errors import InvalidRequest

MAX_USER_ID_CHARS = 256
"""A user id (a token's ``sub``) is stored as text: at most this long."""

MAX_LOG_VALUE_CHARS = 128
"""Any client-controlled value that reaches a log line is cut to this many characters."""


def is_storable_text(value: str) -> bool:
    """True when PostgreSQL can store it as text and JSON can carry it: no NUL, no lone surrogates."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_bounded_text(value: object, max_chars: int) -> TypeGuard[str]:
    """The one rule for text this system stores or echoes: a string of 1 to ``max_chars`` characters that
    PostgreSQL and JSON can carry (:func:`is_storable_text`)."""
    return isinstance(value, str) and 0 < len(value) <= max_chars and is_storable_text(value)


def clip(value: str | None, limit: int) -> str | None:
    """At most ``limit`` characters of storable text (NULs dropped, lone surrogates replaced)."""
    if value is None:
        return None
    value = value.replace("\x00", "")[:limit]
    return value.encode("utf-8", "replace").decode("utf-8")


def log_value(value: object) -> str | None:
    """A client-controlled value made safe for a log line: a bounded string, or None."""
    if value is None:
        return None
    return clip(value if isinstance(value, str) else type(value).__name__, MAX_LOG_VALUE_CHARS)


def check_user_id(user_id: object, error: type[InvalidRequest] = InvalidRequest) -> str:
    """The one rule for a user id a backend gives (whom to notify, revoke, restore or withdraw access from)."""
    if not is_bounded_text(user_id, MAX_USER_ID_CHARS):
        raise error("invalid_field", f"'userId' must be text of 1 to {MAX_USER_ID_CHARS} characters")
    return user_id
