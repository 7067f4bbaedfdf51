-- Joint cases (联合处置, dispatch/joint.py): a case handed to several departments
-- has one task per department, and one consultation thread (messages, attachments
-- by reference, decisions). Task rows change status (open -> accepted -> done),
-- and each change is also a case_history row, which only grows; consultation
-- messages only grow, like case_history (0008).

CREATE TABLE IF NOT EXISTS case_tasks (
    case_id bigint NOT NULL REFERENCES cases (id),
    department_id text NOT NULL,
    PRIMARY KEY (case_id, department_id),
    -- The department's contact (departments.yaml), and their name as then.
    assignee text NOT NULL, assignee_name text,
    status text NOT NULL CHECK (status IN ('open', 'accepted', 'done')),
    due_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    accepted_at timestamptz, done_at timestamptz
);
CREATE INDEX IF NOT EXISTS case_tasks_department ON case_tasks (department_id, case_id);

CREATE TABLE IF NOT EXISTS case_messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES cases (id),
    at timestamptz NOT NULL,
    author text NOT NULL, author_name text,
    kind text NOT NULL CHECK (kind IN ('message', 'decision')),
    body text NOT NULL,
    -- [{"sha256", "name"}]: files stored elsewhere, named by their hash.
    attachments jsonb NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX IF NOT EXISTS case_messages_case ON case_messages (case_id, id);

CREATE FUNCTION case_messages_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused on row %', TG_TABLE_NAME, TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_messages_append_only BEFORE UPDATE OR DELETE ON case_messages
    FOR EACH ROW EXECUTE FUNCTION case_messages_append_only();

-- The joint cases a task brings into the caller's departments. SECURITY DEFINER
-- reads case_tasks past its own policy, which refers back to cases: a policy on
-- cases that read case_tasks directly would recurse.
CREATE FUNCTION gridwatch_scope_joint_cases() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT coalesce(array_agg(DISTINCT case_id), '{}'::bigint[]) FROM case_tasks
    WHERE department_id = ANY (gridwatch_scope_departments())
$$;

-- The roles are those migrate.py names: gridwatch.owner_role, .service_role, .api_role.
DO $do$
DECLARE
    roles text[] := ARRAY[current_setting('gridwatch.api_role'),
                          current_setting('gridwatch.service_role'),
                          current_setting('gridwatch.owner_role')];
    t text;
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON case_tasks TO %I, %I', roles[1], roles[2]);
    EXECUTE format('GRANT SELECT, INSERT ON case_messages TO %I, %I', roles[1], roles[2]);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON case_messages FROM %I, %I',
                   roles[1], roles[2]);
    EXECUTE format('GRANT EXECUTE ON FUNCTION gridwatch_scope_joint_cases() TO %I', roles[1]);
    -- Services see every row; the API what the case's own scope lets it see.
    FOREACH t IN ARRAY ARRAY['case_tasks', 'case_messages']
    LOOP
        EXECUTE format('ALTER TABLE %1$I ENABLE ROW LEVEL SECURITY;'
                       ' ALTER TABLE %1$I FORCE ROW LEVEL SECURITY;'
                       ' CREATE POLICY %1$s_services ON %1$I TO %3$I, %4$I'
                       ' USING (true) WITH CHECK (true);'
                       ' CREATE POLICY %1$s_scope ON %1$I TO %2$I'
                       ' USING (case_id IN (SELECT id FROM cases))',
                       t, roles[1], roles[2], roles[3]);
    END LOOP;

    -- A department with a task in a joint case sees that case (and so its history,
    -- participants, tasks and consultation), whichever department owns its category:
    -- a second permissive policy, OR-ed with cases_scope (0007, 0025).
    EXECUTE format($p$CREATE POLICY cases_joint_scope ON cases TO %I
        USING (cardinality((SELECT gridwatch_scope_departments())) > 0
               AND id = ANY ((SELECT gridwatch_scope_joint_cases())::bigint[]))$p$, roles[1]);
END
$do$;
