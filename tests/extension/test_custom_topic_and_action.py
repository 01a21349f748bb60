"""A team's own extension of careconnect-ws, tested only with what the package ships (``careconnect_ws.testing``):
a topic of its own with its own subscribe rule, an action of its own, end to end over a real WebSocket through the
local gateway, and at the handler with API Gateway's event shapes. This file imports nothing from this repository's
tests: CI also runs it outside the repository, against the installed wheel."""

from __future__ import annotations

import asyncio
import json

import websockets

import careconnect_ws
from careconnect_ws.routing import MessageContext, router
from careconnect_ws.testing import command_event, connect, invoke, send, token_for
from careconnect_ws.topics import Topic, get_topic, register_topic

# The extension: nurses may follow the ward rounds of their own ward; a "ward.note" action echoes a note back.
if get_topic("ward-rounds") is None:
    register_topic(Topic("ward-rounds", may_subscribe=lambda user, ward: user.startswith(f"nurse-{ward}-")))

if "ward.note" not in router.names():

    @router.action("ward.note")
    def ward_note(ctx: MessageContext) -> dict:
        return {"type": "noted", "by": ctx.user_id, "note": ctx.string("note")}


async def _first(ws, kind: str) -> dict:
    """The next message of this ``type``, or pushed on a stream of this topic."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message.get("type") == kind or (message.get("stream") or {}).get("topic") == kind:
            return message


def test_a_custom_topic_and_action_end_to_end_over_the_local_gateway(careconnect_gateway):
    async def scenario() -> None:
        async with websockets.connect(f"{careconnect_gateway.url}?token={token_for('nurse-4b-amy')}") as nurse:
            await nurse.send(json.dumps({"action": "ward.note", "note": "bed 3 stable", "id": "n1"}))
            assert await _first(nurse, "noted") == {"type": "noted", "by": "nurse-4b-amy", "note": "bed 3 stable", "id": "n1"}
            await nurse.send(json.dumps({"action": "subscribe", "topic": "ward-rounds", "subject": "4b"}))
            assert (await _first(nurse, "subscribed"))["topic"] == "ward-rounds"
            published = await asyncio.to_thread(careconnect_ws.publish, "ward-rounds", "4b", {"type": "round", "bed": 3})
            assert published.reached == 1
            event = await _first(nurse, "ward-rounds")
            assert (event["type"], event["bed"], event["seq"]) == ("round", 3, published.seq)

    asyncio.run(scenario())


def test_the_topics_rule_refuses_another_ward_at_the_handler(careconnect_connections):
    assert connect("c-1", "nurse-4b-amy", connections=careconnect_connections).status == 200
    refused = send("c-1", {"action": "subscribe", "topic": "ward-rounds", "subject": "5a"})
    assert refused.outcome == (403, "forbidden")
    assert send("c-1", {"action": "subscribe", "topic": "ward-rounds", "subject": "4b"}).status == 200
    sent = invoke(command_event("publish", topic="ward-rounds", subject="4b", payload={"type": "round"}))
    assert sent.body["reached"] == 1
    assert [m["type"] for m in careconnect_connections.messages_for("c-1")] == ["round"]
