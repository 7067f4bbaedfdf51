-- case_history is append-only: reports (response, completion, satisfaction,
-- returns, escalations) are computed from it, so a row once written must stay as
-- it was. Refused for every role, the table's owner included; grants alone would
-- leave the owner free. TRUNCATE (a test resetting its own database) is untouched.

CREATE OR REPLACE FUNCTION case_history_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_history is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS case_history_append_only ON case_history;
CREATE TRIGGER case_history_append_only
    BEFORE UPDATE OR DELETE ON case_history
    FOR EACH ROW EXECUTE FUNCTION case_history_append_only();
