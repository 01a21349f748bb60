"""A team's own code, wherever the system runs: the modules named by ``WS_EXTENSIONS``.

An extension is an ordinary Python module that registers what it adds when imported: topics
(:func:`careconnect_ws.topics.register_topic`), actions (``@router.action``) and notification types
(:func:`careconnect_ws.notifications.register_notification`). The function imports them at cold start, before
it answers anything; ``careconnect-ws serve --extension``, every CLI command and the pytest plugin's fixtures
import the same ones, so a topic a team declares is known everywhere at once.

A module that fails to import is the operator's mistake, reported once and clearly: an
:class:`ExtensionError` naming the module and ``WS_EXTENSIONS``, which the handler answers as 500
``misconfigured`` (counted by the 5xx metric and its alarm) for as long as the container lives, without trying
the import again per message.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Iterable, Mapping

from .contract import EXTENSIONS, MODULE_NAME_PATTERN, TOPICS_VARIABLE
from .errors import ConfigError

logger = logging.getLogger(__name__)

_MODULE_NAME = re.compile(MODULE_NAME_PATTERN)


SURFACE: tuple[str, ...] = (
    "careconnect_ws:publish",
    "careconnect_ws.topics:Topic",
    "careconnect_ws.topics:register_topic",
    "careconnect_ws.topics:get_topic",
    "careconnect_ws.routing:router",
    "careconnect_ws.routing:MessageContext",
    "careconnect_ws.notifications:NotificationType",
    "careconnect_ws.notifications:Field",
    "careconnect_ws.notifications:register_notification",
    "careconnect_ws.notifications:notify",
    "careconnect_ws.access:withdraw_access",
    "careconnect_ws.revocation:disconnect_user",
    "careconnect_ws.revocation:revoke_token",
    "careconnect_ws.revocation:restore_user",
    "careconnect_ws.errors:MessageError",
    "careconnect_ws.errors:InvalidRequest",
    "careconnect_ws.errors:RequestError",
    "careconnect_ws.testing:connect",
    "careconnect_ws.testing:send",
    "careconnect_ws.testing:disconnect",
    "careconnect_ws.testing:invoke",
    "careconnect_ws.testing:Answer",
    "careconnect_ws.testing:token_for",
    "careconnect_ws.testing:RunningGateway",
    "careconnect_ws.testing:ConnectionsRecorder",
)
"""What an extension may import, as ``module:name``: a versioned surface. A name here changes only through a
deprecation that warns for one release (:mod:`careconnect_ws.deprecations`) with an upgrade note in the CHANGELOG;
everything else in the package may change in any release. ``MessageContext``'s surface is ``user_id``,
``message``, ``string()``, ``sequence()``, ``correlation_id``, ``connection`` and ``settings``. The README lists
these (a test keeps the two equal)."""


class ExtensionError(ConfigError):
    """An extension module could not be imported; the message names it and what it raised."""

    def __init__(self, module: str, problem: str) -> None:
        self.module, self.problem = module, problem
        super().__init__(EXTENSIONS, f"extension {module!r} could not be imported: {problem}")


def extension_names(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The modules ``WS_EXTENSIONS`` names, in order, each once; a name that is not a module's is an error."""
    return module_names((os.environ if env is None else env).get(EXTENSIONS, "").split(","))


def module_names(values: Iterable[str], option: str = EXTENSIONS) -> tuple[str, ...]:
    """``values`` as module names, in order, each once, blanks skipped; one that is not a module name is an error
    naming ``option`` (the variable, or ``serve``'s ``--extension``)."""
    names: list[str] = []
    for value in values:
        name = value.strip()
        if not name:
            continue
        if not _MODULE_NAME.fullmatch(name):
            raise ConfigError(option, f"{name[:80]!r} is not a module name: give dotted module names (acme_ws.topics)")
        if name not in names:
            names.append(name)
    return tuple(names)


_loaded: list[str] = []


def load_extensions(names: Iterable[str] | None = None) -> tuple[str, ...]:
    """Register the topics ``WS_TOPICS`` declares, then import each extension (``names``, or ``WS_EXTENSIONS``) once
    per process; returns every extension loaded so far. Raises :class:`ExtensionError` for the first that fails
    (what it raised is named, not its traceback's values), ``ConfigError`` for a malformed ``WS_TOPICS``."""
    from .topics import register_declared

    register_declared(os.environ.get(TOPICS_VARIABLE, ""))
    for name in extension_names() if names is None else names:
        if name in _loaded:
            continue
        try:
            importlib.import_module(name)
        except Exception as err:  # any failure of a team's module is a misconfiguration of this deployment
            raise ExtensionError(name, f"{type(err).__name__}: {str(err)[:200]}") from None
        _loaded.append(name)
        logger.info("extension loaded", extra={"extension": name})
    return tuple(_loaded)


def load_extensions_given_as(names: Iterable[str], option: str) -> tuple[str, ...]:
    """:func:`load_extensions` for modules named on a command line: a failure names ``option`` (``--extension``),
    what the user typed, instead of the variable."""
    try:
        return load_extensions(names)
    except ExtensionError as err:
        raise ConfigError(option, f"{err.module!r} could not be imported: {err.problem}") from None


_failure: ConfigError | None = None
_checked = False


def ensure_extensions() -> None:
    """The handler's cold start: load ``WS_EXTENSIONS`` once per container. A failure is logged once, here, and
    raised again on every later call (the container cannot serve; trying the import again per message would only
    repeat it)."""
    global _checked, _failure
    if not _checked:
        _checked = True
        try:
            load_extensions()
        except ConfigError as err:  # an ExtensionError, or WS_EXTENSIONS itself malformed
            _failure = err
            logger.error("extension failed to load", extra={"error": str(err)})
    if _failure is not None:
        raise _failure


def forget_extensions() -> None:
    """Tests: load (and report) again at the next call, as a new container would."""
    global _checked, _failure
    _checked, _failure = False, None
    _loaded.clear()
