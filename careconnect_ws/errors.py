"""The runtime's exceptions: a small hierarchy whose messages say what to do.

Every refusal of a request (a client's message, a token, an event, a backend's publish) is a
:class:`RequestError`: it carries the stable ``code`` the reply and the log line's ``outcome`` use, and the
HTTP ``status`` it answers with, so the handler maps any of them the same way and no caller restates them.
The others are the system's own trouble: :class:`ConfigError` (the operator's), :class:`Unavailable`
(the database or the identity provider's keys; retry later: 503 ``service_unavailable``) and the
Management API's.
"""

from __future__ import annotations


class CareConnectWsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CareConnectWsError):
    """A setting is missing or malformed; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


class RequestError(CareConnectWsError):
    """A request this system refuses: ``code`` (stable, in the reply and the log), ``status`` (HTTP) and a
    message that says what to change."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        self.code = code
        if status is not None:
            self.status = status
        super().__init__(message)


class MessageError(RequestError):
    """A problem with what a client sent on its connection (``{"type": "error", "code": ...}``)."""


class InvalidEvent(RequestError):
    """The event does not have the shape API Gateway sends; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_event", message)


class InvalidRequest(RequestError):
    """A backend's request (publish, notify, revoke) was malformed; the message says which field."""


class Unavailable(CareConnectWsError):
    """Something this system depends on cannot serve right now; retrying later may work. Answered as
    503 with the code :data:`SERVICE_UNAVAILABLE` (one name for it, in replies and in log lines)."""


class DatabaseUnavailable(Unavailable):
    """PostgreSQL could not be reached (or answered too slowly)."""


class KeysUnavailable(Unavailable):
    """The identity provider's key set (``WS_JWT_JWKS_URL``) could not be fetched and none is cached."""


SERVICE_UNAVAILABLE = "service_unavailable"


class TokenError(RequestError):
    """A connection token was missing, malformed, expired or signed with another key (401)."""

    status = 401


class ManagementApiError(CareConnectWsError):
    """The API Gateway Management API refused a call."""

    def __init__(self, connection_id: str, message: str, *, status: int | None = None) -> None:
        self.connection_id = connection_id
        self.status = status
        super().__init__(message)


class ConnectionGone(ManagementApiError):
    """410 Gone: the client has disconnected; the registry deactivates the connection."""


class PayloadTooLarge(ManagementApiError):
    """The message exceeds API Gateway's 128 KB limit (refused before the call, or 413)."""


class ManagementForbidden(ManagementApiError):
    """403: the caller's IAM role lacks execute-api:ManageConnections on this stage."""


class ManagementThrottled(ManagementApiError):
    """429 persisted after every retry."""
