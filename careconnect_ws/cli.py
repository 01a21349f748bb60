"""careconnect-ws: migrate, status, serve, publish, notify, listen, disconnect-user, restore-user, revoke-token,
withdraw-access, cleanup, token.

Reads the same environment as the Lambda, but each command only what it uses (each command's
--help lists its variables). Exit codes: 0 ok, 1 failed, 2 usage or configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from .errors import CareConnectWsError, ConfigError, DatabaseUnavailable


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .settings import DATABASE, LIMITS_PART, SENDING, TOKENS, environment_help
    from .tokens import MAX_TTL_SECONDS

    parser = argparse.ArgumentParser(prog="careconnect-ws", description=__doc__.strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"careconnect-ws {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *parts: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, epilog=environment_help(*parts) if parts else None,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    command("migrate", "create or upgrade the database schema (idempotent, safe concurrently)", DATABASE)

    from .status import DEFAULT_GRACE_SECONDS

    status = command("status", "the registry's health for whoever is on call: schema, connections, how far behind the "
                     "cleanup is, the event store (read-only; exit 1 when something needs doing)", DATABASE, LIMITS_PART)
    status.add_argument("--grace", type=_positive_int, default=DEFAULT_GRACE_SECONDS, metavar="SECONDS",
                        help=f"how far behind the cleanup or the purge may fall before it is a problem "
                             f"(default {DEFAULT_GRACE_SECONDS}; the cleanup runs every 15 minutes by default)")

    publish = command("publish", "store an event in a stream and push it to the stream's subscribers", DATABASE, SENDING)
    publish.add_argument("--topic", required=True, help="a registered topic (e.g. email-verification)")
    publish.add_argument("--subject", required=True, help="the stream's subject within the topic (e.g. a user or patient id)")
    publish.add_argument("--payload", required=True, metavar="JSON",
                         help='the event, a JSON object (e.g. \'{"type": "care-plan", "plan": "p-1"}\'); '
                              '"stream" and "seq" are added to it')

    from .notifications import notification_types

    notify = command("notify", "push a notification to a user's subscribed connections", DATABASE, SENDING)
    notify_sub = notify.add_subparsers(dest="notification", required=True, metavar="NOTIFICATION")
    for kind in notification_types():
        one = notify_sub.add_parser(kind.name, help=kind.description, description=kind.description,
                                    epilog=environment_help(DATABASE, SENDING),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        one.add_argument("--user", required=True, help="the user id (the token's sub)")
        for field in kind.fields:
            one.add_argument(f"--{field.name}", required=field.required, help=field.help)

    listen = command("listen", "print a stream's events as they arrive, resuming across reconnects (the reference client)",
                     TOKENS)
    listen.add_argument("--url", default=os.environ.get("CARECONNECT_WS_URL"),
                        help="the WebSocket URL, e.g. ws://127.0.0.1:8080/prod (default: CARECONNECT_WS_URL, which serve prints)")
    listen.add_argument("--topic", required=True, help="the stream's topic")
    listen.add_argument("--subject", help="the stream's subject (default: the token's user)")
    listen.add_argument("--since", type=_sequence, help="replay the events after this sequence first (0: all retained)")
    listen.add_argument("--count", type=_positive_int, help="exit after this many events")
    who = listen.add_mutually_exclusive_group()
    who.add_argument("--token", default=os.environ.get("CARECONNECT_WS_TOKEN"),
                     help="the connection token (default: CARECONNECT_WS_TOKEN)")
    who.add_argument("--user", help="sign a fresh development token for this user at each connect (needs WS_JWT_SECRET)")

    revoke = command("disconnect-user", "end every connection of a user now and refuse the tokens they hold (revocation)",
                     DATABASE, SENDING)
    revoke.add_argument("--user", required=True, help="the user id (the token's sub)")
    revoke.add_argument("--keep-tokens", action="store_true",
                        help="only end the connections: the user's current tokens may connect again")

    restore = command("restore-user", "lift disconnect-user's revocation: the user's tokens (or IAM signer) connect again",
                      DATABASE)
    restore.add_argument("--user", required=True, help="the user id (the token's sub, or the IAM principal's ARN)")

    withdraw = command("withdraw-access", "end a user's subscriptions to a stream (or every stream of a topic) now; "
                       "change your data first so the topic's rule refuses them too", DATABASE, SENDING)
    withdraw.add_argument("--user", required=True, help="the user id (the token's sub)")
    withdraw.add_argument("--topic", required=True, help="the stream's topic")
    withdraw.add_argument("--subject", help="the stream's subject (default: every stream of the topic)")

    revoke_one = command("revoke-token", "refuse one token (its jti) until it expires, and end its connections",
                         DATABASE, SENDING)
    revoke_one.add_argument("--jti", required=True, help="the token's jti claim")
    revoke_one.add_argument("--exp", required=True, type=_positive_int, help="the token's exp claim (seconds since the epoch)")

    cleanup = command("cleanup", "deactivate expired or idle connections and purge old rows", DATABASE, SENDING, LIMITS_PART)
    cleanup.add_argument("--no-close", action="store_true", help="do not close expired connections through the Management API")
    cleanup.add_argument("--no-purge", action="store_true", help="keep inactive rows")

    token = command("token", "print a signed development token (HS256; production tokens come from your identity provider)",
                    TOKENS)
    token.add_argument("--user", required=True, help="the user id the token speaks for (its sub claim)")
    token.add_argument("--ttl", type=_positive_int, default=3600,
                       help=f"seconds until it expires (default 3600, at most {MAX_TTL_SECONDS} without --allow-long-ttl)")
    token.add_argument("--allow-long-ttl", action="store_true", help=f"allow a --ttl over {MAX_TTL_SECONDS} seconds")
    token.add_argument("--production-key", action="store_true",
                       help="sign with the key WS_JWT_SECRET_ARN names (refused without this flag: that key is production's)")

    from .local.serve import add_arguments

    serve = command("serve", "run a WebSocket API locally: gateway + @connections + a handler (this one by default)",
                    DATABASE, TOKENS, LIMITS_PART)
    add_arguments(serve)
    return parser


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1 (a token that is already expired is no use)")
    return value


def _sequence(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (everything retained) or the last sequence you hold")
    return value


def _use_settings(*needs: str) -> None:
    """Validate only what this command uses, and make it the settings the runtime reads."""
    from .settings import Settings, set_settings

    set_settings(Settings.from_env(needs=needs))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "listen":
            try:
                import websockets  # noqa: F401  (the client extra)
            except ModuleNotFoundError:
                print("careconnect-ws: listen needs the client extra (websockets is missing): "
                      "pip install 'careconnect-ws[client]'", file=sys.stderr)
                return 2
            return _listen(args)
        if args.command == "serve":
            try:
                import aiohttp  # noqa: F401  (the local extra)

                from .local.serve import serve_from_cli
            except ModuleNotFoundError as err:
                print(f"careconnect-ws: serve needs the local extra ({err.name} is missing): "
                      "pip install 'careconnect-ws[local]'", file=sys.stderr)
                return 2
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
    except Exception as err:
        # Where, never what: a driver's or library's message can quote a connection string or a row.
        from .logs import exception_summary

        summary = exception_summary(err)
        print(f"careconnect-ws: unexpected {summary['errorType']} at {' < '.join(reversed(list(summary['where'])))}",
              file=sys.stderr)
        return 1


def _migrate(args: argparse.Namespace) -> int:
    from .db import get_database
    from .migrations import current_version, migrate
    from .settings import DATABASE

    _use_settings(DATABASE)
    db = get_database()
    applied = db.run(migrate)
    version = db.run(current_version)
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    print(f"migrate: {names}; schema version {version}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from .db import Database
    from .migrations import available
    from .settings import DATABASE, get_settings
    from .status import Limits, read_snapshot, report

    _use_settings(DATABASE)
    settings = get_settings()
    limits = Limits(expected_schema=available()[-1].version, idle_timeout_seconds=settings.idle_timeout_seconds,
                    stream_retention_seconds=settings.stream_retention_seconds, grace_seconds=args.grace)
    # Read-only: it may point at a read replica or connect as a read-only role.
    database = Database.from_settings(settings, read_only=True)
    result = report(read_snapshot(database, idle_timeout_seconds=settings.idle_timeout_seconds), limits)
    print(json.dumps(result, indent=2))
    for problem in result["problems"]:
        print(f"careconnect-ws: {problem}", file=sys.stderr)
    return 0 if result["ok"] else 1


def _publish(args: argparse.Namespace) -> int:
    from .errors import InvalidRequest
    from .logs import configure_logging
    from .publishing import publish
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    try:
        result = publish(args.topic, args.subject, args.payload)
    except InvalidRequest as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _notify(args: argparse.Namespace) -> int:
    from .logs import configure_logging
    from .notifications import InvalidNotification, get_notification, notify
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    kind = get_notification(args.notification)
    fields = {f.name: getattr(args, f.name.replace("-", "_")) for f in kind.fields}
    try:
        result = notify(kind.name, args.user, **fields)
    except InvalidNotification as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _listen(args: argparse.Namespace) -> int:
    import asyncio

    from .settings import TOKENS, Settings
    from .tokens import issue_token

    if not args.url:
        raise ConfigError("CARECONNECT_WS_URL", "not set: pass --url ws://host:port/stage (careconnect-ws serve prints it)")
    if args.user:
        settings = Settings.from_env(needs=(TOKENS,))
        token: object = lambda: issue_token(args.user, settings)  # noqa: E731  (fresh at every connect)
        subject = args.subject or args.user
    elif args.token:
        token, subject = args.token, args.subject or _token_subject(args.token)
    else:
        raise ConfigError("CARECONNECT_WS_TOKEN", "not set: pass --token TOKEN, or --user ID to sign one with WS_JWT_SECRET")
    if not subject:
        raise ConfigError("CARECONNECT_WS_TOKEN", "the token names no user (sub): pass --subject")
    try:
        return asyncio.run(_listen_loop(args.url, token, (args.topic, subject), args.since, args.count))
    except KeyboardInterrupt:
        return 130


async def _listen_loop(url: str, token: object, stream: tuple[str, str], since: int | None, count: int | None) -> int:
    from .client import Resync, StreamClient, StreamClientError

    seen = 0
    positions = {stream: since} if since is not None else None
    try:
        async with StreamClient(url, token=token, streams=[stream], positions=positions) as client:  # type: ignore[arg-type]
            async for item in client:
                if isinstance(item, Resync):
                    print(json.dumps({"type": "resync_required", "topic": item.topic, "subject": item.subject,
                                      "oldest": item.oldest, "seq": item.seq}), flush=True)
                    continue
                print(json.dumps({"stream": {"topic": item.topic, "subject": item.subject}, "seq": item.seq, **item.data},
                                 ensure_ascii=False), flush=True)
                seen += 1
                if count is not None and seen >= count:
                    return 0
    except StreamClientError as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 1
    return 0


def _token_subject(token: str) -> str | None:
    """The ``sub`` a token names, read without verifying it: only to default ``--subject`` to your own."""
    import base64

    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def _disconnect_user(args: argparse.Namespace) -> int:
    from .logs import configure_logging
    from .notifications import disconnect_user
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    result = disconnect_user(args.user, revoke=not args.keep_tokens)
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _restore_user(args: argparse.Namespace) -> int:
    from .errors import InvalidRequest
    from .notifications import restore_user
    from .settings import DATABASE

    _use_settings(DATABASE)
    try:
        lifted = restore_user(args.user)
    except InvalidRequest as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"restored": lifted}))
    return 0


def _withdraw_access(args: argparse.Namespace) -> int:
    from .access import withdraw_access
    from .errors import InvalidRequest
    from .logs import configure_logging
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    try:
        result = withdraw_access(args.user, args.topic, args.subject)
    except InvalidRequest as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _revoke_token(args: argparse.Namespace) -> int:
    from .errors import InvalidRequest
    from .logs import configure_logging
    from .notifications import revoke_token
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    try:
        result = revoke_token(args.jti, args.exp)
    except InvalidRequest as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result.as_dict()))
    return 0 if not result.failed else 1


def _cleanup(args: argparse.Namespace) -> int:
    from .cleanup import run_cleanup
    from .logs import configure_logging
    from .settings import DATABASE

    _use_settings(DATABASE)
    configure_logging()
    result = run_cleanup(close_connections=not args.no_close, purge=not args.no_purge)
    print(json.dumps(result.as_dict()))
    return 0


def _token(args: argparse.Namespace) -> int:
    from . import contract
    from .settings import TOKENS, Settings
    from .tokens import MAX_TTL_SECONDS, issue_token

    if args.ttl > MAX_TTL_SECONDS and not args.allow_long_ttl:
        raise ConfigError("--ttl", f"{args.ttl} seconds is over the {MAX_TTL_SECONDS}-second maximum for a development "
                                   "token: pass --allow-long-ttl to mean it")
    if os.environ.get(contract.JWT_SECRET_ARN, "").strip() and not args.production_key:
        raise ConfigError(contract.JWT_SECRET_ARN, "is set, so this would sign with the production key: unset it to use "
                                                   "WS_JWT_SECRET, or pass --production-key to mean it")
    # Only the token settings matter here: no database needed to sign one.
    print(issue_token(args.user, Settings.from_env(needs=(TOKENS,)), ttl_seconds=args.ttl))
    return 0


_COMMANDS = {
    "migrate": _migrate,
    "status": _status,
    "publish": _publish,
    "notify": _notify,
    "disconnect-user": _disconnect_user,
    "restore-user": _restore_user,
    "revoke-token": _revoke_token,
    "withdraw-access": _withdraw_access,
    "cleanup": _cleanup,
    "token": _token,
}


if __name__ == "__main__":
    sys.exit(main())
