"""What operating it costs, each a ratio to the same path without it, measured in the same run:

* a message with metrics on (the Embedded Metric Format block in the log line) against metrics off, both
  writing the full per-invocation log line (formatted and written to ``/dev/null``, not the terminal);
* ``$connect`` verifying an RS256 token with a key from a cached JWKS document (``WS_JWT_JWKS_URL``) against
  the same token verified with the same key given as a PEM (``WS_JWT_PUBLIC_KEY``).

Target: both within 5 % (ratio <= 1.05), medians of interleaved runs on a real PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from dataclasses import replace

import psycopg

from bench.handler import SECRET, _event, _rate
from careconnect_ws import db as db_module
from careconnect_ws import logs
from careconnect_ws.handler import lambda_handler
from careconnect_ws.jwks import forget_key_sets
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.migrations import migrate
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

N = 500
REPEAT = 21


def _log_to_devnull() -> logging.Handler:
    """The runtime's own log pipeline (formatter and context filter) at INFO, into /dev/null."""
    logger = logging.getLogger("careconnect_ws")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    sink.setFormatter(logs.JsonFormatter())
    sink.addFilter(logs.LambdaFields())
    logger.addHandler(sink)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logs._configured = True  # the handler's configure_logging() leaves this pipeline alone
    return sink


def run() -> str:
    from careconnect_ws.testing.identity_provider import AUDIENCE, ISSUER, IdentityProvider, SigningKey

    _log_to_devnull()
    key = SigningKey("RSA")
    provider = IdentityProvider(key)
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    pem = key.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    results: dict[str, list[float]] = {k: [] for k in ("metrics_off", "metrics_on", "connect_pem", "connect_jwks")}
    cpu_us: dict[str, list[float]] = {"metrics_off": [], "metrics_on": []}
    """This process's CPU per message: what metrics add, without the database's and the machine's noise."""
    with TemporaryPostgres(fsync=True) as pg:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
        base = Settings(
            database_url=pg.url,
            jwt_secret=SECRET,
            region="us-east-1",
            max_connections_per_user=0,
            max_messages_per_second=1_000_000,
            max_messages_per_user_per_second=1_000_000,
        )
        by_pem = replace(base, jwt_secret=None, jwt_public_key=pem, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
        by_jwks = replace(by_pem, jwt_public_key=None, jwt_jwks_url=provider.jwks_url)
        set_settings(base)
        db_module.reset_database()
        token = issue_token("bench-user", Settings(jwt_secret=SECRET))
        for i in range(100):
            lambda_handler(_event("CONNECT", f"m-{i}", queryStringParameters={"token": token}))
        idp_token = key.sign("bench-user", ttl=3600)
        forget_key_sets()
        set_settings(by_jwks)
        lambda_handler(_event("CONNECT", "warm", queryStringParameters={"token": idp_token}))  # fetch the set once
        for r in range(REPEAT):
            # Each round runs both sides back to back, in alternating order: the machine's noise hits both alike,
            # and the figure is the median of the rounds' ratios.
            pairs = [
                (("metrics_off", replace(base, metrics=False)), ("metrics_on", base)),
                (("connect_pem", by_pem), ("connect_jwks", by_jwks)),
            ]
            for pair in pairs:
                for kind, settings in pair if r % 2 == 0 else pair[::-1]:
                    set_settings(settings)
                    if kind.startswith("metrics"):
                        cpu = time.process_time()
                        results[kind].append(
                            _rate(lambda i: lambda_handler(_event("MESSAGE", f"m-{i % 100}", body='{"action":"ping"}')), N)
                        )
                        cpu_us[kind].append((time.process_time() - cpu) / N * 1e6)
                    else:
                        results[kind].append(
                            _rate(
                                lambda i, k=kind, r=r: lambda_handler(
                                    _event("CONNECT", f"{k}-{r}-{i}", queryStringParameters={"token": idp_token})
                                ),
                                N // 4,
                            )
                        )
        assert provider.fetches == 1, "the key set was fetched once and served from the cache after"
        db_module.reset_database()
        set_settings(None)
    provider.close()
    median = {k: statistics.median(v) for k, v in results.items()}
    if os.environ.get("BENCH_VERBOSE"):
        print({k: [round(x) for x in v] for k, v in results.items()})
    metrics_ratio = statistics.median(off / on for off, on in zip(results["metrics_off"], results["metrics_on"], strict=True))
    added_cpu = statistics.median(on - off for off, on in zip(cpu_us["metrics_off"], cpu_us["metrics_on"], strict=True))
    message_us = 1e6 / median["metrics_off"]
    jwks_ratio = statistics.median(pem / jwks for pem, jwks in zip(results["connect_pem"], results["connect_jwks"], strict=True))
    return "\n".join(
        [
            f"## Operations (`python -m bench operations`, median of {REPEAT} rounds' ratios, real PostgreSQL)",
            "",
            "| path | events/s | cost against the path without it (target <= 1.05) |",
            "|---|---:|---:|",
            f"| message `ping`, metrics off (full log line, to /dev/null) | {median['metrics_off']:,.0f} | 1.00 |",
            f"| message `ping`, metrics on (EMF block in the same line) | {median['metrics_on']:,.0f} | {metrics_ratio:.3f} |",
            f"| metrics' own CPU per message (process time, on minus off) | {added_cpu:.1f} µs | "
            f"{(message_us + added_cpu) / message_us:.3f} of a {message_us:.0f} µs message |",
            f"| `$connect`, RS256 token, key as PEM (`WS_JWT_PUBLIC_KEY`) | {median['connect_pem']:,.0f} | 1.00 |",
            f"| `$connect`, the same token, key from a cached JWKS (`WS_JWT_JWKS_URL`) | {median['connect_jwks']:,.0f} | {jwks_ratio:.3f} |",
        ]
    )
