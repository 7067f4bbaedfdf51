-- The points ledger (积分): what each person earned or lost, and what they exchanged
-- for goods. Append-only, like case_history (0008): a balance is the sum of its rows,
-- and a mistake is put right by a new row, never by changing an old one. source_key
-- makes an accrual idempotent: the same history event never counts twice.

CREATE TABLE IF NOT EXISTS points_ledger (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id    text        NOT NULL,
    at           timestamptz NOT NULL,   -- when the event happened (or the redemption)
    kind         text        NOT NULL CHECK (kind IN ('on_time_closure', 'verified',
                     'satisfied', 'overdue', 'returned', 'redeem')),
    points       integer     NOT NULL CHECK (points <> 0),
    -- No foreign keys: the ledger outlives a test's or an archive's TRUNCATE of cases.
    case_id      bigint,
    history_id   bigint,
    source_key   text        NOT NULL UNIQUE,
    note         text,
    recorded_at  timestamptz NOT NULL,
    -- Earned kinds add, the others remove; a redemption belongs to no case.
    CHECK (CASE WHEN kind IN ('on_time_closure', 'verified', 'satisfied') THEN points > 0
                ELSE points < 0 END),
    CHECK (kind <> 'redeem' OR case_id IS NULL)
);
CREATE INDEX IF NOT EXISTS points_ledger_person ON points_ledger (person_id, at);
CREATE INDEX IF NOT EXISTS points_ledger_at ON points_ledger (at);

CREATE OR REPLACE FUNCTION points_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'points_ledger is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS points_ledger_append_only ON points_ledger;
CREATE TRIGGER points_ledger_append_only
    BEFORE UPDATE OR DELETE ON points_ledger
    FOR EACH ROW EXECUTE FUNCTION points_ledger_append_only();

-- The API reads balances in reports; the report and points commands write.
DO $do$
BEGIN
    EXECUTE format('GRANT SELECT ON points_ledger TO %I', current_setting('gridwatch.api_role'));
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON points_ledger FROM %I',
                   current_setting('gridwatch.service_role'));
END
$do$;
