-- Storage of events and readings without TimescaleDB: native range partitions
-- by the edge timestamp, one per UTC day, plus a default partition so that no
-- row is ever refused (a box with a wrong clock, a gateway down for a week).
-- gridwatch_ensure_partitions() creates partitions ahead; the gateway calls it
-- at start and then periodically. Rows already in the default partition for a
-- day that gets its own partition are moved there.

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
) PARTITION BY RANGE (ts);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE TABLE readings (
    device_id   text             NOT NULL,
    ts          timestamptz      NOT NULL,
    seq         bigint           NOT NULL,
    sensor      text             NOT NULL,
    value       double precision NOT NULL,
    unit        text,
    received_at timestamptz      NOT NULL DEFAULT now(),
    UNIQUE (device_id, seq, ts)
) PARTITION BY RANGE (ts);

CREATE TABLE readings_default PARTITION OF readings DEFAULT;

CREATE FUNCTION gridwatch_ensure_partitions(days_ahead integer DEFAULT 10,
                                            days_behind integer DEFAULT 1)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER  -- the service role calls it; the partitions belong to the owner
SET search_path = public, pg_temp
AS $$
DECLARE
    parent  text;
    day     date;
    lo      timestamptz;
    hi      timestamptz;
    part    text;
    created integer := 0;
BEGIN
    -- Several gateway replicas may call this at once.
    PERFORM pg_advisory_xact_lock(hashtext('gridwatch_ensure_partitions'));
    FOREACH parent IN ARRAY ARRAY['events', 'readings'] LOOP
        FOR day IN SELECT generate_series(
                (now() AT TIME ZONE 'UTC')::date - days_behind,
                (now() AT TIME ZONE 'UTC')::date + days_ahead,
                interval '1 day')::date
        LOOP
            part := parent || '_p' || to_char(day, 'YYYYMMDD');
            CONTINUE WHEN to_regclass(part) IS NOT NULL;
            lo := (day::timestamp AT TIME ZONE 'UTC');
            hi := ((day + 1)::timestamp AT TIME ZONE 'UTC');
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent);
            EXECUTE format(
                'WITH moved AS (DELETE FROM %I WHERE ts >= $1 AND ts < $2 RETURNING *) '
                'INSERT INTO %I SELECT * FROM moved', parent || '_default', part)
                USING lo, hi;
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, part, lo, hi);
            created := created + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;

-- Enough partitions for a week and more with the gateway down.
SELECT gridwatch_ensure_partitions();
