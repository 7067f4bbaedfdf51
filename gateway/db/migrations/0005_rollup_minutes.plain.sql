-- The rollups' watermark moves to a few minutes ago instead of the start of the
-- hour, so the raw part that every hourly-count query adds (ts >= watermark)
-- holds 10 to 15 minutes of events, not up to an hour of them: at 15 events/s a full hour
-- cost 70 to 90 ms per query on the 2-core box (docs/storage.md). The bucket
-- that holds the watermark is then partly in the rollup and partly raw, so the
-- views sum both parts. gridwatch_refresh_rollups(lookback, margin) stores every
-- bucket up to now() - margin; the gateway calls it every five minutes with a
-- short lookback, and gridwatch_maintain() hourly with three days (late rows).
DROP FUNCTION gridwatch_refresh_rollups(interval);

DO $do$
DECLARE
    tz text := coalesce(nullif(current_setting('gridwatch.tz', true), ''), 'Asia/Shanghai');
BEGIN
    EXECUTE format($v$
        CREATE OR REPLACE VIEW events_hourly AS
        SELECT bucket, unit_id, category, sum(n)::bigint AS n FROM (
            SELECT bucket, unit_id, category, n FROM events_hourly_rollup
            WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            UNION ALL
            SELECT date_trunc('hour', ts, %1$L), unit_id, category, count(*)
            FROM events
            WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            GROUP BY 1, 2, 3) parts
        GROUP BY 1, 2, 3 $v$, tz);
    EXECUTE format($v$
        CREATE OR REPLACE VIEW events_hourly_category AS
        SELECT bucket, category, sum(n)::bigint AS n FROM (
            SELECT bucket, category, n FROM events_hourly_category_rollup
            WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            UNION ALL
            SELECT date_trunc('hour', ts, %1$L), category, count(*)
            FROM events
            WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            GROUP BY 1, 2) parts
        GROUP BY 1, 2 $v$, tz);
    -- The average of a split bucket is the count-weighted mean of its parts.
    EXECUTE format($v$
        CREATE OR REPLACE VIEW readings_hourly AS
        SELECT bucket, device_id, sensor, sum(n)::bigint AS n,
               sum(avg_value * n) / sum(n) AS avg_value,
               min(min_value) AS min_value, max(max_value) AS max_value
        FROM (
            SELECT bucket, device_id, sensor, n, avg_value, min_value, max_value
            FROM readings_hourly_rollup
            WHERE bucket < (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            UNION ALL
            SELECT date_trunc('hour', ts, %1$L), device_id, sensor, count(*),
                   avg(value), min(value), max(value)
            FROM readings
            WHERE ts >= (SELECT watermark FROM rollup_state WHERE name = 'hourly')
            GROUP BY 1, 2, 3) parts
        GROUP BY 1, 2, 3 $v$, tz);
    EXECUTE format($f$
        CREATE FUNCTION gridwatch_refresh_rollups(lookback interval DEFAULT '3 days',
                                                  margin interval DEFAULT '10 minutes')
        RETURNS timestamptz
        LANGUAGE plpgsql
        SECURITY DEFINER
        SET search_path = public, pg_temp
        AS $body$
        DECLARE
            old_wm timestamptz;
            -- Rows of the last minutes may still be on their way (batching,
            -- queues): they stay in the raw part until the next refresh. A row
            -- older than the margin that arrives after a refresh counts from
            -- the next one (five minutes at most), as a late row always did.
            new_wm timestamptz := now() - margin;
            lo     timestamptz;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('gridwatch_refresh_rollups'));
            SELECT watermark INTO old_wm FROM rollup_state WHERE name = 'hourly' FOR UPDATE;
            -- Late rows (an outbox drained after an outage) land in closed
            -- buckets: recompute the lookback each time, as TimescaleDB's
            -- refresh policy does with its start offset. The first refresh
            -- covers everything.
            IF old_wm = '-infinity' THEN
                lo := '-infinity';
            ELSE
                lo := date_trunc('hour', least(now() - lookback, old_wm), %1$L);
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
