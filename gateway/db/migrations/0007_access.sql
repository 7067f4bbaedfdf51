-- Access: the order the API lists events in, accounts and API keys, the audit
-- log, idempotency keys, and row-level security for the API's role.

-- Events are listed by edge time, or by receive time when the box's clock was
-- flagged skewed (gateway.db.queries.events.SEEN_AT: keep the expression the
-- same). Alone for the town's list, per unit for a leader's scope, per device.
CREATE INDEX events_seen_at ON events ((CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);
CREATE INDEX events_unit_seen_at
    ON events (unit_id, (CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);
CREATE INDEX events_device_seen_at
    ON events (device_id, (CASE WHEN clock_skewed THEN received_at ELSE ts END) DESC);

-- Accounts: a login for a person of people.yaml. Only an argon2id hash of the
-- password is kept; a disabled account's tokens stop working at once, because
-- every request reads this row.
CREATE TABLE accounts (
    person_id     text        PRIMARY KEY CHECK (person_id ~ '^[^\s,]{1,64}$'),
    role          text        NOT NULL CHECK (role IN (
                      'duty_commander', 'town_leader', 'village_leader', 'grid_leader',
                      'unit_leader', 'department_staff', 'platform', 'device_admin',
                      'auditor')),
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- API keys for platforms: the secret is shown once, at creation; only its
-- SHA-256 is kept (a key is 32 random bytes, so a fast hash is enough).
CREATE TABLE api_keys (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    role        text        NOT NULL CHECK (role IN (
                    'duty_commander', 'town_leader', 'village_leader', 'grid_leader',
                    'unit_leader', 'department_staff', 'platform', 'device_admin',
                    'auditor')),
    secret_sha256 bytea     NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_by  text,
    revoked_at  timestamptz,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);

-- Who did what: every write and every snapshot view. Append-only.
CREATE TABLE audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    subject     text        NOT NULL,   -- person id, or key:<id>
    action      text        NOT NULL,
    target      text,
    request_id  text,
    data        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject, at);

-- Idempotency-Key: a replayed write gets the first answer back instead of
-- acting twice. The request hash tells a replay from a different request that
-- reuses a key.
CREATE TABLE idempotency_keys (
    subject       text        NOT NULL,
    key           text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method        text        NOT NULL,
    path          text        NOT NULL,
    request_hash  bytea       NOT NULL,
    status        smallint,
    response_body jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- A dead letter replayed after a fix says so (and who did it).
ALTER TABLE dead_letters ADD COLUMN replayed_at timestamptz, ADD COLUMN replayed_by text;

-- Row-level security ---------------------------------------------------------
--
-- The API runs every request's transaction as gridwatch_api (SET LOCAL ROLE),
-- a role that owns nothing, is no superuser and has no BYPASSRLS, with the
-- caller's scope set for that transaction only (set_config(..., true)):
--
--   gridwatch.all          'on' for the whole town
--   gridwatch.units        text[] of unit ids
--   gridwatch.grids        text[] of grid ids
--   gridwatch.villages     text[] of village ids
--   gridwatch.departments  text[] of department ids
--   gridwatch.devices      text[] of the devices in those units
--
-- A setting that is not set means nothing: a forgotten set_config shows no rows.
-- The policies call each function as a sub-select, (SELECT gridwatch_scope_grids())
-- (cast, so that ANY reads it as an array, not as a subquery's rows): an InitPlan,
-- evaluated once per query. Called bare, the SQL function is inlined
-- and the setting is cast to text[] again for every row the policy checks (a grid
-- leader's case list read 40 to 74 ms on a million cases; 15 to 26 ms as InitPlans).
-- gridwatch_api is created, and granted to the service role, by migrate.py.

CREATE FUNCTION gridwatch_scope_all() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('gridwatch.all', true), '') = 'on' $$;

CREATE FUNCTION gridwatch_scope_list(name text) RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(nullif(current_setting('gridwatch.' || name, true), ''), '{}')::text[] $$;

CREATE FUNCTION gridwatch_scope_units() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT gridwatch_scope_list('units') $$;
CREATE FUNCTION gridwatch_scope_grids() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT gridwatch_scope_list('grids') $$;
CREATE FUNCTION gridwatch_scope_villages() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT gridwatch_scope_list('villages') $$;
CREATE FUNCTION gridwatch_scope_departments() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT gridwatch_scope_list('departments') $$;
CREATE FUNCTION gridwatch_scope_devices() RETURNS text[]
LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT gridwatch_scope_list('devices') $$;

CREATE INDEX IF NOT EXISTS cases_village_id ON cases (village_id, id);
CREATE INDEX IF NOT EXISTS cases_department_id ON cases (department_id, id);

DO $do$
DECLARE
    owner   text := current_setting('gridwatch.owner_role');
    service text := current_setting('gridwatch.service_role');
    api     text := current_setting('gridwatch.api_role');
    t       text;
BEGIN
    -- What the API may do. Case actions write cases, their events, participants,
    -- reminders, notices and history; history and the audit log only grow.
    EXECUTE format('GRANT SELECT ON events, device_status, dead_letters, readings,'
                   ' case_events, case_participants, case_reminders, notifications TO %I', api);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON cases, case_events, case_participants,'
                   ' notifications, case_reminders, idempotency_keys TO %I', api);
    EXECUTE format('GRANT DELETE ON case_reminders, idempotency_keys TO %I', api);
    EXECUTE format('GRANT SELECT ON device_status_live TO %I', api);
    EXECUTE format('GRANT UPDATE (replayed_at, replayed_by) ON dead_letters TO %I', api);
    EXECUTE format('GRANT SELECT, INSERT ON case_history, audit_log TO %I', api);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', api);
    EXECUTE format('GRANT EXECUTE ON FUNCTION queued_for_dispatch() TO %I', api);
    -- The services append history and audit rows too, and never change them.
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON case_history, audit_log FROM %I',
                   service);

    FOREACH t IN ARRAY ARRAY['cases', 'case_history', 'case_events', 'case_participants',
                             'case_reminders', 'notifications', 'events', 'readings',
                             'device_status', 'dead_letters']
    LOOP
        -- TimescaleDB refuses row-level security on a hypertable with compression
        -- ("operation not supported on hypertables that have columnstore enabled",
        -- timescale/timescaledb#6827). The API reads events through a view that
        -- carries their scope instead (0016_visible_events), on both variants.
        CONTINUE WHEN t IN ('events', 'readings')
            AND to_regclass('timescaledb_information.hypertables') IS NOT NULL;
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        -- Ingest, the dispatcher and maintenance (run as the owner) see every row.
        EXECUTE format('CREATE POLICY %I ON %I TO %I, %I USING (true) WITH CHECK (true)',
                       t || '_services', t, owner, service);
    END LOOP;

    EXECUTE format($p$CREATE POLICY cases_scope ON cases TO %I
        USING ((SELECT gridwatch_scope_all())
               OR unit_id = ANY ((SELECT gridwatch_scope_units())::text[])
               OR grid_id = ANY ((SELECT gridwatch_scope_grids())::text[])
               OR village_id = ANY ((SELECT gridwatch_scope_villages())::text[])
               OR department_id = ANY ((SELECT gridwatch_scope_departments())::text[]))$p$, api);

    -- A case's rows follow the case: the subquery on cases is itself filtered
    -- by cases_scope, so the scope is written once.
    FOREACH t IN ARRAY ARRAY['case_history', 'case_events', 'case_participants',
                             'case_reminders']
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I'
                       ' USING (case_id IN (SELECT id FROM cases))', t || '_scope', t, api);
    END LOOP;
    EXECUTE format('CREATE POLICY notifications_scope ON notifications TO %I'
                   ' USING (case_id IN (SELECT id FROM cases))', api);

    -- Events and readings: see 0016_visible_events, which replaces these two
    -- policies on plain PostgreSQL and is their only scope on TimescaleDB.
    IF to_regclass('timescaledb_information.hypertables') IS NULL THEN
        EXECUTE format($p$CREATE POLICY events_scope ON events FOR SELECT TO %I
            USING ((SELECT gridwatch_scope_all())
                   OR unit_id = ANY ((SELECT gridwatch_scope_units())::text[])
                   OR (cardinality((SELECT gridwatch_scope_departments())) > 0
                       AND EXISTS (SELECT 1 FROM case_events ce
                                   WHERE ce.event_id = events.event_id AND ce.ts = events.ts)))$p$,
                       api);
        EXECUTE format($p$CREATE POLICY readings_scope ON readings FOR SELECT TO %I
            USING ((SELECT gridwatch_scope_all())
                   OR device_id = ANY ((SELECT gridwatch_scope_devices())::text[]))$p$, api);
    END IF;
    EXECUTE format($p$CREATE POLICY device_status_scope ON device_status FOR SELECT TO %I
        USING ((SELECT gridwatch_scope_all())
               OR device_id = ANY ((SELECT gridwatch_scope_devices())::text[]))$p$, api);
    EXECUTE format($p$CREATE POLICY dead_letters_scope ON dead_letters TO %I
        USING ((SELECT gridwatch_scope_all())
               OR device_id = ANY ((SELECT gridwatch_scope_devices())::text[]))$p$, api);
END
$do$;

-- Views run with their owner's rights unless they say otherwise; this one reads
-- device_status, so it must see only what its caller may.
ALTER VIEW device_status_live SET (security_invoker = true);
