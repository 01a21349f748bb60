"""The backend's commands, defined once: what each takes, what it runs, what it answers and logs.

The function runs them from a direct invocation, ``{"careconnect_ws": {"command": NAME, KEY: value, ...}}``
(:func:`careconnect_ws.handler.lambda_handler` hands the inner object to :func:`run`), and ``careconnect-ws NAME
--option value`` runs the same entry from the shell: the CLI builds each subcommand's options from the
:class:`Argument` rows below. A command refuses a malformed value with a
:class:`~careconnect_ws.errors.RequestError` that names the field (400 from the function, exit 2 from the CLI).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import contract
from .delivery import DeliveryResult
from .settings import DATABASE, LIMITS_PART, SENDING
from .text import log_value

Kind = Literal["text", "json", "epoch", "switch-off"]
"""``text``: a string; ``json``: any JSON value (the CLI takes its text); ``epoch``: whole seconds since the
epoch; ``switch-off``: on unless the invocation says ``false`` (the CLI's option turns it off)."""


@dataclass(frozen=True)
class Argument:
    """One value a command takes: its key in the invoke event and its option on the command line."""

    key: str
    option: str
    help: str
    required: bool = True
    kind: Kind = "text"


@dataclass(frozen=True)
class Outcome:
    """What a command did: the JSON answer (the function's body, the CLI's stdout), the fields it adds to the
    invocation's log line, and whether part of it failed (a push that did not arrive: the CLI exits 1)."""

    body: dict[str, Any]
    log: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[Mapping[str, Any]], Outcome]
    arguments: tuple[Argument, ...] = ()
    parts: tuple[str, ...] = (DATABASE, SENDING)
    """The settings it reads (the CLI validates only these and lists them in ``--help``)."""
    cli: bool = True
    """False: the CLI has its own command of this name (more options, output for a person) running the same
    function; the entry is for the function's invocations (a database in private subnets needs no bastion)."""


def _given(values: Mapping[str, Any], key: str) -> Any:
    """A caller's value, unchecked here: each command's function checks what it takes and refuses with a code."""
    return values.get(key)


def _delivered(result: DeliveryResult, **log: Any) -> Outcome:
    return Outcome(result.as_dict(), {**log, "reached": result.reached}, failed=bool(result.failed))


def _pushed(result: Any, **log: Any) -> Outcome:
    """A publish's outcome: the stream position and who the push reached, gone or failed for."""
    recipients = len(result.delivered) + len(result.gone) + len(result.failed)
    return _delivered(result, seq=result.seq, recipients=recipients, gone=len(result.gone), failed=len(result.failed), **log)


def _publish(values: Mapping[str, Any]) -> Outcome:
    from .publishing import publish

    result = publish(_given(values, "topic"), _given(values, "subject"), _given(values, "payload"))  # checked inside
    return _pushed(result, topic=log_value(result.topic))


def _notify(values: Mapping[str, Any]) -> Outcome:
    from .notifications import get_notification, notify

    kind = get_notification(_given(values, "notification"))
    fields = {f.name: _given(values, f.name) for f in kind.fields}
    return _pushed(notify(kind.name, _given(values, "userId"), **fields), notification=kind.name)  # checked inside


def _disconnect_user(values: Mapping[str, Any]) -> Outcome:
    from .revocation import disconnect_user

    user_id = _given(values, "userId")
    revoke = values.get("revoke", True) is not False
    return _delivered(disconnect_user(user_id if isinstance(user_id, str) else "", reason="revoked", revoke=revoke))


def _restore_user(values: Mapping[str, Any]) -> Outcome:
    from .revocation import restore_user

    return Outcome({"restored": restore_user(_given(values, "userId"))})  # checked inside


def _revoke_token(values: Mapping[str, Any]) -> Outcome:
    from .revocation import revoke_token

    return _delivered(revoke_token(_given(values, "jti"), _given(values, "exp")))


def _withdraw_access(values: Mapping[str, Any]) -> Outcome:
    from .access import withdraw_access

    return _delivered(withdraw_access(_given(values, "userId"), _given(values, "topic"), _given(values, "subject")))


def _cleanup(values: Mapping[str, Any]) -> Outcome:
    from .cleanup import run_cleanup

    result = run_cleanup(close_connections=values.get("close", True) is not False, purge=values.get("purge", True) is not False)
    return Outcome(result.as_dict())


