"""Revocation that holds, per-user message budgets, counters that never pile up, and a token command
that cannot mint a decades-long or production-signed token by accident. Real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from careconnect_ws.cleanup import run_cleanup
from careconnect_ws.handler import lambda_handler
from careconnect_ws.revocation import disconnect_user, revoke_token
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing import connect, invoke, send
from careconnect_ws.tokens import issue_token, verify_identity
from tests.support.events import make_event
from tests.support.runtime import SECRET, make_settings, token_for


def test_the_same_token_cannot_connect_again_after_disconnect_user(careconnect_connections, sql):
    token = token_for("mallory", now=time.time() - 5)
    assert connect("m1=", token=token).outcome == (200, None)
    careconnect_connections.open.add("m1=")
    result = disconnect_user("mallory")
    assert result.delivered == ["m1="] and "m1=" in careconnect_connections.deleted
    assert connect("m2=", token=token).outcome == (401, "token_revoked")
    assert sql.execute("SELECT count(*) FROM websocket_connections WHERE connection_id = 'm2='").fetchone()[0] == 0
    # A token signed after the revocation (the user signed in again) connects.
    assert connect("m3=", token=token_for("mallory", now=time.time() + 2)).outcome == (200, None)
    # Another user is not affected.
    assert connect("b1=", token=token_for("bob", now=time.time() - 5)).outcome == (200, None)


def test_the_authorizer_hands_iat_and_jti_to_connect_which_refuses_a_revoked_token(careconnect_runtime, sql):
    token = token_for("mallory", now=time.time() - 5)
    policy = lambda_handler(make_event("authorizer", query={"token": token}))
    context = policy["context"]
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert isinstance(context["tokenIssuedAt"], int) and isinstance(context["tokenId"], str)
    disconnect_user("mallory")
    # API Gateway hands the authorizer's context to $connect as strings or numbers.
    assert connect("m1=", token="ignored", authorizer={**context, "tokenIssuedAt": str(context["tokenIssuedAt"])}).outcome == (
        401,
        "token_revoked",
    )


def test_a_token_without_iat_cannot_prove_it_postdates_a_revocation(careconnect_connections):
    import jwt

    no_iat = jwt.encode({"sub": "mallory", "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")
    assert connect("a=", token=no_iat).outcome == (200, None)
    disconnect_user("mallory")
    assert connect("b=", token=no_iat).outcome == (401, "token_revoked")


def test_disconnect_without_revoking_lets_the_same_token_back(careconnect_connections):
    token = token_for("carol", now=time.time() - 5)
    assert connect("c1=", token=token).outcome == (200, None)
    disconnect_user("carol", revoke=False)
    assert connect("c2=", token=token).outcome == (200, None)


def test_revoking_one_token_ends_its_connections_and_refuses_it_until_it_expires(careconnect_connections, sql):
    settings = Settings(jwt_secret=SECRET)
    stolen, other = issue_token("dave", settings), issue_token("dave", settings)
    identity = verify_identity(stolen, settings)
    assert connect("s=", token=stolen).outcome == (200, None) and connect("o=", token=other).outcome == (200, None)
    careconnect_connections.open.update({"s=", "o="})
    result = revoke_token(identity.token_id, identity.expires_at)
    assert result.delivered == ["s="] and careconnect_connections.deleted == ["s="]
    assert connect("s2=", token=stolen).outcome == (401, "token_revoked")
    assert connect("o2=", token=other).outcome == (200, None)
    # Once the token would have expired anyway, cleanup drops the entry.
    sql.execute("UPDATE websocket_revoked_tokens SET expires_at = now() - interval '1 second'")
    assert run_cleanup(close_connections=False).swept >= 1
    assert sql.execute("SELECT count(*) FROM websocket_revoked_tokens").fetchone()[0] == 0


def test_the_invoke_events_revoke(careconnect_connections):
    token = token_for("erin", now=time.time() - 5)
    assert connect("e=", token=token).outcome == (200, None)
    answer = lambda_handler({"careconnect_ws": {"command": "disconnect-user", "userId": "erin"}})
    assert answer["statusCode"] == 200
    assert connect("e2=", token=token).outcome == (401, "token_revoked")
    bad = lambda_handler({"careconnect_ws": {"command": "revoke-token", "jti": "", "exp": 5}})
    assert (bad["statusCode"], json.loads(bad["body"])["code"]) == (400, "invalid_field")


def test_a_connect_racing_a_revocation_is_either_refused_or_ended(careconnect_connections, sql):
    """The per-user lock orders them: no connection of the user may stay active after the revocation."""
    token = token_for("racer", now=time.time() - 5)
    settings = make_settings(_runtime_url(sql), management_endpoint=careconnect_connections.url, max_connections_per_user=0)
    statuses: list[int] = []

    def connects() -> None:
        set_settings(settings)
        statuses.extend(connect(f"r{i}=", token=token).outcome[0] for i in range(40))

    thread = threading.Thread(target=connects)
    thread.start()
    time.sleep(0.02)
    disconnect_user("racer")
    thread.join(30)
    active = sql.execute("SELECT count(*) FROM websocket_connections WHERE user_id = 'racer' AND is_active").fetchone()[0]
    assert active == 0 and 401 in statuses


def _runtime_url(sql) -> str:
    from careconnect_ws.settings import get_settings

    return get_settings().database_url


# -- per-user budget ----------------------------------------------------------------------------------


def test_a_users_connections_together_get_one_budget_and_past_twice_it_are_closed(careconnect_connections, sql):
    set_settings(
        make_settings(
            _runtime_url(sql),
            management_endpoint=careconnect_connections.url,
            max_messages_per_second=10,
            max_messages_per_user_per_second=6,
        )
    )
    for i in range(4):
        assert connect(f"u{i}=", token=token_for("mallory")).outcome == (200, None)
    assert connect("calm=", token=token_for("bob")).outcome == (200, None)
    careconnect_connections.open.update({"u0=", "u1=", "u2=", "u3=", "calm="})
    time.sleep(1 - time.time() % 1)  # one rate window (one wall-clock second)
    results = [send(f"u{i % 4}=", {"action": "ping"}).outcome for i in range(14)]
    assert results[:6] == [(200, None)] * 6  # each connection is far below its own limit of 10
    assert set(results[6:12]) == {(429, "rate_limited")}
    # Past twice the user's budget, the sending connections are closed.
    assert set(careconnect_connections.deleted) >= {"u0=", "u1="} and "calm=" not in careconnect_connections.deleted
    assert send("calm=", {"action": "ping"}).outcome == (200, None)


def test_a_message_over_its_connections_limit_does_not_spend_the_users_budget(careconnect_connections, sql):
    set_settings(
        make_settings(
            _runtime_url(sql),
            management_endpoint=careconnect_connections.url,
            max_messages_per_second=2,
            max_messages_per_user_per_second=4,
        )
    )
    for cid in ("a=", "b="):
        assert connect(cid, token=token_for("frank")).outcome == (200, None)
    careconnect_connections.open.update({"a=", "b="})
    time.sleep(1 - time.time() % 1)
    assert [send("a=", {"action": "ping"}).outcome[0] for _ in range(4)] == [200, 200, 429, 429]
    assert [send("b=", {"action": "ping"}).outcome[0] for _ in range(2)] == [200, 200]
    assert sql.execute("SELECT messages FROM websocket_user_rate WHERE user_id = 'frank'").fetchone()[0] == 4


# -- counters that never pile up ----------------------------------------------------------------------


def test_a_counter_left_behind_by_a_race_with_disconnect_is_swept(careconnect_connections, sql):
    assert connect("x=", token=token_for("gina")).outcome == (200, None)
    assert send("x=", {"action": "ping"}).outcome == (200, None)
    lambda_handler(make_event("disconnect", connection_id="x="))
    # What the race leaves: a counter inserted after $disconnect deleted it.
    sql.execute("INSERT INTO websocket_message_rate VALUES ('x=', now() - interval '2 minutes', 3)")
    sql.execute("UPDATE websocket_user_rate SET window_start = now() - interval '2 minutes'")
    run_cleanup(close_connections=False)
    assert sql.execute("SELECT count(*) FROM websocket_message_rate").fetchone()[0] == 0
    assert sql.execute("SELECT count(*) FROM websocket_user_rate").fetchone()[0] == 0


def test_racing_messages_and_disconnects_leave_no_counter_after_cleanup(careconnect_connections, sql):
    """The reported race, 300 times: whatever it leaves, one cleanup run (a minute on) removes it."""
    for i in range(300):
        assert connect(f"race{i}=", token=token_for(f"user-{i}")).outcome == (200, None)
    settings = make_settings(_runtime_url(sql), management_endpoint=careconnect_connections.url)

    def messages() -> None:
        set_settings(settings)
        for i in range(300):
            send(f"race{i}=", {"action": "ping"})

    thread = threading.Thread(target=messages)
    thread.start()
    for i in range(300):
        lambda_handler(make_event("disconnect", connection_id=f"race{i}="))
    thread.join(60)
    sql.execute("UPDATE websocket_message_rate SET window_start = window_start - interval '2 minutes'")
    sql.execute("UPDATE websocket_user_rate SET window_start = window_start - interval '2 minutes'")
    run_cleanup(close_connections=False)
    assert sql.execute("SELECT count(*) FROM websocket_message_rate").fetchone()[0] == 0


# -- the token command ------------------------------------------------------------------------------


def _token_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("WS_JWT", "DATABASE"))}
    return subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "token", *args],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_token_caps_the_lifetime_unless_asked_explicitly():
    refused = _token_cli("--user", "a", "--ttl", str(10**12), WS_JWT_SECRET=SECRET)
    assert refused.returncode == 2 and "--allow-long-ttl" in refused.stderr and refused.stdout == ""
    allowed = _token_cli("--user", "a", "--ttl", "90000", "--allow-long-ttl", WS_JWT_SECRET=SECRET)
    assert allowed.returncode == 0, allowed.stderr
    day = _token_cli("--user", "a", "--ttl", "86400", WS_JWT_SECRET=SECRET)
    assert day.returncode == 0


def test_token_refuses_the_production_key_unless_asked_explicitly():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod-jwt"
    refused = _token_cli("--user", "a", WS_JWT_SECRET_ARN=arn)
    assert refused.returncode == 2 and "WS_JWT_SECRET_ARN" in refused.stderr and "--production-key" in refused.stderr
    assert refused.stdout == ""


# -- hardening round 4 ------------------------------------------------------------------------------------------


def test_a_revoked_token_stays_refused_through_verifications_leeway(careconnect_connections, sql):
    """The deny-list entry lived until exp, verification accepts until exp + 30 s: a revoked token connected 2 s
    after its exp, and that connection lived two hours."""
    import jwt

    now = int(time.time())
    token = jwt.encode({"sub": "mallory", "iat": now - 60, "exp": now - 2, "jti": "late-1"}, SECRET, algorithm="HS256")
    revoke_token("late-1", now - 2)
    assert connect("late=", token=token).outcome == (401, "token_revoked")
    kept = sql.execute("SELECT extract(epoch FROM expires_at)::bigint FROM websocket_revoked_tokens WHERE jti = 'late-1'")
    assert kept.fetchone()[0] >= now - 2 + 30


def _iam_connect(cid: str, arn: str) -> tuple[int, str | None]:
    event = make_event("connect", connection_id=cid)
    event["requestContext"]["identity"] = {**(event["requestContext"].get("identity") or {}), "userArn": arn}
    return invoke(event).outcome


def test_an_iam_principal_is_revoked_for_a_while_not_for_good_and_restore_user_lifts_it(
    careconnect_runtime, careconnect_connections, sql
):
    arn = "arn:aws:sts::123456789012:assumed-role/care-app/session"
    from dataclasses import replace

    from careconnect_ws.settings import get_settings

    set_settings(replace(get_settings(), connect_auth="iam", iam_revocation_seconds=60))
    assert _iam_connect("i1=", arn) == (200, None)
    disconnect_user(arn)
    assert _iam_connect("i2=", arn) == (401, "token_revoked")
    # Past the window the principal connects again (it used to be locked out for good).
    sql.execute("UPDATE websocket_revocations SET not_before = not_before - interval '61 seconds'")
    assert _iam_connect("i3=", arn) == (200, None)
    disconnect_user(arn)
    assert _iam_connect("i4=", arn) == (401, "token_revoked")
    response = lambda_handler({"careconnect_ws": {"command": "restore-user", "userId": arn}})
    assert (response["statusCode"], json.loads(response["body"])) == (200, {"restored": True})
    assert _iam_connect("i5=", arn) == (200, None)


def test_restore_user_lets_tokens_issued_before_the_revocation_back(careconnect_connections):
    from careconnect_ws.revocation import restore_user

    token = token_for("nina", now=time.time() - 5)
    disconnect_user("nina")
    assert connect("n1=", token=token).outcome == (401, "token_revoked")
    assert restore_user("nina") is True and restore_user("nina") is False
    assert connect("n2=", token=token).outcome == (200, None)
    bad = lambda_handler({"careconnect_ws": {"command": "restore-user", "userId": ""}})
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["code"] == "invalid_field"


def test_restore_user_from_the_cli(careconnect_runtime):
    disconnect_user("omar")
    env = {**os.environ, "DATABASE_URL": careconnect_runtime.database_url}
    proc = subprocess.run(
        [sys.executable, "-m", "careconnect_ws", "restore-user", "--user", "omar"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"restored": True}


def _claims_token(**claims) -> str:
    import jwt

    return jwt.encode({"sub": "mallory", "exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256")


def test_time_claims_outside_any_real_time_are_invalid_token_not_500(careconnect_runtime, sql):
    """A signed token with a huge negative iat answered 500 (a timestamp overflow in PostgreSQL)."""
    for claims in (
        {"iat": -(10**20)},
        {"iat": -1},
        {"iat": 2**40},
        {"iat": "yesterday"},
        {"nbf": -(10**20)},
        {"exp": 10**20},
        {"iat": 1e308},
    ):
        assert connect("x=", token=_claims_token(**claims)).outcome == (401, "invalid_token"), claims
    body = '{"sub":"mallory","exp":Infinity}'
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(body.encode())
    token = head + "." + b64(hmac.new(SECRET.encode(), head.encode(), hashlib.sha256).digest())
    assert connect("y=", token=token).outcome == (401, "invalid_token")
    assert sql.execute("SELECT count(*) FROM websocket_connections").fetchone()[0] == 0


def test_a_token_whose_jti_could_not_be_revoked_does_not_connect(careconnect_connections, sql):
    """A jti over 256 characters connected, but revoke-token refuses such a jti: that token could never be revoked."""
    assert connect("j1=", token=_claims_token(jti="j" * 257)).outcome == (401, "invalid_token")
    assert connect("j2=", token=_claims_token(jti=7)).outcome == (401, "invalid_token")
    assert connect("j3=", token=_claims_token(jti="j" * 256)).outcome == (200, None)
    revoke_token("j" * 256, int(time.time()) + 600)
    assert connect("j4=", token=_claims_token(jti="j" * 256)).outcome == (401, "token_revoked")


def test_odd_authorizer_context_times_are_ignored_not_a_500(careconnect_connections):
    """Found by the extended fuzzer: a context time of Unicode digits ('١٢') or a number past any timestamp
    answered 500."""
    for value in ("١٢", "²", 10**400, -5, float("inf"), "9" * 13):
        assert (
            connect(
                "odd=", token="ignored", authorizer={"userId": "alice", "tokenIssuedAt": value, "tokenExpiresAt": value}
            ).outcome[0]
            == 200
        ), value


def test_the_old_names_in_notifications_warn_once_per_use_and_keep_their_error_for_one_release(careconnect_connections):
    """disconnect_user, revoke_token and restore_user moved to careconnect_ws.revocation (whose bad-input error is
    the InvalidRequest every backend call raises); the old names still work, warn, and raise InvalidNotification."""
    import pytest

    from careconnect_ws import notifications, revocation
    from careconnect_ws.errors import InvalidRequest
    from careconnect_ws.notifications import InvalidNotification

    for name in ("disconnect_user", "revoke_token", "restore_user"):
        with pytest.warns(DeprecationWarning, match=f"careconnect_ws.revocation.{name}") as caught:
            old = getattr(notifications, name)
        assert caught[0].filename == __file__
        assert old.__doc__ == getattr(revocation, name).__doc__
    with pytest.warns(DeprecationWarning):
        assert notifications.restore_user("nobody-revoked") is False  # works, against the real database
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidNotification, match="'userId' must be text"):
        notifications.disconnect_user("")
    with pytest.raises(InvalidRequest, match="'userId' must be text") as err:
        revocation.disconnect_user("")
    assert not isinstance(err.value, InvalidNotification) and err.value.code == "invalid_field"
    with pytest.raises(AttributeError):
        notifications.no_such_name  # noqa: B018
