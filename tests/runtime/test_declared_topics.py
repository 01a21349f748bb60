"""Topics declared without code (WS_TOPICS): own-subject, any-user, and claim:<name>, whose subjects come from the
connection's token (stored with the connection at $connect, whichever way it was authorized, and read by the
statement that already finds the connection). A claim's grant holds for replay too and never outlives revocation."""

from __future__ import annotations

import json

import pytest

from careconnect_ws import contract
from careconnect_ws.errors import ConfigError
from careconnect_ws.extensions import forget_extensions
from careconnect_ws.handler import TOKEN_GRANTS
from careconnect_ws.publishing import publish
from careconnect_ws.revocation import disconnect_user
from careconnect_ws.testing import authorizer_event, connect, send, token_for
from careconnect_ws.topics import MAX_GRANTED_SUBJECTS, TOPICS, Topic, declared_topics, register_declared, register_topic

DECLARED = json.dumps(
    [
        {"name": "t-care-plan", "rule": "claim:care_plans", "description": "a patient's care plan"},
        {"name": "t-ward", "rule": "any-user"},
        {"name": "t-inbox"},
    ]
)


@pytest.fixture
def declared(monkeypatch):
    monkeypatch.setenv(contract.TOPICS_VARIABLE, DECLARED)
    forget_extensions()
    yield
    forget_extensions()
    for name in ("t-care-plan", "t-ward", "t-inbox"):
        TOPICS.remove(name)


def subscribe(cid: str, topic: str, subject: str, **extra):
    return send(cid, {"action": "subscribe", "topic": topic, "subject": subject, **extra})


def test_a_claim_rule_grants_exactly_the_subjects_the_token_lists_in_replay_too(declared, careconnect_connections):
    token = token_for("nurse-1", claims={"care_plans": ["patient-17", "patient-19"]})
    assert connect("c-1", token=token, connections=careconnect_connections).status == 200  # registers WS_TOPICS too
    publish_first = publish("t-care-plan", "patient-17", {"type": "plan", "n": 1})
    publish("t-care-plan", "patient-18", {"type": "plan", "n": 1})
    replayed = subscribe("c-1", "t-care-plan", "patient-17", since=0)
    assert replayed.status == 200 and [e["n"] for e in replayed.body["events"]] == [1]
    assert publish_first.seq == 1
    assert subscribe("c-1", "t-care-plan", "patient-18", since=0).outcome == (403, "forbidden")  # no replay either
    assert subscribe("c-1", "t-care-plan", "patient-19").status == 200
    live = publish("t-care-plan", "patient-17", {"type": "plan", "n": 2})
    assert live.reached == 1 and careconnect_connections.messages_for("c-1")[-1]["n"] == 2
    # The own-subject and any-user rules, declared the same way.
    assert subscribe("c-1", "t-ward", "ward-4b").status == 200
    assert subscribe("c-1", "t-inbox", "nurse-1").status == 200
    assert subscribe("c-1", "t-inbox", "nurse-2").outcome == (403, "forbidden")


def test_the_grant_reaches_connect_through_the_authorizer_and_is_stored_with_the_connection(declared, careconnect_runtime, sql):
    token = token_for("nurse-2", claims={"care_plans": "patient-21"})  # one subject as a string
    policy = invoke_authorizer(token)
    context = policy["context"]
    assert json.loads(context[TOKEN_GRANTS]) == {"care_plans": ["patient-21"]}
    assert connect("c-2", authorizer=context).status == 200  # no token on $connect: the authorizer's context
    stored = sql.execute("SELECT grants FROM websocket_connections WHERE connection_id = 'c-2'").fetchone()[0]
    assert stored == {"care_plans": ["patient-21"]}
    assert subscribe("c-2", "t-care-plan", "patient-21").status == 200
    assert subscribe("c-2", "t-care-plan", "patient-22").outcome == (403, "forbidden")


