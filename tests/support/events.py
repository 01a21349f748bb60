"""Real API Gateway event shapes: careconnect_ws.testing's builders (the ones the package ships for its users)."""

from __future__ import annotations

from careconnect_ws.testing.events import captured_event as load_event
from careconnect_ws.testing.events import make_event

__all__ = ["load_event", "make_event"]
