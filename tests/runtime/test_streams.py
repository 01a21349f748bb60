"""Durable streams on a real PostgreSQL: publish stores before it pushes, sequences are gapless,
a client resumes with ``since`` and loses nothing within retention, and nobody reads a stream
its topic's rule does not let it read."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from careconnect_ws.cleanup import run_cleanup
from careconnect_ws.errors import InvalidRequest
from careconnect_ws.handler import lambda_handler
from careconnect_ws.notifications import notify_email_verified
from careconnect_ws.publishing import publish
from careconnect_ws.settings import get_settings, set_settings
from careconnect_ws.streams import MAX_EVENT_BYTES, MAX_PAYLOAD_DEPTH, StreamEvent
from careconnect_ws.testing import connect, disconnect, send
from careconnect_ws.topics import Topic, register_topic
from tests.support.events import make_event
from tests.support.threads import in_threads

CARE_TEAM = {"nurse-1": {"patient-17"}, "nurse-2": {"patient-17", "patient-18"}}
CARE_PLAN = register_topic(
    Topic(
        "test-care-plan",
        may_subscribe=lambda user, subject: subject in CARE_TEAM.get(user, set()),
        description="a care team's view of a patient's plan",
    )
)
SEALED = register_topic(Topic("test-sealed", may_subscribe=lambda user, subject: False))


def subscribe(cid: str, topic: str, subject: str, **extra) -> dict:
    status, body = send(cid, {"action": "subscribe", "topic": topic, "subject": subject, **extra})
    assert status == 200, body
    return body


def _nested(depth: int) -> dict:
    """A JSON object ``depth`` levels deep (the object itself is level 1)."""
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def largest_pad(topic: str, subject: str) -> int:
    """The longest ``{"pad": "y" * n}`` payload the stream ``(topic, subject)`` accepts."""
    envelope = len(StreamEvent(topic, subject, 2**63 - 1, '{"pad":""}').encoded())
    return MAX_EVENT_BYTES - envelope


# -- publishing -------------------------------------------------------------------------------------------


def test_each_stream_counts_from_one_and_each_publish_returns_its_sequence(careconnect_connections):
    seqs = [publish("test-care-plan", "patient-17", {"n": n}).seq for n in range(3)]
    other = publish("test-care-plan", "patient-18", {"n": 0})
    assert seqs == [1, 2, 3] and other.seq == 1
    assert other.as_dict()["topic"] == "test-care-plan" and other.as_dict()["subject"] == "patient-18"


def test_a_pushed_event_carries_its_stream_and_sequence_beside_the_payload(careconnect_connections, sql):
    connect("n1=", "nurse-1", connections=careconnect_connections, expect=200)
    assert subscribe("n1=", "test-care-plan", "patient-17")["seq"] == 0
    result = publish("test-care-plan", "patient-17", {"type": "care-plan", "plan": "p-9", "note": "é ✓"})
    assert result.delivered == ["n1="] and result.seq == 1
    assert careconnect_connections.messages_for("n1=") == [
        {
            "stream": {"topic": "test-care-plan", "subject": "patient-17"},
            "seq": 1,
            "type": "care-plan",
            "plan": "p-9",
            "note": "é ✓",
        },
    ]
    stored = sql.execute("SELECT seq, payload FROM websocket_events").fetchall()
    assert stored == [(1, '{"type":"care-plan","plan":"p-9","note":"é ✓"}')]


def test_the_care_team_is_told_when_a_patients_plan_changes(careconnect_connections):
    """A subject that is not the recipient's own user id: the gap the old notify could not fill."""
    for cid, nurse in (("a=", "nurse-1"), ("b=", "nurse-2")):
        connect(cid, nurse, connections=careconnect_connections, expect=200)
        subscribe(cid, "test-care-plan", "patient-17")
    assert sorted(publish("test-care-plan", "patient-17", {"type": "changed"}).delivered) == ["a=", "b="]


