"""Where a client puts its token (WS_TOKEN_SOURCE): the query string, a header, or the WebSocket subprotocols;
the handler, its authorizer and the construct read one definition (careconnect_ws.contract.TokenSource)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from careconnect_ws import contract
from careconnect_ws.contract import TokenSource
from careconnect_ws.errors import ConfigError
from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing import authorizer_event, connect_event
from tests.support.runtime import token_for


def _with(careconnect_runtime, source: str) -> None:
    set_settings(replace(careconnect_runtime, token_source=TokenSource.parse(source)))


def test_a_bearer_token_in_the_authorization_header(careconnect_runtime):
    _with(careconnect_runtime, "header:Authorization")
    good = connect_event("c-1", headers={"Authorization": f"Bearer {token_for('alice')}"})
    assert lambda_handler(good) == {"statusCode": 200}
    query_only = connect_event("c-2", token=token_for("alice"))  # the other place does not count
    refused = lambda_handler(query_only)
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"]) == {
        "type": "error",
        "code": "missing_token",
        "message": "send the JWT in the Authorization header (Bearer <JWT>)",
    }


def test_a_custom_header(careconnect_runtime):
    _with(careconnect_runtime, "header:X-CareConnect-Token")
    assert lambda_handler(connect_event("c-1", headers={"x-careconnect-token": token_for("alice")}))["statusCode"] == 200


def test_the_subprotocol_carries_the_token_and_the_answer_selects_careconnect_ws(careconnect_runtime):
    _with(careconnect_runtime, "protocol")
    offered = f"{contract.TOKEN_PROTOCOL}, {token_for('alice')}"
    answer = lambda_handler(connect_event("c-1", headers={"Sec-WebSocket-Protocol": offered}))
    assert answer == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "careconnect-ws"}}
    # A token offered without the protocol name, or two candidates, is not read as a token.
    for header in (token_for("alice"), f"{contract.TOKEN_PROTOCOL}, a, b"):
        assert lambda_handler(connect_event("c-2", headers={"Sec-WebSocket-Protocol": header}))["statusCode"] == 401


def test_the_authorizer_reads_the_same_source(careconnect_runtime):
    _with(careconnect_runtime, "header:Authorization")
    event = authorizer_event()
    event["queryStringParameters"] = {}
    event["headers"] = {**event["headers"], "Authorization": f"Bearer {token_for('alice')}"}
    allowed = lambda_handler(event)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow" and allowed["principalId"] == "alice"
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "Authorization"}
    assert lambda_handler(event)["context"] == {"reason": "missing_token"}


@pytest.mark.parametrize(
    ("text", "identity_source"),
    [
        ("query:token", "route.request.querystring.token"),
        ("header:Authorization", "route.request.header.Authorization"),
        ("protocol", "route.request.header.Sec-WebSocket-Protocol"),
    ],
)
def test_one_definition_for_the_authorizers_identity_source(text, identity_source):
    source = TokenSource.parse(text)
    assert (source.identity_source, str(source)) == (identity_source, text)


@pytest.mark.parametrize("bad", ["cookie:session", "header:", "query:a b", "protocol:x"])
def test_a_bad_token_source_names_the_variable(bad):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DATABASE_URL": "postgresql://h/db", "WS_JWT_SECRET": "s" * 32, contract.TOKEN_SOURCE: bad})
    assert err.value.variable == contract.TOKEN_SOURCE
