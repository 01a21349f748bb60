"""An identity provider on a real local HTTP server: it signs tokens with its private keys and serves their
public halves as a JWKS document, as Cognito, Auth0, Okta, Entra ID and Keycloak do."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://idp.test/realms/care"
AUDIENCE = "careconnect-ws"


class SigningKey:
    """A key pair of the provider's: ``RSA`` (RS256) or ``EC`` (ES256), with its ``kid`` and public JWK."""

    def __init__(self, kind: str = "RSA") -> None:
        self.kid = uuid.uuid4().hex[:12]
        self.private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if kind == "RSA":
            rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.private, self.algorithm = rsa_key, "RS256"
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
        else:
            ec_key = ec.generate_private_key(ec.SECP256R1())
            self.private, self.algorithm = ec_key, "ES256"
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
        self.jwk = {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def sign(self, subject: str, *, kid: str | None = "own", ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl, **claims}
        headers = {} if kid is None else {"kid": self.kid if kid == "own" else kid}
        return jwt.encode(body, self.private, algorithm=self.algorithm, headers=headers)


class IdentityProvider:
    """``keys`` are published at :attr:`jwks_url`; ``fetches`` counts requests; ``down`` makes it answer 503;
    ``drip_seconds`` sends the document a byte at a time with that pause; ``redirect_to`` answers 302 there."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False
        self.drip_seconds = 0.0
        self.redirect_to: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.fetches += 1
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                if outer.redirect_to and self.path != "/moved":
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": [key.jwk for key in outer.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not outer.drip_seconds:
                    self.wfile.write(body)
                    return
                try:
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(outer.drip_seconds)
                except OSError:
                    pass  # the client gave up

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
