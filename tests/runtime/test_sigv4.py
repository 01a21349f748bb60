"""Our SigV4 signatures are botocore's, byte for byte, for every shape of @connections request."""

from __future__ import annotations

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from careconnect_ws.sigv4 import Credentials, sign

AMZ_DATE = "20261127T101530Z"


def botocore_headers(method, url, body, creds: Credentials, region):
    request = AWSRequest(method=method, url=url, data=body, headers={"X-Amz-Date": AMZ_DATE})
    request.context["timestamp"] = AMZ_DATE
    auth = SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.token), "execute-api", region)
    if creds.token:
        request.headers["X-Amz-Security-Token"] = creds.token
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    signature = auth.signature(string_to_sign, request)
    signed = ";".join(auth.signed_headers(auth.headers_to_sign(request)).split(";"))
    return signed, signature


@pytest.mark.parametrize("token", [None, "session-token/with+odd=chars"])
@pytest.mark.parametrize(
    ("method", "connection_id", "body"),
    [
        ("POST", "BFHPhfCWIAMCKlQ=", b'{"type":"hello"}'),
        ("POST", "a/b c+d=", "ünïcode ✓".encode()),
        ("DELETE", "BFHPhfCWIAMCKlQ=", b""),
        ("GET", "x~y_z-1.", b""),
    ],
)
def test_signature_matches_botocore(method, connection_id, body, token):
    from urllib.parse import quote

    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    host = "abc123defg.execute-api.eu-west-1.amazonaws.com"
    path = f"/prod/@connections/{quote(connection_id, safe='')}"
    ours = sign(method=method, host=host, path=path, body=body, credentials=creds, region="eu-west-1", amz_date=AMZ_DATE)
    signed_headers, signature = botocore_headers(method, f"https://{host}{path}", body, creds, "eu-west-1")
    assert f"SignedHeaders={signed_headers}," in ours["Authorization"]
    assert ours["Authorization"].endswith(f"Signature={signature}")
    assert ours["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/eu-west-1/execute-api/aws4_request")
    assert ("X-Amz-Security-Token" in ours) == bool(token)


def _boto_signed(method, url, body, creds: Credentials, region="us-east-1", amz_date=AMZ_DATE, extra_headers=None):
    """What a real SDK sends: botocore's SigV4Auth with its own header choices (content-type included)."""
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/x-amz-json-1.1", **(extra_headers or {})}
    )
    auth = SigV4Auth(BotoCredentials(creds.access_key, creds.secret_key, creds.token), "execute-api", region)
    request.context["timestamp"] = amz_date
    request.headers["X-Amz-Date"] = amz_date
    if creds.token:
        request.headers["X-Amz-Security-Token"] = creds.token
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={creds.access_key}/{amz_date[:8]}/{region}/execute-api/aws4_request, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = parts.netloc
    return parts.path, headers


def _epoch(amz_date):
    import calendar
    import time

    return calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))


@pytest.mark.parametrize("token", [None, "session/token+x="])
def test_verify_accepts_what_an_sdk_signed(token):
    from careconnect_ws.local.sigv4_verify import verify

    creds = Credentials("LOCALKEY", "local-secret", token)
    path, headers = _boto_signed("POST", "http://127.0.0.1:8080/prod/@connections/abc%3D", b"hello", creds)
    verify(
        method="POST",
        path=path,
        query=[],
        headers=headers,
        body=b"hello",
        credentials=creds,
        region="us-east-1",
        now=_epoch(AMZ_DATE) + 10,
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"body": b"tampered"}, "does not match"),
        ({"secret": "another-secret"}, "does not match"),
        ({"key": "SOMEONEELSE"}, "unknown access key"),
        ({"now_offset": 3600}, "more than 5 minutes"),
        ({"method": "DELETE"}, "does not match"),
        ({"drop_auth": True}, "Missing Authentication Token"),
        ({"region": "eu-west-1"}, "credential scope"),
    ],
)
def test_verify_refuses_anything_else(change, words):
    from careconnect_ws.local.sigv4_verify import SignatureRejected, verify

    expected = Credentials("LOCALKEY", "local-secret")
    signer = Credentials(change.get("key", "LOCALKEY"), change.get("secret", "local-secret"))
    path, headers = _boto_signed(
        "POST", "http://127.0.0.1:8080/prod/@connections/abc%3D", b"hello", signer, region=change.get("region", "us-east-1")
    )
    if change.get("drop_auth"):
        headers.pop("authorization")
    with pytest.raises(SignatureRejected, match=words):
        verify(
            method=change.get("method", "POST"),
            path=path,
            query=[],
            headers=headers,
            body=change.get("body", b"hello"),
            credentials=expected,
            region="us-east-1",
            now=_epoch(AMZ_DATE) + change.get("now_offset", 0),
        )


def test_a_captured_request_cannot_carry_another_body():
    """The replay from the review: the old body's hash in x-amz-content-sha256, a new body."""
    import hashlib

    from careconnect_ws.local.sigv4_verify import SignatureRejected, verify

    creds = Credentials("LOCALKEY", "local-secret")
    path, headers = _boto_signed("POST", "http://127.0.0.1:8080/prod/@connections/abc%3D", b"hello", creds)
    replayed = {**headers, "x-amz-content-sha256": hashlib.sha256(b"hello").hexdigest()}
    with pytest.raises(SignatureRejected):
        verify(
            method="POST",
            path=path,
            query=[],
            headers=replayed,
            body=b"injected",
            credentials=creds,
            region="us-east-1",
            now=_epoch(AMZ_DATE),
        )
    # The same header on the genuine body is still refused unless it was signed: nothing unsigned is relied on.
    with pytest.raises(SignatureRejected, match="SignedHeaders must include"):
        verify(
            method="POST",
            path=path,
            query=[],
            headers=replayed,
            body=b"hello",
            credentials=creds,
            region="us-east-1",
            now=_epoch(AMZ_DATE),
        )


@pytest.mark.parametrize("where", ["access_key", "signature", "date", "token"])
def test_non_ascii_or_malformed_values_are_refused_not_crashed(where):
    from careconnect_ws.local.sigv4_verify import SignatureRejected, verify

    creds = Credentials("LOCALKEY", "local-secret", "tok")
    path, headers = _boto_signed("POST", "http://127.0.0.1:8080/prod/@connections/abc%3D", b"hello", creds)
    auth = headers["authorization"]
    if where == "access_key":
        headers["authorization"] = auth.replace("LOCALKEY", "LOCALKÉY")
    elif where == "signature":
        headers["authorization"] = auth[:-4] + "é\udcff€x"
    elif where == "date":
        headers["x-amz-date"] = "２０２６"
    else:
        headers["x-amz-security-token"] = "tök\udcff"
    with pytest.raises(SignatureRejected):
        verify(
            method="POST",
            path=path,
            query=[],
            headers=headers,
            body=b"hello",
            credentials=creds,
            region="us-east-1",
            now=_epoch(AMZ_DATE),
        )