@pytest.mark.parametrize(
    ("topic", "subject", "payload", "code"),
    [
        ("no-such-topic", "s", {}, "unknown_topic"),
        ("test-care-plan", "", {}, "invalid_field"),
        ("test-care-plan", "x" * 257, {}, "invalid_field"),
        ("test-care-plan", "nul\x00", {}, "invalid_field"),
        ("test-care-plan", "s", [1, 2], "invalid_payload"),
        ("test-care-plan", "s", "not json", "invalid_payload"),
        ("test-care-plan", "s", {"seq": 4}, "reserved_field"),
        ("test-care-plan", "s", {"stream": "x"}, "reserved_field"),
        ("test-care-plan", "s", {"x": float("nan")}, "invalid_payload"),
        ("test-care-plan", "s", {"x": object()}, "invalid_payload"),
        ("test-care-plan", "s", {"x": "y" * MAX_EVENT_BYTES}, "payload_too_large"),
        ("test-care-plan", "s", _nested(MAX_PAYLOAD_DEPTH + 1), "payload_too_deep"),
        ("test-care-plan", "s", json.dumps(_nested(MAX_PAYLOAD_DEPTH + 1)), "payload_too_deep"),
        ("test-care-plan", "s", {"x": [[[[[[]]]]]] * 2, "y": _nested(MAX_PAYLOAD_DEPTH)}, "payload_too_deep"),
        ("test-care-plan", "s", _nested(1500), "payload_too_deep"),
        ("test-care-plan", "s", "[" * 100_000, "invalid_payload"),
    ],
)
def test_a_malformed_publish_is_refused_with_a_code_and_stores_nothing(
    careconnect_connections, sql, topic, subject, payload, code
):
    with pytest.raises(InvalidRequest) as err:
        publish(topic, subject, payload)
    assert err.value.code == code
    assert sql.execute("SELECT count(*) FROM websocket_events").fetchone()[0] == 0
    assert sql.execute("SELECT count(*) FROM websocket_streams").fetchone()[0] == 0


def test_the_invoke_event_publishes_and_answers_the_sequence(careconnect_connections):
    command = {
        "careconnect_ws": {
            "command": "publish",
            "topic": "test-care-plan",
            "subject": "patient-17",
            "payload": {"type": "care-plan"},
        }
    }
    first, second = (lambda_handler(command) for _ in range(2))
    assert (first["statusCode"], json.loads(first["body"])["seq"], json.loads(second["body"])["seq"]) == (200, 1, 2)
    bad = lambda_handler({"careconnect_ws": {"command": "publish", "topic": "nope", "subject": "s", "payload": {}}})
    assert (bad["statusCode"], json.loads(bad["body"])["code"]) == (404, "unknown_topic")


def test_notifications_are_stored_in_the_users_stream_with_their_old_shape(careconnect_connections):
    connect("u1=", "u-1", connections=careconnect_connections, expect=200)
    subscribe("u1=", "email-verification", "u-1")
    result = notify_email_verified("u-1", email="a@example.org")
    (message,) = careconnect_connections.messages_for("u1=")
    assert message["type"] == "email-verification" and message["status"] == "verified" and message["email"] == "a@example.org"
    assert (message["stream"], message["seq"], result.seq) == ({"topic": "email-verification", "subject": "u-1"}, 1, 1)


# -- gapless under concurrency ------------------------------------------------------------------------------


def test_concurrent_publishers_to_one_stream_never_leave_a_gap_or_repeat_a_sequence(careconnect_connections, sql):
    seen: list[int] = []
    lock = threading.Lock()
    settings = get_settings()

    def publisher(n: int) -> None:
        set_settings(settings)
        for i in range(60):
            seq = publish("test-care-plan", "patient-17", {"by": n, "i": i}).seq
            with lock:
                seen.append(seq)

    in_threads(publisher, 8)
    assert sorted(seen) == list(range(1, 481))
    stored = [r[0] for r in sql.execute("SELECT seq FROM websocket_events ORDER BY seq")]
    assert stored == list(range(1, 481))
    # Each publisher's own events are stored in the order it published them.
    by = {}
    for (payload,) in sql.execute("SELECT payload FROM websocket_events ORDER BY seq"):
        event = json.loads(payload)
        by.setdefault(event["by"], []).append(event["i"])
    assert all(order == list(range(60)) for order in by.values())


# -- resume ---------------------------------------------------------------------------------------------


