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
from typing import TYPE_CHECKING

from .errors import CareConnectWsError, ConfigError, DatabaseUnavailable

if TYPE_CHECKING:
    from .commands import Command


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .settings import DATABASE, LIMITS_PART, TOKENS, environment_help
    from .tokens import MAX_TTL_SECONDS

    parser = argparse.ArgumentParser(
        prog="careconnect-ws", description=__doc__.strip(), formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"careconnect-ws {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, *parts: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=environment_help(*parts) if parts else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command("migrate", "create or upgrade the database schema (idempotent, safe concurrently)", DATABASE)

    from .status import DEFAULT_GRACE_SECONDS

    status = command(
        "status",
        "the registry's health for whoever is on call: schema, connections, how far behind the "
        "cleanup is, the event store (read-only; exit 1 when something needs doing)",
        DATABASE,
        LIMITS_PART,
    )
    status.add_argument(
        "--grace",
        type=_positive_int,
        default=DEFAULT_GRACE_SECONDS,
        metavar="SECONDS",
        help=f"how far behind the cleanup or the purge may fall before it is a problem "
        f"(default {DEFAULT_GRACE_SECONDS}; the cleanup runs every 15 minutes by default)",
    )

    from .commands import COMMANDS

    for entry in COMMANDS.values():
        if entry.cli:
            _add_backend_command(command(entry.name, entry.help, *entry.parts), entry)

    listen = command(
        "listen", "print a stream's events as they arrive, resuming across reconnects (the reference client)", TOKENS
    )
    listen.add_argument(
        "--url",
        default=os.environ.get("CARECONNECT_WS_URL"),
        help="the WebSocket URL, e.g. ws://127.0.0.1:8080/prod (default: CARECONNECT_WS_URL, which serve prints)",
    )
    listen.add_argument("--topic", required=True, help="the stream's topic")
    listen.add_argument("--subject", help="the stream's subject (default: the token's user)")
    listen.add_argument("--since", type=_sequence, help="replay the events after this sequence first (0: all retained)")
    listen.add_argument("--count", type=_positive_int, help="exit after this many events")
    who = listen.add_mutually_exclusive_group()
    who.add_argument(
        "--token", default=os.environ.get("CARECONNECT_WS_TOKEN"), help="the connection token (default: CARECONNECT_WS_TOKEN)"
    )
    who.add_argument("--user", help="sign a fresh development token for this user at each connect (needs WS_JWT_SECRET)")

    token = command(
        "token", "print a signed development token (HS256; production tokens come from your identity provider)", TOKENS
    )
    token.add_argument("--user", required=True, help="the user id the token speaks for (its sub claim)")
    token.add_argument(
        "--ttl",
        type=_positive_int,
        default=3600,
        help=f"seconds until it expires (default 3600, at most {MAX_TTL_SECONDS} without --allow-long-ttl)",
    )
    token.add_argument("--allow-long-ttl", action="store_true", help=f"allow a --ttl over {MAX_TTL_SECONDS} seconds")
    token.add_argument(
        "--claim",
        action="append",
        default=[],
        type=_claim,
        metavar="NAME=JSON",
        help="an extra claim, e.g. care_plans='[\"patient-17\"]' for a topic ruled by claim:care_plans; repeatable",
    )
    token.add_argument(
        "--production-key",
        action="store_true",
        help="sign with the key WS_JWT_SECRET_ARN names (refused without this flag: that key is production's)",
    )

    from .local.serve import add_arguments

    serve = command(
        "serve",
        "run a WebSocket API locally: gateway + @connections + a handler (this one by default)",
        DATABASE,
        TOKENS,
        LIMITS_PART,
    )
    add_arguments(serve)
    return parser


def _add_backend_command(parser: argparse.ArgumentParser, entry: Command) -> None:
    """A backend command's options, from its table entry (``notify`` takes one subcommand per notification type)."""
    if entry.name == "notify":
        from .notifications import notification_types
        from .settings import environment_help

        kinds = parser.add_subparsers(dest="notification", required=True, metavar="NOTIFICATION")
        for kind in notification_types():
            one = kinds.add_parser(
                kind.name,
                help=kind.description,
                description=kind.description,
                epilog=environment_help(*entry.parts),
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            one.add_argument("--user", dest="userId", required=True, help="the user id (the token's sub)")
            for field in kind.fields:
                one.add_argument(f"--{field.name}", dest=field.name, required=field.required, help=field.help)
        return
    for argument in entry.arguments:
        if argument.kind == "switch-off":
            parser.add_argument(argument.option, dest=argument.key, action="store_false", help=argument.help)
        else:
            parser.add_argument(
                argument.option,
                dest=argument.key,
                required=argument.required,
                help=argument.help,
                type=_positive_int if argument.kind == "epoch" else str,
                metavar="JSON" if argument.kind == "json" else None,
            )


def _run_backend_command(args: argparse.Namespace) -> int:
    """Run a backend command's table entry with the options given; print its answer as JSON."""
    from .commands import COMMANDS
    from .errors import RequestError
    from .logs import configure_logging
    from .settings import DATABASE

    entry = COMMANDS[args.command]
    _use_settings(DATABASE)
    configure_logging()
    values = {key: value for key, value in vars(args).items() if key != "command"}
    try:
        outcome = entry.run(values)
    except RequestError as err:
        print(f"careconnect-ws: {err}", file=sys.stderr)
        return 2
    print(json.dumps(outcome.body))
    return 1 if outcome.failed else 0


_RESERVED_CLAIMS = frozenset({"sub", "iat", "exp", "nbf", "jti", "iss", "aud"})


def _claim(raw: str) -> tuple[str, object]:
    """``NAME=JSON`` (a JSON value; text that is not JSON is taken as a string)."""
    name, sep, value = raw.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{raw!r}: write NAME=JSON, e.g. care_plans='[\"patient-17\"]'")
    if name.strip() in _RESERVED_CLAIMS:
        raise argparse.ArgumentTypeError(f"{name.strip()} is set by the token itself: use --user or --ttl")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value


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
    try:
        _load_extensions(argv)  # first: a team's notification types are `notify` subcommands
    except ConfigError as err:
        print(f"careconnect-ws: configuration error: {err}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        if args.command == "listen":
            try:
                import websockets  # noqa: F401  (the client extra)
            except ModuleNotFoundError:
                print(
                    "careconnect-ws: listen needs the client extra (websockets is missing): pip install 'careconnect-ws[client]'",
                    file=sys.stderr,
                )
                return 2
            return _listen(args)
        if args.command == "serve":
            try:
                import aiohttp  # noqa: F401  (the local extra)

                from .local.serve import serve_from_cli
            except ModuleNotFoundError as err:
                print(
                    f"careconnect-ws: serve needs the local extra ({err.name} is missing): pip install 'careconnect-ws[local]'",
                    file=sys.stderr,
                )
                return 2
            return serve_from_cli(args)
        return _COMMANDS.get(args.command, _run_backend_command)(args)
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
        print(
            f"careconnect-ws: unexpected {summary['errorType']} at {' < '.join(reversed(list(summary['where'])))}",
            file=sys.stderr,
        )
        return 1


def _load_extensions(argv: Sequence[str] | None) -> None:
    """``WS_EXTENSIONS`` (and, for ``serve``, ``--extension``), imported from the installed packages or the current
    directory, as a local tool is expected to (the function finds them in its zip)."""
    from .extensions import extension_names, load_extensions, load_extensions_given_as, module_names

    from_env = extension_names()
    from_options = module_names(_extension_options(sys.argv[1:] if argv is None else argv), "--extension")
    if not from_env and not from_options:
        return
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    load_extensions(from_env)
    load_extensions_given_as(from_options, "--extension")


def _extension_options(argv: Sequence[str]) -> list[str]:
    """The values of ``--extension`` in ``argv`` (serve's option, read before the parser is built)."""
    names = []
    for index, arg in enumerate(argv):
        if arg == "--extension" and index + 1 < len(argv):
            names.append(argv[index + 1])
        elif arg.startswith("--extension="):
            names.append(arg.partition("=")[2])
    return names


def _migrate(args: argparse.Namespace) -> int:
    from .migrations import run_migrations
    from .settings import DATABASE

    _use_settings(DATABASE)
    applied, version = run_migrations()
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied) or "nothing to apply"
    print(f"migrate: {names}; schema version {version}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from .settings import DATABASE
    from .status import status_of

    _use_settings(DATABASE)
    result = status_of(grace_seconds=args.grace)
    print(json.dumps(result, indent=2))
    for problem in result["problems"]:
        print(f"careconnect-ws: {problem}", file=sys.stderr)
    return 0 if result["ok"] else 1


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
                    print(
                        json.dumps(
                            {
                                "type": "resync_required",
                                "topic": item.topic,
                                "subject": item.subject,
                                "oldest": item.oldest,
                                "seq": item.seq,
                            }
                        ),
                        flush=True,
                    )
                    continue
                print(
                    json.dumps(
                        {"stream": {"topic": item.topic, "subject": item.subject}, "seq": item.seq, **item.data},
                        ensure_ascii=False,
                    ),
                    flush=True,
                )
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


def _token(args: argparse.Namespace) -> int:
    from . import contract
    from .settings import TOKENS, Settings
    from .tokens import MAX_TTL_SECONDS, issue_token

    if args.ttl > MAX_TTL_SECONDS and not args.allow_long_ttl:
        raise ConfigError(
            "--ttl",
            f"{args.ttl} seconds is over the {MAX_TTL_SECONDS}-second maximum for a development "
            "token: pass --allow-long-ttl to mean it",
        )
    if os.environ.get(contract.JWT_SECRET_ARN, "").strip() and not args.production_key:
        raise ConfigError(
            contract.JWT_SECRET_ARN,
            "is set, so this would sign with the production key: unset it to use "
            "WS_JWT_SECRET, or pass --production-key to mean it",
        )
    # Only the token settings matter here: no database needed to sign one.
    claims = dict(args.claim)
    print(issue_token(args.user, Settings.from_env(needs=(TOKENS,)), ttl_seconds=args.ttl, claims=claims))
    return 0


_COMMANDS = {
    "migrate": _migrate,
    "status": _status,
    "token": _token,
}


if __name__ == "__main__":
    sys.exit(main())
