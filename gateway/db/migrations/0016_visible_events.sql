-- The API reads events through one view that carries their scope, on both
-- variants. TimescaleDB refuses row-level security on a hypertable with
-- compression (timescale/timescaledb#6827), and a chunk does not inherit a
-- hypertable's policies while it does inherit its grants (#7830): so the API's
-- role gets no grant on the hypertable or its chunks at all, only on this view.
--
-- The view runs with its owner's rights (security_barrier keeps the callers'
-- own conditions from being evaluated before the scope's). current_user is
-- still the caller inside it: the services read every row, the API's role the
-- rows of its scope (the gridwatch.* settings of 0007):
--   the whole town, the caller's units, or, for department staff, the events
--   held by their department's cases.
-- Readings are not served by the API: its role loses SELECT on them.

DO $do$
DECLARE
    api text := current_setting('gridwatch.api_role');
BEGIN
    EXECUTE format($v$CREATE VIEW events_visible WITH (security_barrier = true) AS
        SELECT e.* FROM events e
        WHERE current_user <> %L
           OR (SELECT gridwatch_scope_all())
           OR e.unit_id = ANY ((SELECT gridwatch_scope_units())::text[])
           OR (cardinality((SELECT gridwatch_scope_departments())) > 0
               AND EXISTS (SELECT 1 FROM case_events ce JOIN cases c ON c.id = ce.case_id
                           WHERE ce.event_id = e.event_id AND ce.ts = e.ts
                             AND c.department_id
                                 = ANY ((SELECT gridwatch_scope_departments())::text[])))$v$,
                   api);
    EXECUTE format('GRANT SELECT ON events_visible TO %I', api);
    EXECUTE format('REVOKE SELECT ON events, readings FROM %I', api);
    DROP POLICY IF EXISTS events_scope ON events;
    DROP POLICY IF EXISTS readings_scope ON readings;
END
$do$;
