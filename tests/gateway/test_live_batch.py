"""The live channel writes what a client has fallen behind on in one frame batch."""

from __future__ import annotations

import asyncio
import json

from gateway.api.live import BATCH, LiveHub, sse_stream


def test_waiting_messages_go_out_in_one_write_and_a_quiet_one_alone() -> None:
    async def scenario() -> list[bytes]:
        hub = LiveHub("postgresql://unused", client_queue=BATCH * 3)
        sub = hub.subscribe()
        for i in range(BATCH + 5):
            hub.publish(json.dumps({"type": "event", "n": i}))
        stream = aiter(sse_stream(hub, sub, heartbeat_s=0.05))
        writes = [await anext(stream) for _ in range(3)]  # hello, then two batches
        hub.publish(json.dumps({"type": "case", "n": "alone"}))
        writes.append(await anext(stream))
        hub.unsubscribe(sub)
        return writes

    hello, first, second, alone = asyncio.run(scenario())
    assert hello.startswith(b"retry:")
    assert first.count(b"event: event\n") == BATCH
    assert second.count(b"event: event\n") == 5
    assert b'"n": 0}' in first and b'"n": 68}' in second
    assert alone.count(b"\n\n") == 1 and b"alone" in alone