def test_a_client_that_was_away_resumes_with_since_and_gets_exactly_what_it_missed(careconnect_connections):
    connect("first=", "nurse-1", connections=careconnect_connections, expect=200)
    subscribe("first=", "test-care-plan", "patient-17")
    publish("test-care-plan", "patient-17", {"n": 0})
    (held,) = careconnect_connections.messages_for("first=")
    disconnect("first=", connections=careconnect_connections)
    for n in range(1, 6):
        assert publish("test-care-plan", "patient-17", {"n": n}).reached == 0
    connect("second=", "nurse-1", connections=careconnect_connections, expect=200)
    reply = subscribe("second=", "test-care-plan", "patient-17", since=held["seq"], id="r1")
    assert reply["type"] == "subscribed" and reply["id"] == "r1"
    assert (reply["seq"], reply["since"], reply["more"]) == (6, 1, False)
    assert [(e["seq"], e["n"]) for e in reply["events"]] == [(s, s - 1) for s in range(2, 7)]
    assert all(e["stream"] == {"topic": "test-care-plan", "subject": "patient-17"} for e in reply["events"])
    # Live events follow the replay.
    publish("test-care-plan", "patient-17", {"n": 6})
    assert [m["seq"] for m in careconnect_connections.messages_for("second=")] == [7]


def test_since_zero_replays_from_the_oldest_retained_event(careconnect_connections, sql):
    for n in range(4):
        publish("test-care-plan", "patient-17", {"n": n})
    sql.execute("DELETE FROM websocket_events WHERE seq = 1")  # as retention would
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    reply = subscribe("c=", "test-care-plan", "patient-17", since=0)
    assert (reply["since"], [e["seq"] for e in reply["events"]]) == (1, [2, 3, 4])


def test_a_since_at_the_head_replays_nothing_and_a_plain_subscribe_says_where_the_stream_stands(careconnect_connections):
    publish("test-care-plan", "patient-17", {})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    assert subscribe("c=", "test-care-plan", "patient-17") == {
        "type": "subscribed",
        "topic": "test-care-plan",
        "subject": "patient-17",
        "seq": 1,
    }
    assert subscribe("c=", "test-care-plan", "patient-17", since=1)["events"] == []


def test_a_long_gap_replays_in_pages_within_one_message_each_and_the_client_continues(careconnect_connections):
    big = "x" * 20_000
    for n in range(20):
        publish("test-care-plan", "patient-17", {"n": n, "pad": big})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    got, since, pages = [], 0, 0
    while True:
        response = lambda_handler(
            make_event(
                "message",
                connection_id="c=",
                body={"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17", "since": since},
            )
        )
        assert len(response["body"].encode()) <= 128 * 1024
        reply = json.loads(response["body"])
        pages += 1
        got += [e["n"] for e in reply["events"]]
        if not reply["more"]:
            break
        since = reply["events"][-1]["seq"]
    assert got == list(range(20)) and pages >= 4


def test_one_event_of_almost_128_kb_replays_alone(careconnect_connections):
    publish("test-care-plan", "patient-17", {"pad": "y" * largest_pad("test-care-plan", "patient-17")})
    publish("test-care-plan", "patient-17", {"n": 2})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    response = lambda_handler(
        make_event(
            "message",
            connection_id="c=",
            body={"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17", "since": 0, "id": "x" * 128},
        )
    )
    assert len(response["body"].encode()) <= 128 * 1024
    reply = json.loads(response["body"])
    assert [e["seq"] for e in reply["events"]] == [1] and reply["more"] is True


def test_an_expired_since_gets_resync_required_and_cleanup_purges_oldest_first(careconnect_connections, sql):
    for n in range(5):
        publish("test-care-plan", "patient-17", {"n": n})
    sql.execute("UPDATE websocket_events SET published_at = published_at - interval '25 hours' WHERE seq <= 3")
    result = run_cleanup()
    assert result.events_purged == 3
    assert [r[0] for r in sql.execute("SELECT seq FROM websocket_events ORDER BY seq")] == [4, 5]
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    assert subscribe("c=", "test-care-plan", "patient-17", since=1) == {
        "type": "resync_required",
        "topic": "test-care-plan",
        "subject": "patient-17",
        "oldest": 4,
        "seq": 5,
    }
    assert [e["seq"] for e in subscribe("c=", "test-care-plan", "patient-17", since=3)["events"]] == [4, 5]
    # The subscription stands after a resync: live events follow.
    publish("test-care-plan", "patient-17", {"n": 5})
    assert [m["seq"] for m in careconnect_connections.messages_for("c=")] == [6]


def test_a_since_beyond_the_head_is_a_resync_never_a_silent_wait(careconnect_connections):
    publish("test-care-plan", "patient-17", {})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    reply = subscribe("c=", "test-care-plan", "patient-17", since=99)
    assert (reply["type"], reply["seq"]) == ("resync_required", 1)