def _migrate(values: Mapping[str, Any]) -> Outcome:
    from .migrations import run_migrations

    applied, version = run_migrations()
    names = [f"{m.version:04d}_{m.name}" for m in applied]
    return Outcome({"applied": names, "schemaVersion": version}, {"schemaVersion": version, "applied": len(names)})


def _status(values: Mapping[str, Any]) -> Outcome:
    from .errors import InvalidRequest
    from .status import DEFAULT_GRACE_SECONDS, status_of

    grace = values.get("graceSeconds", DEFAULT_GRACE_SECONDS)
    if isinstance(grace, bool) or not isinstance(grace, int) or not 1 <= grace <= 7 * 86_400:
        raise InvalidRequest("invalid_field", "'graceSeconds' must be whole seconds, 1 to 604800")
    result = status_of(grace_seconds=grace)
    return Outcome(result, {"ok": result["ok"], "problems": len(result["problems"])}, failed=not result["ok"])


_USER = Argument("userId", "--user", "the user id (the token's sub, or an IAM principal's ARN)")

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "publish",
            "store an event in a stream and push it to the stream's subscribers",
            _publish,
            (
                Argument("topic", "--topic", "a registered topic (e.g. email-verification)"),
                Argument("subject", "--subject", "the stream's subject within the topic (e.g. a user or patient id)"),
                Argument(
                    "payload",
                    "--payload",
                    'the event, a JSON object (e.g. \'{"type": "care-plan", "plan": "p-1"}\'); '
                    '"stream" and "seq" are added to it',
                    kind="json",
                ),
            ),
        ),
        Command(
            "notify",
            "push a notification to a user's subscribed connections",
            _notify,
            (
                Argument("notification", "NOTIFICATION", "the notification type"),
                _USER,
            ),
        ),
        Command(
            "disconnect-user",
            "end every connection of a user now and refuse the tokens they hold (revocation)",
            _disconnect_user,
            (
                _USER,
                Argument(
                    "revoke",
                    "--keep-tokens",
                    "only end the connections: the user's current tokens may connect again",
                    required=False,
                    kind="switch-off",
                ),
            ),
        ),
        Command(
            "restore-user",
            "lift disconnect-user's revocation: the user's tokens (or IAM signer) connect again",
            _restore_user,
            (_USER,),
            parts=(DATABASE,),
        ),
        Command(
            "revoke-token",
            "refuse one token (its jti) until it expires, and end its connections",
            _revoke_token,
            (
                Argument("jti", "--jti", "the token's jti claim"),
                Argument("exp", "--exp", "the token's exp claim (seconds since the epoch)", kind="epoch"),
            ),
        ),
        Command(
            "withdraw-access",
            "end a user's subscriptions to a stream (or every stream of a topic) now; change your "
            "data first so the topic's rule refuses them too",
            _withdraw_access,
            (
                _USER,
                Argument("topic", "--topic", "the stream's topic"),
                Argument("subject", "--subject", "the stream's subject (default: every stream of the topic)", required=False),
            ),
        ),
        Command(
            contract.CLEANUP_COMMAND,
            "deactivate expired or idle connections and purge old rows",
            _cleanup,
            (
                Argument(
                    "close",
                    "--no-close",
                    "do not close expired connections through the Management API",
                    required=False,
                    kind="switch-off",
                ),
                Argument("purge", "--no-purge", "keep inactive rows and old events", required=False, kind="switch-off"),
            ),
            parts=(DATABASE, SENDING, LIMITS_PART),
        ),
        Command(
            "migrate",
            "create or upgrade the database schema (idempotent, safe concurrently)",
            _migrate,
            parts=(DATABASE,),
            cli=False,
        ),
        Command(
            "status",
            "the registry's health: schema, connections, how far behind the cleanup is, the event store (read-only); "
            "optional graceSeconds",
            _status,
            parts=(DATABASE, LIMITS_PART),
            cli=False,
        ),
    )
}
"""Every backend command by name, in the order ``careconnect-ws --help`` lists them."""


def get_command(name: Any) -> Command | None:
    return COMMANDS.get(name) if isinstance(name, str) else None
