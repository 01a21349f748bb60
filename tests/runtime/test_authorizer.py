"""The Lambda REQUEST authorizer on $connect: an IAM policy for the exact methodArn."""

from __future__ import annotations

import copy

from careconnect_ws.handler import lambda_handler
from tests.support.events import load_event
from tests.support.runtime import token_for


def authorizer_event(token):
    event = copy.deepcopy(load_event("authorizer"))
    if token is None:
        event["queryStringParameters"] = {}
    else:
        event["queryStringParameters"] = {"token": token}
    return event


def test_valid_token_is_allowed_for_exactly_the_method_arn(careconnect_runtime):
    event = authorizer_event(token_for("alice"))
    response = lambda_handler(event)
    assert response["principalId"] == "alice"
    assert response["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    ]
    assert response["context"]["userId"] == "alice"
    assert isinstance(response["context"]["tokenExpiresAt"], int)


def test_missing_token_is_denied(careconnect_runtime):
    event = authorizer_event(None)
    response = lambda_handler(event)
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["policyDocument"]["Statement"][0]["Resource"] == event["methodArn"]
    assert response["context"] == {"reason": "missing_token"}


def test_expired_token_is_denied(careconnect_runtime):
    response = lambda_handler(authorizer_event(token_for("alice", ttl_seconds=1, now=1_000)))
    assert response["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert response["context"]["reason"] == "token_expired"


def test_null_query_string_is_denied(careconnect_runtime):
    event = authorizer_event(None)
    event["queryStringParameters"] = None
    assert lambda_handler(event)["policyDocument"]["Statement"][0]["Effect"] == "Deny"
