-- Ingest at scale without TimescaleDB: one NOTIFY per statement instead of
-- per row, retention that drops whole day partitions, and hourly rollups kept
-- in tables that the gateway refreshes (gridwatch_maintain()).

-- A row trigger costs one trigger call and one pg_notify per stored event,
-- which caps bulk ingest. A statement trigger sees every new row in a
-- transition table: small statements (a live camera) still notify each event
-- in the usual format; a bulk statement sends one "gap" notification, on which
-- consoles reload their lists from the database.
DROP TRIGGER events_live ON events;

CREATE FUNCTION gridwatch_notify_events() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    n integer;
BEGIN
    SELECT count(*) INTO n FROM new_rows;
    IF n = 0 THEN
        RETURN NULL;
    ELSIF n <= 64 THEN
        PERFORM pg_notify('gridwatch_live', json_build_object(
            'type', 'event', 'event_id', r.event_id, 'ts', r.ts, 'device_id', r.device_id,
            'rule', r.rule, 'category', r.category, 'unit_id', r.unit_id,
            'lon', r.lon, 'lat', r.lat, 'score', r.score)::text)
        FROM new_rows r;
    ELSE
        PERFORM pg_notify('gridwatch_live', json_build_object(
            'type', 'gap', 'reason', 'burst', 'count', n,
            'first_ts', min(r.ts), 'last_ts', max(r.ts))::text)
        FROM new_rows r;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_live AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridwatch_notify_events();

-- The open part of the rollups reads "ts >= watermark" (the current hour): a
-- BRIN index finds those pages without a scan of the day's partition, and
-- costs next to nothing to maintain at bulk rates. (Hypertables have a ts
-- index of their own.)
CREATE INDEX events_ts_brin ON events USING brin (ts)
    WITH (pages_per_range = 32, autosummarize = on);
CREATE INDEX readings_ts_brin ON readings USING brin (ts)
    WITH (pages_per_range = 32, autosummarize = on);

-- Rollups: the same relation names and columns as the TimescaleDB variant's
-- continuous aggregates. The tables hold closed buckets up to the watermark;
-- the views add the open part from the raw tables (like TimescaleDB's
-- real-time aggregates), so a query never misses fresh rows.
CREATE TABLE events_hourly_rollup (
    bucket   timestamptz NOT NULL,
    unit_id  text,
    category text        NOT NULL,
    n        bigint      NOT NULL
);
CREATE INDEX events_hourly_rollup_bucket ON events_hourly_rollup (bucket, category);
CREATE INDEX events_hourly_rollup_unit ON events_hourly_rollup (unit_id, bucket);

-- Per category only: the town-wide chart reads a few rows per hour, not one per unit.
CREATE TABLE events_hourly_category_rollup (
    bucket   timestamptz NOT NULL,
    category text        NOT NULL,
    n        bigint      NOT NULL
);
CREATE INDEX events_hourly_category_rollup_bucket ON events_hourly_category_rollup (bucket);

CREATE TABLE readings_hourly_rollup (
    bucket    timestamptz      NOT NULL,
    device_id text             NOT NULL,
    sensor    text             NOT NULL,
    n         bigint           NOT NULL,
    avg_value double precision NOT NULL,
    min_value double precision NOT NULL,
    max_value double precision NOT NULL
);
CREATE INDEX readings_hourly_rollup_key ON readings_hourly_rollup (device_id, sensor, bucket);
CREATE INDEX readings_hourly_rollup_bucket ON readings_hourly_rollup (bucket);

CREATE TABLE rollup_state (
    name      text        PRIMARY KEY,
    watermark timestamptz NOT NULL
);
INSERT INTO rollup_state VALUES ('hourly', '-infinity');

-- The town's time zone is fixed into the views' text at migration time.
DO $do$
DECLARE
    tz text := coalesce(nullif(current_setting('gridwatch.tz', true), ''), 'Asia/Shanghai');
