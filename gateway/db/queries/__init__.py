"""The one home of the read queries the API, the console and the benchmarks use.

Each module builds its SQL from parts with :mod:`psycopg.sql` and returns typed rows
(frozen dataclasses through ``class_row``). The queries run as whoever the
connection is: through the API that is ``gridwatch_api`` with the caller's scope
set, so row-level security filters every one of them (migration 0007).
"""

from gateway.db.queries.cases import (
    CaseDetail,
    CaseEventRow,
    CaseFilter,
    cases_query,
    get_case,
    list_cases,
)
from gateway.db.queries.devices import (
    DeadLetterRow,
    DeviceStatusRow,
    dead_letter_payload,
    device_statuses,
    list_dead_letters,
    mark_replayed,
)
from gateway.db.queries.events import EventFilter, events_query, get_event, list_events
from gateway.db.queries.rollups import (
    EventSummary,
    HourlyCount,
    SensorHour,
    hourly_counts,
    latest_per_unit,
    sensor_hourly,
)
from gateway.db.rows import EventRow

__all__ = [
    "CaseDetail",
    "CaseEventRow",
    "CaseFilter",
    "DeadLetterRow",
    "DeviceStatusRow",
    "EventFilter",
    "EventRow",
    "EventSummary",
    "HourlyCount",
    "SensorHour",
    "cases_query",
    "dead_letter_payload",
    "device_statuses",
    "events_query",
    "get_case",
    "get_event",
    "hourly_counts",
    "latest_per_unit",
    "list_cases",
    "list_dead_letters",
    "list_events",
    "mark_replayed",
    "sensor_hourly",
]
