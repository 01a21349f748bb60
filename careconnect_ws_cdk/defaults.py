"""Defaults of the complete system, stated once, importable without loading the CDK
(the app's configuration reads them too)."""

from __future__ import annotations

API_NAME = "careconnect-websocket"
"""The API's name, and the prefix of the secrets, the schedule and the alarms."""

FUNCTION_NAME = "careconnect-ws-backend"
"""The backend Lambda built from this package (mode b)."""

CLEANUP_SCHEDULE = "rate(15 minutes)"
"""How often the registry cleanup runs ($disconnect is best effort)."""
