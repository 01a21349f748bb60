"""An identity provider's signing keys, from its JWKS document (``WS_JWT_JWKS_URL``), cached per container.

Cognito, Auth0, Okta, Entra ID and Keycloak publish their public keys as a JSON Web Key Set and rotate
them: a new key appears under a new ``kid``, tokens name the key that signed them, and the old key
disappears later. So the set is:

* fetched on first use and kept for ``max_age`` seconds, then fetched again;
* fetched again at once when a token names a ``kid`` the set does not have (a rotation), but **at most
  once per ``min_refresh`` seconds**: a flood of tokens with forged ``kid``s costs the provider one
  request per interval per container, not one per token;
* kept when a fetch fails (the provider is down): the keys already known go on verifying tokens. Only a
  container that never fetched the set refuses, with :class:`~careconnect_ws.errors.KeysUnavailable`
  (503 ``service_unavailable``, not 500), and tries again after a short backoff.

What PyJWT's ``PyJWKClient`` does, plus the rate limit and the stale-while-down rule, on the standard
library's HTTP client (no extra import on the cold path).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .backoff import Backoff, Jitter
from .errors import KeysUnavailable, TokenError

logger = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
"""The signatures accepted from a key set: each key verifies only its own algorithm."""
MAX_DOCUMENT_BYTES = 1_000_000
FETCH_TIMEOUT_SECONDS = 2.0
FAILURE_BACKOFF_SECONDS = 0.5
"""After a failed fetch the next is not tried for this long, doubling up to ``min_refresh`` (no jitter: one
container's own schedule, and a provider outage must not be hammered sooner than that)."""

Fetch = Callable[[str], bytes]


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme and host: a key set served from elsewhere is not the provider's."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        old, new = urlsplit(req.full_url), urlsplit(newurl)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            raise urllib.error.HTTPError(req.full_url, code, "redirect to another origin refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_SameOriginRedirects)


def _read_until(url: str, deadline: float) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "careconnect-ws"})
    with _opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
        chunks, size = [], 0
        while size <= MAX_DOCUMENT_BYTES:
            if time.monotonic() > deadline:
                raise TimeoutError("the key set arrived too slowly")
            chunk = response.read1(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


def http_fetch(url: str) -> bytes:
    """The document at ``url`` within :data:`FETCH_TIMEOUT_SECONDS` *in all* (a server that sends it byte by byte
    cannot hold verification longer than that), following redirects only within the same origin."""
    outcome: dict[str, Any] = {}
    deadline = time.monotonic() + FETCH_TIMEOUT_SECONDS

    def fetch() -> None:
        try:
            outcome["body"] = _read_until(url, deadline)
        except BaseException as err:  # handed to the caller
            outcome["error"] = err

    worker = threading.Thread(target=fetch, name="careconnect-ws-jwks", daemon=True)
    worker.start()
    worker.join(FETCH_TIMEOUT_SECONDS)
    if worker.is_alive():  # it stops by itself at its next read past the deadline
        raise TimeoutError(f"the key set was not fetched within {FETCH_TIMEOUT_SECONDS} s")
    if "error" in outcome:
        raise outcome["error"]
    body: bytes = outcome["body"]
    return body


def parse_key_set(document: bytes) -> dict[str, Any]:
    """``{kid: PyJWK}`` of the document's signing keys of an accepted algorithm; others are skipped."""
    import jwt

    if len(document) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"the key set is larger than {MAX_DOCUMENT_BYTES} bytes")
    data = json.loads(document)
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError('not a JWKS document: no "keys" list')
    keys: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue  # a key type or curve we do not use: the others still count
        if key.algorithm_name in ALGORITHMS:
            keys[str(entry.get("kid", ""))] = key
    if not keys:
        raise ValueError(f"the key set has no signing key for {', '.join(ALGORITHMS)}")
    return keys


class KeySet:
    """One provider's keys; thread-safe (the local gateway's workers share it)."""

    def __init__(
        self,
        url: str,
        *,
        max_age: float,
        min_refresh: float,
        fetch: Fetch = http_fetch,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.fetch = fetch
        self.clock = clock
        self.fetches = 0
        """Fetch attempts so far (the tests count what a forged-``kid`` flood costs the provider)."""
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._next_attempt = 0.0
        self._failures = 0
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> Any:
        """The key that verifies a token whose header names ``kid``; a token without a ``kid`` is accepted
        only from a set of one key."""
        with self._lock:
            now = self.clock()
            if self._fetched_at is None or now - self._fetched_at >= self.max_age:
                self._refresh(now)
            key = self._find(kid)
            if key is None and self._keys and kid is not None:
                self._refresh(now)  # maybe a rotation: rate-limited, so forged kids cannot hammer the provider
                key = self._find(kid)
            if key is not None:
                return key
            if not self._keys:
                raise KeysUnavailable("the identity provider's keys (WS_JWT_JWKS_URL) could not be fetched yet")
            if kid is None:
                raise TokenError("invalid_token", "the token names no key (kid) and the identity provider has several")
            raise TokenError("invalid_token", "the token was signed with a key the identity provider does not publish")

    def _find(self, kid: str | None) -> Any:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        if now < self._next_attempt:
            return
        self.fetches += 1
        try:
            keys = parse_key_set(self.fetch(self.url))
        except Exception as err:  # the provider down, slow, or serving garbage: keep what we have
            self._failures += 1
            retry = Backoff(min(FAILURE_BACKOFF_SECONDS, self.min_refresh), self.min_refresh, jitter=Jitter.NONE)
            self._next_attempt = now + retry.delay(self._failures)
            logger.warning(
                "identity provider keys not refreshed", extra={"errorType": type(err).__name__, "cachedKeys": len(self._keys)}
            )
            return
        self._keys, self._fetched_at, self._failures = keys, now, 0
        self._next_attempt = now + self.min_refresh


_sets: dict[str, KeySet] = {}
_sets_lock = threading.Lock()


def key_set(url: str, *, max_age: float, min_refresh: float) -> KeySet:
    """The container's key set for ``url`` (one per URL, kept across invocations)."""
    with _sets_lock:
        found = _sets.get(url)
        if found is None or (found.max_age, found.min_refresh) != (max_age, min_refresh):
            found = _sets[url] = KeySet(url, max_age=max_age, min_refresh=min_refresh)
        return found


def forget_key_sets() -> None:
    """Drop every cached key set (tests; a SnapStart restore keeps them: public keys are not secrets)."""
    with _sets_lock:
        _sets.clear()
