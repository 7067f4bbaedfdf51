-- Storage of events and readings with TimescaleDB: hypertables chunked by day
-- on the edge timestamp. Chunks are created on demand, so
-- gridwatch_ensure_partitions() is a no-op kept for one calling convention.
-- Compression, retention and continuous aggregates come with the ingest issue.

CREATE TABLE events (
    event_id        uuid             NOT NULL,
    ts              timestamptz      NOT NULL,
    received_at     timestamptz      NOT NULL DEFAULT now(),
    device_id       text             NOT NULL,
    seq             bigint           NOT NULL,
    rule            text             NOT NULL,
    category        text             NOT NULL,
    severity        smallint         NOT NULL DEFAULT 2,
    phase           text             NOT NULL DEFAULT 'start',
    cls             text,
    score           real,
    track_id        bigint,
    zone            text,
    box             real[],
    lon             double precision,
    lat             double precision,
    unit_id         text,
    snapshot_sha256 text,
    snapshot_ref    text,
    summary         text,
    clock_skewed    boolean          NOT NULL DEFAULT false,
    payload         jsonb            NOT NULL,
    UNIQUE (event_id, ts)
);
SELECT create_hypertable('events', 'ts', chunk_time_interval => interval '1 day');

CREATE TABLE readings (
    device_id   text             NOT NULL,
    ts          timestamptz      NOT NULL,
    seq         bigint           NOT NULL,
    sensor      text             NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    received_at timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (device_id, seq, ts)
);
SELECT create_hypertable('readings', 'ts', chunk_time_interval => interval '1 day');

CREATE FUNCTION gridwatch_ensure_partitions(days_ahead integer DEFAULT 10,
                                            days_behind integer DEFAULT 1)
RETURNS integer
LANGUAGE sql
AS $$ SELECT 0 $$;
