-- The services write events and readings with COPY, which PostgreSQL refuses on a table
-- with row-level security for any role it applies to ("COPY FROM not supported with
-- row-level security"). 0007 turned it on (and FORCE) for both; since 0016 the API's role
-- has no grant on them and reads events through events_visible, so the policies there
-- only ever let the services through. Tests that ran as a superuser never met this; the
-- service role of a deployment (gridwatch_app) did, and every event was dead-lettered.
-- TimescaleDB never had row-level security on these hypertables; nothing changes there.
DO $do$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'readings'] LOOP
        IF (SELECT relrowsecurity FROM pg_class WHERE oid = t::regclass) THEN
            EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
            EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
            EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_services', t);
        END IF;
    END LOOP;
END
$do$;
