"""The strings the infrastructure and the runtime must agree on, defined once.

The construct library (``careconnect_ws_cdk``) builds the function, its environment, the cleanup
schedule and the alarms from these; the runtime reads the same names and writes the same log
fields. Standard library only: importing it costs nothing and loads no CDK.
"""

from __future__ import annotations

import json

HANDLER = "careconnect_ws.handler.lambda_handler"
"""The Lambda entry point (``handler`` of the function)."""

BUILT_IN_ROUTES = ("$connect", "$disconnect", "$default")
"""The routes every WebSocket API has: the construct synthesizes them, the local gateway serves them."""

COMMAND_KEY = "careconnect_ws"
"""Direct invocations carry their command under this key: ``{"careconnect_ws": {"command": ...}}``."""

CLEANUP_COMMAND = "cleanup"
CLEANUP_EVENT = {COMMAND_KEY: {"command": CLEANUP_COMMAND}}
"""What the scheduled rule sends (an EventBridge ``Scheduled Event`` is handled the same way)."""

# Environment variables the stack sets on the function.
DATABASE_SECRET_ARN = "DATABASE_SECRET_ARN"
JWT_SECRET_ARN = "WS_JWT_SECRET_ARN"
JWT_PUBLIC_KEY = "WS_JWT_PUBLIC_KEY"
JWT_ISSUER = "WS_JWT_ISSUER"
JWT_AUDIENCE = "WS_JWT_AUDIENCE"
LOCAL_ACCESS_KEY_ID = "CARECONNECT_WS_LOCAL_ACCESS_KEY_ID"
LOCAL_SECRET_ACCESS_KEY = "CARECONNECT_WS_LOCAL_SECRET_ACCESS_KEY"
"""What ``serve --allow-remote`` prints for signing ``@connections`` calls, and what sending prefers when both
are set: named so that sourcing serve's env file never replaces the shell's real AWS credentials."""
PLAIN_SECRETS = ("DATABASE_URL", "WS_JWT_SECRET")
"""Never set as plain environment variables by the stack: they would land in Terraform state."""

# The handler's log line (one JSON object per invocation) and the fields alarms match.
LOG_ROUTE = "route"
LOG_STATUS = "status"


def command_route(command: str) -> str:
    """The ``route`` field of a direct invocation's log line."""
    return f"command:{command}"


def failed_command_filter(command: str) -> str:
    """CloudWatch Logs metric filter pattern: a log line of ``command`` that did not answer 200."""
    return f"{{ $.{LOG_ROUTE} = {json.dumps(command_route(command))} && $.{LOG_STATUS} != 200 }}"
