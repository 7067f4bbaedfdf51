-- audit_log is append-only, like case_history (0008): who did what stays as it was
-- written. The API's role has only INSERT and SELECT on it (0007); this trigger
-- refuses UPDATE and DELETE for every role, the owner included. TRUNCATE (a test
-- resetting its own database) is untouched.

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
