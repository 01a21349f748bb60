"""One catalogue type for topics, notification types and actions: registered, looked up and listed alike."""

from __future__ import annotations

import pytest

from careconnect_ws.catalogue import Catalogue
from careconnect_ws.notifications import NOTIFICATIONS, get_notification
from careconnect_ws.routing import router
from careconnect_ws.topics import TOPICS, Topic, register_topic


def test_a_catalogue_registers_looks_up_lists_and_refuses_a_name_twice():
    things: Catalogue[int] = Catalogue("thing")
    assert things.register("b", 2) == 2 and things.register("a", 1) == 1
    assert things.names() == ["a", "b"] and list(things) == [1, 2] and len(things) == 2
    assert things.get("a") == 1 and things.get("c") is None and things.get(7) is None
    assert "a" in things and 7 not in things
    with pytest.raises(ValueError, match="thing 'a' is already registered; thing names must be unique"):
        things.register("a", 3)
    assert things.remove("a") == 1 and things.remove("a") is None


def test_topics_notifications_and_actions_are_catalogues():
    assert isinstance(TOPICS, Catalogue) and isinstance(NOTIFICATIONS, Catalogue) and isinstance(router.actions, Catalogue)
    assert "email-verification" in TOPICS and "email-verified" in NOTIFICATIONS and "subscribe" in router.actions
    register_topic(Topic("test-catalogue-topic"))
    try:
        with pytest.raises(ValueError, match="topic 'test-catalogue-topic' is already registered"):
            register_topic(Topic("test-catalogue-topic"))
    finally:
        TOPICS.remove("test-catalogue-topic")
    with pytest.raises(ValueError, match="action 'ping' is already registered"):
        router.action("ping")(lambda ctx: {})
    with pytest.raises(Exception, match="notification must be one of: email-verified"):
        get_notification("nope")
