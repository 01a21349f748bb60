"""The runtime's exceptions: a small hierarchy whose messages say what to do."""

from __future__ import annotations


class CareConnectWsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(CareConnectWsError):
    """A setting is missing or malformed; the message names the environment variable."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


class InvalidRequest(CareConnectWsError):
    """A backend's request (publish, notify, revoke) was malformed; ``code`` is stable, the message says which field."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        self.code = code
        self.status = status
        super().__init__(message)


class DatabaseUnavailable(CareConnectWsError):
    """PostgreSQL could not be reached (or answered too slowly); retrying later may work."""


class TokenError(CareConnectWsError):
    """A connection token was missing, malformed, expired or signed with another key."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


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
