-- The console filters its live feed by severity, so event notifications carry it.
-- One function builds an event's notification; both triggers' functions call it
-- (the row trigger of 0001_core, which the TimescaleDB variant keeps, and the
-- statement trigger of 0003_ingest.plain, which counts a burst as one gap).
CREATE FUNCTION gridwatch_event_notice(e events) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT json_build_object(
        'type', 'event', 'event_id', e.event_id, 'ts', e.ts, 'device_id', e.device_id,
        'rule', e.rule, 'category', e.category, 'severity', e.severity,
        'unit_id', e.unit_id, 'lon', e.lon, 'lat', e.lat, 'score', e.score)::text
$$;

CREATE OR REPLACE FUNCTION gridwatch_notify_event() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('gridwatch_live', gridwatch_event_notice(NEW));
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION gridwatch_notify_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- No rows: nothing to send. A burst: one gap, on which consoles reload.
    IF (SELECT count(*) FROM new_rows) > 64 THEN
        PERFORM pg_notify('gridwatch_live', json_build_object('type', 'gap', 'reason', 'burst',
            'count', count(*), 'first_ts', min(r.ts), 'last_ts', max(r.ts))::text) FROM new_rows r;
    ELSE
        PERFORM pg_notify('gridwatch_live', gridwatch_event_notice(r::events)) FROM new_rows r;
    END IF;
    RETURN NULL;
END;
$$;