def test_retention_is_a_setting_and_a_stream_keeps_counting_after_a_purge(careconnect_connections, sql):
    set_settings(replace(get_settings(), stream_retention_seconds=60))
    publish("test-care-plan", "patient-17", {})
    sql.execute("UPDATE websocket_events SET published_at = now() - interval '61 seconds'")
    assert run_cleanup().events_purged == 1
    assert publish("test-care-plan", "patient-17", {}).seq == 2


@pytest.mark.parametrize("since", [-1, True, "3", 1.5, 2**63])
def test_a_malformed_since_is_a_client_error(careconnect_connections, since):
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    status, body = send("c=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17", "since": since})
    assert (status, body["code"]) == (400, "invalid_field")


# -- isolation --------------------------------------------------------------------------------------------


def test_replay_never_crosses_users_or_streams(careconnect_connections):
    publish("test-care-plan", "patient-18", {"secret": "for nurse-2 only"})
    publish("test-care-plan", "patient-17", {"n": 1})
    connect("n1=", "nurse-1", connections=careconnect_connections, expect=200)
    status, body = send("n1=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-18", "since": 0})
    assert (status, body["code"]) == (403, "forbidden") and "events" not in body
    reply = subscribe("n1=", "test-care-plan", "patient-17", since=0)
    assert [e["stream"]["subject"] for e in reply["events"]] == ["patient-17"]
    # email-verification of another user: refused too.
    notify_email_verified("victim", email="v@example.org")
    status, body = send("n1=", {"action": "subscribe", "topic": "email-verification", "subject": "victim", "since": 0})
    assert status == 403 and "v@example.org" not in json.dumps(body)


def test_a_revoked_permission_replays_nothing(careconnect_connections):
    connect("n2=", "nurse-2", connections=careconnect_connections, expect=200)
    subscribe("n2=", "test-care-plan", "patient-18")
    publish("test-care-plan", "patient-18", {"n": 1})
    CARE_TEAM["nurse-2"].discard("patient-18")
    try:
        status, body = send("n2=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-18", "since": 0})
        assert (status, body["code"]) == (403, "forbidden") and "events" not in body
    finally:
        CARE_TEAM["nurse-2"].add("patient-18")


def test_a_stream_nobody_may_read_delivers_to_nobody(careconnect_connections, sql):
    connect("n1=", "nurse-1", connections=careconnect_connections, expect=200)
    status, _ = send("n1=", {"action": "subscribe", "topic": "test-sealed", "subject": "nurse-1", "since": 0})
    assert status == 403
    result = publish("test-sealed", "nurse-1", {"n": 1})
    assert result.reached == 0 and careconnect_connections.received == []
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


# -- a payload no stream can be poisoned by; replies within one message (hardening round 4) ---------------


def test_a_payload_at_the_depth_bound_is_stored_replayed_and_pushed(careconnect_connections):
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    subscribe("c=", "test-care-plan", "patient-17")
    publish("test-care-plan", "patient-17", _nested(MAX_PAYLOAD_DEPTH))
    assert careconnect_connections.messages_for("c=")[0]["seq"] == 1
    reply = subscribe("c=", "test-care-plan", "patient-17", since=0)
    assert [e["seq"] for e in reply["events"]] == [1] and "unreadable" not in reply["events"][0]


def test_an_event_stored_before_the_bound_replays_as_a_placeholder_not_a_500(careconnect_connections, sql):
    """What an older release stored (a payload 1,497 levels deep) must not fail every replay that covers it."""
    publish("test-care-plan", "patient-17", {"n": 1})
    deep = '{"a":' * 1496 + "{}" + "}" * 1496  # built as text: the encoder itself would overflow
    sql.execute("SELECT careconnect_ws_publish('test-care-plan', 'patient-17', %s, NULL)", [deep])
    sql.execute("SELECT careconnect_ws_publish('test-care-plan', 'patient-17', %s, NULL)", ["[1, 2]"])
    publish("test-care-plan", "patient-17", {"n": 4})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    status, reply = send(
        "c=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17", "since": 0, "id": "r-1"}
    )
    assert status == 200 and reply["id"] == "r-1"
    assert [e["seq"] for e in reply["events"]] == [1, 2, 3, 4]  # no gap: the client's position moves past them
    assert reply["events"][1]["unreadable"] == "payload_too_deep" and "a" not in reply["events"][1]
    assert reply["events"][2]["unreadable"] == "payload_not_json"
    assert reply["events"][3]["n"] == 4


