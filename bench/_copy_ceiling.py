"""``copy_ceiling_events_per_s``: the database's own limit for the ingest's rows on this box.

The same event rows the ingest stores (``bench/ingest.py``'s batches through the
gateway's own ``classify`` and ``event_copy``), serialized before the clock starts,
then COPYed straight into ``events`` with their ``dispatch_batches`` keys, exactly as
the writer's fast path sends them, over ``connections`` connections at once, one
commit per ``messages_per_tx`` messages. Only PostgreSQL works while the clock runs:
no MQTT, no decoding, no marks. The ingest's ``events_per_s`` is read as a share of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def serialized(
    make_batch: Callable[[int, int, int], bytes],
    device_name: Callable[[int], str],
    events: int,
    per_message: int,
    messages_per_tx: int,
    first_device: int,
) -> list[Any]:
    """``events`` events as the writer's COPY data, one ``EventCopy`` per transaction."""
    from gateway.ingest.classify import Received, classify
    from gateway.ingest.writer import event_copy

    out = []
    per_tx = per_message * messages_per_tx
    for k in range(max(1, events // per_tx)):
        dev = first_device + k  # fresh devices: every event id is new
        name = device_name(dev)
        received = [
            Received(
                f"c/v1/dev/{name}/batch",
                make_batch(dev, m * per_message, per_message),
                datetime.now(UTC),
            )
            for m in range(messages_per_tx)
        ]
        registry = {name: f"unit-{dev % 50:03d}"}  # as bench/ingest.py registers them
        out.append(event_copy(classify(received, prefix="c", registry=registry)))
    return out


def ceiling(dsn: str, txs: list[Any], connections: int) -> dict[str, Any]:
    """COPY ``txs`` over ``connections`` connections; events per second, durable commits."""
    import psycopg

    from gateway.ingest.writer import (
        COPY_EVENTS_DIRECT,
        COPY_EVENTS_DIRECT_CSV,
        ENQUEUE,
        send_copy,
    )

    shares = [txs[i::connections] for i in range(connections)]
    conns = [psycopg.connect(dsn) for _ in range(connections)]
    counts = [0] * connections
    errors: list[BaseException] = []
    start = threading.Barrier(connections + 1)

    def work(i: int) -> None:
        conn = conns[i]
        try:
            start.wait()
            for data in shares[i]:
                with conn.transaction(), conn.cursor() as cur:
                    send_copy(
                        cur, data, csv_sql=COPY_EVENTS_DIRECT_CSV, text_sql=COPY_EVENTS_DIRECT
                    )
                    cur.executemany(ENQUEUE, data.queue)
                counts[i] += sum(len(q[0].split(",")) for q in data.queue)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    for c in conns:
        c.close()
    if errors:
        raise errors[0]
    total = sum(counts)
    return {
        "copy_ceiling_events_per_s": round(total / seconds),
        "copy_ceiling_events": total,
        "copy_ceiling_seconds": round(seconds, 2),
        "copy_ceiling_connections": connections,
        "copy_ceiling_events_per_tx": total // max(len(txs), 1),
    }
