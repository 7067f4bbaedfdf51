-- Open311 GeoReport v2: one row per POST requests. The token answers a batch
-- service and resolves to the case through tokens/{token}; the submitter's
-- contact stays here (for the follow-up call, 回访), never in a GET answer.
-- (client, idempotency_key) makes a replayed create answer the first one.

CREATE TABLE IF NOT EXISTS open311_requests (
    token            text        PRIMARY KEY,
    case_id          bigint      REFERENCES cases (id),
    service_code     text        NOT NULL,
    client           text        NOT NULL,   -- 'key:<id>' or 'public:<address>'
    idempotency_key  text,
    address_string   text,
    address_id       text,
    media_url        text,
    first_name       text,
    last_name        text,
    email            text,
    phone            text,
    device_id        text,
    account_id       text,
    attributes       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    received_at      timestamptz NOT NULL,
    UNIQUE (client, idempotency_key)
);
CREATE INDEX IF NOT EXISTS open311_requests_case ON open311_requests (case_id, received_at);

-- Row-level security, where the API's role exists (migration 0007 and migrate.py
-- set gridwatch.api_role): the API reads a request's service, address and media
-- only for cases in its scope, and never the submitter's contact columns. The
-- services (the Open311 create and token look-up run as them) see every row.
DO $do$
DECLARE
    owner   text := current_setting('gridwatch.owner_role', true);
    service text := current_setting('gridwatch.service_role', true);
    api     text := current_setting('gridwatch.api_role', true);
BEGIN
    IF coalesce(api, '') = '' OR coalesce(owner, '') = '' OR coalesce(service, '') = '' THEN
        RETURN;
    END IF;
    EXECUTE format('GRANT SELECT (token, case_id, service_code, address_string, media_url,'
                   ' received_at) ON open311_requests TO %I', api);
    ALTER TABLE open311_requests ENABLE ROW LEVEL SECURITY;
    ALTER TABLE open311_requests FORCE ROW LEVEL SECURITY;
    EXECUTE format('CREATE POLICY open311_requests_services ON open311_requests TO %I, %I'
                   ' USING (true) WITH CHECK (true)', owner, service);
    EXECUTE format('CREATE POLICY open311_requests_scope ON open311_requests FOR SELECT TO %I'
                   ' USING (case_id IN (SELECT id FROM cases))', api);
END
$do$;
