"""Tokens from an identity provider's key set (WS_JWT_JWKS_URL), against a real local HTTP server: rotation to a
new kid, a flood of unknown kids, the provider down, and the algorithm each key allows."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from careconnect_ws.errors import ConfigError, KeysUnavailable, TokenError
from careconnect_ws.handler import lambda_handler
from careconnect_ws.jwks import KeySet, forget_key_sets
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.testing import connect
from careconnect_ws.testing.identity_provider import AUDIENCE, ISSUER, IdentityProvider, SigningKey
from careconnect_ws.tokens import verify_identity
from tests.support.events import load_event
from tests.support.log_lines import captured_lines
from tests.support.runtime import make_settings


@pytest.fixture
def provider():
    forget_key_sets()
    idp = IdentityProvider(SigningKey("RSA"))
    yield idp
    idp.close()
    forget_key_sets()


def jwks_settings(url: str, database_url: str = "", **overrides) -> Settings:
    return make_settings(database_url, jwt_secret=None, jwt_jwks_url=url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, **overrides)


def test_a_token_signed_by_the_providers_key_connects(careconnect_runtime, provider):
    set_settings(jwks_settings(provider.jwks_url, careconnect_runtime.database_url))
    assert connect("c-1", token=provider.keys[0].sign("alice")).status == 200
    assert connect("c-2", token=provider.keys[0].sign("alice")).status == 200
    assert provider.fetches == 1, "the key set is cached"


def test_rotation_to_a_new_kid_mid_run_needs_no_redeploy(careconnect_runtime, provider):
    set_settings(jwks_settings(provider.jwks_url, careconnect_runtime.database_url, jwks_min_refresh_seconds=1))
    old = provider.keys[0]
    assert connect("c-1", token=old.sign("alice")).status == 200
    new = SigningKey("EC")  # the provider adds a new key (ES256, as some do) and starts signing with it
    provider.keys.append(new)
    time.sleep(1.05)
    assert connect("c-2", token=new.sign("bob")).status == 200
    assert provider.fetches == 2
    provider.keys.remove(old)  # the old key retired: tokens it signed still verify until this container refetches
    assert connect("c-3", token=old.sign("carol")).status == 200


def test_a_flood_of_unknown_kids_costs_the_provider_one_fetch_per_interval(provider):
    settings = jwks_settings(provider.jwks_url, jwks_min_refresh_seconds=1)
    good = provider.keys[0]
    started = time.monotonic()
    refused = 0
    while time.monotonic() - started < 2.5:
        with pytest.raises(TokenError) as err:
            verify_identity(good.sign("mallory", kid=f"forged-{refused}"), settings)
        assert err.value.code == "invalid_token"
        refused += 1
    assert refused > 50
    assert provider.fetches <= 1 + 3, f"{provider.fetches} fetches for {refused} forged kids"
    assert verify_identity(good.sign("alice"), settings).user_id == "alice"


def test_a_provider_that_is_down_leaves_cached_keys_working(provider):
    clock = [0.0]
    keys = KeySet(provider.jwks_url, max_age=60, min_refresh=5, clock=lambda: clock[0])
    key = provider.keys[0]
    assert keys.key_for(key.kid).key_id == key.kid
    provider.down = True
    clock[0] = 120.0  # past the max age: a refetch is due and fails
    assert keys.key_for(key.kid).key_id == key.kid
    assert provider.fetches == 2
    with pytest.raises(TokenError):
        keys.key_for("unknown")  # no fetch within the backoff
    assert provider.fetches == 2


def test_a_cold_container_with_the_provider_down_answers_503_not_500(careconnect_runtime, provider):
    provider.down = True
    set_settings(jwks_settings(provider.jwks_url, careconnect_runtime.database_url))
    with captured_lines() as lines:
        response = connect("c-1", token=provider.keys[0].sign("alice"))
        assert response.status == 503 and response.body["code"] == "service_unavailable"
        authorizer = load_event("authorizer")
        authorizer["queryStringParameters"] = {"token": provider.keys[0].sign("alice")}
        policy = lambda_handler(authorizer)
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert policy["context"] == {"reason": "service_unavailable"}
    assert [(line["outcome"], line["status"], line["ServerErrors"]) for line in lines.handled()] == [
        ("service_unavailable", 503, 1),
        ("service_unavailable", 503, 1),
    ]
    provider.down = False
    time.sleep(0.6)  # the backoff after one failed fetch
    assert connect("c-1", token=provider.keys[0].sign("alice")).status == 200


def test_each_key_verifies_only_its_own_algorithm(provider):
    settings = jwks_settings(provider.jwks_url)
    key = provider.keys[0]
    public_pem = key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    # The classic confusion: HS256 "signed" with the public key as the secret (built by hand: PyJWT refuses to).
    body = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    signing_input = b".".join(_b64(json.dumps(part).encode()) for part in ({"alg": "HS256", "kid": key.kid}, body))
    forged = (signing_input + b"." + _b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())).decode()
    with pytest.raises(TokenError):
        verify_identity(forged, settings)
    unsigned = jwt.encode(body, None, algorithm="none", headers={"kid": key.kid})
    with pytest.raises(TokenError):
        verify_identity(unsigned, settings)
    with pytest.raises(TokenError) as err:
        verify_identity(key.sign("alice", aud="another-service"), settings)
    assert "audience" in str(err.value)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def test_without_a_kid_only_a_single_key_set_can_verify(provider):
    settings = jwks_settings(provider.jwks_url)
    assert verify_identity(provider.keys[0].sign("alice", kid=None), settings).user_id == "alice"
    forget_key_sets()
    provider.keys.append(SigningKey("RSA"))
    with pytest.raises(TokenError) as err:
        verify_identity(provider.keys[0].sign("alice", kid=None), settings)
    assert "kid" in str(err.value)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WS_JWT_JWKS_URL": "http://idp.example.com/jwks.json"}, "WS_JWT_JWKS_URL"),
        ({"WS_JWT_JWKS_URL": "https://idp.example.com/jwks.json", "WS_JWT_ISSUER": ISSUER}, "WS_JWT_AUDIENCE"),
        ({"WS_JWT_JWKS_URL": "https://idp.example.com/jwks.json", "WS_JWT_AUDIENCE": AUDIENCE}, "WS_JWT_ISSUER"),
        (
            {
                "WS_JWT_JWKS_URL": "https://idp.example.com/jwks.json",
                "WS_JWT_SECRET": "s" * 32,
                "WS_JWT_ISSUER": ISSUER,
                "WS_JWT_AUDIENCE": AUDIENCE,
            },
            "WS_JWT_SECRET",
        ),
    ],
)
def test_jwks_misconfiguration_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"DATABASE_URL": "postgresql://h/db", **env})
    assert err.value.variable == variable


def test_a_cognito_style_url_is_accepted():
    url = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123/.well-known/jwks.json"
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://h/db",
            "WS_JWT_JWKS_URL": url,
            "WS_JWT_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
            "WS_JWT_AUDIENCE": "client-id",
        }
    )
    assert settings.jwt_jwks_url == url


def test_keys_unavailable_is_raised_by_verify_for_the_handler_to_answer_503(provider):
    provider.down = True
    with pytest.raises(KeysUnavailable):
        verify_identity(provider.keys[0].sign("alice"), jwks_settings(provider.jwks_url))


# -- bounded identity-provider calls (hardening round 4) ------------------------------------------------------


def test_a_provider_that_drips_its_key_set_holds_verification_at_most_the_fetch_timeout(careconnect_runtime, provider):
    """A slow provider sending its key set in pieces held every verification of a container for 10.5 s despite the
    2 s timeout: the timeout was per socket read. It is the whole fetch's now."""
    from careconnect_ws.jwks import FETCH_TIMEOUT_SECONDS

    provider.drip_seconds = 0.01  # ~1,500 bytes: 15 s if nothing stopped it
    set_settings(jwks_settings(provider.jwks_url, careconnect_runtime.database_url))
    started = time.monotonic()
    response = connect("c-1", token=provider.keys[0].sign("alice"))
    assert response.status == 503 and response.body["code"] == "service_unavailable"
    assert time.monotonic() - started < FETCH_TIMEOUT_SECONDS + 1.0


def test_a_redirect_to_another_host_is_not_followed(careconnect_runtime, provider):
    elsewhere = IdentityProvider(SigningKey("RSA"))
    try:
        provider.redirect_to = elsewhere.jwks_url  # another port: another origin
        set_settings(jwks_settings(provider.jwks_url, careconnect_runtime.database_url))
        assert connect("c-1", token=elsewhere.keys[0].sign("mallory")).status == 503
        assert elsewhere.fetches == 0
        # A redirect within the provider's own origin is followed.
        forget_key_sets()
        provider.redirect_to = provider.jwks_url.rsplit("/", 2)[0] + "/moved"
        assert connect("c-2", token=provider.keys[0].sign("alice")).status == 200
    finally:
        elsewhere.close()
