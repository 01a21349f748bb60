"""AWS_IAM on $connect, locally as on AWS: a service client signs the WebSocket handshake with SigV4 (botocore's
own signer), the gateway verifies it before anything is invoked, and the runtime takes the signer's ARN as the
user; an unsigned or wrongly signed handshake is refused with 403."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import websockets

from careconnect_ws.handler import lambda_handler
from careconnect_ws.settings import get_settings, set_settings
from careconnect_ws.sigv4 import Credentials
from careconnect_ws.testing import connect_event

KEY = Credentials("LOCALTESTKEY", "local-test-secret-key")


def signed_headers(url: str, credentials: Credentials) -> dict[str, str]:
    """What a service client sends: the handshake GET, signed by botocore for execute-api."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    http_url = url.replace("ws://", "http://", 1)
    request = AWSRequest(method="GET", url=http_url, headers={"Host": urlsplit(http_url).netloc})
    SigV4Auth(BotoCredentials(credentials.access_key, credentials.secret_key), "execute-api", "us-east-1").add_auth(request)
    return {k: v for k, v in request.headers.items() if k.lower() != "host"}


def test_a_signed_handshake_connects_as_its_signer(start_gateway, sql):
    gw = start_gateway(iam_connect=True, authorizer=False, credentials=KEY)
    set_settings(replace(get_settings(), connect_auth="iam", jwt_secret=None))

    async def run() -> None:
        async with websockets.connect(gw.url, additional_headers=signed_headers(gw.url, KEY)) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
            (user,) = sql.execute("SELECT user_id FROM websocket_connections WHERE is_active").fetchone()
            assert user == "arn:aws:iam::000000000000:user/LOCALTESTKEY"
        for headers in ({}, signed_headers(gw.url, Credentials("LOCALTESTKEY", "another-secret"))):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(gw.url, additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 403

    asyncio.run(run())


def test_the_runtime_refuses_a_connect_without_a_verified_signer(careconnect_runtime):
    set_settings(replace(careconnect_runtime, connect_auth="iam"))
    refused = lambda_handler(connect_event("c-1"))
    assert refused["statusCode"] == 401 and json.loads(refused["body"])["code"] == "missing_identity"
    event = connect_event("c-2")
    event["requestContext"]["identity"]["userArn"] = "arn:aws:iam::111122223333:role/notifier"
    assert lambda_handler(event) == {"statusCode": 200}


def test_iam_needs_no_token_key_and_a_wrong_value_names_the_variable():
    from careconnect_ws.errors import ConfigError
    from careconnect_ws.settings import Settings

    assert Settings.from_env({"DATABASE_URL": "postgresql://h/db", "WS_CONNECT_AUTH": "iam"}).connect_auth == "iam"
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DATABASE_URL": "postgresql://h/db", "WS_CONNECT_AUTH": "sso"})
    assert err.value.variable == "WS_CONNECT_AUTH"
