"""Topics without code: a subscribe ruled by a token claim (``claim:<name>``, the grant stored with the connection
and read by the message check's one statement) against a subscribe to the same subjects under ``any-user``, and the
message check of a connection holding grants against one holding none (a ``ping`` reads no grants). Through the handler, real PostgreSQL with durable commits;
interleaved rounds, medians; the #27 target is at most 1.05x.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from bench.handler import _event
from careconnect_ws import contract
from careconnect_ws import db as db_module
from careconnect_ws.extensions import forget_extensions, load_extensions
from careconnect_ws.handler import lambda_handler
from careconnect_ws.local.pgtemp import TemporaryPostgres
from careconnect_ws.settings import Settings, set_settings
from careconnect_ws.tokens import issue_token

SECRET = "bench-secret-that-is-at-least-32-bytes!!"
ROUNDS = 15
N = 300
GRANTED = [f"patient-{i}" for i in range(200)]  # a care team's patients: a realistic claim, well within 8 KB


def _call(event: dict) -> None:
    response = lambda_handler(event)
    assert response["statusCode"] == 200, response


def _timed(fn, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - started)


def run() -> str:
    import logging

    from careconnect_ws.logs import configure_logging

    configure_logging(level=logging.WARNING)  # one log line per event would measure stderr, not the handler
    os.environ[contract.TOPICS_VARIABLE] = json.dumps(
        [{"name": "care-plan", "rule": "claim:care_plans"}, {"name": "ward", "rule": "any-user"}]
    )
    forget_extensions()
    load_extensions()
    with TemporaryPostgres() as pg:
        import psycopg

        from careconnect_ws.migrations import migrate

        with psycopg.connect(pg.url, autocommit=True) as conn:
            migrate(conn)
        set_settings(
            Settings(
                database_url=pg.url,
                jwt_secret=SECRET,
                region="us-east-1",
                management_endpoint="http://127.0.0.1:9/prod",
                max_subscriptions_per_connection=100_000,
                max_messages_per_second=10_000,
                max_messages_per_user_per_second=10_000,
            )
        )
        db_module.reset_database()
        settings = Settings(jwt_secret=SECRET)
        plain = issue_token("nurse-plain", settings)
        granted = issue_token("nurse-granted", settings, claims={"care_plans": GRANTED})
        _call(_event("CONNECT", "plain=", queryStringParameters={"token": plain}))
        _call(_event("CONNECT", "granted=", queryStringParameters={"token": granted}))

        def own(i: int) -> None:  # the floor: the same subjects under any-user, from a connection with no grants
            body = {"action": "subscribe", "topic": "ward", "subject": GRANTED[i % len(GRANTED)]}
            _call(_event("MESSAGE", "plain=", body=json.dumps(body)))

        def claim(i: int) -> None:
            body = {"action": "subscribe", "topic": "care-plan", "subject": GRANTED[i % len(GRANTED)]}
            _call(_event("MESSAGE", "granted=", body=json.dumps(body)))

        def ping_plain(i: int) -> None:
            _call(_event("MESSAGE", "plain=", body='{"action": "ping"}'))

        def ping_granted(i: int) -> None:
            _call(_event("MESSAGE", "granted=", body='{"action": "ping"}'))

        from careconnect_ws.services import get_services

        db = get_services().registry.db
        before = "SELECT * FROM careconnect_ws_check_message(%s, 60, true, 10000)"  # migration 0004's, kept
        after = "SELECT * FROM careconnect_ws_check_message(%s, 60, true, 10000, NULL, NULL)"  # 0006's, no claim asked

        def check_0004(i: int) -> None:
            db.execute(before, ["granted="]).fetchone()

        def check_0006(i: int) -> None:
            db.execute(after, ["granted="]).fetchone()

        rates: dict[str, list[float]] = {k: [] for k in ("own", "claim", "ping_plain", "ping_granted", "c4", "c6")}
        for _ in range(ROUNDS):  # interleaved: the machine's noise falls on both alike
            rates["own"].append(_timed(own, N))
            rates["claim"].append(_timed(claim, N))
            rates["ping_plain"].append(_timed(ping_plain, N))
            rates["ping_granted"].append(_timed(ping_granted, N))
            rates["c4"].append(_timed(check_0004, N))
            rates["c6"].append(_timed(check_0006, N))
        db_module.reset_database()
        set_settings(None)
    os.environ.pop(contract.TOPICS_VARIABLE, None)
    med = {k: statistics.median(v) for k, v in rates.items()}
    sub_ratios = [o / c for o, c in zip(rates["own"], rates["claim"], strict=True)]
    ping_ratios = [p / g for p, g in zip(rates["ping_plain"], rates["ping_granted"], strict=True)]
    check_ratios = [b / a for b, a in zip(rates["c4"], rates["c6"], strict=True)]
    return "\n".join(
        [
            f"### Topics without code (`python -m bench declared_topics`, {ROUNDS} interleaved rounds of {N})",
            "",
            "| what | per second (median) | time ratio to the floor (median of rounds) |",
            "|---|---:|---:|",
            f"| floor: subscribe under `any-user`, the same {len(GRANTED)} subjects, a connection without grants | "
            f"{med['own']:,.0f} | 1.00 |",
            f"| subscribe under `claim:care_plans` (a token granting {len(GRANTED)} subjects) | {med['claim']:,.0f} | "
            f"{statistics.median(sub_ratios):.2f} (target ≤ 1.05) |",
            f"| floor: the message check (`ping`) of a connection without grants | {med['ping_plain']:,.0f} | 1.00 |",
            f"| the same, the connection holding {len(GRANTED)} granted subjects | {med['ping_granted']:,.0f} | "
            f"{statistics.median(ping_ratios):.2f} |",
            f"| floor: migration 0004's message check statement (kept for rolling deploys) | {med['c4']:,.0f} | 1.00 |",
            f"| migration 0006's, no claim asked | {med['c6']:,.0f} | {statistics.median(check_ratios):.2f} |",
        ]
    )
