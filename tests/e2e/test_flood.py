"""One client flooding the stage, a bystander pinging beside it, through the local gateway with the
stage throttle as synthesized (100/s, burst 500, shared by every client as on AWS)."""

from __future__ import annotations

import json
import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.runtime import token_for


def test_a_bystander_is_unaffected_by_a_flooding_client(gateway, sql):
    outcome: dict[str, object] = {"sent": 0, "replies": []}

    def flood() -> None:
        with connect(f"{gateway.url}?token={token_for('mallory')}") as ws:
            try:
                for i in range(3000):
                    ws.send(json.dumps({"action": "ping", "id": f"m{i}"}))
                    outcome["sent"] = i + 1
                while True:
                    outcome["replies"].append(json.loads(ws.recv(timeout=10)))
            except ConnectionClosed as closed:
                outcome["closed"] = closed.rcvd.code if closed.rcvd else None
            except TimeoutError:
                outcome["closed"] = "not closed"

    with connect(f"{gateway.url}?token={token_for('bob')}") as bystander:
        flooder = threading.Thread(target=flood)
        flooder.start()
        answers = []
        for i in range(15):  # 5 pings a second for 3 seconds, within every limit
            bystander.send(json.dumps({"action": "ping", "id": f"b{i}"}))
            answers.append(json.loads(bystander.recv(timeout=10)))
            time.sleep(0.2)
        flooder.join(30)

    assert answers == [{"type": "pong", "id": f"b{i}"} for i in range(15)]
    replies = outcome["replies"]
    assert any(r.get("code") == "rate_limited" for r in replies)
    assert sum(1 for r in replies if r.get("type") == "pong") <= 20  # at most the limit, per second it was open
    # Past twice its limit the flooder was closed through @connections DELETE, as on AWS.
    assert outcome.get("closed") not in (None, "not closed")
    row = sql.execute("SELECT is_active FROM websocket_connections WHERE user_id = 'mallory'").fetchone()
    assert row == (False,)


def test_one_users_connections_together_cannot_take_the_stage_from_a_bystander(gateway, sql):
    """The finding: ten connections at 19 messages/s each stay under the per-connection close threshold,
    took 615 of the stage's throttled slots, and a bystander got 8 of 78 'Too Many Requests'. The user's
    budget (WS_MAX_MESSAGES_PER_USER_PER_SECOND, 20) closes them once they together pass twice it. (The
    per-connection limit is raised here so that only the user's budget can close them, however fast this
    machine lets the flooders send.)"""
    from dataclasses import replace

    from careconnect_ws.settings import get_settings, set_settings

    set_settings(replace(get_settings(), max_messages_per_second=1000))
    closed: list[object] = []
    sent = [0]

    def flooder(n: int) -> None:
        with connect(f"{gateway.url}?token={token_for('mallory')}") as ws:
            try:
                for i in range(60):  # together far past the user's budget, each under its connection's limit
                    ws.send(json.dumps({"action": "ping", "id": f"m{n}-{i}"}))
                    sent[0] += 1
                    time.sleep(0.01)
                    try:
                        while True:  # drain replies without blocking
                            ws.recv(timeout=0)
                    except TimeoutError:
                        pass
            except ConnectionClosed as err:
                closed.append(err.rcvd.code if err.rcvd else None)
                return
            try:
                while True:
                    ws.recv(timeout=2)
            except (ConnectionClosed, TimeoutError) as err:
                closed.append(getattr(getattr(err, "rcvd", None), "code", "open"))

    with connect(f"{gateway.url}?token={token_for('bob')}") as bystander:
        threads = [threading.Thread(target=flooder, args=(n,)) for n in range(10)]
        for t in threads:
            t.start()
        answers = []
        for i in range(15):
            bystander.send(json.dumps({"action": "ping", "id": f"b{i}"}))
            answers.append(json.loads(bystander.recv(timeout=10)))
            time.sleep(0.2)
        for t in threads:
            t.join(30)
    assert answers == [{"type": "pong", "id": f"b{i}"} for i in range(15)]
    assert len(closed) == 10 and "open" not in closed, closed  # every flooding connection was closed
    assert sql.execute("SELECT count(*) FROM websocket_connections WHERE user_id = 'mallory' AND is_active").fetchone()[0] == 0
