"""``careconnect-ws``: migrate, serve, notify, cleanup, token.

Reads the same environment as the Lambda (``DATABASE_URL``, ``WS_JWT_SECRET``,
``AWS_WEBSOCKET_API_GATEWAY_ENDPOINT``, ...). Exit codes: 0 ok, 1 failed, 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import CareConnectWsError, ConfigError, DatabaseUnavailable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="careconnect-ws", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="create or upgrade the database schema (idempotent, safe concurrently)")

    notify = sub.add_parser("notify", help="push a notification to a user's subscribed connections")
    notify_sub = notify.add_subparsers(dest="notification", required=True)
    verified = notify_sub.add_parser("email-verified", help="tell a user's connections their email is verified")
    verified.add_argument("--user", required=True, help="the user id (the token's sub)")
    verified.add_argument("--email", help="the verified address, included in the message")

    cleanup = sub.add_parser("cleanup", help="deactivate expired or idle connections and purge old rows")
    cleanup.add_argument("--no-close", action="store_true", help="do not close expired connections through the Management API")
    cleanup.add_argument("--no-purge", action="store_true", help="keep inactive rows")

    token = sub.add_parser("token", help="print a signed development token (HS256, WS_JWT_SECRET)")
    token.add_argument("--user", required=True)
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")

    serve = sub.add_parser("serve", help="run the whole WebSocket system locally (gateway + @connections + handler)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    serve.add_argument("--stage", default=None, help="stage name (default: the deployed default, prod)")
    serve.add_argument("--env-file", help="also write the KEY=value lines for other terminals to this file")
    serve.add_argument("--idle-timeout", type=float, default=None, help="seconds (default 600, as API Gateway)")
    serve.add_argument("--max-connection-duration", type=float, default=None, help="seconds (default 7200, as API Gateway)")
    serve.add_argument("--concurrency", type=int, default=None, help="handler worker threads, like Lambda concurrency (default 32)")
    serve.add_argument("--no-authorizer", action="store_true",
                       help="skip the $connect authorizer (as a stack without one: the $connect handler checks the token)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            from .local.server import serve_from_cli

            return serve_from_cli(args)
        return _COMMANDS[args.command](args)
    except ConfigError as err:
        print(f"careconnect-ws: configuration error: {err}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as err:
        print(f"careconnect-ws: database unavailable: {err}", file=sys.stderr)
        return 1
    except CareConnectWsError as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 1


def _migrate(args: argparse.Namespace) -> int:
    from .db import get_database
    from .migrations import current_version, migrate

    db = get_database()
    applied = db.run(migrate)
    version = db.run(current_version)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    print(f"migrate: {names}; schema version {version}")
    return 0


def _notify(args: argparse.Namespace) -> int:
    from .logs import configure_logging
    from .notifications import notify_email_verified

    configure_logging()
    result = notify_email_verified(args.user, email=args.email)
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _cleanup(args: argparse.Namespace) -> int:
    from .cleanup import run_cleanup
    from .logs import configure_logging

    configure_logging()
    result = run_cleanup(close_connections=not args.no_close, purge=not args.no_purge)
    print(json.dumps(result.as_dict()))
    return 0


def _token(args: argparse.Namespace) -> int:
    import os

    from .settings import Settings
    from .tokens import issue_token

    # Only the token settings matter here: no database needed to sign one.
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL") or "postgresql://unused"}
    print(issue_token(args.user, Settings.from_env(env), ttl_seconds=args.ttl))
    return 0


_COMMANDS = {"migrate": _migrate, "notify": _notify, "cleanup": _cleanup, "token": _token}


if __name__ == "__main__":
    sys.exit(main())
