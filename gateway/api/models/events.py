"""Events as the API shows them."""

from __future__ import annotations

from gateway.api.models.base import Public, fields_of
from gateway.db.rows import EventRow


@fields_of(
    EventRow,
    described={
        "ts": "Edge timestamp / 边缘设备时间",
        "received_at": "Server receive time / 服务器接收时间",
        "clock_skewed": (
            "The box's clock was off; listed by receive time / 设备时钟偏差, 按接收时间排序"
        ),
    },
)
class EventPublic(Public):
    """A stored event."""
