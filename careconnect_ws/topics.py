"""Topics a connection may subscribe to, each with the rule of who may subscribe to what.

A subscription is ``(topic, subject)``. For ``email-verification`` the subject is a
user id, and a connection may only subscribe to its own user's verification. Add a
topic with :func:`register_topic` (for example at import of your own module)::

    from careconnect_ws.topics import Topic, register_topic
    register_topic(Topic("care-plan", may_subscribe=lambda user_id, subject: is_care_team(user_id, subject)))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .catalogue import Catalogue

EMAIL_VERIFICATION = "email-verification"


def own_subject_only(user_id: str, subject: str) -> bool:
    return user_id == subject


STATIC_RULES: frozenset[Callable[[str, str], bool]] = frozenset({own_subject_only})
"""Rules whose answer depends only on ``(user_id, subject)``: asked once, at subscribe, and trusted for the
subscription's life."""


@dataclass(frozen=True)
class Topic:
    name: str
    may_subscribe: Callable[[str, str], bool] = own_subject_only
    """``(user_id, subject) -> bool``. Default: only the user's own subject.

    It is asked at subscribe and at every replay, and (unless :attr:`static`) again for live pushes once its
    last answer for a subscription is older than ``WS_RULE_RECHECK_SECONDS``: access your data no longer
    grants ends within that bound even if nobody withdraws it (``careconnect-ws withdraw-access`` ends it
    at once)."""
    description: str = ""
    static: bool | None = None
    """True when ``may_subscribe``'s answer can never change for a ``(user_id, subject)`` (a pure function of
    the two): live pushes then never ask it again. Default: True for :func:`own_subject_only`, else False."""

    @property
    def rule_is_static(self) -> bool:
        return self.static if self.static is not None else self.may_subscribe in STATIC_RULES


TOPICS: Catalogue[Topic] = Catalogue("topic")
"""Every topic this deployment knows, by name."""


def register_topic(topic: Topic) -> Topic:
    return TOPICS.register(topic.name, topic)


def get_topic(name: object) -> Topic | None:
    return TOPICS.get(name)


def topic_names() -> list[str]:
    return TOPICS.names()


register_topic(Topic(EMAIL_VERIFICATION, own_subject_only, "Tells the user's connections when their email is verified."))