BEGIN
    EXECUTE format($v$
        CREATE VIEW events_hourly AS
        SELECT bucket, unit_id, category, n FROM events_hourly_rollup
        WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        UNION ALL
        SELECT date_trunc('hour', ts, %1$L) AS bucket, unit_id, category, count(*) AS n
        FROM events
        WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        GROUP BY 1, 2, 3 $v$, tz);
    EXECUTE format($v$
        CREATE VIEW events_hourly_category AS
        SELECT bucket, category, n FROM events_hourly_category_rollup
        WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        UNION ALL
        SELECT date_trunc('hour', ts, %1$L) AS bucket, category, count(*) AS n
        FROM events
        WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        GROUP BY 1, 2 $v$, tz);
    EXECUTE format($v$
        CREATE VIEW readings_hourly AS
        SELECT bucket, device_id, sensor, n, avg_value, min_value, max_value
        FROM readings_hourly_rollup
        WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        UNION ALL
        SELECT date_trunc('hour', ts, %1$L), device_id, sensor, count(*),
               avg(value), min(value), max(value)
        FROM readings
        WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
        GROUP BY 1, 2, 3 $v$, tz);
    -- Counts per hour and category for the query layer. Dynamic SQL, so each
    -- call is planned with the watermark as a value: the open part then reads
    -- only the current partition's newest pages (BRIN), not the whole day.
    EXECUTE format($f$
        CREATE FUNCTION gridwatch_hourly_counts(since timestamptz, until timestamptz,
                                                units text[] DEFAULT NULL)
        RETURNS TABLE (bucket timestamptz, category text, n bigint)
        LANGUAGE plpgsql STABLE
        -- Starting parallel workers costs more than the few thousand rows read.
        SET max_parallel_workers_per_gather = 0
        AS $body$
        DECLARE
            wm timestamptz;
        BEGIN
            SELECT watermark INTO wm FROM rollup_state WHERE name = 'hourly';
            IF units IS NULL THEN
                RETURN QUERY EXECUTE $q$
                    SELECT r.bucket, r.category, sum(r.n)::bigint FROM (
                        SELECT c.bucket, c.category, c.n FROM events_hourly_category_rollup c
                        WHERE c.bucket < $1 AND c.bucket >= $2 AND c.bucket < $3
                        UNION ALL
                        SELECT date_trunc('hour', e.ts, %1$L), e.category, count(*)
                        FROM events e
                        WHERE e.ts >= greatest($1, $2) AND e.ts < $3 + interval '1 hour'
                          AND date_trunc('hour', e.ts, %1$L) >= $2
                          AND date_trunc('hour', e.ts, %1$L) < $3
                        GROUP BY 1, 2) r
                    GROUP BY 1, 2 ORDER BY 1, 2 $q$ USING wm, since, until;
            ELSE
                RETURN QUERY EXECUTE $q$
                    SELECT r.bucket, r.category, sum(r.n)::bigint FROM (
                        SELECT h.bucket, h.category, h.n FROM events_hourly_rollup h
                        WHERE h.bucket < $1 AND h.bucket >= $2 AND h.bucket < $3
                          AND h.unit_id = ANY($4)
                        UNION ALL
                        SELECT date_trunc('hour', e.ts, %1$L), e.category, count(*)
                        FROM events e
                        WHERE e.ts >= greatest($1, $2) AND e.ts < $3 + interval '1 hour'
                          AND date_trunc('hour', e.ts, %1$L) >= $2
                          AND date_trunc('hour', e.ts, %1$L) < $3
                          AND e.unit_id = ANY($4)
                        GROUP BY 1, 2) r
                    GROUP BY 1, 2 ORDER BY 1, 2 $q$ USING wm, since, until, units;
            END IF;
        END;
        $body$ $f$, tz);
    EXECUTE format($f$
        CREATE FUNCTION gridwatch_refresh_rollups(lookback interval DEFAULT '3 days')
        RETURNS timestamptz
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = public, pg_temp
        AS $body$
        DECLARE
            old_wm timestamptz;
            new_wm timestamptz := date_trunc('hour', now(), %1$L);
            lo     timestamptz;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('gridwatch_refresh_rollups'));
            SELECT watermark INTO old_wm FROM rollup_state WHERE name = 'hourly' FOR UPDATE;
            -- Late rows (an outbox drained after an outage) land in closed
            -- buckets: recompute the last few days each time, as TimescaleDB's
            -- refresh policy does with its start offset. The first refresh
            -- covers everything.
            IF old_wm = '-infinity' THEN
                lo := '-infinity';
            ELSE
                lo := date_trunc('hour', now() - lookback, %1$L);
            END IF;
            DELETE FROM events_hourly_rollup WHERE bucket >= lo;
            INSERT INTO events_hourly_rollup
            SELECT date_trunc('hour', ts, %1$L), unit_id, category, count(*)
            FROM events WHERE ts >= lo AND ts < new_wm GROUP BY 1, 2, 3;
            DELETE FROM events_hourly_category_rollup WHERE bucket >= lo;
            INSERT INTO events_hourly_category_rollup
            SELECT bucket, category, sum(n) FROM events_hourly_rollup
            WHERE bucket >= lo GROUP BY 1, 2;
            DELETE FROM readings_hourly_rollup WHERE bucket >= lo;
            INSERT INTO readings_hourly_rollup
            SELECT date_trunc('hour', ts, %1$L), device_id, sensor, count(*),
                   avg(value), min(value), max(value)
            FROM readings WHERE ts >= lo AND ts < new_wm GROUP BY 1, 2, 3;
            UPDATE rollup_state SET watermark = new_wm WHERE name = 'hourly';
            RETURN new_wm;
        END;
        $body$ $f$, tz);
END
$do$;

-- Retention: whole day partitions older than the table's limit are dropped
-- (cheap, no vacuum); the default partition and dead letters are trimmed row
-- by row.
CREATE FUNCTION gridwatch_apply_retention() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
DECLARE
    pol     record;
    part    record;
    cutoff  timestamptz;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('gridwatch_ensure_partitions'));
    FOR pol IN SELECT table_name, keep FROM retention_policy LOOP
        cutoff := now() - pol.keep;
        IF pol.table_name IN ('events', 'readings') THEN
            FOR part IN
                SELECT c.relname,
                       to_date(substring(c.relname FROM '_p(\d{8})$'), 'YYYYMMDD') AS day
                FROM pg_inherits i
                JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = pol.table_name::regclass
                  AND c.relname ~ '_p\d{8}$'
            LOOP
                -- The partition's upper bound is the next UTC midnight.
                IF ((part.day + 1)::timestamp AT TIME ZONE 'UTC') <= cutoff THEN
                    EXECUTE format('DROP TABLE %I', part.relname);
                    dropped := dropped + 1;
                END IF;
            END LOOP;
            EXECUTE format('DELETE FROM %I WHERE ts < $1', pol.table_name || '_default')
                USING cutoff;
            IF pol.table_name = 'events' THEN
                DELETE FROM events_hourly_rollup WHERE bucket < cutoff;
                DELETE FROM events_hourly_category_rollup WHERE bucket < cutoff;
            ELSE
                DELETE FROM readings_hourly_rollup WHERE bucket < cutoff;
            END IF;
        ELSIF pol.table_name = 'dead_letters' THEN
            DELETE FROM dead_letters WHERE received_at < cutoff;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$$;
