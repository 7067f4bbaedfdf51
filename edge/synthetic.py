"""A synthetic edge box: events made as fast as asked, through the real outbox and courier.

For fault tests and benchmarks of delivery without video. Event ``i`` of a device
always has the same event id, so a test can check that each one was stored once;
after a restart the box continues from the number of events it already stored.

    python -m edge.synthetic --state DIR --device cam-1 --count 10000 \\
        --host 127.0.0.1 --port 1883 --prefix gw
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from edge.courier import Courier, CourierConfig
from edge.outbox import Outbox
from edge.publisher import Publisher

NAMESPACE = uuid.UUID("6f1c7a52-58a4-4d8e-9a43-0c6c4f0b9d11")


def event_id(device_id: str, i: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{device_id}/{i}")


def synthetic_event(device_id: str, i: int, ts: datetime | None = None) -> dict[str, object]:
    """Event ``i`` of a device as a contract dict (without seq: the outbox gives it), made
    at ``ts`` (now by default)."""
    return {
        "v": "1.0",
        "kind": "event",
        "event_id": str(event_id(device_id, i)),
        "device_id": device_id,
        "ts": (ts or datetime.now(UTC)).isoformat(),
        "rule": "synthetic",
        "category": "intrusion",
        "phase": "start",
        "summary": f"synthetic event {i}",
    }


class SyntheticBox:
    """Outbox, publisher and courier for some devices, without cameras."""

    def __init__(
        self,
        state_dir: Path,
        devices: list[str],
        *,
        host: str,
        port: int,
        prefix: str,
        client_id_suffix: str = "",
        courier: CourierConfig | None = None,
        max_bytes: int = 256 * 1024 * 1024,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        #: The box's wall clock for event times (a test may run it fast).
        self.clock = clock or (lambda: datetime.now(UTC))
        self.outbox = Outbox(state_dir / "outbox.sqlite3", max_bytes=max_bytes)
        self.publishers: dict[str, Publisher] = {}
        self.couriers: dict[str, Courier] = {}
        for dev in devices:
            pub = Publisher(
                dev, host=host, port=port, prefix=prefix, client_id=dev + client_id_suffix
            )
            c = Courier(dev, self.outbox, pub, courier or CourierConfig())
            pub.on_ack = c.on_ack
            self.publishers[dev] = pub
            self.couriers[dev] = c

    def start(self) -> SyntheticBox:
        for dev, pub in self.publishers.items():
            pub.start()
            self.couriers[dev].start()
        return self

    def produce(self, device_id: str, count: int, rate: float | None = None) -> int:
        """Put events until the device has ``count`` in all (continuing after a restart)."""
        start = self.outbox.device_info(device_id)[1]
        t0 = time.monotonic()
        for n, i in enumerate(range(start, count)):
            self.outbox.put(device_id, "event", synthetic_event(device_id, i, self.clock()))
            self.couriers[device_id].wake()
            if rate:
                delay = t0 + (n + 1) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        return count - start

    def wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.outbox.total_items and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.outbox.total_items == 0

    def stop(self) -> None:
        for dev, c in self.couriers.items():
            c.stop()
            self.publishers[dev].stop()
        self.outbox.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.synthetic")
    p.add_argument("--state", type=Path, required=True)
    p.add_argument("--device", action="append", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--rate", type=float, help="events per second per device (default: flat out)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--prefix", default="gw")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the gateway")
    args = p.parse_args(argv)
    box = SyntheticBox(
        args.state, args.device, host=args.host, port=args.port, prefix=args.prefix
    ).start()
    try:
        made = {d: box.produce(d, args.count, args.rate) for d in args.device}
        print(json.dumps({"produced": made}), flush=True)
        empty = box.wait_empty(args.wait)
        print(json.dumps({"outbox_empty": empty, "items": box.outbox.total_items}), flush=True)
    finally:
        box.stop()
    return 0 if empty else 1


if __name__ == "__main__":
    sys.exit(main())
