"""Access that ends when it is withdrawn.

A topic's rule (``Topic.may_subscribe``) decides who may read a stream when a client subscribes and on every
replay. Two things end access that was granted:

* :func:`withdraw_access` (``careconnect-ws withdraw-access``, the invoke command ``withdraw-access``): the
  backend says a user may no longer read a stream (a nurse removed from a patient's care team), or any stream
  of a topic. The subscriptions of the user's connections end at once, in one statement, so no later publish
  pushes to them; each connection is told with ``{"type": "unsubscribed", "topic", "subject", "reason":
  "access_withdrawn"}``. Change your own data first (so the rule refuses a new subscribe), then withdraw.
* a bound on how long a rule's "yes" is trusted for live pushes: a publish asks a code rule again for every
  recipient whose subscription it last allowed more than ``WS_RULE_RECHECK_SECONDS`` ago (default 300 s), and
  ends the subscriptions it now refuses (told the same way). A rule that depends on nothing but
  ``(user_id, subject)`` (``Topic.static``, the default ``own_subject_only``) is never asked again.

A rule that raises while re-asked is not trusted for this push (the recipient gets the event when it next
replays) and is asked again at the next publish.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .delivery import DeliveryResult
from .errors import InvalidRequest
from .logs import exception_summary
from .registry import Recipient
from .services import Services, get_services
from .streams import MAX_STREAM_NAME_CHARS
from .text import check_user_id, is_bounded_text
from .topics import Topic

logger = logging.getLogger(__name__)

ACCESS_WITHDRAWN = "access_withdrawn"
"""The ``reason`` of an ``unsubscribed`` message the server sends on its own."""


def withdrawn_message(topic: str, subject: str) -> bytes:
    """What a connection receives when its subscription to ``(topic, subject)`` is ended for it."""
    return json.dumps(
        {"type": "unsubscribed", "topic": topic, "subject": subject, "reason": ACCESS_WITHDRAWN},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def recheck(topic: Topic, subject: str, recipients: Sequence[Recipient], services: Services) -> list[Recipient]:
    """The recipients a publish may push to: those not due a re-check, and those the rule allows again.

    The answers are recorded in one statement; refused subscriptions end and their connections are told.
    """
    due = [r for r in recipients if r.recheck_due]
    if not due:
        return list(recipients)
    answers: dict[str, bool | None] = {}
    for user in {r.user_id or "" for r in due}:
        try:
            answers[user] = bool(topic.may_subscribe(user, subject))
        except Exception as err:  # a rule that cannot answer is not trusted, and asked again next time
            logger.error("topic rule failed while re-checked", extra={"topic": topic.name, **exception_summary(err)})
            answers[user] = None
    allowed = [r.connection_id for r in due if answers[r.user_id or ""] is True]
    refused = [r for r in due if answers[r.user_id or ""] is False]
    services.streams.settle(topic.name, subject, allowed=allowed, refused=[r.connection_id for r in refused])
    if refused:
        services.delivery.broadcast(refused, withdrawn_message(topic.name, subject))
        logger.info("access ended by the topic's rule", extra={"topic": topic.name, "connections": len(refused)})
    return [r for r in recipients if not r.recheck_due or answers[r.user_id or ""] is True]


def withdraw_access(user_id: Any, topic: Any, subject: Any = None, *, services: Services | None = None) -> DeliveryResult:
    """End ``user_id``'s subscriptions to ``(topic, subject)`` (or, with no subject, to every stream of
    ``topic``) on all their connections, now; tell each connection. The topic need not be registered any
    more. Returns who was told."""
    check_user_id(user_id)
    for name, value, required in (("topic", topic, True), ("subject", subject, False)):
        if value is None and not required:
            continue
        if not is_bounded_text(value, MAX_STREAM_NAME_CHARS):
            raise InvalidRequest("invalid_field", f"'{name}' must be text of 1 to {MAX_STREAM_NAME_CHARS} characters")
    services = services or get_services()
    ended = services.streams.withdraw(user_id, topic, subject)
    by_subject: dict[str, list[Recipient]] = defaultdict(list)
    for row in ended:
        by_subject[row.subject].append(Recipient(row.connection_id, row.callback_url))
    result = DeliveryResult()
    for stream_subject, recipients in by_subject.items():
        told = services.delivery.broadcast(recipients, withdrawn_message(topic, stream_subject))
        result.delivered += told.delivered
        result.gone += told.gone
        result.failed.update(told.failed)
    logger.info("access withdrawn", extra={"topic": topic, "subscriptions": len(ended), "told": result.reached})
    return result
