-- The console shows a thumbnail beside each feed line whose event has evidence, so
-- event notifications carry the snapshot's hash (the JPEG itself comes from
-- /api/v1/snapshots/{sha256}, in the caller's scope and audited).
CREATE OR REPLACE FUNCTION gridwatch_event_notice(e events) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'type', 'event', 'event_id', e.event_id, 'ts', e.ts, 'device_id', e.device_id,
        'rule', e.rule, 'category', e.category, 'severity', e.severity,
        'unit_id', e.unit_id, 'lon', e.lon, 'lat', e.lat, 'score', e.score,
        'snapshot_sha256', e.snapshot_sha256)::text
$$;
