-- A case reassigned outside the assignee's own area (a wrong dispatch, 错派, sent to
-- the unit that really owns it) must still be theirs to see and act on: the case
-- policy also admits the caller's own assigned cases. gridwatch.person is the
-- caller's person id, set per transaction with the rest of the scope (unset or
-- empty for API keys, which then match no assignee).

CREATE FUNCTION gridwatch_scope_person() RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('gridwatch.person', true), '') $$;

DO $do$
BEGIN
    EXECUTE format($p$ALTER POLICY cases_scope ON cases TO %I
        USING ((SELECT gridwatch_scope_all())
               OR unit_id = ANY ((SELECT gridwatch_scope_units())::text[])
               OR grid_id = ANY ((SELECT gridwatch_scope_grids())::text[])
               OR village_id = ANY ((SELECT gridwatch_scope_villages())::text[])
               OR department_id = ANY ((SELECT gridwatch_scope_departments())::text[])
               OR assignee = (SELECT gridwatch_scope_person()))$p$,
                   current_setting('gridwatch.api_role'));
END
$do$;
