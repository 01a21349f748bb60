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
