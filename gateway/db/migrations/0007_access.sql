-- Access: the order the API lists events in, accounts and API keys, the audit
-- log, idempotency keys, and row-level security for the API's role.

-- Events are listed by edge time, or by receive time when the box's clock was
-- flagged skewed (gateway.db.queries.events.SEEN_AT: keep the expression the
-- same). Alone for the town's list, per unit for a leader's scope, per device.
CREATE INDEX events_seen_at ON events ((CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);
CREATE INDEX events_unit_seen_at
    ON events (unit_id, (CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);
CREATE INDEX events_device_seen_at
    ON events (device_id, (CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);
