"""Defaults of the complete system, stated once, importable without loading the CDK
(the app's configuration reads them too)."""

from __future__ import annotations

API_NAME = "careconnect-websocket"
"""The API's name, and the prefix of the secrets, the schedule and the alarms."""

FUNCTION_NAME = "careconnect-ws-backend"
"""The backend Lambda built from this package (mode b), for the default ``API_NAME``."""


def function_name(name: str) -> str:
    """The function's default name for a system named ``name``: ``{name}-backend``, so two systems in one stack
    differ by ``name`` alone; the default system keeps the name it has always deployed with."""
    return FUNCTION_NAME if name == API_NAME else f"{name}-backend"


CLEANUP_SCHEDULE = "rate(15 minutes)"
"""How often the registry cleanup runs ($disconnect is best effort)."""
