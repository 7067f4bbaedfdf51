-- Core tables shared by both storage variants. Runs after the variant file of
-- the same version (0001_core.plain.sql or 0001_core.timescale.sql), which
-- creates the time-partitioned tables `events` and `readings`.

-- "Latest events per unit", per category over time, per device.
CREATE INDEX events_unit_ts ON events (unit_id, ts DESC);
CREATE INDEX events_category_ts ON events (category, ts DESC);
CREATE INDEX events_device_ts ON events (device_id, ts DESC);
CREATE INDEX readings_device_sensor_ts ON readings (device_id, sensor, ts DESC);

-- One row per device: its latest status message.
CREATE TABLE device_status (
    device_id        text        PRIMARY KEY,
    state            text        NOT NULL,
    seq              bigint      NOT NULL,
    ts               timestamptz NOT NULL,       -- edge time of the status
    last_seen        timestamptz NOT NULL DEFAULT now(),  -- server time
    fps              real,
    last_frame_ts    timestamptz,
    sw_version       text,
    contract_version text,
    clock_offset_s   double precision,           -- edge clock minus server clock
    outbox_items     integer,
    dropped          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    detail           text,
    payload          jsonb       NOT NULL
);

-- Staleness depends on the time of reading, so it is computed, never stored.
CREATE VIEW device_status_live AS
SELECT s.*,
       (s.state <> 'online' OR s.last_seen < now() - interval '120 seconds') AS stale
FROM device_status s;

CREATE TABLE dead_letters (
    id           bigserial   PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text        NOT NULL,
    device_id    text,
    kind         text,
    reason       text        NOT NULL,
    payload      bytea       NOT NULL,  -- the first 64 KiB of the raw message
    payload_size integer     NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);

-- Every newly stored event waits here for the dispatcher, which takes rows
-- with FOR UPDATE SKIP LOCKED and deletes them in the transaction that
-- commits the case.
CREATE TABLE dispatch_queue (
    event_id    uuid        NOT NULL,
    ts          timestamptz NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, ts)
);
CREATE INDEX dispatch_queue_enqueued ON dispatch_queue (enqueued_at);

-- Per device: the highest sequence number committed without a gap, and the
-- committed numbers above it. Shared by gateway replicas (rows are locked in
-- the ingest transaction), so the mark is right whichever replica got what.
CREATE TABLE ingest_marks (
    device_id     text        PRIMARY KEY,
    committed_seq bigint      NOT NULL,
    pending       bigint[]    NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Live channel: every gateway replica LISTENs and fans out to its console
-- clients, so each client sees every event whichever replica stored it.
CREATE FUNCTION gridwatch_notify_event() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('gridwatch_live', json_build_object(
        'type', 'event',
        'event_id', NEW.event_id,
        'ts', NEW.ts,
        'device_id', NEW.device_id,
        'rule', NEW.rule,
        'category', NEW.category,
        'unit_id', NEW.unit_id,
        'lon', NEW.lon,
        'lat', NEW.lat,
        'score', NEW.score)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_live AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION gridwatch_notify_event();