def test_an_unexpected_error_in_an_action_answers_500_with_the_requests_id(careconnect_connections, monkeypatch):
    import careconnect_ws.routing as routing

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    monkeypatch.setattr(routing, "subscribed_reply", broken)
    status, reply = send("c=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17", "id": "r-9"})
    assert (status, reply["code"], reply["id"]) == (500, "internal_error", "r-9")


@pytest.mark.parametrize("subject", ["\U0001f600" * 256, "\x01" * 256, "s"])
def test_a_maximal_event_replays_within_128_kb_whatever_the_subject_and_id(careconnect_connections, subject):
    """A subject of wide characters (4 bytes each) or control characters (escaped, 6 bytes each) appears in the
    reply twice, and the id a third time: the event bound leaves room for all of them."""
    rule = register_topic(Topic(f"test-wide-{len(subject.encode())}", may_subscribe=lambda user, s: True))
    publish(rule.name, subject, {"pad": "y" * largest_pad(rule.name, subject)})
    with pytest.raises(InvalidRequest, match="payload_too_large|over"):
        publish(rule.name, subject, {"pad": "y" * (largest_pad(rule.name, subject) + 1)})
    publish(rule.name, subject, {"n": 2})
    connect("c=", "nurse-1", connections=careconnect_connections, expect=200)
    response = lambda_handler(
        make_event(
            "message",
            connection_id="c=",
            body={"action": "subscribe", "topic": rule.name, "subject": subject, "since": 0, "id": "\x02" * 128},
        )
    )
    assert response["statusCode"] == 200
    assert len(response["body"].encode("utf-8")) <= 128 * 1024
    reply = json.loads(response["body"])
    assert [e["seq"] for e in reply["events"]] == [1] and reply["more"] is True


# -- access that ends when it is withdrawn (hardening round 4) -----------------------------------------------


def _live(endpoint, cid: str) -> list[int]:
    return [m["seq"] for m in endpoint.messages_for(cid) if "seq" in m]


def _notices(endpoint, cid: str) -> list[dict]:
    return [m for m in endpoint.messages_for(cid) if m.get("type") == "unsubscribed"]


@pytest.fixture
def care_team():
    """The test topic's rule reads this; restored afterwards."""
    saved = {user: set(subjects) for user, subjects in CARE_TEAM.items()}
    yield CARE_TEAM
    CARE_TEAM.clear()
    CARE_TEAM.update(saved)


def test_withdraw_access_ends_live_delivery_at_once_and_tells_the_connection(careconnect_connections, sql, care_team):
    """A nurse removed from a patient's care team kept every live event for the connection's life (2 h)."""
    connect("n1=", "nurse-2", connections=careconnect_connections, expect=200)
    connect("n2=", "nurse-2", connections=careconnect_connections, expect=200)
    subscribe("n1=", "test-care-plan", "patient-17")
    subscribe("n1=", "test-care-plan", "patient-18")
    subscribe("n2=", "test-care-plan", "patient-17")
    connect("k1=", "nurse-1", connections=careconnect_connections, expect=200)
    subscribe("k1=", "test-care-plan", "patient-17")
    publish("test-care-plan", "patient-17", {"n": 1})
    care_team["nurse-2"].discard("patient-17")  # the backend changes its own data first ...
    response = lambda_handler(
        {
            "careconnect_ws": {
                "command": "withdraw-access",
                "userId": "nurse-2",
                "topic": "test-care-plan",
                "subject": "patient-17",
            }
        }
    )
    assert response["statusCode"] == 200 and sorted(json.loads(response["body"])["delivered"]) == ["n1=", "n2="]
    for cid in ("n1=", "n2="):
        assert _notices(careconnect_connections, cid) == [
            {"type": "unsubscribed", "topic": "test-care-plan", "subject": "patient-17", "reason": "access_withdrawn"}
        ]
    publish("test-care-plan", "patient-17", {"n": 2})
    publish("test-care-plan", "patient-18", {"n": 1})
    assert _live(careconnect_connections, "n1=") == [1, 1] and _live(careconnect_connections, "n2=") == [1]
    assert _live(careconnect_connections, "k1=") == [1, 2]  # someone else's access is untouched
    # ... and a new subscribe is refused by the rule.
    assert send("n1=", {"action": "subscribe", "topic": "test-care-plan", "subject": "patient-17"})[0] == 403