def invoke_authorizer(token: str) -> dict:
    from careconnect_ws.handler import lambda_handler

    return lambda_handler(authorizer_event(token))


@pytest.mark.parametrize(
    "claim",
    [7, {"patient-17": True}, ["patient-17", 3], [""], ["x" * 257], ["patient-17"] + ["a"] * MAX_GRANTED_SUBJECTS],
)
def test_a_claim_of_another_shape_grants_nothing(declared, careconnect_runtime, claim):
    assert connect("c-3", token=token_for("nurse-3", claims={"care_plans": claim})).status == 200
    assert subscribe("c-3", "t-care-plan", "patient-17").outcome == (403, "forbidden")


def test_a_revoked_token_with_a_grant_stays_refused(declared, careconnect_connections):
    token = token_for("nurse-4", claims={"care_plans": ["patient-17"]})
    assert connect("c-4", token=token, connections=careconnect_connections).status == 200
    disconnect_user("nurse-4")
    assert connect("c-5", token=token).outcome == (401, "token_revoked")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not JSON"),
        ('{"name": "x"}', "JSON list"),
        ('[{"name": "x", "rule": "claim:"}]', "entry 0: rule 'claim:'"),
        ('[{"name": "x", "rule": "nurses-only"}]', "use own-subject, any-user or claim:<claim name>"),
        ('[{"name": "bad name"}]', "entry 0: the name"),
        ('[{"name": "x"}, {"name": "x"}]', "x is declared twice"),
        ('[{"name": "x", "who": "me"}]', 'entry 0: give {"name"'),
    ],
)
def test_a_declaration_mistake_names_the_variable_and_the_entry(text, problem):
    with pytest.raises(ConfigError, match="WS_TOPICS") as err:
        declared_topics(text)
    assert problem in str(err.value) and err.value.variable == contract.TOPICS_VARIABLE


def test_a_declared_topic_a_code_topic_already_has_is_refused():
    register_topic(Topic("t-coded"))
    try:
        with pytest.raises(ConfigError, match="t-coded is also registered by code"):
            register_declared('[{"name": "t-coded", "rule": "any-user"}]')
    finally:
        TOPICS.remove("t-coded")


def test_the_cli_signs_development_tokens_with_claims():
    import jwt

    from tests.support.cli import bare_run, minimal_env

    secret = "k" * 40
    done = bare_run(
        "token",
        "--user",
        "nurse-1",
        "--claim",
        'care_plans=["patient-17"]',
        "--claim",
        "ward=4b",
        env=minimal_env(WS_JWT_SECRET=secret),
    )
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["care_plans"] == ["patient-17"] and claims["ward"] == "4b" and claims["sub"] == "nurse-1"
    refused = bare_run("token", "--user", "nurse-1", "--claim", "sub=mallory", env=minimal_env(WS_JWT_SECRET=secret))
    assert refused.returncode == 2 and "sub is set by the token itself" in refused.stderr


def test_a_subscribe_spelled_with_json_escapes_still_reads_the_grant(declared, careconnect_runtime):
    assert connect("c-6", token=token_for("nurse-6", claims={"care_plans": ["patient-17"]})).status == 200
    raw = '{"action": "\\u0073ubscribe", "topic": "t-care-plan", "subject": "patient-17"}'
    assert send("c-6", raw).status == 200
    assert send("c-6", {"action": "ping"}).status == 200  # a message that cannot subscribe reads no grants


def test_a_subscribe_with_a_subject_that_cannot_be_stored_is_refused_not_a_500(declared, careconnect_runtime):
    assert connect("c-7", token=token_for("nurse-7", claims={"care_plans": ["patient-17"]})).status == 200
    for subject in ("bad\x00subject", "x" * 300, 7):
        assert subscribe("c-7", "t-care-plan", subject).outcome == (400, "invalid_field")
    assert subscribe("c-7", "t-care-plan", None).outcome == (403, "forbidden")  # the user's own id is not granted
