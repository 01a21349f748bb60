"""Topics a connection may subscribe to, each with the rule of who may subscribe to what.

A subscription is ``(topic, subject)``. For ``email-verification`` the subject is a
user id, and a connection may only subscribe to its own user's verification. Add a
topic with :func:`register_topic` (for example at import of your own module)::

    from careconnect_ws.topics import Topic, register_topic
    register_topic(Topic("care-plan", may_subscribe=lambda user_id, subject: is_care_team(user_id, subject)))

or, for the common rules, without code: ``WS_TOPICS='[{"name": "care-plan", "rule": "claim:care_plans"}]'``
(:func:`declared_topics`), with the rules ``own-subject`` (the default), ``any-user`` and ``claim:<name>``: the
token's claim ``<name>`` lists the subjects the user may read (the backend that mints the token decides, as with
Ably's capability tokens). A claim's grant is the token's: it holds for the connection's life, for replay too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .catalogue import Catalogue
from .contract import TOPICS_VARIABLE, parse_declared_topics
from .errors import ConfigError

EMAIL_VERIFICATION = "email-verification"


def own_subject_only(user_id: str, subject: str) -> bool:
    return user_id == subject


def any_user(user_id: str, subject: str) -> bool:
    """Every connected (authenticated) user may read every subject of the topic."""
    return True


def no_code_rule(user_id: str, subject: str) -> bool:
    """A claim-ruled topic's code rule: never asked (the claim decides), and no if it ever were."""
    return False


STATIC_RULES: frozenset[Callable[[str, str], bool]] = frozenset({own_subject_only, any_user, no_code_rule})
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
    claim: str | None = None
    """A claim rule: the connection's token claim of this name lists the subjects it may read (instead of
    ``may_subscribe``). The grant is the token's, fixed for the connection's life. Default: none."""

    @property
    def rule_is_static(self) -> bool:
        if self.claim is not None:
            return True  # the token's grant cannot change while the connection lives
        return self.static if self.static is not None else self.may_subscribe in STATIC_RULES

    def allows(self, user_id: str, subject: str, grants: Mapping[str, tuple[str, ...]]) -> bool:
        """Whether this user, on a connection with these grants, may read ``subject``."""
        if self.claim is not None:
            return subject in grants.get(self.claim, ())
        return bool(self.may_subscribe(user_id, subject))


TOPICS: Catalogue[Topic] = Catalogue("topic")
"""Every topic this deployment knows, by name."""


def register_topic(topic: Topic) -> Topic:
    return TOPICS.register(topic.name, topic)


def get_topic(name: object) -> Topic | None:
    return TOPICS.get(name)


def topic_names() -> list[str]:
    return TOPICS.names()


register_topic(Topic(EMAIL_VERIFICATION, own_subject_only, "Tells the user's connections when their email is verified."))


# -- declared topics (WS_TOPICS) -----------------------------------------------------------------

MAX_GRANTED_SUBJECTS = 1000
"""A claim grants at most this many subjects; a token claiming more grants none of that claim (say so: mint
narrower tokens)."""


def declared_topics(text: str) -> list[Topic]:
    """The topics ``WS_TOPICS`` declares (a JSON list of ``{"name": ..., "rule": ...}``; the format is
    :func:`careconnect_ws.contract.parse_declared_topics`); a mistake names the variable and the entry."""
    if not text.strip():
        return []
    try:
        declared = parse_declared_topics(json.loads(text))
    except ValueError as err:  # json.JSONDecodeError is a ValueError too
        problem = str(err) if not isinstance(err, json.JSONDecodeError) else "not JSON"
        raise ConfigError(TOPICS_VARIABLE, f'{problem} (e.g. [{{"name": "care-plan", "rule": "any-user"}}])') from None
    rules = {"own-subject": own_subject_only, "any-user": any_user}
    return [Topic(d.name, rules.get(d.rule, no_code_rule), d.description, claim=d.claim) for d in declared]


def register_declared(text: str) -> list[Topic]:
    """Register what ``WS_TOPICS`` declares (again: a no-op); a name a code topic already has is an error."""
    registered = []
    for topic in declared_topics(text):
        existing = TOPICS.get(topic.name)
        if existing is not None and existing != topic:
            raise ConfigError(TOPICS_VARIABLE, f"{topic.name} is also registered by code: declare it in one place")
        if existing is None:
            register_topic(topic)
        registered.append(topic)
    return registered


def claim_names() -> frozenset[str]:
    """The token claims the registered topics' rules read: the ones stored with a connection."""
    return frozenset(t.claim for t in TOPICS if t.claim is not None)


def claim_asked(message: Mapping[str, object] | None) -> tuple[str, str | None] | None:
    """The claim and subject a message's subscribe to a claim-ruled topic needs granted (None for the subject: the
    user's own id); None for any other message. Only what a grant lookup needs is read: the subscribe itself
    checks its fields as always."""
    if not message or message.get("action") != "subscribe":
        return None
    topic = TOPICS.get(message.get("topic"))
    if topic is None or topic.claim is None:
        return None
    from .streams import MAX_STREAM_NAME_CHARS
    from .text import is_bounded_text

    subject = message.get("subject")
    # A subject that could not be stored is refused by the subscribe itself (invalid_field); never sent as a parameter.
    return topic.claim, subject if is_bounded_text(subject, MAX_STREAM_NAME_CHARS) else None


def grants_of(claims: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """From a verified token's claims, the subjects each claim the topics read grants: a list of subject strings
    (or one string). A claim of another shape, or granting more than ``MAX_GRANTED_SUBJECTS``, grants nothing."""
    from .streams import MAX_STREAM_NAME_CHARS
    from .text import is_bounded_text

    grants: dict[str, tuple[str, ...]] = {}
    for name in sorted(claim_names()):
        value = claims.get(name)
        subjects = [value] if isinstance(value, str) else value
        if (
            isinstance(subjects, list)
            and len(subjects) <= MAX_GRANTED_SUBJECTS
            and all(is_bounded_text(s, MAX_STREAM_NAME_CHARS) for s in subjects)
        ):
            grants[name] = tuple(dict.fromkeys(subjects))
    return grants