def test_withdraw_access_to_every_stream_of_a_topic_from_the_cli_and_python(
    careconnect_connections, careconnect_runtime, care_team
):
    import os
    import subprocess
    import sys

    from careconnect_ws.access import withdraw_access

    connect("n1=", "nurse-2", connections=careconnect_connections, expect=200)
    subscribe("n1=", "test-care-plan", "patient-17")
    subscribe("n1=", "test-care-plan", "patient-18")
    env = {
        **os.environ,
        "DATABASE_URL": careconnect_runtime.database_url,
        "AWS_WEBSOCKET_API_GATEWAY_ENDPOINT": get_settings().management_endpoint,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "withdraw-access", "--user", "nurse-2", "--topic", "test-care-plan"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["delivered"] == ["n1=", "n1="]
    assert sorted(n["subject"] for n in _notices(careconnect_connections, "n1=")) == ["patient-17", "patient-18"]
    assert withdraw_access("nurse-2", "test-care-plan").reached == 0  # nothing left to end
    with pytest.raises(InvalidRequest):
        withdraw_access("nurse-2", "")


def test_a_code_rules_answer_is_trusted_for_live_pushes_only_for_the_recheck_interval(careconnect_connections, sql, care_team):
    connect("n1=", "nurse-2", connections=careconnect_connections, expect=200)
    subscribe("n1=", "test-care-plan", "patient-17")
    care_team["nurse-2"].discard("patient-17")  # nobody withdraws it
    publish("test-care-plan", "patient-17", {"n": 1})
    assert _live(careconnect_connections, "n1=") == [1]  # within WS_RULE_RECHECK_SECONDS: still trusted
    sql.execute("UPDATE websocket_subscriptions SET checked_at = now() - interval '301 seconds'")
    publish("test-care-plan", "patient-17", {"n": 2})
    assert _live(careconnect_connections, "n1=") == [1] and len(_notices(careconnect_connections, "n1=")) == 1
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 0


def test_a_rule_that_still_allows_is_recorded_and_a_failing_rule_is_not_trusted(careconnect_connections, sql, care_team):
    connect("n1=", "nurse-1", connections=careconnect_connections, expect=200)
    subscribe("n1=", "test-care-plan", "patient-17")
    sql.execute("UPDATE websocket_subscriptions SET checked_at = now() - interval '1 hour'")
    publish("test-care-plan", "patient-17", {"n": 1})
    assert _live(careconnect_connections, "n1=") == [1]
    fresh = sql.execute("SELECT now() - checked_at < interval '1 minute' FROM websocket_subscriptions").fetchone()[0]
    assert fresh is True
    sql.execute("UPDATE websocket_subscriptions SET checked_at = now() - interval '1 hour'")
    care_team["nurse-1"] = None  # the rule now raises (TypeError: not a set)
    publish("test-care-plan", "patient-17", {"n": 2})
    assert _live(careconnect_connections, "n1=") == [1]  # not pushed on a rule that could not answer ...
    assert sql.execute("SELECT count(*) FROM websocket_subscriptions").fetchone()[0] == 1  # ... nor ended


def test_the_own_subject_rule_is_never_asked_again(careconnect_connections, sql):
    connect("a1=", "alice", connections=careconnect_connections, expect=200)
    subscribe("a1=", "email-verification", "alice")
    sql.execute("UPDATE websocket_subscriptions SET checked_at = now() - interval '1 day'")
    notify_email_verified("alice")
    assert _live(careconnect_connections, "a1=") == [1]
    stale = sql.execute("SELECT now() - checked_at > interval '1 hour' FROM websocket_subscriptions").fetchone()[0]
    assert stale is True  # no write for a rule whose answer cannot change


def test_unsubscribe_needs_no_permission(careconnect_connections, care_team):
    """Unsubscribe ran the topic's rule and answered 403, so a cooperating client could not stop a stream it lost
    access to."""
    connect("n1=", "nurse-2", connections=careconnect_connections, expect=200)
    subscribe("n1=", "test-care-plan", "patient-17")
    care_team["nurse-2"].discard("patient-17")
    status, reply = send("n1=", {"action": "unsubscribe", "topic": "test-care-plan", "subject": "patient-17"})
    assert (status, reply["wasSubscribed"]) == (200, True)
    status, reply = send("n1=", {"action": "unsubscribe", "topic": "no-longer-deployed", "subject": "x"})
    assert (status, reply["wasSubscribed"]) == (200, False)
    publish("test-care-plan", "patient-17", {"n": 1})
    assert _live(careconnect_connections, "n1=") == []
