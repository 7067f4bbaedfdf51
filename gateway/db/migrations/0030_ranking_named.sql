-- The fortnightly ranking's record: who was named among the lowest five in which
-- fortnight, with the score and its terms as computed then. Anyone named twice in
-- total is called in, so the record must stay as first written: a later run, on
-- changed data or a changed formula, adds nothing to a recorded fortnight
-- (dispatch/cadence/gather.py) and this trigger refuses UPDATE and DELETE for every
-- role, the owner included. TRUNCATE (a test resetting its own database) is untouched.

CREATE TABLE IF NOT EXISTS ranking_named (
    fortnight_start  date        NOT NULL,
    person_id        text        NOT NULL,
    name             text,
    position         smallint    NOT NULL CHECK (position >= 1),  -- 1 is the lowest
    score            double precision NOT NULL,
    terms            jsonb       NOT NULL,
    recorded_at      timestamptz NOT NULL,
    PRIMARY KEY (fortnight_start, person_id)
);
CREATE INDEX IF NOT EXISTS ranking_named_person ON ranking_named (person_id, fortnight_start);

CREATE OR REPLACE FUNCTION ranking_named_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ranking_named is append-only: % refused on (%, %)',
        TG_OP, OLD.fortnight_start, OLD.person_id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS ranking_named_append_only ON ranking_named;
CREATE TRIGGER ranking_named_append_only
    BEFORE UPDATE OR DELETE ON ranking_named
    FOR EACH ROW EXECUTE FUNCTION ranking_named_append_only();

-- The API reads the record (the fortnight's page lists who was named twice); the
-- report command, as a service, writes it (the default privileges of migrate.py),
-- and never changes it.
DO $do$
BEGIN
    EXECUTE format('GRANT SELECT ON ranking_named TO %I', current_setting('gridwatch.api_role'));
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON ranking_named FROM %I',
                   current_setting('gridwatch.service_role'));
END
$do$;
