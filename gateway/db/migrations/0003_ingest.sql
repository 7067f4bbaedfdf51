-- Retention per table (both variants). Runs after the variant file, whose
-- functions read this table at call time.
CREATE TABLE retention_policy (
    table_name text     PRIMARY KEY
        CHECK (table_name IN ('events', 'readings', 'dead_letters')),
    keep       interval NOT NULL CHECK (keep >= interval '1 day')
);
INSERT INTO retention_policy VALUES
    ('events', interval '400 days'),
    ('readings', interval '90 days'),
    ('dead_letters', interval '30 days');

-- With TimescaleDB the hypertables' retention is a policy job.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM add_retention_policy('events', keep) FROM retention_policy
            WHERE table_name = 'events';
        PERFORM add_retention_policy('readings', keep) FROM retention_policy
            WHERE table_name = 'readings';
        -- The aggregates outlive the raw rows they summarise.
        PERFORM add_retention_policy('events_hourly', interval '5 years');
        PERFORM add_retention_policy('events_hourly_category', interval '5 years');
        PERFORM add_retention_policy('readings_hourly', interval '2 years');
    END IF;
END
$do$;

-- One periodic call for the gateway: partitions ahead, rollups, retention.
CREATE FUNCTION gridwatch_maintain() RETURNS jsonb
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    created integer;
    dropped integer;
    wm      timestamptz;
BEGIN
    created := gridwatch_ensure_partitions();
    wm := gridwatch_refresh_rollups();
    dropped := gridwatch_apply_retention();
    RETURN jsonb_build_object('partitions_created', created, 'partitions_dropped', dropped,
                              'rollup_watermark', wm);
END;
$$;
